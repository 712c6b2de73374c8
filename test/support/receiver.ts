/**
 * An HTTP receiver on 127.0.0.1 for what Sokutatsu POSTs (webhooks, inbound routes): records
 * every request with its headers and body, answers as `respond` says (default 200 "ok"), counts
 * requests in flight; `verifySignature` checks X-Sokutatsu-Signature as a receiver would (CONTRACT).
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  // any: each test reads the payload shape it expects (webhook events, inbound mail)
  json: any;
  at: number;
}

export class Receiver {
  received: Received[] = [];
  active = 0;
  maxActive = 0;
  respond: (req: Received, res: ServerResponse) => void | Promise<void> = (_req, res) => void res.end('ok');
  private server!: Server;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const entry: Received = { path: req.url ?? '', headers: req.headers, body, json: JSON.parse(body || 'null'), at: Date.now() };
        this.received.push(entry);
        this.active++;
        this.maxActive = Math.max(this.maxActive, this.active);
        res.on('close', () => this.active--);
        await this.respond(entry, res);
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
  }

  url(path: string): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${path}`;
  }

  on(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** X-Sokutatsu-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>, t within 30 s of now. */
export function verifySignature(secret: string, received: Pick<Received, 'headers' | 'body'>): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(received.headers['x-sokutatsu-signature']));
  if (!m) return false;
  const expected = createHmac('sha256', secret).update(`${m[1]}.${received.body}`).digest('hex');
  return expected === m[2] && Math.abs(Number(m[1]) - Date.now() / 1000) < 30;
}

/**
 * A real SMTP destination for tests (smtp-server on 127.0.0.1): records what arrives and
 * answers RCPT/DATA as a test script says (e.g. 451 twice, then 250).
 */
import { SMTPServer } from 'smtp-server';

export interface Received {
  from: string;
  to: string[];
  body: Buffer;
  text: string;
}

export interface Reply {
  code: number;
  message: string;
}

export interface SinkOptions {
  /** called for each RCPT with the address and how many RCPTs the sink has seen for it (1-based) */
  onRcpt?: (address: string, seen: number) => Reply | undefined;
  /** called for each DATA with the message and how many messages have ended DATA (1-based) */
  onData?: (message: Received, seen: number) => Reply | undefined;
  port?: number;
  /** offer STARTTLS (smtp-server's built-in self-signed certificate unless `tls` is given) */
  starttls?: boolean;
  /** certificate and key (PEM) for STARTTLS */
  tls?: { key: string; cert: string };
  /** require AUTH with these credentials (a smarthost) */
  auth?: { user: string; pass: string };
}

export interface Sink {
  port: number;
  messages: Received[];
  /** connections opened so far, the most open at one time, and when each message ended DATA (ms) */
  stats: { connections: number; open: number; maxOpen: number; arrivals: number[] };
  rcptAttempts: Map<string, number>;
  waitFor(count: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

export async function startSink(options: SinkOptions = {}): Promise<Sink> {
  const messages: Received[] = [];
  const rcptAttempts = new Map<string, number>();
  let dataSeen = 0;
  const stats = { connections: 0, open: 0, maxOpen: 0, arrivals: [] as number[] };
  const fail = (r: Reply) => Object.assign(new Error(r.message), { responseCode: r.code });

  const server = new SMTPServer({
    authOptional: !options.auth,
    ...(options.auth ? { authMethods: ['PLAIN', 'LOGIN'] } : {}),
    onAuth(auth, _session, callback) {
      const ok = options.auth && auth.username === options.auth.user && auth.password === options.auth.pass;
      callback(ok ? null : Object.assign(new Error('5.7.8 authentication credentials invalid'), { responseCode: 535 }), ok ? { user: auth.username } : undefined);
    },
    disabledCommands: options.starttls ? [] : ['STARTTLS'],
    logger: false,
    ...(options.tls ? { key: options.tls.key, cert: options.tls.cert } : {}),
    onConnect(_session, callback) {
      stats.connections++;
      stats.maxOpen = Math.max(stats.maxOpen, ++stats.open);
      callback();
    },
    onClose() {
      stats.open--;
    },
    onRcptTo(address, _session, callback) {
      const seen = (rcptAttempts.get(address.address) ?? 0) + 1;
      rcptAttempts.set(address.address, seen);
      const reply = options.onRcpt?.(address.address, seen);
      callback(reply && reply.code >= 400 ? fail(reply) : undefined);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const body = Buffer.concat(chunks);
        const message: Received = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          body,
          text: body.toString('latin1'),
        };
        const reply = options.onData?.(message, ++dataSeen);
        if (reply && reply.code >= 400) return callback(fail(reply));
        messages.push(message);
        stats.arrivals.push(Date.now());
        callback(null, 'sink: ok');
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      const a = server.server.address();
      resolve(typeof a === 'object' && a ? a.port : 0);
    });
  });

  return {
    port,
    messages,
    stats,
    rcptAttempts,
    async waitFor(count, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < count) {
        if (Date.now() > deadline) throw new Error(`sink: expected ${count} messages, got ${messages.length} within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return messages;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

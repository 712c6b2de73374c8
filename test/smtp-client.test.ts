/**
 * The outgoing SMTP client against scripted servers on 127.0.0.1 (raw sockets, so the test sees
 * exactly what arrives in which packet) and against smtp-server with a certificate from a test CA.
 */
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createServer, type Server, type Socket } from 'node:net';
import { SmtpClient, SmtpError, takeReply, type SmtpClientOptions } from '../src/delivery/smtp-client.js';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { ConnectionPool } from '../src/delivery/pool.js';
import { SiteThrottle } from '../src/delivery/throttle.js';
import { createKeys } from '../src/redis/keys.js';
import { startSink, type Sink } from './support/sink.js';
import { makeTestCa } from './support/test-ca.js';

interface Script {
  /** EHLO keywords, or per connection (1-based) */
  extensions: string[] | ((connection: number) => string[]);
  /** answer STARTTLS with 220, then garbage instead of a TLS handshake */
  brokenTls?: boolean;
  /** the reply to one command line; a number delays it (ms) */
  reply(line: string): string | [string, number] | null;
}

interface Scripted {
  port: number;
  /** what arrived, one entry per read from the socket */
  reads: string[];
  /** "< line" received, "> code" sent, in order */
  log: string[];
  connections: number;
  close(): Promise<void>;
}

async function scriptedServer(script: Script): Promise<Scripted> {
  const reads: string[] = [];
  const log: string[] = [];
  const sockets = new Set<Socket>();
  const state = { connections: 0 };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    const connection = ++state.connections;
    const extensions = typeof script.extensions === 'function' ? script.extensions(connection) : script.extensions;
    let buffer = '';
    let inData = false;
    let tlsStarted = false;
    socket.write('220 scripted ESMTP\r\n');
    // Replies go out in order even when one is held back, as a real server's would.
    let replies = Promise.resolve();
    const send = (text: string, delayMs = 0) => {
      replies = replies.then(() => new Promise<void>((resolve) => setTimeout(() => {
        log.push(`> ${text.slice(0, 3)}`);
        if (!socket.destroyed) socket.write(`${text}\r\n`);
        resolve();
      }, delayMs)));
    };
    socket.on('data', (chunk) => {
      if (tlsStarted) return void socket.end('this is not TLS\r\n');
      reads.push(chunk.toString('latin1'));
      buffer += chunk.toString('latin1');
      for (let i = buffer.indexOf('\r\n'); i !== -1; i = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            log.push('< .');
            send('250 2.0.0 queued');
          }
          continue;
        }
        log.push(`< ${line}`);
        if (/^EHLO/i.test(line)) send(['250-scripted', ...extensions.map((e) => `250-${e}`), '250 HELP'].join('\r\n'));
        else if (line === 'STARTTLS' && script.brokenTls) {
          send('220 2.0.0 ready');
          tlsStarted = true;
        }
        else if (line === 'QUIT') socket.end('221 bye\r\n');
        else {
          const r = script.reply(line) ?? '250 2.0.0 ok';
          const [text, delayMs] = Array.isArray(r) ? r : [r, 0];
          if (text.startsWith('354')) inData = true;
          send(text, delayMs);
        }
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port, reads, log,
    get connections() {
      return state.connections;
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

const base = (port: number): SmtpClientOptions => ({ host: '127.0.0.1', port, tls: 'opportunistic', name: 'relay.test', connectTimeoutMs: 2000, commandTimeoutMs: 2000 });
const dataReply = (line: string) => (line === 'DATA' ? '354 go ahead' : null);

let server: Scripted | undefined;
let sink: Sink | undefined;
afterEach(async () => {
  await server?.close();
  await sink?.close();
  server = sink = undefined;
});

describe('SMTP client', () => {
  it('pipelines MAIL, RCPT and DATA in one write when the server offers PIPELINING', async () => {
    // MAIL's reply is held back: a pipelining client has sent RCPT and DATA before it comes.
    server = await scriptedServer({ extensions: ['PIPELINING', 'SIZE 1000000'], reply: (l) => (l.startsWith('MAIL') ? ['250 2.1.0 ok', 150] : dataReply(l)) });
    const client = await SmtpClient.connect(base(server.port));
    const reply = await client.send('a@shop.example', 'b@example.net', Buffer.from('Subject: x\r\n\r\nhi\r\n'));
    expect(reply.code).toBe(250);
    const envelopeRead = server.reads.find((r) => r.includes('MAIL FROM'))!;
    expect(envelopeRead).toBe('MAIL FROM:<a@shop.example> SIZE=18\r\nRCPT TO:<b@example.net>\r\nDATA\r\n');
    expect(server.log.indexOf('< DATA')).toBeLessThan(server.log.indexOf('> 250', server.log.indexOf('< MAIL FROM:<a@shop.example> SIZE=18')));
    client.quit();
  });

  it('puts RSET before the next transaction on a reused connection, in the same packet when pipelining', async () => {
    for (const extensions of [['PIPELINING'], []]) {
      server = await scriptedServer({ extensions, reply: dataReply });
      const client = await SmtpClient.connect(base(server.port));
      await client.send('a@shop.example', 'one@example.net', Buffer.from('1\r\n'));
      await client.send('a@shop.example', 'two@example.net', Buffer.from('2\r\n'));
      client.quit();
      const commands = server.log.filter((l) => l.startsWith('< ') && !l.startsWith('< EHLO'));
      expect(commands).toEqual(['< MAIL FROM:<a@shop.example>', '< RCPT TO:<one@example.net>', '< DATA', '< .', '< RSET', '< MAIL FROM:<a@shop.example>', '< RCPT TO:<two@example.net>', '< DATA', '< .']);
      if (extensions.length) expect(server.reads).toContain('RSET\r\nMAIL FROM:<a@shop.example>\r\nRCPT TO:<two@example.net>\r\nDATA\r\n');
      await server.close();
      server = undefined;
    }
  });

  it('waits for each reply when the server does not offer PIPELINING, and stops at a refusal', async () => {
    server = await scriptedServer({ extensions: [], reply: (l) => (l.startsWith('RCPT') ? '550 5.1.1 no such user' : dataReply(l)) });
    const client = await SmtpClient.connect(base(server.port));
    const err = (await client.send('a@shop.example', 'nobody@example.net', Buffer.from('x\r\n')).catch((e: unknown) => e)) as SmtpError;
    expect(err).toBeInstanceOf(SmtpError);
    expect(err.responseCode).toBe(550);
    expect(err.response).toBe('550 5.1.1 no such user');
    const mail = server.log.findIndex((l) => l.startsWith('< MAIL'));
    expect(server.log.slice(mail)).toEqual(['< MAIL FROM:<a@shop.example>', '> 250', '< RCPT TO:<nobody@example.net>', '> 550']);
    await client.reset();
    client.quit();
  });

  it('ends a pipelined transaction whose recipient was refused but whose DATA got 354, then can RSET', async () => {
    server = await scriptedServer({ extensions: ['PIPELINING'], reply: (l) => (l.startsWith('RCPT') ? '550 5.1.1 unknown' : dataReply(l)) });
    const client = await SmtpClient.connect(base(server.port));
    const err = (await client.send('a@shop.example', 'x@example.net', Buffer.from('body\r\n')).catch((e: unknown) => e)) as SmtpError;
    expect(err.responseCode).toBe(550);
    await client.reset();
    expect(server.log.slice(-4)).toEqual(['< .', '> 250', '< RSET', '> 250']);
    // the message itself was never sent
    expect(server.reads.join('')).not.toContain('body');
    client.quit();
  });

  it('dot-stuffs the message and ends it correctly, with BODY=8BITMIME for 8-bit content', async () => {
    sink = await startSink();
    const client = await SmtpClient.connect(base(sink.port));
    const message = Buffer.concat([Buffer.from('Subject: dots\r\n\r\n.leading dot\r\n..two\r\n'), Buffer.from([0x82, 0xa0, 0x0d, 0x0a]), Buffer.from('.')]);
    await client.send('a@shop.example', 'b@example.net', message);
    const [received] = await sink.waitFor(1);
    // smtp-server un-stuffs; a message without a final CRLF gets one before the terminating dot
    expect(received!.body.equals(Buffer.concat([message, Buffer.from('\r\n')]))).toBe(true);
    client.quit();
  });

  it('asks for BODY=8BITMIME only for 8-bit content and only when offered', async () => {
    server = await scriptedServer({ extensions: ['8BITMIME'], reply: dataReply });
    const client = await SmtpClient.connect(base(server.port));
    await client.send('a@shop.example', 'b@example.net', Buffer.from('Subject: =?ISO-2022-JP?B?GyRCJDMbKEI=?=\r\n\r\nascii\r\n'));
    await client.send('a@shop.example', 'b@example.net', Buffer.from([0x0d, 0x0a, 0x82, 0xa0, 0x0d, 0x0a]));
    client.quit();
    expect(server.log.filter((l) => l.startsWith('< MAIL'))).toEqual(['< MAIL FROM:<a@shop.example>', '< MAIL FROM:<a@shop.example> BODY=8BITMIME']);
  });

  it('parses multi-line replies and refuses a flood that never completes a reply', async () => {
    expect(takeReply('250-a\r\n250-b\r\n250 c\r\nrest')).toEqual({ reply: { code: 250, text: '250-a\n250-b\n250 c' }, consumed: 21 });
    expect(takeReply('250-a\r\n250-b')).toBeNull();
    const flood = createServer((s) => {
      s.write('220-');
      const chunk = 'x'.repeat(16 * 1024);
      const timer = setInterval(() => s.write(chunk), 5);
      s.on('close', () => clearInterval(timer));
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => flood.listen(0, '127.0.0.1', r));
    const err = (await SmtpClient.connect(base((flood.address() as { port: number }).port)).catch((e: unknown) => e)) as SmtpError;
    flood.close();
    expect(err.code).toBe('EPROTOCOL');
    expect(err.responseCode).toBeUndefined();
  });

  it('times out a server that stops answering, and reports a closed connection without a reply code', async () => {
    server = await scriptedServer({ extensions: [], reply: (l) => (l.startsWith('MAIL') ? ['250 late', 60_000] : null) });
    const client = await SmtpClient.connect({ ...base(server.port), commandTimeoutMs: 300 });
    const err = (await client.send('a@shop.example', 'b@example.net', Buffer.from('x\r\n')).catch((e: unknown) => e)) as SmtpError;
    expect(err.code).toBe('ETIMEDOUT');
    expect(err.message).toMatch(/no reply to MAIL FROM within 0.3 s/);
    expect(client.closed).toBe(true);
    const refused = (await SmtpClient.connect(base(1)).catch((e: unknown) => e)) as SmtpError;
    expect(refused.code).toBe('ECONNECTION');
    expect(refused.message).toMatch(/ECONNREFUSED/);
  });

  it('verifies the certificate when TLS is required: a CA-signed certificate for the name passes, another name fails', async () => {
    const ca = await makeTestCa();
    sink = await startSink({ starttls: true, tls: await ca.issue('mx.verified.example') });
    const required = { ...base(sink.port), tls: 'required' as const, ca: ca.cert };
    const client = await SmtpClient.connect({ ...required, servername: 'mx.verified.example' });
    expect(client.tlsProtocol).toMatch(/^TLSv1\.[23] /);
    await client.send('a@shop.example', 'b@example.net', Buffer.from('Subject: tls\r\n\r\nsecret\r\n'));
    client.quit();
    const wrongName = (await SmtpClient.connect({ ...required, servername: 'mx.other.example' }).catch((e: unknown) => e)) as SmtpError;
    expect(wrongName.code).toBe('ETLS');
    expect(wrongName.message).toMatch(/mx\.other\.example|altnames/i);
    const untrusted = (await SmtpClient.connect({ ...required, servername: 'mx.verified.example', ca: (await makeTestCa()).cert }).catch((e: unknown) => e)) as SmtpError;
    expect(untrusted.code).toBe('ETLS');
    expect(sink.messages).toHaveLength(1);
  });

  it('refuses to go on in clear when TLS is required and STARTTLS is not offered', async () => {
    server = await scriptedServer({ extensions: ['PIPELINING'], reply: () => null });
    const err = (await SmtpClient.connect({ ...base(server.port), tls: 'required' }).catch((e: unknown) => e)) as SmtpError;
    expect(err.code).toBe('ETLS');
    expect(server.log.some((l) => l.startsWith('< MAIL'))).toBe(false);
  });
});

describe('connection pool TLS fallback', () => {
  const redis = new Redis(inject('redisUrl'));
  const throttle = new SiteThrottle(redis, createKeys(`pool${randomBytes(4).toString('hex')}`), { threshold: 3, firstPauseSeconds: 1, maxPauseSeconds: 4, successesPerStep: 2 });
  const site = { name: 'fallback.example', limits: { connections: 2, perMinute: 0, messagesPerConnection: 10, idleSeconds: 5 } };
  const pool = new ConnectionPool({ hostname: 'relay.test', resolveHost: async (h) => h, connectTimeoutMs: 2000, commandTimeoutMs: 2000 }, throttle);

  it('opportunistic: a failed STARTTLS handshake is retried in plain text on a new connection; required: never', async () => {
    server = await scriptedServer({ extensions: (n) => (n === 1 ? ['STARTTLS', 'PIPELINING'] : ['PIPELINING']), brokenTls: true, reply: dataReply });
    const lease = await pool.acquire({ host: '127.0.0.1', port: server.port, tls: 'opportunistic', via: 'test' }, site);
    expect(lease.tlsProtocol).toBeNull();
    await lease.connection.send('a@shop.example', 'b@example.net', Buffer.from('x\r\n'));
    lease.release(false);
    expect(server.connections).toBe(2);
    await server.close();

    server = await scriptedServer({ extensions: ['STARTTLS'], brokenTls: true, reply: dataReply });
    const err = (await pool.acquire({ host: '127.0.0.1', port: server.port, tls: 'required', via: 'test' }, site).catch((e: unknown) => e)) as SmtpError;
    expect(err.code).toBe('ETLS');
    expect(server.connections).toBe(1);
    expect(server.log.some((l) => l.startsWith('< MAIL'))).toBe(false);
    pool.close();
    redis.disconnect();
  });
});

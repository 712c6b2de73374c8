/**
 * A raw SMTP client for tests that need to stop half-way through a session (e.g. hold a
 * transaction open while the server shuts down) or to see exactly what a new connection is told.
 */
import { connect, type Socket } from 'node:net';

export interface SmtpReply {
  code: number;
  text: string;
}

export interface RawSmtp {
  greeting: SmtpReply;
  /** sends one line (CRLF added) and reads the complete (possibly multi-line) reply */
  command(line: string): Promise<SmtpReply>;
  /** sends raw bytes (a DATA body ending in CRLF.CRLF) and reads the reply */
  raw(data: string): Promise<SmtpReply>;
  close(): void;
}

/**
 * Opens a TCP connection and reads the greeting: its reply code (e.g. 220, 421), or 'refused'
 * when nothing listens (or the listener closed the connection before saying anything).
 */
export async function smtpGreeting(port: number, timeoutMs = 5_000): Promise<number | 'refused'> {
  try {
    const session = await openSmtp(port, timeoutMs);
    session.close();
    return session.greeting.code;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'CLOSED') return 'refused';
    throw err;
  }
}

export async function openSmtp(port: number, timeoutMs = 5_000): Promise<RawSmtp> {
  const socket: Socket = connect(port, '127.0.0.1');
  let buf = '';
  let waiter: { resolve(r: SmtpReply): void; reject(e: Error): void } | undefined;
  let failure: Error | undefined;

  const tryComplete = () => {
    if (!waiter) return;
    // a reply is complete at the first line "NNN text" (space after the code)
    const lines = buf.split('\r\n');
    for (let i = 0; i < lines.length - 1; i++) {
      const m = /^(\d{3}) /.exec(lines[i]!);
      if (m) {
        const text = lines.slice(0, i + 1).join('\n');
        buf = lines.slice(i + 1).join('\r\n');
        const w = waiter;
        waiter = undefined;
        w.resolve({ code: Number(m[1]), text });
        return;
      }
    }
  };
  const fail = (err: Error) => {
    failure ??= err;
    const w = waiter;
    waiter = undefined;
    w?.reject(err);
  };
  socket.on('data', (c: Buffer) => {
    buf += c.toString('latin1');
    tryComplete();
  });
  socket.on('error', fail);
  socket.on('close', () => fail(Object.assign(new Error('connection closed'), { code: 'CLOSED' })));

  const read = () =>
    new Promise<SmtpReply>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`no SMTP reply on port ${port} within ${timeoutMs} ms`)), timeoutMs);
      waiter = {
        resolve: (r) => (clearTimeout(timer), resolve(r)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
      tryComplete();
      if (waiter && failure) fail(failure);
    });

  const greeting = await read();
  return {
    greeting,
    command(line) {
      socket.write(`${line}\r\n`);
      return read();
    },
    raw(data) {
      socket.write(data);
      return read();
    },
    close: () => socket.destroy(),
  };
}

/**
 * A raw SMTP client for tests that need to say what no well-behaved client library would say
 * (bare LF, NUL bytes, trickling DATA, many sockets at once): a net.Socket (optionally TLS,
 * implicit or after STARTTLS), replies read whole (multi-line `250-…` joined), commands sent
 * as written.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

export interface SmtpReply {
  code: number;
  /** the text of every line after the code and separator, in order */
  lines: string[];
  /** the whole reply as sent, lines joined with \n (code included) */
  text: string;
}

export interface RawSmtpOptions {
  /** implicit TLS (the submissions port) */
  tls?: boolean;
  /** ms to wait for any one reply before failing the test; default 5000 */
  replyTimeoutMs?: number;
}

export class RawSmtp {
  private socket: Socket | TLSSocket;
  private buffer = '';
  private pending: string[] = [];
  private replies: SmtpReply[] = [];
  private waiters: Array<(r: SmtpReply | null) => void> = [];
  private isClosed = false;
  private closeWaiters: Array<() => void> = [];
  readonly timeoutMs: number;

  private constructor(socket: Socket | TLSSocket, timeoutMs: number) {
    this.socket = socket;
    this.timeoutMs = timeoutMs;
    this.attach(socket);
  }

  /** Connects and waits for the greeting, which is returned along with the client. */
  static async connect(port: number, options: RawSmtpOptions = {}): Promise<{ client: RawSmtp; greeting: SmtpReply }> {
    const socket = await new Promise<Socket | TLSSocket>((resolve, reject) => {
      const s: Socket | TLSSocket = options.tls
        ? tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => resolve(s))
        : netConnect({ host: '127.0.0.1', port }, () => resolve(s));
      s.once('error', reject);
    });
    const client = new RawSmtp(socket, options.replyTimeoutMs ?? 5000);
    const greeting = await client.read();
    return { client, greeting };
  }

  private attach(socket: Socket | TLSSocket): void {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.isClosed = true;
      for (const w of this.waiters.splice(0)) w(null);
      for (const w of this.closeWaiters.splice(0)) w();
    });
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) !== -1) {
      const line = this.buffer.slice(0, nl).replace(/\r$/, '');
      this.buffer = this.buffer.slice(nl + 1);
      this.pending.push(line);
      const m = /^(\d{3})([ -])?/.exec(line);
      if (m && m[2] !== '-') {
        const lines = this.pending.splice(0);
        const reply: SmtpReply = { code: Number(m[1]), lines: lines.map((l) => l.slice(4)), text: lines.join('\n') };
        const waiter = this.waiters.shift();
        if (waiter) waiter(reply);
        else this.replies.push(reply);
      }
    }
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** The next complete reply; fails if the server hangs up first or nothing comes in time. */
  async read(timeoutMs = this.timeoutMs): Promise<SmtpReply> {
    const queued = this.replies.shift();
    if (queued) return queued;
    if (this.isClosed) throw new Error('connection closed while waiting for a reply');
    const reply = await new Promise<SmtpReply | null>((resolve, reject) => {
      const done = (r: SmtpReply | null) => {
        clearTimeout(timer);
        resolve(r);
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(done);
        if (i !== -1) this.waiters.splice(i, 1);
        reject(new Error(`no SMTP reply within ${timeoutMs} ms (partial: ${JSON.stringify(this.pending)})`));
      }, timeoutMs);
      this.waiters.push(done);
    });
    if (!reply) throw new Error('connection closed while waiting for a reply');
    return reply;
  }

  /** Writes bytes as they are (no CRLF added; strings as latin1, one char = one byte). */
  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Sends one command line (CRLF added) and returns its reply. */
  async send(command: string, timeoutMs = this.timeoutMs): Promise<SmtpReply> {
    this.write(command + '\r\n');
    return this.read(timeoutMs);
  }

  /** EHLO, returning the reply (its lines after the first are the extensions). */
  ehlo(name = 'client.test'): Promise<SmtpReply> {
    return this.send(`EHLO ${name}`);
  }

  /** STARTTLS, then the TLS handshake on the same socket (certificate not verified). */
  async starttls(): Promise<SmtpReply> {
    const reply = await this.send('STARTTLS');
    if (reply.code !== 220) return reply;
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    this.socket = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ socket: plain, rejectUnauthorized: false }, () => resolve(s));
      s.once('error', reject);
    });
    this.attach(this.socket);
    return reply;
  }

  /** AUTH PLAIN in one line. */
  authPlain(user: string, password: string): Promise<SmtpReply> {
    return this.send(`AUTH PLAIN ${Buffer.from(`\0${user}\0${password}`).toString('base64')}`);
  }

  /** DATA, then the message (already CRLF and dot-stuffed, ending in CRLF), then the final dot. */
  async data(body: string | Buffer, timeoutMs = this.timeoutMs): Promise<SmtpReply> {
    const go = await this.send('DATA');
    if (go.code !== 354) return go;
    this.write(body);
    this.write('.\r\n');
    return this.read(timeoutMs);
  }

  /** Resolves when the server has closed the connection (or rejects after timeoutMs). */
  waitClosed(timeoutMs = this.timeoutMs): Promise<void> {
    if (this.isClosed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`connection still open after ${timeoutMs} ms`)), timeoutMs);
      this.closeWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** QUIT politely if still open, then destroy the socket. */
  async close(): Promise<void> {
    if (!this.isClosed) {
      try {
        await this.send('QUIT', 1000);
      } catch {
        // already gone
      }
    }
    this.socket.destroy();
  }
}

/**
 * The reply code a new connection is greeted with (e.g. 220, or 421 while shutting down), or
 * 'refused' when nothing listens or the listener hangs up before saying anything.
 */
export async function greetingCode(port: number, timeoutMs = 5_000): Promise<number | 'refused'> {
  try {
    const { client, greeting } = await RawSmtp.connect(port, { replyTimeoutMs: timeoutMs });
    await client.close();
    return greeting.code;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EPIPE' || /connection closed/.test((err as Error).message)) return 'refused';
    throw err;
  }
}

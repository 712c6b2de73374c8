/**
 * One outgoing SMTP connection (RFC 5321), as a delivery needs it: greeting, EHLO (HELO when
 * refused), STARTTLS, AUTH, then any number of transactions separated by RSET, and QUIT.
 *
 * Why our own client: PIPELINING (RFC 2920) — MAIL, RCPT and DATA go out in one write and their
 * replies are read in order, one round trip instead of three per message — and the message is
 * written as one dot-stuffed buffer. nodemailer's connection does neither.
 *
 * Promises: every reply is matched to the command that caused it (replies are read strictly in
 * order); a refusal rejects with `SmtpError` carrying the server's `responseCode` and full
 * `response`; a broken, closed or silent connection rejects with a `code` and no
 * `responseCode`, so callers can tell "the server said no" from "no answer". A server that
 * floods us (an endless line or reply) is cut off. After `closed` is true the connection
 * carries nothing more.
 */
import { isAscii } from 'node:buffer';
import { connect as connectTcp, isIP, type Socket } from 'node:net';
import { connect as connectTls, type TLSSocket, type ConnectionOptions } from 'node:tls';
import { dotStuffed } from './dot-stuffing.js';

export type TlsMode = 'required' | 'opportunistic' | 'none';

export interface SmtpClientOptions {
  /** address to connect to */
  host: string;
  port: number;
  /** the mail host's name: TLS SNI and certificate check (defaults to host) */
  servername?: string;
  /** TLS from the first byte (port 465) instead of STARTTLS */
  implicitTls?: boolean;
  tls: TlsMode;
  /** our name in EHLO */
  name: string;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  /** extra trusted CA certificates (PEM) for verified TLS, besides the system's */
  ca?: string | Buffer | (string | Buffer)[];
}

export type SmtpErrorCode = 'ECONNECTION' | 'ETIMEDOUT' | 'ETLS' | 'EPROTOCOL' | 'EAUTH' | 'EENVELOPE' | 'EMESSAGE';

/** The command a refusal answered: the bounce classifier reads "user unknown" to DATA differently. */
export type SmtpStage = 'CONN' | 'EHLO' | 'AUTH' | 'MAIL' | 'RCPT' | 'DATA';

export class SmtpError extends Error {
  override name = 'SmtpError';
  constructor(
    readonly code: SmtpErrorCode,
    message: string,
    /** the server's reply, when there was one */
    readonly responseCode?: number,
    readonly response?: string,
    readonly stage?: SmtpStage,
  ) {
    super(message);
  }
}

export interface Reply {
  code: number;
  /** all lines, as received, joined with "\n" */
  text: string;
}

interface PendingReply {
  command: string;
  resolve: (reply: Reply) => void;
  reject: (err: SmtpError) => void;
}

/** A hostile or broken server must not make us buffer without end. */
const MAX_REPLY_BYTES = 64 * 1024;

export class SmtpClient {
  /** EHLO keywords, upper case, with their parameters ("SIZE" → "35882577") */
  readonly extensions = new Map<string, string>();
  closed = false;
  /** transactions begun on this connection */
  private transactions = 0;
  private socket: Socket;
  private received = '';
  private readonly pending: PendingReply[] = [];
  private closeReason: SmtpError | null = null;

  private constructor(socket: Socket, private readonly options: SmtpClientOptions) {
    this.socket = socket;
    this.attach(socket);
  }

  /** Connects, reads the greeting, says EHLO and upgrades with STARTTLS as the mode asks. */
  static async connect(options: SmtpClientOptions): Promise<SmtpClient> {
    const socket = await openSocket(options);
    const client = new SmtpClient(socket, options);
    try {
      await client.handshake();
      return client;
    } catch (err) {
      client.close();
      throw err;
    }
  }

  get secure(): boolean {
    return 'encrypted' in this.socket;
  }

  /** "TLSv1.3 TLS_AES_256_GCM_SHA384" on an encrypted connection, null in plain text. */
  get tlsProtocol(): string | null {
    if (!this.secure) return null;
    const tls = this.socket as TLSSocket;
    return [tls.getProtocol(), tls.getCipher()?.name].filter(Boolean).join(' ');
  }

  get pipelining(): boolean {
    return this.extensions.has('PIPELINING');
  }

  async login(user: string, pass: string): Promise<void> {
    const mechanisms = (this.extensions.get('AUTH') ?? '').toUpperCase().split(/\s+/);
    let reply: Reply;
    if (mechanisms.includes('PLAIN') || !mechanisms.includes('LOGIN')) {
      reply = await this.command(`AUTH PLAIN ${Buffer.from(`\0${user}\0${pass}`).toString('base64')}`, 'AUTH PLAIN');
    } else {
      reply = await this.command('AUTH LOGIN');
      if (reply.code === 334) reply = await this.command(Buffer.from(user).toString('base64'), 'AUTH LOGIN user');
      if (reply.code === 334) reply = await this.command(Buffer.from(pass).toString('base64'), 'AUTH LOGIN password');
    }
    if (reply.code !== 235) throw refusal('EAUTH', 'authentication failed', reply, 'AUTH');
  }

  /**
   * One transaction: MAIL, RCPT, DATA and the message. Resolves with the server's final reply
   * (2xx); rejects with the refusing reply. On a reused connection RSET goes first (in the same
   * packet when pipelining): it ends whatever state the last transaction left and proves the
   * connection alive; a failed RSET rejects without a reply code, like a dropped connection.
   */
  async send(from: string, to: string, message: Buffer): Promise<Reply> {
    const reused = this.transactions++ > 0;
    const mail = `MAIL FROM:<${from}>${this.mailParameters(from, to, message)}`;
    const rcpt = `RCPT TO:<${to}>`;
    if (reused && !this.pipelining) await this.resetOrClose();
    const commands = reused && this.pipelining ? ['RSET', mail, rcpt, 'DATA'] : [mail, rcpt, 'DATA'];
    const replies = this.pipelining ? await this.pipelined(commands) : await this.stepByStep(commands);
    if (commands[0] === 'RSET' && replies.shift()!.code !== 250) {
      this.close();
      throw new SmtpError('EPROTOCOL', 'the server refused RSET on a reused connection');
    }
    const [mailReply, rcptReply, dataReply] = replies;
    const envelopeRefusal =
      mailReply!.code !== 250 ? refusal('EENVELOPE', 'MAIL FROM refused', mailReply!, 'MAIL') : rcptReply!.code !== 250 && rcptReply!.code !== 251 ? refusal('EENVELOPE', 'recipient refused', rcptReply!, 'RCPT') : null;
    if (envelopeRefusal) {
      // A server that said 354 to a pipelined DATA after refusing the envelope waits for a
      // message: an empty one ends that transaction (RFC 2920 §3.1) so RSET can follow.
      if (dataReply?.code === 354) await this.command('.', 'end of empty DATA');
      throw envelopeRefusal;
    }
    if (dataReply!.code !== 354) throw refusal('EMESSAGE', 'DATA refused', dataReply!, 'DATA');
    const final = this.expect('end of DATA');
    this.socket.cork();
    const body = dotStuffed(message);
    this.socket.write(body);
    this.socket.write(body.length === 0 || body.subarray(-2).toString() === '\r\n' ? '.\r\n' : '\r\n.\r\n');
    this.socket.uncork();
    const reply = await final;
    if (reply.code !== 250) throw refusal('EMESSAGE', 'message refused', reply, 'DATA');
    return reply;
  }

  private async resetOrClose(): Promise<void> {
    const reply = await this.command('RSET');
    if (reply.code === 250) return;
    this.close();
    throw new SmtpError('EPROTOCOL', `the server refused RSET on a reused connection: ${reply.text}`);
  }

  async reset(): Promise<void> {
    const reply = await this.command('RSET');
    if (reply.code !== 250) throw refusal('EPROTOCOL', 'RSET refused', reply);
  }

  /** Says goodbye without waiting for the answer, then closes. */
  quit(): void {
    if (this.closed) return;
    this.socket.end('QUIT\r\n');
    this.markClosed(new SmtpError('ECONNECTION', 'connection closed by us (QUIT)'));
  }

  close(): void {
    this.markClosed(new SmtpError('ECONNECTION', 'connection closed by us'));
    this.socket.destroy();
  }

  private async handshake(): Promise<void> {
    const greeting = await this.expect('greeting');
    if (greeting.code !== 220) throw refusal('EPROTOCOL', 'the server refused the connection', greeting, 'CONN');
    await this.hello();
    const o = this.options;
    if (this.secure || o.tls === 'none') return;
    if (!this.extensions.has('STARTTLS')) {
      if (o.tls === 'required') throw new SmtpError('ETLS', 'TLS is required but the server does not offer STARTTLS');
      return;
    }
    const reply = await this.command('STARTTLS');
    if (reply.code !== 220) {
      if (o.tls === 'required') throw refusal('ETLS', 'STARTTLS refused', reply);
      return;
    }
    await this.upgrade();
    await this.hello();
  }

  private async hello(): Promise<void> {
    let reply = await this.command(`EHLO ${this.options.name}`);
    this.extensions.clear();
    if (reply.code === 250) {
      for (const line of reply.text.split('\n').slice(1)) {
        const [keyword, ...params] = line.slice(4).trim().split(/\s+/);
        if (keyword) this.extensions.set(keyword.toUpperCase(), params.join(' '));
      }
      return;
    }
    reply = await this.command(`HELO ${this.options.name}`);
    if (reply.code !== 250) throw refusal('EPROTOCOL', 'EHLO and HELO refused', reply, 'EHLO');
  }

  private async upgrade(): Promise<void> {
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('timeout');
    plain.setTimeout(0);
    const ms = this.options.commandTimeoutMs;
    const secured = await new Promise<TLSSocket>((resolve, reject) => {
      const tls = connectTls({ socket: plain, ...tlsOptions(this.options) }, () => {
        clearTimeout(timer);
        resolve(tls);
      });
      const fail = (message: string) => {
        clearTimeout(timer);
        tls.destroy();
        reject(new SmtpError('ETLS', message));
      };
      const timer = setTimeout(() => fail(`TLS handshake not finished within ${ms / 1000} s`), ms);
      tls.once('error', (err) => fail(`TLS handshake failed: ${err.message}`));
    });
    this.socket = secured;
    this.attach(secured);
  }

  private mailParameters(from: string, to: string, message: Buffer): string {
    let params = '';
    if (this.extensions.has('SIZE')) params += ` SIZE=${message.length}`;
    if (this.extensions.has('8BITMIME') && !isAscii(message)) params += ' BODY=8BITMIME';
    if (this.extensions.has('SMTPUTF8') && !/^[\x00-\x7f]*$/.test(from + to)) params += ' SMTPUTF8';
    return params;
  }

  /** RFC 2920: the commands in one write, the replies in order. */
  private async pipelined(commands: string[]): Promise<Reply[]> {
    const pending = commands.map((c) => this.expect(c.split(':')[0]!));
    for (const p of pending) p.catch(() => undefined); // read in order below; this only silences the rest
    this.socket.write(commands.map((c) => `${c}\r\n`).join(''));
    const replies: Reply[] = [];
    for (const p of pending) {
      try {
        replies.push(await p);
      } catch (err) {
        // "421 closing" to RCPT, then the connection drops: the refusal is the answer, not the drop.
        if (replies.some((r) => r.code >= 400)) break;
        throw err;
      }
    }
    return replies;
  }

  /** Without PIPELINING: stop at the first refusal (later commands are not sent). */
  private async stepByStep(commands: string[]): Promise<Reply[]> {
    const replies: Reply[] = [];
    for (const c of commands) {
      const reply = await this.command(c, c.split(':')[0]);
      replies.push(reply);
      if (reply.code >= 400) break;
    }
    return replies;
  }

  private command(line: string, label = line): Promise<Reply> {
    const reply = this.expect(label);
    this.socket.write(`${line}\r\n`);
    return reply;
  }

  private expect(command: string): Promise<Reply> {
    if (this.closed) return Promise.reject(this.closeReason!);
    return new Promise<Reply>((resolve, reject) => this.pending.push({ command, resolve, reject }));
  }

  private attach(socket: Socket): void {
    socket.setTimeout(this.options.commandTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('timeout', () => {
      // Idle in the pool is fine; silence while a reply is due is not.
      if (this.pending.length === 0) return;
      this.markClosed(new SmtpError('ETIMEDOUT', `no reply to ${this.pending[0]!.command} within ${this.options.commandTimeoutMs / 1000} s`));
      socket.destroy();
    });
    socket.on('error', (err) => this.markClosed(new SmtpError('ECONNECTION', `connection error: ${err.message}`)));
    socket.on('close', () => this.markClosed(new SmtpError('ECONNECTION', 'connection closed by the server')));
  }

  private onData(chunk: Buffer): void {
    this.received += chunk.toString('latin1');
    for (;;) {
      const reply = takeReply(this.received);
      if (!reply) break;
      this.received = this.received.slice(reply.consumed);
      const waiter = this.pending.shift();
      if (waiter) waiter.resolve(reply.reply);
      else this.markClosed(new SmtpError('EPROTOCOL', `unexpected reply from the server: ${reply.reply.text}`, reply.reply.code, reply.reply.text));
    }
    if (this.received.length > MAX_REPLY_BYTES) {
      this.markClosed(new SmtpError('EPROTOCOL', `the server sent more than ${MAX_REPLY_BYTES} bytes without completing a reply`));
      this.socket.destroy();
    }
  }

  private markClosed(reason: SmtpError): void {
    if (!this.closed) {
      this.closed = true;
      this.closeReason = reason;
    }
    for (const waiter of this.pending.splice(0)) waiter.reject(this.closeReason!);
  }
}

/** The first complete reply in `buffer` (its last line is "ddd " or "ddd"), or null. */
export function takeReply(buffer: string): { reply: Reply; consumed: number } | null {
  const lines: string[] = [];
  let start = 0;
  for (let end = buffer.indexOf('\n'); end !== -1; end = buffer.indexOf('\n', start)) {
    const line = buffer.slice(start, end).replace(/\r$/, '');
    start = end + 1;
    lines.push(line);
    const code = /^(\d{3})(?: |$)/.exec(line);
    if (code) return { reply: { code: Number(code[1]), text: lines.join('\n') }, consumed: start };
    if (!/^\d{3}-/.test(line)) return { reply: { code: 0, text: lines.join('\n') }, consumed: start };
  }
  return null;
}

function refusal(code: SmtpErrorCode, what: string, reply: Reply, stage?: SmtpStage): SmtpError {
  if (reply.code === 0) return new SmtpError('EPROTOCOL', `${what}: the server's reply is not SMTP: ${reply.text.slice(0, 200)}`);
  return new SmtpError(code, `${what}: ${reply.text}`, reply.code, reply.text, stage);
}

function tlsOptions(o: SmtpClientOptions): ConnectionOptions {
  const name = o.servername ?? o.host;
  return {
    ...(isIP(name) ? {} : { servername: name }),
    // Opportunistic TLS takes any certificate (RFC 7435: encryption without authentication beats
    // plain text); `required` (routes, MTA-STS enforce) checks it against the host name.
    rejectUnauthorized: o.tls === 'required',
    minVersion: 'TLSv1.2',
    ...(o.ca ? { ca: o.ca } : {}),
  };
}

const NETWORK_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EPIPE', 'EADDRNOTAVAIL']);

function openSocket(o: SmtpClientOptions): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const where = `${o.servername ?? o.host}:${o.port}`;
    const socket: Socket = o.implicitTls ? connectTls({ host: o.host, port: o.port, ...tlsOptions(o) }) : connectTcp({ host: o.host, port: o.port });
    const timer = setTimeout(() => fail(new SmtpError('ETIMEDOUT', `connect to ${where} timed out after ${o.connectTimeoutMs / 1000} s`)), o.connectTimeoutMs);
    const fail = (err: SmtpError) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    socket.once('error', (err: NodeJS.ErrnoException) => {
      const network = !o.implicitTls || NETWORK_ERRORS.has(err.code ?? '');
      fail(new SmtpError(network ? 'ECONNECTION' : 'ETLS', network ? err.message : `TLS with ${where} failed: ${err.message}`));
    });
    socket.once(o.implicitTls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
}

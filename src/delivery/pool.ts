/**
 * Outgoing SMTP connections, reused across deliveries to the same host.
 *
 * Promises: at most `maxPerHost` open connections per host:port (callers wait for a free one);
 * a connection carries at most `maxMessages` messages and is closed after `idleMs` unused or
 * after any error; TLS per the route's mode (opportunistic STARTTLS by default, with the
 * unverified certificates MTAs accept in that mode; `required` verifies).
 */
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { Target } from './routes.js';
import { useFastDataEncoding } from './dot-stuffing.js';

export interface PoolOptions {
  hostname: string;
  maxPerHost: number;
  maxMessages: number;
  idleMs: number;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
}

export interface Lease {
  connection: SMTPConnection;
  /** TLS protocol of the connection, or null for plain text */
  tlsProtocol: string | null;
  /** true when the connection already carried a message (the server may have dropped it since) */
  reused: boolean;
  /** Give the connection back; `reusable: false` closes it (after errors). */
  release(reusable: boolean): void;
}

interface PooledConnection {
  connection: SMTPConnection;
  messages: number;
  idleTimer?: NodeJS.Timeout;
  broken: boolean;
}

interface HostPool {
  idle: PooledConnection[];
  open: number;
  waiters: (() => void)[];
}

export class ConnectionPool {
  private readonly hosts = new Map<string, HostPool>();
  private closed = false;

  constructor(private readonly options: PoolOptions) {}

  async acquire(target: Target): Promise<Lease> {
    const key = poolKey(target);
    const pool = this.hostPool(key);
    for (;;) {
      if (this.closed) throw new Error('connection pool is closed');
      const reused = pool.idle.pop();
      if (reused) {
        clearTimeout(reused.idleTimer);
        if (!reused.broken) return this.lease(pool, reused);
        pool.open--;
        continue;
      }
      if (pool.open < this.options.maxPerHost) break;
      await new Promise<void>((resolve) => pool.waiters.push(resolve));
    }
    pool.open++;
    try {
      const pooled: PooledConnection = { connection: await this.connect(target), messages: 0, broken: false };
      pooled.connection.on('error', () => (pooled.broken = true));
      pooled.connection.on('end', () => (pooled.broken = true));
      return this.lease(pool, pooled);
    } catch (err) {
      pool.open--;
      pool.waiters.shift()?.();
      throw err;
    }
  }

  /** Closes idle connections; leased ones close when released. */
  close(): void {
    this.closed = true;
    for (const pool of this.hosts.values()) {
      for (const p of pool.idle) {
        clearTimeout(p.idleTimer);
        p.connection.quit();
      }
      pool.idle = [];
      for (const wake of pool.waiters.splice(0)) wake();
    }
  }

  private hostPool(key: string): HostPool {
    let pool = this.hosts.get(key);
    if (!pool) {
      pool = { idle: [], open: 0, waiters: [] };
      this.hosts.set(key, pool);
    }
    return pool;
  }

  private lease(pool: HostPool, pooled: PooledConnection): Lease {
    let released = false;
    return {
      connection: pooled.connection,
      tlsProtocol: tlsProtocolOf(pooled.connection),
      reused: pooled.messages > 0,
      release: (reusable) => {
        if (released) return;
        released = true;
        pooled.messages++;
        const keep = reusable && !pooled.broken && !this.closed && pooled.messages < this.options.maxMessages;
        if (keep) {
          pooled.idleTimer = setTimeout(() => this.expire(pool, pooled), this.options.idleMs);
          pooled.idleTimer.unref();
          pool.idle.push(pooled);
        } else {
          pooled.connection.quit();
          pool.open--;
        }
        pool.waiters.shift()?.();
      },
    };
  }

  private expire(pool: HostPool, pooled: PooledConnection): void {
    const i = pool.idle.indexOf(pooled);
    if (i === -1) return;
    pool.idle.splice(i, 1);
    pool.open--;
    pooled.connection.quit();
    pool.waiters.shift()?.();
  }

  private connect(target: Target): Promise<SMTPConnection> {
    const o = this.options;
    const connection = new SMTPConnection({
      host: target.host,
      port: target.port,
      // A smarthost on 465 speaks TLS from the first byte.
      secure: target.port === 465 && target.tls !== 'none',
      ignoreTLS: target.tls === 'none',
      requireTLS: target.tls === 'required',
      opportunisticTLS: target.tls === 'opportunistic',
      name: o.hostname,
      connectionTimeout: o.connectTimeoutMs,
      greetingTimeout: o.connectTimeoutMs,
      socketTimeout: o.commandTimeoutMs,
      allowInternalNetworkInterfaces: true,
      tls: { rejectUnauthorized: target.tls === 'required', minVersion: 'TLSv1.2' },
      logger: false,
    });
    // Errors after connect surface through send() callbacks; without a listener they would crash.
    connection.on('error', () => undefined);
    useFastDataEncoding(connection);
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      connection.once('error', onError);
      connection.connect(() => {
        connection.off('error', onError);
        if (!target.auth) return resolve(connection);
        connection.login({ user: target.auth.user, pass: target.auth.pass }, (err) => {
          if (err) {
            connection.close();
            return reject(err);
          }
          resolve(connection);
        });
      });
    });
  }
}

function poolKey(t: Target): string {
  return `${t.host}|${t.port}|${t.tls}|${t.auth?.user ?? ''}`;
}

function tlsProtocolOf(connection: SMTPConnection): string | null {
  const socket = (connection as unknown as { _socket?: { getProtocol?: () => string | null } })._socket;
  return connection.secure && socket?.getProtocol ? socket.getProtocol() : null;
}

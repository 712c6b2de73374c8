/**
 * Outgoing SMTP connections, reused across deliveries to the same host, within the limits of
 * the destination site.
 *
 * Promises: a new connection is opened only with a lease from the site throttle (so a site's
 * connection limit holds across processes and nodes) and gives its lease back when it closes;
 * a connection carries at most the site's `messagesPerConnection` messages and is closed after
 * its `idleSeconds` unused (within about a second when another process was refused a
 * connection to its site) or after any error; a caller waits for a busy site's connection only
 * briefly and only when this process has connections there to free — otherwise it gets a
 * SiteBusyError saying how long to wait, so a slow or dead site never ties up the delivery
 * slots that other sites need. TLS per the route's mode (opportunistic STARTTLS by default,
 * with the unverified certificates MTAs accept in that mode; `required` verifies).
 */
import { isIP } from 'node:net';
import type { Target } from './routes.js';
import type { Site } from './sites.js';
import type { SiteThrottle } from './throttle.js';
import { SmtpClient, SmtpError } from './smtp-client.js';

export interface PoolOptions {
  hostname: string;
  /** the address to connect to for a host name (through the configured DNS, not the OS's) */
  resolveHost: (host: string) => Promise<string>;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  /** how long a caller may wait for a connection of this process to come free */
  localWaitMs?: number;
  /** extra CA certificates trusted for verified TLS (tests; private relays) */
  ca?: string | Buffer;
}

/** The site has no connection to spare (or is paused): re-schedule after `waitMs`. */
export class SiteBusyError extends Error {
  override name = 'SiteBusyError';
  constructor(readonly site: string, readonly waitMs: number, readonly paused: boolean) {
    super(paused ? `site ${site} is paused for ${Math.ceil(waitMs / 1000)} s` : `every connection to site ${site} is in use`);
  }
}

export interface Lease {
  connection: SmtpClient;
  /** TLS protocol and cipher of the connection ("TLSv1.3 TLS_AES_256_GCM_SHA384"), or null for plain text */
  tlsProtocol: string | null;
  /** true when the connection already carried a message (the server may have dropped it since) */
  reused: boolean;
  /** Give the connection back; `reusable: false` closes it (after errors). */
  release(reusable: boolean): void;
}

interface PooledConnection {
  connection: SmtpClient;
  messages: number;
  idleTimer?: NodeJS.Timeout;
  idleSince?: number;
  renewTimer: NodeJS.Timeout;
  leaseId: string;
}

interface HostPool {
  site: Site;
  idle: PooledConnection[];
  open: number;
  waiters: (() => void)[];
}

const BUSY_RETRY_MS = 1000;
/** How often idle connections look whether another process wants their site's lease. */
const YIELD_CHECK_MS = 1000;

export class ConnectionPool {
  private readonly hosts = new Map<string, HostPool>();
  private closed = false;
  private yieldTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: PoolOptions, private readonly throttle: SiteThrottle) {}

  /** Connections this process has open to a site (in use or idle). */
  openTo(site: string): number {
    let n = 0;
    for (const pool of this.hosts.values()) if (pool.site.name === site) n += pool.open;
    return n;
  }

  async acquire(target: Target, site: Site): Promise<Lease> {
    const pool = this.hostPool(`${site.name}|${poolKey(target)}`, site);
    const waitUntil = Date.now() + (this.options.localWaitMs ?? 2000);
    for (;;) {
      if (this.closed) throw new Error('connection pool is closed');
      const reused = pool.idle.pop();
      if (reused) {
        clearTimeout(reused.idleTimer);
        if (!reused.connection.closed) return this.lease(pool, reused);
        this.discard(pool, reused);
        continue;
      }
      const grant = pool.open < site.limits.connections ? await this.throttle.openConnection(site.name, site.limits) : { ok: false as const, waitMs: -1, paused: false };
      if (grant.ok) return this.openNew(pool, target, grant.leaseId);
      // Wait here only for a connection this process will free soon; otherwise give the slot back.
      const waitHere = !grant.paused && pool.open > 0 && pool.waiters.length < site.limits.connections && Date.now() < waitUntil;
      if (!waitHere) throw new SiteBusyError(site.name, grant.paused ? grant.waitMs : BUSY_RETRY_MS, grant.paused);
      await this.waitForRelease(pool, waitUntil - Date.now());
    }
  }

  /** Closes idle connections; leased ones close when released. */
  close(): void {
    this.closed = true;
    clearInterval(this.yieldTimer);
    for (const pool of this.hosts.values()) {
      for (const p of pool.idle.splice(0)) this.discard(pool, p);
      for (const wake of pool.waiters.splice(0)) wake();
    }
  }

  private async openNew(pool: HostPool, target: Target, leaseId: string): Promise<Lease> {
    pool.open++;
    const renewTimer = setInterval(() => void this.throttle.renewConnection(pool.site.name, leaseId).catch(() => undefined), this.throttle.leaseTtlMs / 3);
    renewTimer.unref();
    try {
      const pooled: PooledConnection = { connection: await this.connect(target), messages: 0, leaseId, renewTimer };
      return this.lease(pool, pooled);
    } catch (err) {
      clearInterval(renewTimer);
      pool.open--;
      void this.throttle.closeConnection(pool.site.name, leaseId).catch(() => undefined);
      pool.waiters.shift()?.();
      throw err;
    }
  }

  private waitForRelease(pool: HostPool, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        const i = pool.waiters.indexOf(wake);
        if (i !== -1) pool.waiters.splice(i, 1);
        resolve();
      }, Math.max(ms, 1));
      pool.waiters.push(wake);
    });
  }

  private hostPool(key: string, site: Site): HostPool {
    let pool = this.hosts.get(key);
    if (!pool) {
      pool = { site, idle: [], open: 0, waiters: [] };
      this.hosts.set(key, pool);
    }
    pool.site = site; // limits may have changed (config reload, backoff)
    return pool;
  }

  private lease(pool: HostPool, pooled: PooledConnection): Lease {
    let released = false;
    return {
      connection: pooled.connection,
      tlsProtocol: pooled.connection.tlsProtocol,
      reused: pooled.messages > 0,
      release: (reusable) => {
        if (released) return;
        released = true;
        pooled.messages++;
        const keep = reusable && !pooled.connection.closed && !this.closed && pooled.messages < pool.site.limits.messagesPerConnection;
        if (keep) {
          pooled.idleTimer = setTimeout(() => this.expire(pool, pooled), pool.site.limits.idleSeconds * 1000);
          pooled.idleTimer.unref();
          pooled.idleSince = Date.now();
          pool.idle.push(pooled);
          this.watchForOthers();
        } else {
          this.discard(pool, pooled);
        }
        pool.waiters.shift()?.();
      },
    };
  }

  /**
   * An idle connection holds one of its site's leases until idleSeconds; when a caller elsewhere
   * (another process or node) was refused a connection to that site, connections idle for a
   * check interval close at once, so the limit is shared instead of hoarded.
   */
  private watchForOthers(): void {
    if (this.yieldTimer || this.closed) return;
    this.yieldTimer = setInterval(() => void this.yieldIdle().catch(() => undefined), YIELD_CHECK_MS);
    this.yieldTimer.unref();
  }

  private async yieldIdle(): Promise<void> {
    const idleSites = new Set<string>();
    for (const pool of this.hosts.values()) if (pool.idle.length > 0) idleSites.add(pool.site.name);
    if (idleSites.size === 0) return;
    const wanted = new Set(await this.throttle.wanted([...idleSites]));
    const idleBefore = Date.now() - YIELD_CHECK_MS;
    for (const pool of this.hosts.values()) {
      if (!wanted.has(pool.site.name)) continue;
      for (const pooled of pool.idle.filter((p) => (p.idleSince ?? 0) <= idleBefore)) this.expire(pool, pooled);
    }
  }

  private expire(pool: HostPool, pooled: PooledConnection): void {
    const i = pool.idle.indexOf(pooled);
    if (i === -1) return;
    pool.idle.splice(i, 1);
    this.discard(pool, pooled);
    pool.waiters.shift()?.();
  }

  /** Closes a connection and gives its site lease back. */
  private discard(pool: HostPool, pooled: PooledConnection): void {
    clearTimeout(pooled.idleTimer);
    clearInterval(pooled.renewTimer);
    pool.open--;
    if (pooled.connection.closed) pooled.connection.close();
    else pooled.connection.quit();
    void this.throttle.closeConnection(pool.site.name, pooled.leaseId).catch(() => undefined);
  }

  private async connect(target: Target): Promise<SmtpClient> {
    const o = this.options;
    // Connect to the address our resolver gives; TLS still checks the certificate against the name.
    const address = isIP(target.host) ? target.host : await o.resolveHost(target.host);
    const settings = {
      host: address,
      port: target.port,
      servername: target.host,
      // A smarthost on 465 speaks TLS from the first byte.
      implicitTls: target.port === 465 && target.tls !== 'none',
      tls: target.tls,
      name: o.hostname,
      connectTimeoutMs: o.connectTimeoutMs,
      commandTimeoutMs: o.commandTimeoutMs,
      ...(o.ca ? { ca: o.ca } : {}),
    };
    const client = await SmtpClient.connect(settings).catch((err: unknown) => {
      // Opportunistic TLS that fails its handshake falls back to plain text on a new connection,
      // as Postfix does at security level "may": a broken TLS stack must not stop all mail.
      if (err instanceof SmtpError && err.code === 'ETLS' && target.tls === 'opportunistic' && !settings.implicitTls) return SmtpClient.connect({ ...settings, tls: 'none', implicitTls: false });
      throw err;
    });
    if (!target.auth) return client;
    try {
      await client.login(target.auth.user, target.auth.pass);
      return client;
    } catch (err) {
      client.close();
      throw err;
    }
  }
}

function poolKey(t: Target): string {
  return `${t.host}|${t.port}|${t.tls}|${t.auth?.user ?? ''}`;
}

/**
 * The one DNS resolver of the process, built from config (`dns.servers`, `dns.timeoutSeconds`).
 *
 * Receives: server addresses ("192.0.2.53", "127.0.0.1:5353", "2001:db8::53", "[::1]:5353";
 * none: the system's /etc/resolv.conf) and a per-lookup timeout. Promises: node's answers, and
 * node's errors unchanged — callers branch on `code` (ENOTFOUND = no such name, ENODATA = no
 * record of that type, ETIMEOUT / ESERVFAIL / ECONNREFUSED... = temporary). MX lookups are our own
 * (src/dns-mx.ts, to get the answer's TTL) to the same servers, with the same codes. A malformed
 * server string throws at creation, naming it (node itself would wrap a port > 65535 silently and
 * abort the whole process on port 0).
 */
import { promises as dns } from 'node:dns';
import { isIPv4, isIPv6 } from 'node:net';
import { withDeadline } from './deadline.js';
import { queryMx, type DnsServer, type MxRecord } from './dns-mx.js';

export type { MxRecord } from './dns-mx.js';

export interface DnsResolver {
  /** each record carries the answer's TTL (`ttl`, seconds) when the resolver knows it */
  resolveMx(name: string): Promise<MxRecord[]>;
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
  resolveTxt(name: string): Promise<string[][]>;
  resolveCname(name: string): Promise<string[]>;
}

/** "ip", "ipv4:port", "[ipv6]" or "[ipv6]:port" (also node's getServers() forms) → host and port; undefined if malformed. */
function parseServer(server: string): DnsServer | undefined {
  const m = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(server) ?? /^([^:]+):(\d{1,5})$/.exec(server);
  const host = m ? m[1]! : server;
  const port = m?.[2] === undefined ? 53 : Number(m[2]);
  const hostOk = m && server.startsWith('[') ? isIPv6(host) : isIPv4(host) || (!m && isIPv6(host));
  return hostOk && port >= 1 && port <= 65535 ? { host, port } : undefined;
}

/** The same server string, checked; throws naming it otherwise. */
function checkServer(server: string): string {
  if (!parseServer(server)) {
    throw new Error(`dns.servers: invalid DNS server "${server}" (expected an IP address, "ip:port" or "[ipv6]:port")`);
  }
  return server;
}

export function createResolver(settings: { servers: string[]; timeoutSeconds: number }): DnsResolver {
  const servers = settings.servers.map(checkServer);
  const resolver = new dns.Resolver({ timeout: settings.timeoutSeconds * 1000, tries: 2 });
  if (servers.length > 0) resolver.setServers(servers);
  const mxServers = resolver.getServers().flatMap((s) => parseServer(s) ?? []);
  // c-ares adapts its per-try wait (capped at 5 s, doubled on retry), so its own timeout can
  // overshoot the setting threefold; this bound makes timeoutSeconds the real limit (ETIMEOUT).
  const bounded = <T>(lookup: Promise<T>, name: string) => withDeadline(lookup, settings.timeoutSeconds * 1000, `DNS lookup of ${name}: no answer within ${settings.timeoutSeconds} s`);
  return {
    // Our own query (node's gives no TTL), to the servers node's resolver uses: the configured
    // ones, else the system's. It keeps the same overall bound itself.
    resolveMx: (name) => queryMx(name, mxServers, settings.timeoutSeconds * 1000),
    resolve4: (name) => bounded(resolver.resolve4(name), name),
    resolve6: (name) => bounded(resolver.resolve6(name), name),
    resolveTxt: (name) => bounded(resolver.resolveTxt(name), name),
    resolveCname: (name) => bounded(resolver.resolveCname(name), name),
  };
}

/**
 * Where mail for a domain goes: a configured route (smarthost) or the domain's MX hosts.
 *
 * Receives: a recipient domain. Promises: an ordered list of hosts to try, or a permanent
 * "no such mail domain" answer (NXDOMAIN, null MX per RFC 7505), or a temporary DNS failure.
 * DNS is injected (`Resolver`), so tests and air-gapped installs never query the internet.
 */
import { lookup } from 'node:dns/promises';
import type { Route } from '../config/schema.js';
import type { DnsResolver, MxRecord } from '../dns.js';

export type Resolver = Pick<DnsResolver, 'resolveMx' | 'resolve4' | 'resolve6'>;

export interface Target {
  host: string;
  port: number;
  tls: Route['tls'];
  auth?: { user: string; pass: string } | undefined;
  /** "route *.example.com" or "MX example.com" — explains in logs why this host was chosen */
  via: string;
}

export type Resolution =
  | { kind: 'targets'; targets: Target[] }
  | { kind: 'permanent'; enhancedCode: string; reason: string }
  | { kind: 'temporary'; reason: string };

export function matchRoute(routes: Route[], domain: string): Route | undefined {
  const d = domain.toLowerCase();
  return routes.find((r) => {
    const m = r.match.toLowerCase();
    if (m === '*') return true;
    if (m.startsWith('*.')) return d.endsWith(m.slice(1)) || d === m.slice(2);
    return d === m;
  });
}

const NO_DOMAIN = new Set(['ENOTFOUND', 'ENODATA']);

/** A resolution and the seconds DNS lets it be kept (undefined: not told — routes, resolvers without TTLs). */
interface TimedResolution {
  resolution: Resolution;
  ttl: number | undefined;
}

export async function resolveDestination(domain: string, routes: Route[], resolver: Resolver, mxPort = 25): Promise<Resolution> {
  return (await lookupDestination(domain, routes, resolver, mxPort)).resolution;
}

async function lookupDestination(domain: string, routes: Route[], resolver: Resolver, mxPort: number): Promise<TimedResolution> {
  const route = matchRoute(routes, domain);
  if (route) {
    const target: Target = { host: route.host, port: route.port, tls: route.tls, auth: route.auth, via: `route ${route.match}` };
    return { resolution: { kind: 'targets', targets: [target] }, ttl: undefined };
  }
  let mx: MxRecord[];
  try {
    mx = await resolver.resolveMx(domain);
  } catch (err) {
    return mxFailure(domain, err as NodeJS.ErrnoException & { ttl?: unknown }, resolver, mxPort);
  }
  if (mx.length === 0) return { resolution: await implicitMx(domain, resolver, mxPort), ttl: undefined };
  const ttl = mx.some((m) => m.ttl === undefined) ? undefined : Math.min(...mx.map((m) => m.ttl!));
  if (mx.length === 1 && (mx[0]!.exchange === '' || mx[0]!.exchange === '.')) {
    return { resolution: { kind: 'permanent', enhancedCode: '5.1.10', reason: `domain ${domain} accepts no mail (null MX, RFC 7505)` }, ttl };
  }
  const targets = [...mx]
    .sort((a, b) => a.priority - b.priority)
    .map((m): Target => ({ host: m.exchange.replace(/\.$/, ''), port: mxPort, tls: 'opportunistic', via: `MX ${domain} (priority ${m.priority})` }));
  return { resolution: { kind: 'targets', targets }, ttl };
}

/**
 * A failed MX lookup. A negative answer (no MX, no such domain) is kept for its negative-caching
 * TTL (RFC 2308, from the SOA the server sent) when the resolver tells it. For the implicit MX
 * that bounds how long "no MX: the domain's own address" stands, i.e. until an MX may appear
 * (the address itself is looked up again per connection, by hostAddress).
 */
async function mxFailure(domain: string, err: NodeJS.ErrnoException & { ttl?: unknown }, resolver: Resolver, mxPort: number): Promise<TimedResolution> {
  const code = err.code ?? '';
  const ttl = typeof err.ttl === 'number' ? err.ttl : undefined;
  if (code === 'ENODATA') return { resolution: await implicitMx(domain, resolver, mxPort), ttl };
  if (NO_DOMAIN.has(code)) return { resolution: { kind: 'permanent', enhancedCode: '5.1.2', reason: `domain ${domain} does not exist (DNS: ${code})` }, ttl };
  return { resolution: { kind: 'temporary', reason: `DNS lookup of MX for ${domain} failed: ${code || err.message}` }, ttl: undefined };
}

/** No MX records: RFC 5321 §5.1 says the domain's own A/AAAA address is the mail host. */
async function implicitMx(domain: string, resolver: Resolver, port: number): Promise<Resolution> {
  const [v4, v6] = await Promise.allSettled([resolver.resolve4(domain), resolver.resolve6(domain)]);
  const found = (v4.status === 'fulfilled' && v4.value.length > 0) || (v6.status === 'fulfilled' && v6.value.length > 0);
  if (found) return { kind: 'targets', targets: [{ host: domain, port, tls: 'opportunistic', via: `A/AAAA ${domain} (no MX)` }] };
  const codes = [v4, v6].map((r) => (r.status === 'rejected' ? ((r.reason as NodeJS.ErrnoException).code ?? '') : 'ENODATA'));
  if (codes.every((c) => NO_DOMAIN.has(c))) {
    return { kind: 'permanent', enhancedCode: '5.1.2', reason: `domain ${domain} has no MX and no address records` };
  }
  return { kind: 'temporary', reason: `DNS lookup of A/AAAA for ${domain} failed: ${codes.join(', ')}` };
}

/**
 * resolveDestination with answers kept (MX lookups on every delivery would cost a DNS round trip
 * per message) for the TTL DNS gave them, at most `maxMs` (`delivery.mxCacheSeconds`): a domain
 * that moves its MX is followed as soon as its TTL allows, and a very long TTL cannot pin a stale
 * answer for days. Without a TTL (routes, which are config; resolvers that do not tell; negative
 * answers without an SOA) the answer is kept `maxMs`: for a bounce of a domain that does not
 * exist yet, that delays the mail of a freshly registered one by at most that. TTL 0 is not kept.
 * Temporary failures are never kept: the next attempt asks again.
 */
export function cachedDestinations(routes: Route[], resolver: Resolver, maxMs: number, mxPort = 25): (domain: string) => Promise<Resolution> {
  const cache = new Map<string, { until: number; resolution: Resolution }>();
  return async (domain) => {
    const key = domain.toLowerCase();
    const hit = cache.get(key);
    if (hit && hit.until > Date.now()) return hit.resolution;
    const { resolution, ttl } = await lookupDestination(key, routes, resolver, mxPort);
    const keepMs = ttl === undefined ? maxMs : Math.min(ttl * 1000, maxMs);
    if (resolution.kind !== 'temporary' && keepMs > 0) {
      if (cache.size > 50_000) cache.clear(); // bounded: a flood of one-off domains must not grow memory
      cache.set(key, { until: Date.now() + keepMs, resolution });
    } else {
      cache.delete(key); // an expired entry must not outlive its answer in memory
    }
    return resolution;
  };
}

/**
 * An address of a mail host: IPv4, else IPv6, from the configured DNS; else the OS's lookup
 * (/etc/hosts: localhost, smarthosts named only there). An error names the host.
 */
export async function hostAddress(host: string, resolver: Resolver): Promise<string> {
  const v4 = await resolver.resolve4(host).catch(() => [] as string[]);
  const v6 = v4.length ? [] : await resolver.resolve6(host).catch(() => [] as string[]);
  const address = v4[0] ?? v6[0] ?? (await lookup(host).then((a) => a.address, () => undefined));
  if (!address) throw Object.assign(new Error(`mail host ${host} has no address in DNS`), { code: 'EDNS' });
  return address;
}

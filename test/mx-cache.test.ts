/**
 * The delivery's MX cache (cachedDestinations) over the configured resolver and the loopback DNS
 * server: an answer is kept for its DNS TTL, at most `delivery.mxCacheSeconds` (the cap); negative
 * answers for the SOA's negative TTL. Long waits move only the clock (`Date`), timers stay real so
 * the DNS sockets work.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createResolver, type DnsResolver } from '../src/dns.js';
import { cachedDestinations, type Resolution } from '../src/delivery/routes.js';
import { startDnsServer, type DnsTestServer } from './support/dns-server.js';

let server: DnsTestServer;
let resolver: DnsResolver;

beforeAll(async () => {
  server = await startDnsServer();
  resolver = createResolver({ servers: [server.address], timeoutSeconds: 2 });
});

afterAll(async () => {
  await server?.close();
});

afterEach(() => {
  vi.useRealTimers();
});

const hosts = (r: Resolution) => (r.kind === 'targets' ? r.targets.map((t) => t.host) : r.kind);
const mxQueries = (name: string) => server.queries.filter((q) => q.name === name && q.type === 'MX').length;
const mx = (exchange: string) => [{ exchange, priority: 10 }];

/** Moves `Date` (only) forward by `ms`; sockets and timers keep real time. */
function advanceClock(ms: number): void {
  if (!vi.isFakeTimers()) vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(Date.now() + ms);
}

describe('MX cache', () => {
  it('asks again once a short TTL has passed and then uses the new MX host', async () => {
    server.set('short.test', { MX: mx('old.short.test'), ttl: 1 });
    const destinations = cachedDestinations([], resolver, 300_000);
    expect(hosts(await destinations('short.test'))).toEqual(['old.short.test']);
    server.set('short.test', { MX: mx('new.short.test'), ttl: 1 });
    expect(hosts(await destinations('Short.Test'))).toEqual(['old.short.test']);
    expect(mxQueries('short.test')).toBe(1);
    await new Promise((r) => setTimeout(r, 1_100)); // real time: the TTL of 1 s runs out
    expect(hosts(await destinations('short.test'))).toEqual(['new.short.test']);
    expect(mxQueries('short.test')).toBe(2);
  });

  it('keeps an answer with a long TTL no longer than the cap', async () => {
    server.set('long.test', { MX: mx('old.long.test'), ttl: 3600 });
    const destinations = cachedDestinations([], resolver, 300_000);
    expect(hosts(await destinations('long.test'))).toEqual(['old.long.test']);
    server.set('long.test', { MX: mx('new.long.test'), ttl: 3600 });
    advanceClock(299_000);
    expect(hosts(await destinations('long.test'))).toEqual(['old.long.test']);
    advanceClock(2_000);
    expect(hosts(await destinations('long.test'))).toEqual(['new.long.test']);
    expect(mxQueries('long.test')).toBe(2);
  });

  it('applies a small cap in real time too', async () => {
    server.set('capped.test', { MX: mx('old.capped.test'), ttl: 3600 });
    const destinations = cachedDestinations([], resolver, 1_000);
    expect(hosts(await destinations('capped.test'))).toEqual(['old.capped.test']);
    server.set('capped.test', { MX: mx('new.capped.test'), ttl: 3600 });
    expect(hosts(await destinations('capped.test'))).toEqual(['old.capped.test']);
    await new Promise((r) => setTimeout(r, 1_100));
    expect(hosts(await destinations('capped.test'))).toEqual(['new.capped.test']);
  });

  it('does not keep an answer with TTL 0', async () => {
    server.set('zero.test', { MX: mx('mx.zero.test'), ttl: 0 });
    const destinations = cachedDestinations([], resolver, 300_000);
    await destinations('zero.test');
    await destinations('zero.test');
    expect(mxQueries('zero.test')).toBe(2);
  });

  it('keeps "no MX: the domain itself" for the negative TTL of the MX answer', async () => {
    server.set('implicit.test', { A: ['192.0.2.25'], ttl: 30 });
    const destinations = cachedDestinations([], resolver, 300_000);
    expect(hosts(await destinations('implicit.test'))).toEqual(['implicit.test']);
    server.set('implicit.test', { A: ['192.0.2.25'], MX: mx('mx.implicit.test'), ttl: 30 });
    advanceClock(29_000);
    expect(hosts(await destinations('implicit.test'))).toEqual(['implicit.test']);
    advanceClock(2_000);
    expect(hosts(await destinations('implicit.test'))).toEqual(['mx.implicit.test']);
  });

  it('keeps a non-existent domain for its negative TTL (the SOA\'s, 60 s here), not the cap', async () => {
    const destinations = cachedDestinations([], resolver, 300_000);
    expect(await destinations('later.test')).toMatchObject({ kind: 'permanent', enhancedCode: '5.1.2' });
    server.set('later.test', { MX: mx('mx.later.test') });
    advanceClock(59_000);
    expect(hosts(await destinations('later.test'))).toBe('permanent');
    advanceClock(2_000);
    expect(hosts(await destinations('later.test'))).toEqual(['mx.later.test']);
  });

  it('never keeps a temporary failure', async () => {
    server.set('flaky.test', { fail: 'SERVFAIL' });
    const destinations = cachedDestinations([], resolver, 300_000);
    expect(await destinations('flaky.test')).toMatchObject({ kind: 'temporary' });
    server.set('flaky.test', { MX: mx('mx.flaky.test') });
    expect(hosts(await destinations('flaky.test'))).toEqual(['mx.flaky.test']);
  });
});

import { afterEach, describe, expect, it, vi } from 'vitest';
import { cachedDestinations, matchRoute, resolveDestination, type Resolver } from './routes.js';
import type { Route } from '../config/schema.js';

const route = (match: string, host = 'relay.example', port = 25): Route => ({ match, host, port, tls: 'opportunistic' });
const err = (code: string) => Object.assign(new Error(code), { code });

function resolver(table: { mx?: Record<string, unknown>; a?: Record<string, unknown> }): Resolver {
  const look = (t: Record<string, unknown> | undefined, d: string) => {
    const v = t?.[d];
    return v instanceof Error ? Promise.reject(v) : v === undefined ? Promise.reject(err('ENOTFOUND')) : Promise.resolve(v);
  };
  return {
    resolveMx: (d) => look(table.mx, d) as ReturnType<Resolver['resolveMx']>,
    resolve4: (d) => look(table.a, d) as Promise<string[]>,
    resolve6: () => Promise.reject(err('ENODATA')),
  };
}

describe('routes', () => {
  it('matches exact, wildcard subdomain and catch-all routes in order', () => {
    const routes = [route('example.com', 'a'), route('*.corp.example', 'b'), route('*', 'c')];
    expect(matchRoute(routes, 'EXAMPLE.com')?.host).toBe('a');
    expect(matchRoute(routes, 'mail.corp.example')?.host).toBe('b');
    expect(matchRoute(routes, 'corp.example')?.host).toBe('b');
    expect(matchRoute(routes, 'other.example')?.host).toBe('c');
    expect(matchRoute([route('example.com')], 'notexample.com')).toBeUndefined();
  });

  it('orders MX hosts by priority', async () => {
    const r = resolver({ mx: { 'd.example': [{ exchange: 'mx2.d.example', priority: 20 }, { exchange: 'mx1.d.example.', priority: 10 }] } });
    const res = await resolveDestination('d.example', [], r);
    expect(res.kind === 'targets' && res.targets.map((t) => t.host)).toEqual(['mx1.d.example', 'mx2.d.example']);
  });

  it('falls back to the A record when there is no MX', async () => {
    const res = await resolveDestination('a.example', [], resolver({ mx: { 'a.example': err('ENODATA') }, a: { 'a.example': ['192.0.2.1'] } }));
    expect(res).toMatchObject({ kind: 'targets', targets: [{ host: 'a.example', port: 25 }] });
  });

  it('bounces a null MX (RFC 7505) and a domain that does not exist', async () => {
    const nullMx = await resolveDestination('n.example', [], resolver({ mx: { 'n.example': [{ exchange: '', priority: 0 }] } }));
    expect(nullMx).toMatchObject({ kind: 'permanent', enhancedCode: '5.1.10' });
    expect(await resolveDestination('nx.example', [], resolver({}))).toMatchObject({ kind: 'permanent', enhancedCode: '5.1.2' });
  });

  it('defers on a DNS failure', async () => {
    const res = await resolveDestination('s.example', [], resolver({ mx: { 's.example': err('ESERVFAIL') } }));
    expect(res).toMatchObject({ kind: 'temporary' });
  });
});

describe('cached destinations', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A resolver counting MX lookups, answering `records` for every domain. */
  function counting(records: { exchange: string; priority: number; ttl?: number }[]): Resolver & { asked: number } {
    const r = { asked: 0, ...resolver({}) };
    r.resolveMx = () => {
      r.asked += 1;
      return Promise.resolve(records);
    };
    return r;
  }

  it('keeps an answer without TTL (a resolver that does not tell) for the cap', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const r = counting([{ exchange: 'mx.d.example', priority: 10 }]);
    const destinations = cachedDestinations([], r, 5_000);
    await destinations('d.example');
    vi.setSystemTime(Date.now() + 4_900);
    await destinations('d.example');
    expect(r.asked).toBe(1);
    vi.setSystemTime(Date.now() + 200);
    await destinations('d.example');
    expect(r.asked).toBe(2);
  });

  it('keeps an answer for its TTL when that is below the cap', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const r = counting([{ exchange: 'mx1.d.example', priority: 10, ttl: 2 }, { exchange: 'mx2.d.example', priority: 20, ttl: 2 }]);
    const destinations = cachedDestinations([], r, 300_000);
    await destinations('d.example');
    vi.setSystemTime(Date.now() + 1_900);
    await destinations('d.example');
    expect(r.asked).toBe(1);
    vi.setSystemTime(Date.now() + 200);
    await destinations('d.example');
    expect(r.asked).toBe(2);
  });

  it('answers a route without asking DNS', async () => {
    const r = counting([]);
    const destinations = cachedDestinations([route('*', 'relay.example', 2525)], r, 300_000);
    expect(await destinations('any.example')).toMatchObject({ kind: 'targets', targets: [{ host: 'relay.example', port: 2525 }] });
    expect(r.asked).toBe(0);
  });
});

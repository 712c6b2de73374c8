/**
 * The configured resolver against a real DNS server on loopback: answers, the error codes callers
 * branch on (ENODATA, ENOTFOUND, ETIMEOUT), TXT splitting and the TCP retry of a truncated answer;
 * then our own MX query (src/dns-mx.ts): TTLs, CNAMEs, negative TTLs, the time bound, TCP after
 * TC, the next server after a failure, and replies that are not ours ignored.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { decode, encode } from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResolver, type DnsResolver } from '../src/dns.js';
import { startDnsServer, type DnsTestServer } from './support/dns-server.js';

const dkim = 'v=DKIM1; k=rsa; p=' + 'MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA'.repeat(9).slice(0, 392);
/** 12 TXT records of ~120 bytes: well over 512 bytes in one answer */
const manyTxt = Array.from({ length: 12 }, (_, i) => [`record-${String(i).padStart(2, '0')} ` + 'z'.repeat(110)]);

let server: DnsTestServer;
let resolver: DnsResolver;

beforeAll(async () => {
  server = await startDnsServer({
    'Example.Test': {
      A: ['192.0.2.10', '192.0.2.11'],
      AAAA: ['2001:db8::25'],
      MX: [
        { exchange: 'mx2.example.test', priority: 20 },
        { exchange: 'mx1.example.test', priority: 10 },
      ],
      TXT: [['v=spf1 -all']],
    },
    'sel._domainkey.example.test': { TXT: [[dkim]] },
    'big.example.test': { TXT: manyTxt },
    'www.example.test': { CNAME: 'example.test' },
    'hang.example.test': { hang: true },
  });
  resolver = createResolver({ servers: [server.address], timeoutSeconds: 2 });
});

afterAll(async () => {
  await server?.close();
});

async function errorCode(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
  throw new Error('expected the lookup to fail');
}

describe('dns resolver', () => {
  it('answers MX, A, AAAA and CNAME from the configured server', async () => {
    const mx = await resolver.resolveMx('example.test');
    expect(mx.sort((a, b) => a.priority - b.priority)).toEqual([
      { exchange: 'mx1.example.test', priority: 10, ttl: 60 },
      { exchange: 'mx2.example.test', priority: 20, ttl: 60 },
    ]);
    expect((await resolver.resolve4('EXAMPLE.test')).sort()).toEqual(['192.0.2.10', '192.0.2.11']);
    expect(await resolver.resolve6('example.test')).toEqual(['2001:db8::25']);
    expect(await resolver.resolveCname('www.example.test')).toEqual(['example.test']);
  });

  it('returns TXT records, a long value split into 255-byte character-strings', async () => {
    expect(await resolver.resolveTxt('example.test')).toEqual([['v=spf1 -all']]);
    expect(dkim).toHaveLength(410);
    const [record, ...rest] = await resolver.resolveTxt('sel._domainkey.example.test');
    expect(rest).toEqual([]);
    expect(record).toEqual([dkim.slice(0, 255), dkim.slice(255)]);
    expect(record!.join('')).toBe(dkim);
  });

  it('retries over TCP when the UDP answer is truncated', async () => {
    const before = server.queries.length;
    const txt = await resolver.resolveTxt('big.example.test');
    expect(txt.sort()).toEqual(manyTxt);
    const asked = server.queries.slice(before).filter((q) => q.name === 'big.example.test');
    expect(asked.map((q) => q.transport)).toEqual(['udp', 'tcp']);
  });

  it('reports ENODATA for a known name without that type and ENOTFOUND for an unknown name', async () => {
    expect(await errorCode(resolver.resolveMx('sel._domainkey.example.test'))).toBe('ENODATA');
    expect(await errorCode(resolver.resolveCname('example.test'))).toBe('ENODATA');
    expect(await errorCode(resolver.resolve4('nowhere.example.test'))).toBe('ENOTFOUND');
    expect(await errorCode(resolver.resolveMx('nowhere.test'))).toBe('ENOTFOUND');
  });

  it('follows changes to the zone', async () => {
    server.set('late.example.test', { A: ['192.0.2.99'] });
    expect(await resolver.resolve4('late.example.test')).toEqual(['192.0.2.99']);
    server.remove('late.example.test');
    expect(await errorCode(resolver.resolve4('late.example.test'))).toBe('ENOTFOUND');
  });

  // c-ares (1.34) adapts the per-try timeout (up to 5 s, doubled on retry), which could take
  // three times the setting; createResolver bounds the whole lookup by timeoutSeconds (2 s here).
  it('gives up on a name that never gets an answer with ETIMEOUT, within timeoutSeconds', async () => {
    const started = Date.now();
    expect(await errorCode(resolver.resolve4('hang.example.test'))).toBe('ETIMEOUT');
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(1_900);
    expect(elapsed).toBeLessThan(3_000);
    expect(server.queries.filter((q) => q.name === 'hang.example.test').length).toBeGreaterThanOrEqual(1);
  });

  it('ignores garbage packets and keeps answering', async () => {
    const port = server.port;
    const socket = createSocket('udp4');
    const garbage = [Buffer.alloc(0), Buffer.from('hello'), Buffer.alloc(40, 0xff), Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1])];
    for (const g of garbage) await new Promise<void>((r) => socket.send(g, port, '127.0.0.1', () => r()));
    socket.close();
    expect(await resolver.resolve4('example.test')).toHaveLength(2);
  });

  it('builds a system resolver without servers and rejects malformed server addresses', () => {
    expect(() => createResolver({ servers: [], timeoutSeconds: 5 })).not.toThrow();
    expect(() => createResolver({ servers: ['192.0.2.53', '127.0.0.1:5353', '[::1]:5353', '2001:db8::53'], timeoutSeconds: 5 })).not.toThrow();
    for (const bad of ['dns.example', '127.0.0.1:0', '127.0.0.1:70000', '[127.0.0.1]:53', '::1:53x', '']) {
      expect(() => createResolver({ servers: ['192.0.2.53', bad], timeoutSeconds: 5 }), bad).toThrow(`"${bad}"`);
    }
  });
});

/** The error a lookup fails with (the test fails if it succeeds). */
async function failure(p: Promise<unknown>): Promise<NodeJS.ErrnoException & { ttl?: number }> {
  try {
    await p;
  } catch (err) {
    return err as NodeJS.ErrnoException & { ttl?: number };
  }
  throw new Error('expected the lookup to fail');
}

function bindUdp(): Promise<UdpSocket> {
  const socket = createSocket('udp4');
  return new Promise((resolve) => socket.bind(0, '127.0.0.1', () => resolve(socket)));
}

/** 14 MX records with long names: over 512 bytes, so the UDP answer comes truncated */
const manyMx = Array.from({ length: 14 }, (_, i) => ({ exchange: `mx-${String(i).padStart(2, '0')}.${'long-label-'.repeat(3)}example.test`, priority: i }));

describe('MX lookups with their TTL', () => {
  it('gives every record the TTL of the answer', async () => {
    server.set('ttl.example.test', { MX: [{ exchange: 'mx.ttl.example.test', priority: 5 }], ttl: 42 });
    expect(await resolver.resolveMx('TTL.example.test.')).toEqual([{ exchange: 'mx.ttl.example.test', priority: 5, ttl: 42 }]);
  });

  it('follows a CNAME to the final name and keeps the smallest TTL on the way', async () => {
    server.set('target.example.test', { MX: [{ exchange: 'mx.target.example.test', priority: 10 }], ttl: 300 });
    server.set('alias.example.test', { CNAME: 'target.example.test', ttl: 7 });
    expect(await resolver.resolveMx('alias.example.test')).toEqual([{ exchange: 'mx.target.example.test', priority: 10, ttl: 7 }]);
  });

  it('returns a null MX (RFC 7505) with an empty exchange, as node does', async () => {
    server.set('null.example.test', { MX: [{ exchange: '.', priority: 0 }] });
    expect(await resolver.resolveMx('null.example.test')).toEqual([{ exchange: '', priority: 0, ttl: 60 }]);
  });

  it('reports NXDOMAIN as ENOTFOUND and a name without MX as ENODATA, with the negative TTL of the SOA', async () => {
    const nx = await failure(resolver.resolveMx('nowhere.example.test'));
    expect(nx).toMatchObject({ code: 'ENOTFOUND', syscall: 'queryMx', hostname: 'nowhere.example.test', ttl: 60 });
    server.set('nomx.example.test', { A: ['192.0.2.7'], ttl: 30 });
    expect(await failure(resolver.resolveMx('nomx.example.test'))).toMatchObject({ code: 'ENODATA', ttl: 30 });
    expect((await failure(resolver.resolveMx('bad..name'))).code).toBe('EBADNAME');
  });

  it('retries over TCP when the UDP answer is truncated', async () => {
    server.set('many.example.test', { MX: manyMx, ttl: 120 });
    const before = server.queries.length;
    const mx = await resolver.resolveMx('many.example.test');
    expect(mx.map(({ exchange, priority }) => ({ exchange, priority }))).toEqual(manyMx);
    expect(mx.every((m) => m.ttl === 120)).toBe(true);
    const asked = server.queries.slice(before).filter((q) => q.name === 'many.example.test');
    expect(asked.map((q) => q.transport)).toEqual(['udp', 'tcp']);
  });

  it('gives up on a name that never gets an answer with ETIMEOUT, within timeoutSeconds', async () => {
    const before = server.queries.length;
    const started = Date.now();
    expect((await failure(resolver.resolveMx('hang.example.test'))).code).toBe('ETIMEOUT');
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(1_900);
    expect(elapsed).toBeLessThan(2_300);
    // asked twice (one server, two tries), each try with half the time
    expect(server.queries.slice(before).filter((q) => q.name === 'hang.example.test')).toHaveLength(2);
  });

  it('maps SERVFAIL and REFUSED to ESERVFAIL and EREFUSED', async () => {
    server.set('servfail.example.test', { fail: 'SERVFAIL' });
    server.set('refused.example.test', { fail: 'REFUSED' });
    expect((await failure(resolver.resolveMx('servfail.example.test'))).code).toBe('ESERVFAIL');
    expect((await failure(resolver.resolveMx('refused.example.test'))).code).toBe('EREFUSED');
  });

  it('asks the next server after a SERVFAIL, a timeout or an unreachable server', async () => {
    const other = await startDnsServer({
      'servfail.example.test': { MX: [{ exchange: 'mx.other.test', priority: 1 }] },
      'hang.example.test': { MX: [{ exchange: 'mx.other.test', priority: 1 }] },
    });
    const closed = await bindUdp();
    const closedPort = closed.address().port;
    await new Promise<void>((r) => closed.close(() => r()));
    try {
      const both = createResolver({ servers: [server.address, other.address], timeoutSeconds: 2 });
      expect((await both.resolveMx('servfail.example.test'))[0]?.exchange).toBe('mx.other.test');
      const started = Date.now();
      expect((await both.resolveMx('hang.example.test'))[0]?.exchange).toBe('mx.other.test');
      // the hanging first server had a quarter of the bound (2 servers × 2 tries)
      expect(Date.now() - started).toBeLessThan(1_000);
      const unreachable = createResolver({ servers: [`127.0.0.1:${closedPort}`, other.address], timeoutSeconds: 2 });
      expect((await unreachable.resolveMx('servfail.example.test'))[0]?.exchange).toBe('mx.other.test');
    } finally {
      await other.close();
    }
  });

  it('ignores replies with another id or for another question, and takes the real one', async () => {
    server.set('real.example.test', { MX: [{ exchange: 'mx.real.example.test', priority: 10 }] });
    const proxy = await bindUdp();
    proxy.on('message', (msg, client) => {
      const query = decode(msg);
      const forged = (id: number, name: string) =>
        encode({ type: 'response', id, flags: 0x8180, questions: [{ type: 'MX', name }], answers: [{ type: 'MX', name, ttl: 60, data: { preference: 1, exchange: 'evil.example' } }] });
      proxy.send(forged(((query.id ?? 0) + 1) & 0xffff, 'real.example.test'), client.port, client.address);
      proxy.send(forged(query.id ?? 0, 'other.example.test'), client.port, client.address);
      const upstream = createSocket('udp4');
      upstream.on('message', (reply) => {
        proxy.send(reply, client.port, client.address);
        upstream.close();
      });
      upstream.send(msg, server.port, '127.0.0.1');
    });
    try {
      const viaProxy = createResolver({ servers: [`127.0.0.1:${proxy.address().port}`], timeoutSeconds: 2 });
      expect(await viaProxy.resolveMx('real.example.test')).toEqual([{ exchange: 'mx.real.example.test', priority: 10, ttl: 60 }]);
    } finally {
      proxy.close();
    }
  });
});

/**
 * The configured resolver against a real DNS server on loopback: answers, the error codes callers
 * branch on (ENODATA, ENOTFOUND, ETIMEOUT), TXT splitting and the TCP retry of a truncated answer.
 */
import { createSocket } from 'node:dgram';
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
      { exchange: 'mx1.example.test', priority: 10 },
      { exchange: 'mx2.example.test', priority: 20 },
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

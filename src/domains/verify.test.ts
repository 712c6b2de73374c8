import { describe, expect, it } from 'vitest';
import { validate } from '../config/load.js';
import { generateDkimKey } from './dkim-key.js';
import { recordsFor } from './records.js';
import { verifyRecords, type RecordResolver } from './verify.js';

const key = generateDkimKey('rsa2048');
const other = generateDkimKey('rsa2048');
const settings = validate({ hostname: 'mta.example.net', http: { publicUrl: 'https://links.example.net' } });
const records = recordsFor({
  domain: 'shop.example', existingDmarc: null,
  keys: [{ selector: 'sel1', keyType: 'rsa2048', algorithm: 'rsa-sha256', record: key.record, state: 'active', createdAt: '', activatedAt: '', retiredAt: null }],
}, settings);

type Table = Record<string, { TXT?: string[][]; MX?: string[]; CNAME?: string[] } | Error>;

/** Answers from a table, failing like node's resolver does (ENOTFOUND / ENODATA). */
function resolver(table: Table): RecordResolver {
  const answer = <T>(name: string, type: 'TXT' | 'MX' | 'CNAME', map: (v: string[][] | string[]) => T): Promise<T> => {
    const entry = table[name];
    if (entry instanceof Error) return Promise.reject(entry);
    if (!entry) return Promise.reject(Object.assign(new Error('not found'), { code: 'ENOTFOUND' }));
    const v = entry[type];
    if (!v) return Promise.reject(Object.assign(new Error('no data'), { code: 'ENODATA' }));
    return Promise.resolve(map(v));
  };
  return {
    resolveTxt: (n) => answer(n, 'TXT', (v) => v as string[][]),
    resolveMx: (n) => answer(n, 'MX', (v) => (v as string[]).map((exchange) => ({ exchange, priority: 10 }))),
    resolveCname: (n) => answer(n, 'CNAME', (v) => v as string[]),
  };
}

const chunks = (v: string) => [v.slice(0, 255), v.slice(255)].filter(Boolean);
const statuses = (checks: { host: string; type: string; status: string }[]) => Object.fromEntries(checks.map((c) => [`${c.type} ${c.host}`, c.status]));

describe('domain verify', () => {
  it('reports every record ok when published as advised (long TXT in several strings, SPF with more mechanisms, a stricter DMARC, MX with a trailing dot)', async () => {
    const checks = await verifyRecords(records, resolver({
      'sel1._domainkey.shop.example': { TXT: [chunks(key.record)] },
      'shop.example': { TXT: [['google-site-verification=abc'], ['v=spf1 include:_spf.example.org a:mta.example.net -all']] },
      '_dmarc.shop.example': { TXT: [['v=DMARC1; p=reject; rua=mailto:d@shop.example']] },
      'rp.shop.example': { MX: ['MTA.example.net.'], TXT: [['v=spf1 a:mta.example.net -all']] },
      'track.shop.example': { CNAME: ['links.example.net'] },
    }));
    expect(checks.map((c) => c.status)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
    expect(checks.every((c) => c.fix === null && !c.lookupError)).toBe(true);
  });

  it('reports missing records with the record to publish', async () => {
    const checks = await verifyRecords(records, resolver({ 'shop.example': { TXT: [['some other txt']] }, 'rp.shop.example': { TXT: [['v=spf1 a:mta.example.net -all']] } }));
    expect(statuses(checks)).toEqual({
      'TXT sel1._domainkey.shop.example': 'missing', 'TXT shop.example': 'missing', 'TXT _dmarc.shop.example': 'missing',
      'MX rp.shop.example': 'missing', 'TXT rp.shop.example': 'ok', 'CNAME track.shop.example': 'missing',
    });
    expect(checks[0]!.fix).toMatch(/^publish TXT sel1\._domainkey\.shop\.example "v=DKIM1; k=rsa; p=/);
    expect(checks.find((c) => c.type === 'MX')!.fix).toBe('publish MX rp.shop.example 10 mta.example.net');
    expect(checks.some((c) => c.lookupError)).toBe(false);
  });

  it('reports mismatches with expected vs found and a one-line fix', async () => {
    const checks = await verifyRecords(records, resolver({
      'sel1._domainkey.shop.example': { TXT: [[other.record]] },
      'shop.example': { TXT: [['v=spf1 include:_spf.example.org -all']] },
      '_dmarc.shop.example': { TXT: [['v=DMARC1; p=maybe']] },
      'rp.shop.example': { MX: ['mx.elsewhere.example'], TXT: [['v=spf1 -all']] },
      'track.shop.example': { CNAME: ['old-tracker.example'] },
    }));
    expect(checks.map((c) => c.status)).toEqual(['mismatch', 'mismatch', 'mismatch', 'mismatch', 'mismatch', 'mismatch']);
    expect(checks[0]!.found).toEqual([other.record]);
    expect(checks[1]!.fix).toBe('add a:mta.example.net to the existing SPF record at shop.example (keep one v=spf1 record)');
    expect(checks[3]).toMatchObject({ expected: 'mta.example.net', found: ['mx.elsewhere.example'], fix: 'point the MX of rp.shop.example at mta.example.net (bounces must reach this appliance)' });
  });

  it('tells a failed lookup (timeout, SERVFAIL) apart from a missing record', async () => {
    const failing = Object.assign(new Error('timeout'), { code: 'ETIMEOUT' });
    const checks = await verifyRecords(records, resolver({ 'sel1._domainkey.shop.example': failing, '_dmarc.shop.example': Object.assign(new Error('servfail'), { code: 'ESERVFAIL' }) }));
    expect(checks[0]).toMatchObject({ status: 'missing', lookupError: 'ETIMEOUT' });
    expect(checks[0]!.fix).toMatch(/lookup failed: ETIMEOUT/);
    expect(checks[2]).toMatchObject({ status: 'missing', lookupError: 'ESERVFAIL' });
    expect(checks[1]!.lookupError).toBeUndefined();
  });

  it('gives up on a lookup that never answers', async () => {
    const hanging: RecordResolver = { resolveTxt: () => new Promise(() => {}), resolveMx: () => new Promise(() => {}), resolveCname: () => new Promise(() => {}) };
    const checks = await verifyRecords(records, hanging, 200);
    expect(checks.every((c) => c.status === 'missing' && c.lookupError === 'ETIMEOUT')).toBe(true);
  });
});

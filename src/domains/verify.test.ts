import { describe, expect, it } from 'vitest';
import { generateDkimKey } from './dkim-key.js';
import { recordsFor } from './records.js';
import { verifyRecords, type TxtResolver } from './verify.js';

const key = generateDkimKey('rsa2048');
const other = generateDkimKey('rsa2048');
const records = recordsFor({ domain: 'shop.example', selector: 'sel1', keyType: 'rsa2048', createdAt: '', dkimRecord: key.record }, 'mta.example.net');

function resolver(table: Record<string, string[][] | Error>): TxtResolver {
  return {
    async resolveTxt(name) {
      const v = table[name];
      if (v instanceof Error) throw v;
      if (!v) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
      return v;
    },
  };
}

const chunks = (v: string) => [v.slice(0, 255), v.slice(255)].filter(Boolean);

describe('domain verify', () => {
  it('reports every record ok when published as advised (long TXT in several strings, SPF with more mechanisms, a stricter DMARC)', async () => {
    const checks = await verifyRecords(records, resolver({
      'sel1._domainkey.shop.example': [chunks(key.record)],
      'shop.example': [['google-site-verification=abc'], ['v=spf1 include:_spf.example.org a:mta.example.net -all']],
      '_dmarc.shop.example': [['v=DMARC1; p=reject; rua=mailto:d@shop.example']],
    }));
    expect(checks.map((c) => c.status)).toEqual(['ok', 'ok', 'ok']);
    expect(checks.every((c) => c.fix === null)).toBe(true);
  });

  it('reports missing records with the record to publish', async () => {
    const checks = await verifyRecords(records, resolver({ 'shop.example': [['some other txt']] }));
    expect(checks.map((c) => c.status)).toEqual(['missing', 'missing', 'missing']);
    expect(checks[0]!.fix).toMatch(/^publish TXT sel1\._domainkey\.shop\.example "v=DKIM1; k=rsa; p=/);
    expect(checks[0]!.fix).toMatch(/ENOTFOUND/);
  });

  it('reports mismatches with expected vs found and a one-line fix', async () => {
    const checks = await verifyRecords(records, resolver({
      'sel1._domainkey.shop.example': [[other.record]],
      'shop.example': [['v=spf1 include:_spf.example.org -all']],
      '_dmarc.shop.example': [['v=DMARC1; p=maybe']],
    }));
    expect(checks.map((c) => c.status)).toEqual(['mismatch', 'mismatch', 'mismatch']);
    expect(checks[0]!.found).toEqual([other.record]);
    expect(checks[1]!.fix).toBe('add a:mta.example.net to the existing SPF record at shop.example (keep one v=spf1 record)');
  });

  it('treats a lookup that times out or fails as missing, with the reason', async () => {
    const slow: TxtResolver = { resolveTxt: () => Promise.reject(Object.assign(new Error('timeout'), { code: 'ETIMEOUT' })) };
    const checks = await verifyRecords(records, slow);
    expect(checks.every((c) => c.status === 'missing' && /ETIMEOUT/.test(c.fix!))).toBe(true);
  });
});

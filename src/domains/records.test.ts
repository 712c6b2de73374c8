import { describe, expect, it } from 'vitest';
import { validate } from '../config/load.js';
import { generateDkimKey, splitTxt } from './dkim-key.js';
import type { DomainKey } from './domain-store.js';
import { recordsFor } from './records.js';

function activeKey(selector: string, record: string, over: Partial<DomainKey> = {}): DomainKey {
  return { selector, keyType: 'rsa2048', algorithm: 'rsa-sha256', record, state: 'active', createdAt: '', activatedAt: '', retiredAt: null, ...over };
}

const settings = validate({ hostname: 'mta.example.net', http: { publicUrl: 'https://links.example.net/' } });

describe('DKIM keys and records', () => {
  it('publishes RSA keys as SPKI and Ed25519 keys as the raw 32-byte key', () => {
    const rsa = generateDkimKey('rsa2048');
    expect(rsa.record).toMatch(/^v=DKIM1; k=rsa; p=MIIBIjAN[A-Za-z0-9+/=]+$/);
    expect(rsa.privateKey).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const ed = generateDkimKey('ed25519');
    const p = /p=(.+)$/.exec(ed.record)![1]!;
    expect(Buffer.from(p, 'base64')).toHaveLength(32);
    expect(ed.algorithm).toBe('ed25519-sha256');
  });

  it('splits TXT values into 255-byte strings that join back to the value', () => {
    const value = 'x'.repeat(600);
    expect(splitTxt(value).map((s) => s.length)).toEqual([255, 255, 90]);
    expect(splitTxt(value).join('')).toBe(value);
  });

  it('lists DKIM, SPF, DMARC, the return-path MX and SPF, and the tracking CNAME, with hosts and purposes', () => {
    const key = generateDkimKey('rsa2048');
    const records = recordsFor({ domain: 'shop.example', keys: [activeKey('sel1', key.record)], existingDmarc: null }, settings);
    expect(records.map((r) => [r.type, r.host, r.required])).toEqual([
      ['TXT', 'sel1._domainkey.shop.example', true],
      ['TXT', 'shop.example', true],
      ['TXT', '_dmarc.shop.example', true],
      ['MX', 'rp.shop.example', true],
      ['TXT', 'rp.shop.example', true],
      ['CNAME', 'track.shop.example', false],
    ]);
    expect(records[0]!.strings!.length).toBe(2); // a 2048-bit key does not fit one string
    expect(records[1]!.value).toBe('v=spf1 a:mta.example.net ~all');
    expect(records[2]!.value).toBe('v=DMARC1; p=none; rua=mailto:dmarc-reports@shop.example');
    expect(records[3]).toMatchObject({ value: 'mta.example.net', priority: 10 });
    expect(records[4]!.value).toBe('v=spf1 a:mta.example.net -all');
    expect(records[5]!.value).toBe('links.example.net');
    for (const r of records) expect(r.purpose.length).toBeGreaterThan(10);
  });

  it('builds SPF from the configured addresses and includes; no tracking record for an IP or localhost publicUrl', () => {
    const custom = validate({ hostname: 'mta.example.net', http: { publicUrl: 'http://203.0.113.9:8025' }, domains: { spf: { ip4: ['192.0.2.25', '198.51.100.0/28'], ip6: ['2001:db8::25'], include: ['_spf.example.org'] }, returnPathLabel: 'bounce', dmarcReportAddress: 'dmarc@reports.example.org' } });
    const records = recordsFor({ domain: 'shop.example', keys: [activeKey('sel1', 'v=DKIM1; k=rsa; p=AAAA')], existingDmarc: null }, custom);
    expect(records.find((r) => r.kind === 'spf')!.value).toBe('v=spf1 ip4:192.0.2.25 ip4:198.51.100.0/28 ip6:2001:db8::25 include:_spf.example.org ~all');
    expect(records.find((r) => r.kind === 'return-path-spf')).toMatchObject({ host: 'bounce.shop.example', value: 'v=spf1 ip4:192.0.2.25 ip4:198.51.100.0/28 ip6:2001:db8::25 include:_spf.example.org -all' });
    expect(records.find((r) => r.kind === 'dmarc')!.value).toContain('rua=mailto:dmarc@reports.example.org');
    expect(records.some((r) => r.kind === 'tracking')).toBe(false);
  });

  it('keeps an existing (stricter) DMARC policy instead of advising p=none, and warns about aspf=s', () => {
    const existing = 'v=DMARC1; p=reject; aspf=s; rua=mailto:d@shop.example';
    const dmarc = recordsFor({ domain: 'shop.example', keys: [], existingDmarc: existing }, settings).find((r) => r.kind === 'dmarc')!;
    expect(dmarc.value).toBe(existing);
    expect(dmarc.purpose).toMatch(/existing policy \(p=reject\) is kept/);
    expect(dmarc.purpose).toMatch(/aspf=s/);
  });

  it('during a rotation lists the pending key as optional, and a replaced key only until its grace period ends', () => {
    const retiredAt = new Date('2026-11-01T00:00:00Z');
    const keys = [
      activeKey('new1', 'v=DKIM1; k=rsa; p=NEW'),
      activeKey('old1', 'v=DKIM1; k=rsa; p=OLD', { state: 'retired', retiredAt: retiredAt.toISOString() }),
      activeKey('next1', 'v=DKIM1; k=rsa; p=NEXT', { state: 'pending', activatedAt: null }),
    ];
    const during = recordsFor({ domain: 'shop.example', keys, existingDmarc: null }, settings, retiredAt.getTime() + 86_400_000);
    expect(during.filter((r) => r.type === 'TXT' && r.host.includes('_domainkey')).map((r) => [r.kind, r.selector, r.required])).toEqual([
      ['dkim', 'new1', true], ['dkim-pending', 'next1', false], ['dkim-retired', 'old1', false],
    ]);
    expect(during.find((r) => r.kind === 'dkim-retired')!.purpose).toContain('2026-11-08T00:00:00.000Z');
    const after = recordsFor({ domain: 'shop.example', keys, existingDmarc: null }, settings, retiredAt.getTime() + 8 * 86_400_000);
    expect(after.some((r) => r.kind === 'dkim-retired')).toBe(false);
  });
});

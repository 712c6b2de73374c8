import { describe, expect, it } from 'vitest';
import { generateDkimKey, splitTxt } from './dkim-key.js';
import { recordsFor } from './records.js';

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

  it('lists DKIM, SPF and DMARC records with hosts and purposes', () => {
    const key = generateDkimKey('rsa2048');
    const records = recordsFor({ domain: 'shop.example', selector: 'sel1', keyType: 'rsa2048', createdAt: '', dkimRecord: key.record }, 'mta.example.net');
    expect(records.map((r) => [r.type, r.host])).toEqual([
      ['TXT', 'sel1._domainkey.shop.example'],
      ['TXT', 'shop.example'],
      ['TXT', '_dmarc.shop.example'],
    ]);
    expect(records[0]!.strings!.length).toBe(2); // a 2048-bit key does not fit one string
    expect(records[1]!.value).toBe('v=spf1 a:mta.example.net ~all');
    expect(records[2]!.value).toMatch(/^v=DMARC1; p=none; rua=mailto:/);
    for (const r of records) expect(r.purpose.length).toBeGreaterThan(10);
  });
});

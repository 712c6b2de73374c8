import { describe, expect, it } from 'vitest';
import { domainAllowed, generatePassword, mailboxDomain, passwordWeakness } from './users.js';
import { isLoopback, networkList } from './networks.js';

describe('sender domains', () => {
  it('allows a domain and its subdomains, not look-alikes', () => {
    expect(domainAllowed('shop.example', ['shop.example'])).toBe(true);
    expect(domainAllowed('Mail.Shop.Example.', ['shop.example'])).toBe(true);
    expect(domainAllowed('evilshop.example', ['shop.example'])).toBe(false);
    expect(domainAllowed('shop.example.evil', ['shop.example'])).toBe(false);
  });

  it('takes the domain of a plain mailbox only', () => {
    expect(mailboxDomain('a@shop.example')).toBe('shop.example');
    expect(mailboxDomain('ceo@bank.example@shop.example')).toBeNull();
    expect(mailboxDomain('no-at-sign')).toBeNull();
    expect(mailboxDomain('a b@shop.example')).toBeNull();
  });
});

describe('password strength (chosen passwords of the credentials API)', () => {
  it('asks for length, two kinds of character, some variety, no control characters', () => {
    expect(passwordWeakness('Sh0rt-pass')).toMatch(/at least 12 characters/);
    expect(passwordWeakness('onlylowercaseletters')).toMatch(/at least two of/);
    expect(passwordWeakness('123456789012')).toMatch(/at least two of/);
    expect(passwordWeakness('abababab1212')).toMatch(/too few different/);
    expect(passwordWeakness('Tab\tinside-password')).toMatch(/control characters/);
    expect(passwordWeakness('x'.repeat(200) + 'Y1'.repeat(30))).toMatch(/at most 256/);
    expect(passwordWeakness('Correct-Horse-42')).toBeNull();
    expect(passwordWeakness('とても長い日本語のパスワード2026')).toBeNull();
    for (let i = 0; i < 20; i++) expect(passwordWeakness(generatePassword())).toBeNull();
  });
});

describe('networks', () => {
  it('matches CIDRs for IPv4, IPv6 and IPv4-mapped clients', () => {
    const list = networkList(['10.0.0.0/8', '192.0.2.7', '2001:db8::/32']);
    expect(list.contains('10.1.2.3')).toBe(true);
    expect(list.contains('::ffff:10.1.2.3')).toBe(true);
    expect(list.contains('192.0.2.7')).toBe(true);
    expect(list.contains('192.0.2.8')).toBe(false);
    expect(list.contains('2001:db8::1')).toBe(true);
    expect(list.contains('2001:db9::1')).toBe(false);
    expect(list.contains('not an ip')).toBe(false);
  });

  it('knows loopback', () => {
    expect(isLoopback('127.0.0.1')).toBe(true);
    expect(isLoopback('127.8.9.10')).toBe(true);
    expect(isLoopback('::1')).toBe(true);
    expect(isLoopback('::ffff:127.0.0.1')).toBe(true);
    expect(isLoopback('10.0.0.1')).toBe(false);
  });
});

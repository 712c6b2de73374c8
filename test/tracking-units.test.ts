/**
 * The tracking parts that need no Redis: tokens (round trip, forgery, splicing, case), the URL
 * check for stored links, the machine classifier's rules, and the pages' language and escaping.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { newMessageId } from '../src/store/messages.js';
import { decodeBase32, encodeBase32 } from '../src/tracking/base32.js';
import { storableUrl } from '../src/tracking/links.js';
import { classifyRequest, type RequestFacts } from '../src/tracking/machine.js';
import { confirmPage, escapeHtml, maskAddress, pickLanguage } from '../src/tracking/pages.js';
import { isTrackingUrl, recipientUrls, TrackingTokens, unsubscribeTokenOf, type TrackingTarget } from '../src/tracking/tokens.js';

const tokens = new TrackingTokens(randomBytes(32));

describe('base32', () => {
  it('round-trips every length and has one spelling per byte string', () => {
    for (let n = 0; n < 40; n++) {
      const bytes = randomBytes(n);
      const text = encodeBase32(bytes);
      expect(text).toMatch(/^[a-z2-7]*$/);
      expect(decodeBase32(text)).toEqual(bytes);
      expect(decodeBase32(text.toUpperCase())).toEqual(bytes);
    }
    // 'ae' is one byte (00000 001|00) with zero leftover bits; 'af' sets a leftover bit: not canonical.
    expect(decodeBase32('ae')).toEqual(Buffer.from([0x01]));
    expect(decodeBase32('af')).toBeNull();
    expect(decodeBase32('a')).toBeNull();
    expect(decodeBase32('ab1')).toBeNull();
  });
});

describe('tracking tokens', () => {
  const id = newMessageId();
  const targets: TrackingTarget[] = [
    { kind: 'click', messageId: id, rcpt: 0, link: 0 },
    { kind: 'click', messageId: id, rcpt: 300, link: 70_000 },
    { kind: 'open', messageId: id, rcpt: 2 },
    { kind: 'unsubscribe', messageId: id, rcpt: 127 },
    { kind: 'honeypot', messageId: id, rcpt: 5 },
  ];

  it('round-trips every kind, in any case', () => {
    for (const target of targets) {
      const token = tokens.make(target);
      expect(token).toMatch(/^[a-z2-7]+$/);
      expect(tokens.parse(token)).toEqual(target);
      expect(tokens.parse(token.toUpperCase())).toEqual(target);
    }
    expect(tokens.make({ kind: 'open', messageId: newMessageId(0), rcpt: 0 })).toBeTruthy();
    expect(tokens.parse(tokens.make({ kind: 'open', messageId: '000000000' + '0'.repeat(16), rcpt: 0 }))).toMatchObject({ messageId: '0'.repeat(25) });
  });

  it('fits an email local part: u+TOKEN stays under 64 characters', () => {
    const urls = recipientUrls(tokens, 'https://track.example.jp/', id, 1999);
    const mailbox = urls.unsubscribeMailbox('example.jp');
    expect(mailbox.split('@')[0]!.length).toBeLessThanOrEqual(64);
    expect(urls.unsubscribe).toMatch(/^https:\/\/track\.example\.jp\/u\/[a-z2-7]+$/);
    expect(urls.open).toMatch(/^https:\/\/track\.example\.jp\/t\/o\/[a-z2-7]+\.gif$/);
    expect(urls.click(3)).toMatch(/^https:\/\/track\.example\.jp\/t\/c\/[a-z2-7]+$/);
    expect(urls.honeypot).toMatch(/^https:\/\/track\.example\.jp\/t\/c\/[a-z2-7]+$/);
    const token = unsubscribeTokenOf(mailbox.toUpperCase());
    expect(token && tokens.parse(token)).toEqual({ kind: 'unsubscribe', messageId: id, rcpt: 1999 });
    expect(unsubscribeTokenOf('b+abc@example.jp')).toBeNull();
    expect(unsubscribeTokenOf('someone@example.jp')).toBeNull();
  });

  it('recognises its own links, so a forwarded message is not tracked twice', () => {
    const urls = recipientUrls(tokens, 'https://track.example.jp', id, 0);
    const bases = ['http://localhost:8025/', 'https://TRACK.example.jp'];
    for (const url of [urls.click(0), urls.open, urls.honeypot, urls.unsubscribe]) expect(isTrackingUrl(url, bases)).toBe(true);
    expect(isTrackingUrl('https://track.example.jp/sale', bases)).toBe(false);
    expect(isTrackingUrl('https://track.example.jp.evil.example/t/c/x', bases)).toBe(false);
  });

  it('refuses every changed character, truncation, extension and a token signed with another secret', () => {
    const token = tokens.make({ kind: 'click', messageId: id, rcpt: 1, link: 4 });
    for (let i = 0; i < token.length; i++) {
      for (const ch of ['a', 'q', '7']) {
        if (token[i] === ch) continue;
        expect(tokens.parse(token.slice(0, i) + ch + token.slice(i + 1)), `char ${i} → ${ch}`).toBeNull();
      }
    }
    for (let n = 0; n < token.length; n++) expect(tokens.parse(token.slice(0, n))).toBeNull();
    expect(tokens.parse(token + 'a')).toBeNull();
    expect(tokens.parse(token + 'aaaaaaaa')).toBeNull();
    expect(tokens.parse('')).toBeNull();
    expect(tokens.parse('x'.repeat(5000))).toBeNull();
    expect(tokens.parse(`${token}/../x`)).toBeNull();
    expect(new TrackingTokens(randomBytes(32)).parse(token)).toBeNull();
  });

  it('cannot splice another message, recipient, link or kind into a token', () => {
    const other = newMessageId();
    const a = decodeBase32(tokens.make({ kind: 'click', messageId: id, rcpt: 1, link: 4 }))!;
    const b = decodeBase32(tokens.make({ kind: 'click', messageId: other, rcpt: 2, link: 5 }))!;
    const mac = a.subarray(a.length - 12);
    // B's target under A's MAC, and A's with one field of B's each time.
    const payloadB = b.subarray(0, b.length - 12);
    expect(tokens.parse(encodeBase32(Buffer.concat([payloadB, mac])))).toBeNull();
    for (const [from, to] of [[1, 15], [15, 16], [16, 17], [0, 1]] as const) {
      const spliced = Buffer.from(a);
      payloadB.copy(spliced, from, from, to);
      if (from === 0) spliced[0] = (spliced[0]! & 0xf0) | 3; // the unsubscribe kind
      expect(tokens.parse(encodeBase32(spliced))).toBeNull();
    }
  });

  it('only takes message ids newMessageId makes', () => {
    expect(() => tokens.make({ kind: 'open', messageId: 'not-an-id', rcpt: 0 })).toThrow(/newMessageId/);
    expect(() => tokens.make({ kind: 'open', messageId: id, rcpt: -1 })).toThrow(/range/);
    expect(() => tokens.make({ kind: 'click', messageId: id, rcpt: 0, link: 2 ** 22 })).toThrow(/range/);
  });
});

describe('storableUrl', () => {
  it('keeps absolute http(s) URLs exactly as written', () => {
    for (const url of ['https://shop.example.jp/sale?utm_source=news&utm_medium=mail&id=42#top', 'http://a.example', 'HTTPS://A.example/x?y=%20z']) {
      expect(storableUrl(url)).toBe(url);
    }
  });

  it('percent-encodes what a Location header cannot carry', () => {
    expect(storableUrl('https://shop.example.jp/セール?q=夏 物')).toBe('https://shop.example.jp/%E3%82%BB%E3%83%BC%E3%83%AB?q=%E5%A4%8F%20%E7%89%A9');
  });

  it('refuses control characters, other schemes, relative and overlong URLs', () => {
    for (const url of [
      'https://a.example/\r\nSet-Cookie: x=1',
      'https://a.example/\nx',
      'https://a.example/\tx',
      'https://a.example/\u0000',
      'https://a.example/\u0085',
      'javascript:alert(1)',
      'JavaScript:alert(1)',
      'data:text/html,<script>alert(1)</script>',
      'vbscript:x',
      'ftp://a.example/f',
      'mailto:a@b.example',
      '//a.example/x',
      '/relative',
      '',
      `https://a.example/${'x'.repeat(9000)}`,
    ]) {
      expect(storableUrl(url), JSON.stringify(url)).toBeNull();
    }
  });
});

describe('classifyRequest', () => {
  const delivered = 1_000_000_000_000;
  const human: RequestFacts = {
    kind: 'click',
    method: 'GET',
    userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
    ip: '203.0.113.9',
    at: delivered + 3_600_000,
    deliveredAt: delivered,
    undelivered: false,
    link: 1,
  };
  const verdict = (change: Partial<RequestFacts>) => classifyRequest({ ...human, ...change });

  it('takes a browser an hour after delivery for a person', () => {
    expect(verdict({})).toEqual({ machine: false, why: 'no sign of a machine' });
    expect(verdict({ kind: 'open' }).machine).toBe(false);
  });

  it('flags HEAD, scanners, tools, headless browsers and no agent', () => {
    expect(verdict({ method: 'HEAD' })).toMatchObject({ machine: true, why: expect.stringMatching(/HEAD/) });
    for (const agent of [
      'Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/534+ (KHTML, like Gecko) BingPreview/1.0b',
      'Barracuda Sentinel (EE)',
      'python-requests/2.31.0',
      'curl/8.5.0',
      'Go-http-client/1.1',
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36',
      'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
      'facebookexternalhit/1.1',
      '',
    ]) {
      expect(verdict({ userAgent: agent }).machine, agent).toBe(true);
    }
    // A phone whose name ends in "bot" is not a bot.
    expect(verdict({ userAgent: 'Mozilla/5.0 (Linux; Android 12; CUBOT X50) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120 Mobile Safari/537.36' }).machine).toBe(false);
  });

  it('flags Apple Mail Privacy Protection opens by agent and by network, not Apple people browsing', () => {
    expect(verdict({ kind: 'open', userAgent: 'Mozilla/5.0' })).toMatchObject({ machine: true, why: expect.stringMatching(/Apple Mail Privacy Protection/) });
    expect(verdict({ kind: 'open', ip: '17.58.1.2' }).machine).toBe(true);
    expect(verdict({ kind: 'open', ip: '::ffff:17.58.1.2' }).machine).toBe(true);
    expect(verdict({ kind: 'click', ip: '17.58.1.2' }).machine).toBe(false);
    expect(verdict({ kind: 'open', ip: '170.1.1.1' }).machine).toBe(false);
  });

  it('counts Gmail and Yahoo proxy opens as people, unless right after delivery', () => {
    const gmail = 'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)';
    expect(verdict({ kind: 'open', userAgent: gmail })).toEqual({ machine: false, why: expect.stringMatching(/Gmail image proxy/) });
    expect(verdict({ kind: 'open', userAgent: gmail, at: delivered + 1_000 }).machine).toBe(true);
  });

  it('flags clicks soon after delivery or before it, honeypots and link bursts', () => {
    expect(verdict({ at: delivered + 4_000 })).toMatchObject({ machine: true, why: expect.stringMatching(/4\.0 s after delivery/) });
    expect(verdict({ at: delivered + 11_000 }).machine).toBe(false);
    expect(classifyRequest({ ...human, at: delivered + 11_000 }, { clickDelaySeconds: 30, openDelaySeconds: 2 }).machine).toBe(true);
    expect(verdict({ undelivered: true, deliveredAt: null }).machine).toBe(true);
    expect(verdict({ deliveredAt: null }).machine).toBe(false);
    expect(verdict({ kind: 'honeypot' })).toMatchObject({ machine: true, why: expect.stringMatching(/honeypot/) });
    expect(verdict({ honeypotHit: { at: human.at - 60_000, ip: human.ip } }).machine).toBe(true);
    expect(verdict({ honeypotHit: { at: human.at - 60_000, ip: '198.51.100.1' } }).machine).toBe(false);
    expect(verdict({ previousClick: { at: human.at - 300, ip: human.ip, link: 0 } })).toMatchObject({ machine: true, why: expect.stringMatching(/walking the links/) });
    // The same link twice, or another link a while later, is what people do.
    expect(verdict({ previousClick: { at: human.at - 300, ip: human.ip, link: 1 } }).machine).toBe(false);
    expect(verdict({ previousClick: { at: human.at - 30_000, ip: human.ip, link: 0 } }).machine).toBe(false);
  });
});

describe('pages', () => {
  it('picks Japanese or English by Accept-Language q-values', () => {
    expect(pickLanguage(undefined)).toBe('en');
    expect(pickLanguage('ja')).toBe('ja');
    expect(pickLanguage('ja-JP,ja;q=0.9,en-US;q=0.8')).toBe('ja');
    expect(pickLanguage('en-US,en;q=0.9,ja;q=0.8')).toBe('en');
    expect(pickLanguage('fr-FR, ja;q=0.5')).toBe('ja');
    expect(pickLanguage('en;q=0.3, ja;q=0.7')).toBe('ja');
    expect(pickLanguage('de, fr')).toBe('en');
    expect(pickLanguage('ja;q=0')).toBe('en');
  });

  it('escapes everything it shows', () => {
    expect(escapeHtml(`<a href="x">&'`)).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&#39;');
    expect(maskAddress('kijitora@example.jp')).toBe('k***@example.jp');
    const html = confirmPage('en', { domain: 'x"><script>alert(1)</script>.example', address: '<b>@example.jp' });
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;***@example.jp');
  });
});

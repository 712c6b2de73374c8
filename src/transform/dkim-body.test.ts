import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { dkimBody } from 'mailauth/lib/dkim/body/index.js';
import { relaxedBodyHash } from './dkim-body.js';

function reference(body: Buffer): string {
  const hasher = dkimBody('relaxed', 'sha256', false);
  hasher.update(body);
  return hasher.digest('base64');
}

describe('relaxed DKIM body hash', () => {
  it('equals mailauth\'s on random bodies of spaces, tabs, line ends and Japanese text', () => {
    const pieces = [' ', '\t', 'a', 'b', '\r\n', '日本', '  ', '\r\n\r\n', ' \t ', '\r', '\n', '.'];
    for (let n = 0; n < 20_000; n++) {
      let m = '';
      const len = Math.floor(Math.random() * 30);
      for (let i = 0; i < len; i++) m += pieces[Math.floor(Math.random() * pieces.length)];
      const body = Buffer.from(m);
      expect(relaxedBodyHash(body), JSON.stringify(m)).toBe(reference(body));
    }
  });

  it('equals mailauth\'s on realistic bodies: base64, indented HTML, Shift_JIS 8-bit, empty', () => {
    const base64 = Buffer.from(randomBytes(75_000).toString('base64').replace(/.{76}/g, '$&\r\n') + '\r\n');
    const html = Buffer.from('<html>\r\n  <body>\r\n\t<p>Hello  there </p>\r\n  </body>\r\n</html>\r\n\r\n\r\n'.repeat(500));
    const sjis = Buffer.concat([Buffer.from([0x82, 0xa0, 0x20, 0x20, 0x82, 0xa2, 0x09, 0x0d, 0x0a]), Buffer.from('end \r\n')]);
    for (const body of [base64, html, sjis, Buffer.alloc(0), Buffer.from('\r\n'), Buffer.from('\r\n\r\n')]) {
      expect(relaxedBodyHash(body)).toBe(reference(body));
    }
    expect(relaxedBodyHash(Buffer.alloc(0))).toBe('47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='); // SHA-256 of nothing (RFC 6376 §3.4.4)
  });
});

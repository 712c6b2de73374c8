import { describe, expect, it } from 'vitest';
import { dotStuffed, stuffDots } from './dot-stuffing.js';

/** RFC 5321 §4.5.2, the obvious way: one line at a time. */
function reference(message: string): string {
  return message.split('\r\n').map((line) => (line.startsWith('.') ? '.' + line : line)).join('\r\n');
}

describe('dot-stuffing', () => {
  it('adds a dot before every line-leading dot and nothing else', () => {
    const m = '.first\r\nsecond\r\n..third\r\nnot.here\r\n.\r\nend\r\n';
    expect(stuffDots(Buffer.from(m), false)!.toString()).toBe(reference(m));
  });

  it('matches the line-by-line rule on random CRLF messages, split at random points', () => {
    const alphabet = ['.', 'a', '\r\n', '日', ' '];
    for (let n = 0; n < 300; n++) {
      let m = '';
      for (let i = 0; i < 60; i++) m += alphabet[Math.floor(Math.random() * alphabet.length)];
      const bytes = Buffer.from(m);
      const cut = Math.floor(Math.random() * bytes.length);
      const a = stuffDots(bytes.subarray(0, cut), false);
      // a cut between CR and LF leaves a CR as last byte: legal, checked against the next chunk
      const b = cut === 0 ? stuffDots(bytes, false) : stuffDots(bytes.subarray(cut), bytes[cut - 1]!);
      const out = cut === 0 ? b! : Buffer.concat([a ?? Buffer.alloc(0), b!]);
      expect(out.toString(), JSON.stringify(m)).toBe(reference(m));
    }
  });

  it('returns null for a bare LF or CR so the careful encoder handles it', () => {
    expect(stuffDots(Buffer.from('a\nb'), false)).toBeNull();
    expect(stuffDots(Buffer.from('a\rb'), false)).toBeNull();
    expect(stuffDots(Buffer.from('\nb'), 0x61)).toBeNull();
    expect(stuffDots(Buffer.from('b'), 0x0d)).toBeNull();
  });

  it('returns the same buffer when nothing changes', () => {
    const b = Buffer.from('no dots\r\nhere\r\n');
    expect(stuffDots(b, false)).toBe(b);
  });

  it('repairs bare CR and LF of a whole message to CRLF, then stuffs dots', () => {
    expect(dotStuffed(Buffer.from('a\n.b\rc\r\n.d\r')).toString()).toBe('a\r\n..b\r\nc\r\n..d\r\n');
    const clean = Buffer.from('x\r\n.y\r\n');
    expect(dotStuffed(clean).toString()).toBe('x\r\n..y\r\n');
  });
});

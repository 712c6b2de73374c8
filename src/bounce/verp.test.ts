import { describe, expect, it } from 'vitest';
import { Verp } from './verp.js';

describe('VERP addresses', () => {
  const verp = new Verp(Buffer.alloc(32, 7));
  const target = { messageId: '0mhx3k2ab4f1e2d3c4b5a69788', rcpt: 3 };

  it('names message and recipient, and reads them back whatever the case of the local part', () => {
    const address = verp.address(target, 'rp.shop.example');
    expect(address).toMatch(/^b\+0mhx3k2ab4f1e2d3c4b5a69788-3-[a-z2-7]{16}@rp\.shop\.example$/);
    expect(address.split('@')[0]!.length).toBeLessThanOrEqual(64);
    expect(verp.parse(address)).toEqual(target);
    expect(verp.parse(address.toUpperCase())).toEqual(target);
  });

  it('refuses forged, altered and foreign addresses', () => {
    const address = verp.address(target, 'rp.shop.example');
    expect(verp.parse(address.replace('-3-', '-4-'))).toBeNull(); // another recipient
    expect(new Verp(Buffer.alloc(32, 8)).parse(address)).toBeNull(); // another secret
    expect(verp.parse(address.replace(/([a-z2-7])@/, (_, c: string) => `${c === 'a' ? 'b' : 'a'}@`))).toBeNull(); // one character of the mac
    expect(verp.parse('postmaster@rp.shop.example')).toBeNull();
    expect(verp.parse('b+x-1-aaaaaaaaaaaaaaaa@rp.shop.example')).toBeNull();
  });
});

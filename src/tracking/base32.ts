/**
 * RFC 4648 base32 in lower case without padding: the alphabet of tracking tokens, because a token
 * also travels as an email local part (`u+TOKEN@…`), where some systems change case and only
 * letters and digits are safe everywhere.
 *
 * Promises: `decode` accepts upper or lower case and returns null for anything that is not the
 * canonical encoding of some bytes (other characters, a length no byte count gives, stray bits
 * in the last character), so every byte string has exactly one spelling.
 */
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const VALUES = new Map([...ALPHABET].map((ch, i) => [ch, i]));

export function encodeBase32(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = ((value << 8) | byte) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

export function decodeBase32(text: string): Buffer | null {
  const lower = text.toLowerCase();
  // Lengths 1, 3 and 6 (mod 8) leave more than 4 unused bits: no byte count encodes to them.
  if ([1, 3, 6].includes(lower.length % 8)) return null;
  const out = Buffer.alloc(Math.floor((lower.length * 5) / 8));
  let bits = 0;
  let value = 0;
  let at = 0;
  for (const ch of lower) {
    const v = VALUES.get(ch);
    if (v === undefined) return null;
    value = ((value << 5) | v) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      out[at++] = (value >>> (bits - 8)) & 0xff;
      bits -= 8;
    }
  }
  // Leftover bits must be zero, or two spellings would decode to the same bytes.
  if ((value & ((1 << bits) - 1)) !== 0) return null;
  return out;
}

/**
 * VERP: the envelope sender of every delivery names the message and recipient it carries, so a
 * bounce that comes back identifies them without guessing from its text.
 *
 * `b+<message id>-<recipient index>-<mac>@<return-path domain>`; the mac is an HMAC-SHA256 of
 * the rest (80 bits, base32), so nobody can make an address that changes the state of mail they
 * did not send. Lower case only: some MTAs change the case of local parts, so parsing ignores it.
 * 40–50 characters, well under the 64 a local part may have.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface VerpTarget {
  messageId: string;
  rcpt: number;
}

const PREFIX = 'b+';
const MAC_BYTES = 10;
const TOKEN = /^b\+([0-9a-z]{10,40})-(\d{1,5})-([a-z2-7]{16})$/;

export class Verp {
  constructor(private readonly secret: Buffer) {}

  address(target: VerpTarget, domain: string): string {
    return `${PREFIX}${target.messageId}-${target.rcpt}-${this.mac(target)}@${domain}`;
  }

  /** The message and recipient a bounce address names, or null when it is not one of ours. */
  parse(address: string): VerpTarget | null {
    const at = address.lastIndexOf('@');
    const m = TOKEN.exec((at === -1 ? address : address.slice(0, at)).toLowerCase());
    if (!m) return null;
    const target = { messageId: m[1]!, rcpt: Number(m[2]) };
    const expected = Buffer.from(this.mac(target));
    const given = Buffer.from(m[3]!);
    return expected.length === given.length && timingSafeEqual(expected, given) ? target : null;
  }

  private mac(t: VerpTarget): string {
    return base32(createHmac('sha256', this.secret).update(`verp:${t.messageId}:${t.rcpt}`).digest().subarray(0, MAC_BYTES));
  }
}

/** RFC 4648 base32, lower case, no padding (MAC_BYTES is a multiple of 5). */
function base32(bytes: Buffer): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

/**
 * Tracking tokens: what an open pixel, a tracked link or an unsubscribe link names — the kind of
 * request, the message, the recipient and (for clicks) the link's index — and the URLs made of them.
 *
 * Receives: the shared `tracking` secret (src/secrets.ts) and message ids made by newMessageId
 * (9 base36 characters of time, 16 hex of randomness).
 * Promises: a token is the packed target plus an HMAC-SHA256 of it truncated to 96 bits, in
 * lower-case base32 — valid in a URL path and in an email local part, and read case-insensitively
 * (`u+TOKEN@…` may come back upper-cased). `parse` returns the target only when the MAC matches
 * (constant-time compare) and the bytes are exactly one canonical encoding, so a token cannot be
 * altered, nor a part of one token (another message, recipient, link or kind) spliced into another.
 * Nothing is looked up: the URL a click goes to is stored (links.ts), never taken from the token.
 *
 * Layout (v1): [0x10 | kind][time 6 bytes][random 8 bytes][varint rcpt][varint link, clicks only][mac 12]
 * → 45 characters for an open or unsubscribe token of recipient < 128, ~47 for a click; `u+` + 45
 * stays well under the 64 characters an email local part may have.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import { sharedSecret } from '../secrets.js';
import { decodeBase32, encodeBase32 } from './base32.js';

/** honeypot: the invisible link no person sees; whatever fetches it is a machine */
export type TokenKind = 'click' | 'open' | 'unsubscribe' | 'honeypot';

export type TrackingTarget =
  | { kind: 'click'; messageId: string; rcpt: number; link: number }
  | { kind: 'open' | 'unsubscribe' | 'honeypot'; messageId: string; rcpt: number };

const VERSION = 0x10;
const KIND_CODES: Record<TokenKind, number> = { click: 1, open: 2, unsubscribe: 3, honeypot: 4 };
const KINDS_BY_CODE = new Map(Object.entries(KIND_CODES).map(([kind, code]) => [code, kind as TokenKind]));
const MAC_BYTES = 12;
const ID_BYTES = 14;
/** three varint bytes: far more recipients per message and links per body than anyone sends */
export const MAX_INDEX = 2 ** 21 - 1;
const MESSAGE_ID = /^([0-9a-z]{9})([0-9a-f]{16})$/;
/** the longest token v1 makes, with room; anything longer is not looked at */
const MAX_TOKEN_CHARS = 64;

export class TrackingTokens {
  constructor(private readonly secret: Buffer) {}

  /** With the secret every node shares (created on first use). */
  static async load(redis: Redis, keys: Keys): Promise<TrackingTokens> {
    return new TrackingTokens(await sharedSecret(redis, keys, 'tracking'));
  }

  make(target: TrackingTarget): string {
    const payload = pack(target);
    return encodeBase32(Buffer.concat([payload, this.mac(payload)]));
  }

  /** The target a token names, or null when it is not one of ours, unchanged. */
  parse(token: string): TrackingTarget | null {
    if (token.length > MAX_TOKEN_CHARS) return null;
    const bytes = decodeBase32(token);
    if (!bytes || bytes.length < 1 + ID_BYTES + 1 + MAC_BYTES) return null;
    const payload = bytes.subarray(0, bytes.length - MAC_BYTES);
    if (!timingSafeEqual(this.mac(payload), bytes.subarray(bytes.length - MAC_BYTES))) return null;
    return unpack(payload);
  }

  private mac(payload: Buffer): Buffer {
    return createHmac('sha256', this.secret).update('sokutatsu-tracking:').update(payload).digest().subarray(0, MAC_BYTES);
  }
}

function pack(target: TrackingTarget): Buffer {
  const id = MESSAGE_ID.exec(target.messageId);
  if (!id) throw new Error(`tracking tokens need a message id made by newMessageId, not ${JSON.stringify(target.messageId.slice(0, 40))}`);
  const head = Buffer.alloc(1 + ID_BYTES);
  head[0] = VERSION | KIND_CODES[target.kind];
  head.writeUIntBE(parseInt(id[1]!, 36), 1, 6);
  head.write(id[2]!, 7, 'hex');
  const indexes = [target.rcpt, ...(target.kind === 'click' ? [target.link] : [])];
  return Buffer.concat([head, ...indexes.map(varint)]);
}

function unpack(payload: Buffer): TrackingTarget | null {
  const kind = payload[0]! >> 4 === VERSION >> 4 ? KINDS_BY_CODE.get(payload[0]! & 0x0f) : undefined;
  if (!kind) return null;
  const time = payload.readUIntBE(1, 6);
  if (time >= 36 ** 9) return null;
  const messageId = time.toString(36).padStart(9, '0') + payload.toString('hex', 7, 1 + ID_BYTES);
  const rcpt = readVarint(payload, 1 + ID_BYTES);
  if (!rcpt) return null;
  if (kind !== 'click') return rcpt.next === payload.length ? { kind, messageId, rcpt: rcpt.value } : null;
  const link = readVarint(payload, rcpt.next);
  return link && link.next === payload.length ? { kind, messageId, rcpt: rcpt.value, link: link.value } : null;
}

/** LEB128, at most 3 bytes. */
function varint(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > MAX_INDEX) throw new Error(`tracking index out of range: ${n}`);
  const out: number[] = [];
  do {
    const low = n & 0x7f;
    n >>>= 7;
    out.push(n > 0 ? low | 0x80 : low);
  } while (n > 0);
  return Buffer.from(out);
}

/** The value and the offset after it; null when truncated, too long or not minimal (one spelling per value). */
function readVarint(bytes: Buffer, at: number): { value: number; next: number } | null {
  let value = 0;
  for (let i = 0; i < 3 && at + i < bytes.length; i++) {
    const byte = bytes[at + i]!;
    value |= (byte & 0x7f) << (7 * i);
    if ((byte & 0x80) === 0) return i > 0 && byte === 0 ? null : { value, next: at + i + 1 };
  }
  return null;
}

/** The URLs of one recipient's copy, under `base` (http.publicUrl or the sending domain's tracking host). */
export interface RecipientUrls {
  click(link: number): string;
  readonly open: string;
  /** for the invisible link the rewriter may add; a click on it marks the client a machine */
  readonly honeypot: string;
  readonly unsubscribe: string;
  /** `u+TOKEN@domain` for List-Unsubscribe's mailto: (the domain's port 25 must reach us) */
  unsubscribeMailbox(domain: string): string;
}

export function recipientUrls(tokens: TrackingTokens, base: string, messageId: string, rcpt: number): RecipientUrls {
  const root = base.replace(/\/+$/, '');
  const unsubscribeToken = tokens.make({ kind: 'unsubscribe', messageId, rcpt });
  return {
    click: (link) => clickUrl(root, tokens.make({ kind: 'click', messageId, rcpt, link })),
    open: openUrl(root, tokens.make({ kind: 'open', messageId, rcpt })),
    honeypot: clickUrl(root, tokens.make({ kind: 'honeypot', messageId, rcpt })),
    unsubscribe: unsubscribeUrl(root, unsubscribeToken),
    unsubscribeMailbox: (domain) => unsubscribeMailbox(unsubscribeToken, domain),
  };
}

// Clicks and the honeypot share one path, so nothing in the URL tells a scanner which is which.
export const clickUrl = (base: string, token: string): string => `${base}/t/c/${token}`;
export const openUrl = (base: string, token: string): string => `${base}/t/o/${token}.gif`;
export const unsubscribeUrl = (base: string, token: string): string => `${base}/u/${token}`;
export const unsubscribeMailbox = (token: string, domain: string): string => `u+${token}@${domain}`;

/** The token of an unsubscribe address `u+TOKEN@…` (any case), or null for any other address. */
export function unsubscribeTokenOf(address: string): string | null {
  const at = address.lastIndexOf('@');
  const local = (at === -1 ? address : address.slice(0, at)).toLowerCase();
  return /^u\+[a-z2-7]{20,64}$/.test(local) ? local.slice(2) : null;
}

/**
 * True for a URL that already is one of our tracking or unsubscribe links under one of `bases`
 * (http.publicUrl, the sending domains' tracking hosts): the rewriter leaves those alone.
 */
export function isTrackingUrl(url: string, bases: readonly string[]): boolean {
  const lower = url.toLowerCase();
  return bases.some((base) => {
    const root = base.replace(/\/+$/, '').toLowerCase();
    return ['/t/c/', '/t/o/', '/u/'].some((path) => lower.startsWith(root + path));
  });
}

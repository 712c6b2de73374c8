/**
 * Per-recipient transformation of a stored message just before it is sent.
 *
 * Receives: the message as stored (what the client sent, plus our Received header), the active
 * DKIM keys of its From domain (none, one, or RSA + Ed25519), and this recipient's copy plan
 * (src/tracking/copy-plan.ts: tracking links and pixel, List-Unsubscribe fields).
 * Promises: the bytes to put on the wire — Sokutatsu's control headers (X-Sokutatsu-*) removed,
 * then the tracking rewrite of the HTML parts (tracking-rewrite.ts), then List-Unsubscribe and
 * List-Unsubscribe-Post on top unless the message has its own List-Unsubscribe, then the DKIM
 * signature last, so it covers the final bytes (DESIGN: transform order). Every other byte is
 * untouched; `links` are the URLs behind the copy's click links, by index.
 */
import { readHeaderFields, removeFields } from '../mime/header-section.js';
import { isControlHeader } from '../mime/control-headers.js';
import { signMessage, type SigningKey } from './dkim.js';
import { mentionsTextHtml, rewriteMessage, type TrackingOptions } from './tracking-rewrite.js';

export interface CopyOptions {
  keys: SigningKey[];
  fromDomain: string | null;
  /** asked only for a message with HTML (its tokens cost HMACs) */
  tracking?: (() => TrackingOptions) | null;
  /** complete header fields ("Name: value\r\n") */
  listUnsubscribe?: string[] | null;
}

export interface Prepared {
  wire: Buffer;
  /** "d=example.com s=sel1" when signed (several when dual-signed), else why not */
  dkim: string;
  /** the URLs of the copy's click links (index = link index); empty when none were tracked */
  links: string[];
  /** what the tracking rewrite left as is, and why */
  notes: string[];
}

export async function transformForRecipient(stored: Buffer, options: CopyOptions): Promise<Prepared> {
  const stripped = removeFields(stored, isControlHeader);
  const tracked = options.tracking && mentionsTextHtml(stripped) ? rewriteMessage(stripped, options.tracking()) : { message: stripped, links: [], notes: [] };
  const withHeaders = addListUnsubscribe(tracked.message, options.listUnsubscribe ?? null);
  const { keys, fromDomain } = options;
  const base = { links: tracked.links, notes: tracked.notes };
  if (keys.length === 0) return { ...base, wire: withHeaders, dkim: `unsigned: no DKIM key for ${fromDomain ?? 'a message without From:'}` };
  return { ...base, wire: await signMessage(withHeaders, keys), dkim: keys.map((k) => `d=${k.domain} s=${k.selector}`).join(', ') };
}

/**
 * The sender's own List-Unsubscribe (a mailing list manager's) is theirs to keep: ours is added
 * only when there is none, below the trace fields (Received, Return-Path) that stay on top.
 */
function addListUnsubscribe(message: Buffer, fields: string[] | null): Buffer {
  if (!fields || fields.length === 0) return message;
  const present = readHeaderFields(message);
  if (present.some((f) => f.name === 'list-unsubscribe' || f.name === 'list-unsubscribe-post')) return message;
  let at = 0;
  for (const f of present) {
    if (f.start !== at || (f.name !== 'received' && f.name !== 'return-path')) break;
    at = f.end;
  }
  return Buffer.concat([message.subarray(0, at), Buffer.from(fields.join(''), 'latin1'), message.subarray(at)]);
}

/**
 * Click and open tracking for a whole message, per recipient at delivery (before DKIM signing).
 *
 * Receives: the message as it will be sent (CRLF line ends) and the recipient's tracking URLs.
 * Promises: only the bodies of the text/html parts html-parts.ts finds change — each decoded
 * from its transfer encoding, rewritten by html-links.ts in its own charset, and encoded again in
 * the same transfer encoding — and a body that does not change is not re-encoded: every byte
 * outside the changed bodies (headers, delimiters, preamble and epilogue, every other part) is
 * the input's. Link indexes run over the whole message in document order (`links[i]` is the URL
 * of index i), the same for every recipient. The open pixel goes into the first HTML body that
 * can take it, once per message. Synchronous, never throws: what cannot be rewritten safely is
 * left as is and said in `notes`. A message without the bytes "text/html" returns at once.
 */
import { findHtmlBodies, type HtmlBody } from './html-parts.js';
import { planHtmlRewrite, type TrackingOptions } from './html-links.js';
import { decodeBody, encodeEdited, parseTransferEncoding } from './transfer-encoding.js';
import { applyEdits, type ByteEdit } from './byte-edits.js';

export type { TrackingOptions } from './html-links.js';

export interface TrackedMessage {
  /** the same Buffer as the input when nothing changed */
  message: Buffer;
  /** decoded URLs of the trackable links; index = the index given to clickUrl */
  links: string[];
  /** how many HTML bodies changed */
  parts: number;
  /** whether the open pixel was inserted */
  pixel: boolean;
  /** what was left as is, and why */
  notes: string[];
}

/** SMTP's line length limit (RFC 5321 4.5.3.1.6) without the CRLF. */
const SMTP_LINE = 998;

export function rewriteMessage(message: Buffer, opts: TrackingOptions): TrackedMessage {
  const unchanged = (notes: string[]): TrackedMessage => ({ message, links: [], parts: 0, pixel: false, notes });
  if (!opts.clickUrl && !opts.pixelUrl && !opts.honeypotUrl) return unchanged([]);
  if (!mentionsTextHtml(message)) return unchanged([]);
  try {
    return rewriteBodies(message, opts);
  } catch (err) {
    // a bug of ours must not stop a delivery: the message goes out as it came
    return unchanged([`not rewritten: ${err instanceof Error ? err.message : String(err)}`]);
  }
}

function rewriteBodies(message: Buffer, opts: TrackingOptions): TrackedMessage {
  const { bodies, notes } = findHtmlBodies(message);
  const links: string[] = [];
  const splices: ByteEdit[] = [];
  let pixel = false;
  for (const body of bodies) {
    const offset = links.length;
    const result = rewriteBody(message, body, {
      ...opts,
      clickUrl: opts.clickUrl ? (index, url) => opts.clickUrl!(offset + index, url) : null,
      maxLinks: opts.maxLinks === undefined ? undefined : Math.max(0, opts.maxLinks - offset),
      pixelUrl: pixel ? null : opts.pixelUrl,
      honeypotUrl: pixel ? null : opts.honeypotUrl,
    }, notes);
    if (!result) continue;
    for (const url of result.links) links.push(url); // a spread of 100,000+ arguments overflows the stack
    pixel ||= result.pixel;
    splices.push(result.splice);
  }
  if (splices.length === 0) return { message, links, parts: 0, pixel, notes };
  return { message: applyEdits(message, splices), links, parts: splices.length, pixel, notes };
}

function rewriteBody(message: Buffer, body: HtmlBody, opts: TrackingOptions, notes: string[]): { splice: ByteEdit; links: string[]; pixel: boolean } | null {
  const encoding = parseTransferEncoding(body.transferEncoding);
  if (encoding === null) {
    notes.push(`text/html in transfer encoding ${body.transferEncoding}: left as is`);
    return null;
  }
  const encoded = message.subarray(body.start, body.end);
  const decoded = decodeBody(encoded, encoding);
  const lineLimited = encoding === '7bit' || encoding === '8bit';
  const plan = planHtmlRewrite(decoded.data, body.charset ?? 'us-ascii', { ...opts, maxLineLength: lineLimited ? SMTP_LINE : undefined });
  if (plan.skipped) notes.push(`text/html left as is: ${plan.skipped}`);
  notes.push(...plan.notes);
  if (plan.edits.length === 0) return null;
  return { splice: { start: body.start, end: body.end, bytes: encodeEdited(encoded, encoding, decoded, plan.edits) }, links: plan.links, pixel: plan.pixel };
}

/**
 * Whether "text/html" occurs in any letter case. Two native searches for "/h" and "/H" and a
 * look around each hit: a message with no HTML is not parsed at all.
 */
export function mentionsTextHtml(message: Buffer): boolean {
  for (const needle of ['/h', '/H']) {
    let p = message.indexOf(needle, 4);
    while (p !== -1) {
      if (matchesIgnoringCase(message, p - 4, 'text/html')) return true;
      p = message.indexOf(needle, p + 2);
    }
  }
  return false;
}

function matchesIgnoringCase(b: Buffer, at: number, lower: string): boolean {
  if (at < 0 || at + lower.length > b.length) return false;
  for (let k = 0; k < lower.length; k++) {
    const c = b[at + k]!;
    if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== lower.charCodeAt(k)) return false;
  }
  return true;
}

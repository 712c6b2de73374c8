/**
 * The URL an `href` value leads to, as a browser would follow it — or why it is not one to track.
 *
 * Receives: the value's raw bytes as they stand in the HTML part, the same bytes as the ASCII
 * view the tokenizer read (non-ASCII text masked to ≥ 0x80; for most charsets the same bytes),
 * and the part's charset.
 * Promises: `{ url }` only for an absolute http(s) URL with a host, as plain ASCII with HTML
 * character references decoded (`&amp;` → `&`, so the redirect goes where the author meant),
 * never with a control character (CR/LF included) inside — HTML whitespace around it is
 * dropped, as browsers do. Non-ASCII text is percent-encoded the way the HTML standard does it:
 * host by IDNA, path and fragment as UTF-8, the query in the document's own charset (its raw
 * bytes). Anything else (`mailto:`, `tel:`, `#top`, relative, `javascript:`) is
 * `{ refused, quiet: true }`; a malformed http(s) URL is `{ refused }` with the reason.
 */
import { domainToASCII } from 'node:url';
import { decode as decodeCharset } from 'libmime/lib/charset.js';
import { decodeCharacterReferences } from './html-entities.js';
import { doubleByteLead } from './html-charset.js';

export type HrefUrl = { url: string } | { refused: string; quiet?: boolean };

type Component = 'before-query' | 'query' | 'fragment';

export function hrefUrl(raw: Buffer, view: Buffer, charset: string): HrefUrl {
  const text = trimWhitespace(composeUrl(raw, view, charset));
  if (!/^https?:\/\//i.test(text)) return { refused: 'not an absolute http(s) URL', quiet: true };
  if (/[\u0000-\u001f\u007f-\u009f]/.test(text)) return { refused: 'a control character (CR, LF, tab …) inside the URL' };
  const ascii = toAsciiUrl(text);
  if (ascii === null) return { refused: 'a host that is not a valid domain name' };
  return isFollowable(ascii) ? { url: ascii } : { refused: 'not a valid http(s) URL' };
}

/**
 * The URL text: ASCII runs with character references decoded; non-ASCII runs decoded from the
 * charset, except in the query, whose raw bytes are percent-encoded (what a browser sends).
 */
function composeUrl(raw: Buffer, view: Buffer, charset: string): string {
  const isLead = doubleByteLead(charset);
  let out = '';
  let at: Component = 'before-query';
  let i = 0;
  while (i < view.length) {
    const ascii = view[i]! < 0x80;
    const j = ascii ? asciiRunEnd(view, i) : nonAsciiRunEnd(view, i, isLead);
    if (ascii) {
      const text = decodeCharacterReferences(view.toString('latin1', i, j));
      at = componentAfter(at, text);
      out += text;
    } else {
      const bytes = raw.subarray(i, j);
      out += at === 'query' ? percentEncodeBytes(bytes) : decodeCharset(bytes, textCharset(charset));
    }
    i = j;
  }
  return out;
}

function asciiRunEnd(view: Buffer, from: number): number {
  let j = from;
  while (j < view.length && view[j]! < 0x80) j++;
  return j;
}

/** A Shift_JIS character may end in an ASCII-range byte (表 is 0x95 0x5C, '\'): it belongs to the run. */
function nonAsciiRunEnd(view: Buffer, from: number, isLead: ((byte: number) => boolean) | null): number {
  let j = from;
  while (j < view.length && view[j]! >= 0x80) j += isLead?.(view[j]!) ? 2 : 1;
  return Math.min(j, view.length);
}

function componentAfter(at: Component, text: string): Component {
  if (at !== 'fragment' && text.includes('#')) return 'fragment';
  if (at === 'before-query' && text.includes('?')) return 'query';
  return at;
}

/** A part labelled us-ascii that carries 8-bit bytes is, in practice, UTF-8. */
function textCharset(charset: string): string {
  return /^(us-)?ascii$/i.test(charset.trim()) ? 'utf-8' : charset;
}

function percentEncodeBytes(bytes: Buffer): string {
  let s = '';
  for (const byte of bytes) s += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  return s;
}

/**
 * HTML whitespace around the value (line breaks of a wrapped attribute) is dropped, as browsers
 * drop it; other control characters stay and get the URL refused. Without a regex: /\s+$/
 * backtracks quadratically over a long run of inner spaces.
 */
function trimWhitespace(s: string): string {
  let a = 0, z = s.length;
  while (a < z && isSpace(s.charCodeAt(a))) a++;
  while (z > a && isSpace(s.charCodeAt(z - 1))) z--;
  return s.slice(a, z);
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d;
}

/** What needs no percent-encoding anywhere in a URL (the common case, checked first). */
const PLAIN_URL = /^[\x21\x23-\x3b\x3d\x3f-\x5f\x61-\x7e]*$/;

/** IDNA for a non-ASCII host, UTF-8 percent-encoding for the rest; null for an invalid host. */
function toAsciiUrl(text: string): string | null {
  if (PLAIN_URL.test(text)) return text;
  const authorityStart = text.indexOf('//') + 2;
  let authorityEnd = text.slice(authorityStart).search(/[/?#\\]/);
  authorityEnd = authorityEnd === -1 ? text.length : authorityStart + authorityEnd;
  let authority = text.slice(authorityStart, authorityEnd);
  if (/[^\x00-\x7f]/.test(authority)) {
    const at = authority.lastIndexOf('@') + 1;
    const port = /:\d*$/.exec(authority.slice(at))?.[0] ?? '';
    const host = domainToASCII(authority.slice(at, authority.length - port.length));
    if (host === '') return null;
    authority = percentEncodeText(authority.slice(0, at)) + host + port;
  }
  return text.slice(0, authorityStart) + authority + percentEncodeText(text.slice(authorityEnd));
}

/** Non-ASCII as UTF-8 %XX, and the characters browsers escape in every component. */
function percentEncodeText(s: string): string {
  return s.replace(/[^\x21\x23-\x3b\x3d\x3f-\x5f\x61-\x7e]+/gu, (run) => {
    try {
      return encodeURIComponent(run);
    } catch {
      return '%EF%BF%BD'; // a lone surrogate: what a browser's UTF-8 encoder makes of it (U+FFFD)
    }
  });
}

function isFollowable(url: string): boolean {
  try {
    const u = new URL(url);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

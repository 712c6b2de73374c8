/**
 * Where the HTML bodies of a raw message are, found by walking its MIME structure on the bytes.
 *
 * Receives: a whole message (CRLF line ends, headers and body).
 * Promises: the byte ranges of the bodies of the `text/html` parts a tracking rewrite may change,
 * in document order — the message itself when it is text/html, and parts at any depth of
 * multipart/mixed, alternative, related (any multipart but these:) — never inside
 * multipart/signed or encrypted (a change breaks the signature), multipart/digest or
 * message/* (attached messages), never a part that is an attachment (Content-Disposition:
 * attachment, or a file name: an .html file the sender attached). A body range starts after its
 * header's blank line and ends before the CRLF that belongs to the next delimiter (RFC 2046), so
 * a caller that splices a new body there keeps every other byte. Delimiters are matched as
 * mailsplit (mailparser) matches them: at a line start, `--boundary` or `--boundary--`, optional
 * spaces and tabs, CRLF; an inner multipart ends at its parent's delimiter. Broken structure is
 * reported, never thrown: a multipart without boundary is left whole, and the last part of a
 * multipart whose closing delimiter never comes is left as is (the message may be cut off).
 */
import libmime from 'libmime';
import { fieldValue, headerEnd, readHeaderFields } from '../mime/header-section.js';

export interface HtmlBody {
  /** offsets of the body in the message */
  start: number;
  end: number;
  /** the Content-Type charset parameter, null when there is none */
  charset: string | null;
  /** the Content-Transfer-Encoding header value, null when there is none */
  transferEncoding: string | null;
}

export interface HtmlBodies {
  bodies: HtmlBody[];
  /** what was not descended into or left out, and why */
  notes: string[];
}

/** Deeper nesting than any mail client writes; mailparser gives up on very deep trees too. */
const MAX_DEPTH = 32;

const NOT_DESCENDED: Record<string, string> = {
  'multipart/signed': 'signed (a change would break the signature)',
  'multipart/encrypted': 'encrypted',
  'multipart/digest': 'a digest of attached messages',
};

export function findHtmlBodies(message: Buffer): HtmlBodies {
  const found: HtmlBodies = { bodies: [], notes: [] };
  walkEntity(message, 0, message.length, 0, found);
  return found;
}

function walkEntity(message: Buffer, start: number, end: number, depth: number, found: HtmlBodies): void {
  const entity = message.subarray(start, end);
  const fields = readHeaderFields(entity);
  const bodyStart = start + Math.min(headerEnd(entity), entity.length);
  const type = parseContentType(fieldValue(fields, 'content-type'));
  if (type.mime.startsWith('multipart/')) {
    walkMultipart(message, bodyStart, end, type, depth, found);
    return;
  }
  if (type.mime !== 'text/html') return;
  const attachment = attachmentReason(fieldValue(fields, 'content-disposition'), type.params);
  if (attachment) {
    found.notes.push(`text/html ${attachment}: left as is`);
    return;
  }
  found.bodies.push({ start: bodyStart, end, charset: type.params.charset ?? null, transferEncoding: fieldValue(fields, 'content-transfer-encoding') });
}

function walkMultipart(message: Buffer, bodyStart: number, end: number, type: ContentType, depth: number, found: HtmlBodies): void {
  const refusal = NOT_DESCENDED[type.mime];
  if (refusal) {
    found.notes.push(`${type.mime}: ${refusal}, left as is`);
    return;
  }
  const boundary = type.params.boundary;
  if (!boundary) {
    found.notes.push(`${type.mime} without a boundary: left as is`);
    return;
  }
  if (depth >= MAX_DEPTH) {
    found.notes.push(`multipart nested deeper than ${MAX_DEPTH}: left as is`);
    return;
  }
  const split = splitMultipart(message, bodyStart, end, Buffer.from(`--${boundary}`, 'latin1'));
  if (split.parts.length === 0) {
    found.notes.push(`${type.mime}: its boundary never occurs, left as is`);
    return;
  }
  if (!split.closed) found.notes.push(`${type.mime} without its closing delimiter: its last part left as is`);
  const complete = split.closed ? split.parts : split.parts.slice(0, -1);
  for (const part of complete) walkEntity(message, part.start, part.end, depth + 1, found);
}

interface Range {
  start: number;
  end: number;
}

interface Delimiter {
  /** offset of the CRLF before "--boundary" (the delimiter's own), or of "--" at the body start */
  at: number;
  /** offset after the delimiter line's CRLF */
  after: number;
  closing: boolean;
}

/** The parts between the delimiters within [bodyStart, end). */
function splitMultipart(message: Buffer, bodyStart: number, end: number, dashBoundary: Buffer): { parts: Range[]; closed: boolean } {
  const parts: Range[] = [];
  let delimiter = findDelimiter(message, bodyStart, bodyStart, end, dashBoundary);
  while (delimiter && !delimiter.closing) {
    const next = findDelimiter(message, bodyStart, delimiter.after, end, dashBoundary);
    const partEnd = next ? Math.max(next.at, delimiter.after) : end;
    parts.push({ start: delimiter.after, end: partEnd });
    if (!next) return { parts, closed: false };
    delimiter = next;
  }
  return { parts, closed: delimiter !== null };
}

const CR = 0x0d, LF = 0x0a;

function findDelimiter(message: Buffer, bodyStart: number, from: number, end: number, dashBoundary: Buffer): Delimiter | null {
  const region = message.subarray(0, end);
  // the delimiter's CRLF may be the very one that ended the previous delimiter line
  let search = Math.max(bodyStart, from - 2);
  for (;;) {
    const p = region.indexOf(dashBoundary, search);
    if (p === -1) return null;
    const atLineStart = p === bodyStart || (p >= 2 && message[p - 2] === CR && message[p - 1] === LF);
    const tail = atLineStart ? delimiterTail(region, p + dashBoundary.length) : null;
    if (tail) return { at: p === bodyStart ? p : p - 2, after: tail.after, closing: tail.closing };
    search = p + 1;
  }
}

/** What follows "--boundary" on a delimiter line: "--"?, blanks, CRLF (or the end, when closing). */
function delimiterTail(region: Buffer, from: number): { after: number; closing: boolean } | null {
  let i = from;
  const closing = region[i] === 0x2d && region[i + 1] === 0x2d;
  if (closing) i += 2;
  while (i < region.length && (region[i] === 0x20 || region[i] === 0x09)) i++;
  if (i === region.length) return closing ? { after: i, closing } : null;
  if (region[i] === CR && region[i + 1] === LF) return { after: i + 2, closing };
  return null;
}

interface ContentType {
  /** lower-case type/subtype; text/plain when absent (RFC 2045) */
  mime: string;
  params: Record<string, string>;
}

function parseContentType(value: string | null): ContentType {
  if (value === null) return { mime: 'text/plain', params: {} };
  const parsed = libmime.parseHeaderValue(value);
  return { mime: parsed.value.trim().toLowerCase() || 'text/plain', params: parsed.params };
}

/** Why a text/html part is an attachment rather than a body, or null when it is a body. */
function attachmentReason(disposition: string | null, typeParams: Record<string, string>): string | null {
  if (disposition !== null) {
    const parsed = libmime.parseHeaderValue(disposition);
    if (parsed.value.trim().toLowerCase() === 'attachment') return 'attachment';
    if (parsed.params.filename) return 'with a file name';
  }
  return typeParams.name ? 'with a file name' : null;
}

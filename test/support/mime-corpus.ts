/**
 * Building test messages whose expected tracking rewrite is known byte for byte.
 *
 * An HTML document is a list of pieces: text (encoded in the document's charset), raw bytes, link
 * values (`link(raw, url)`: written as `raw`, must be handed out as `url` and replaced by its
 * tracking URL; `keep(raw)`: must stay as written) and the PIXEL mark (where the open pixel must
 * appear). A message is a list of segments: fixed bytes, which must come out identical, and HTML
 * bodies, which must decode to the document with the links replaced and the pixel inserted.
 * Encodings of the originals come from other code than ours (libqp, Buffer base64,
 * encoding-japanese), so an encoder bug of ours cannot hide in both sides.
 */
import Encoding from 'encoding-japanese';
import { decode as qpDecode, encode as qpEncode, wrap as qpWrap } from 'libqp';

export type Charset = 'utf-8' | 'shift_jis' | 'iso-2022-jp' | 'euc-jp';
export type Enc = '7bit' | '8bit' | 'quoted-printable' | 'base64';

export interface Link {
  raw: string | Buffer;
  /** the URL it must be handed out as; absent: the value must stay as written */
  url?: string;
  /** written without quotes: the rewrite adds double quotes */
  unquoted?: boolean;
}
export const PIXEL = Symbol('pixel');
export type Piece = string | Buffer | Link | typeof PIXEL;

export const link = (raw: string | Buffer, url: string, unquoted = false): Link => ({ raw, url, unquoted });
export const keep = (raw: string | Buffer): Link => ({ raw });

export function encodeText(s: string, charset: Charset): Buffer {
  if (charset === 'utf-8') return Buffer.from(s, 'utf-8');
  const to = charset === 'shift_jis' ? 'SJIS' : charset === 'euc-jp' ? 'EUCJP' : 'JIS';
  return Buffer.from(Encoding.convert(Encoding.stringToCode(s), { to, from: 'UNICODE', type: 'array' }));
}

export class Doc {
  constructor(readonly charset: Charset, readonly pieces: Piece[]) {}

  original(): Buffer {
    return this.render(() => null, '');
  }

  /** With link i (counted from `firstIndex`) replaced by track(i) and the snippet at PIXEL. */
  expected(firstIndex: number, track: (i: number) => string, snippet: string): Buffer {
    let i = firstIndex;
    return this.render(() => track(i++), snippet);
  }

  links(): string[] {
    return this.pieces.flatMap((p) => (typeof p === 'object' && !Buffer.isBuffer(p) && p.url ? [p.url] : []));
  }

  private render(tracked: () => string | null, snippet: string): Buffer {
    return Buffer.concat(this.pieces.map((p) => {
      if (p === PIXEL) return Buffer.from(snippet, 'latin1');
      if (typeof p === 'string') return encodeText(p, this.charset);
      if (Buffer.isBuffer(p)) return p;
      const replacement = p.url ? tracked() : null;
      if (replacement === null) return typeof p.raw === 'string' ? Buffer.from(p.raw, 'latin1') : p.raw;
      return Buffer.from(p.unquoted ? `"${replacement}"` : replacement, 'latin1');
    }));
  }
}

export function encodeBody(data: Buffer, enc: Enc): Buffer {
  if (enc === 'quoted-printable') return Buffer.from(qpWrap(qpEncode(data), 76), 'latin1');
  if (enc === 'base64') return Buffer.from(data.toString('base64').replace(/.{76}/g, '$&\r\n'), 'latin1');
  return data;
}

export function decodeBody(body: Buffer, enc: Enc): Buffer {
  if (enc === 'quoted-printable') return qpDecode(body);
  if (enc === 'base64') return Buffer.from(body.toString('latin1'), 'base64');
  return body;
}

/** An HTML body that the rewrite must change as its document says. */
export interface HtmlBody {
  doc: Doc;
  enc: Enc;
  encoded: Buffer;
}
export type Segment = Buffer | HtmlBody;

export interface Entity {
  headers: string[];
  body: Segment[];
}

export function html(doc: Doc, enc: Enc, extraHeaders: string[] = []): Entity {
  return {
    headers: [`Content-Type: text/html; charset=${doc.charset}`, `Content-Transfer-Encoding: ${enc}`, ...extraHeaders],
    body: [{ doc, enc, encoded: encodeBody(doc.original(), enc) }],
  };
}

/** A part that must not change (its body is fixed bytes). */
export function leaf(headers: string[], body: string | Buffer): Entity {
  return { headers, body: [typeof body === 'string' ? Buffer.from(body, 'latin1') : body] };
}

export function multipart(subtype: string, boundary: string, parts: Entity[], opts: { preamble?: string; epilogue?: string; params?: string } = {}): Entity {
  const body: Segment[] = [Buffer.from(opts.preamble ? `${opts.preamble}\r\n` : '', 'latin1')];
  parts.forEach((part, i) => {
    body.push(Buffer.from(`${i === 0 ? '' : '\r\n'}--${boundary}\r\n`, 'latin1'), ...render(part));
  });
  body.push(Buffer.from(`\r\n--${boundary}--\r\n${opts.epilogue ?? ''}`, 'latin1'));
  return { headers: [`Content-Type: multipart/${subtype}; boundary="${boundary}"${opts.params ?? ''}`], body };
}

/** The entity with its header section: what goes between two delimiters. */
export function render(entity: Entity): Segment[] {
  return [Buffer.from(entity.headers.map((h) => `${h}\r\n`).join('') + '\r\n', 'latin1'), ...entity.body];
}

/** Sokutatsu test messages are From example.com (the DKIM test signs for it). */
export const TOP_HEADERS = [
  'From: Shop <news@example.com>', 'To: taro@dest.example', 'Subject: test', 'Date: Thu, 26 Nov 2026 10:00:00 +0900',
  'Message-ID: <corpus@example.com>', 'MIME-Version: 1.0',
];

export interface Built {
  message: Buffer;
  segments: Segment[];
}

export function message(entity: Entity, topHeaders = TOP_HEADERS): Built {
  const segments = mergeFixed(render({ headers: [...topHeaders, ...entity.headers], body: entity.body }));
  const message = Buffer.concat(segments.map((s) => (Buffer.isBuffer(s) ? s : s.encoded)));
  return { message, segments };
}

function mergeFixed(segments: Segment[]): Segment[] {
  const out: Segment[] = [];
  for (const s of segments) {
    const last = out[out.length - 1];
    if (Buffer.isBuffer(s) && Buffer.isBuffer(last)) out[out.length - 1] = Buffer.concat([last, s]);
    else out.push(s);
  }
  return out;
}

export interface BodyCheck {
  /** the body as built */
  original: Buffer;
  /** the body as the rewrite wrote it */
  encoded: Buffer;
  decoded: Buffer;
  expected: Buffer;
  enc: Enc;
  doc: Doc;
}

/**
 * Cuts the output along the built message's segments: fixed ones must be the same bytes; each
 * HTML body is returned decoded beside what it must be (links from `firstIndex` on, the snippet
 * where the first body's PIXEL mark is, nothing at the others').
 */
export function cutAlongSegments(out: Buffer, built: Built, track: (i: number) => string, snippet: string): { fixedIdentical: boolean; bodies: BodyCheck[] } {
  let pos = 0;
  let index = 0;
  let fixedIdentical = true;
  let pixelDone = false;
  const bodies: BodyCheck[] = [];
  built.segments.forEach((seg, k) => {
    if (Buffer.isBuffer(seg)) {
      fixedIdentical &&= out.subarray(pos, pos + seg.length).equals(seg);
      pos += seg.length;
      return;
    }
    const next = built.segments[k + 1];
    const end = next === undefined ? out.length : out.indexOf(next as Buffer, pos);
    const encoded = out.subarray(pos, end === -1 ? out.length : end);
    const hasPixel = !pixelDone && seg.doc.pieces.includes(PIXEL);
    pixelDone ||= hasPixel;
    bodies.push({ original: seg.encoded, encoded, decoded: decodeBody(encoded, seg.enc), expected: seg.doc.expected(index, track, hasPixel ? snippet : ''), enc: seg.enc, doc: seg.doc });
    index += seg.doc.links().length;
    pos += encoded.length;
  });
  return { fixedIdentical: fixedIdentical && pos === out.length, bodies };
}

/** The longest line of an encoded body, in bytes without CRLF. */
export function longestLine(body: Buffer): number {
  return body.toString('latin1').split('\r\n').reduce((max, l) => Math.max(max, l.length), 0);
}

/** Quoted-printable lines up to each hard line break (soft breaks joined in). */
export function hardLines(encoded: Buffer): string[] {
  return encoded.toString('latin1').split(/(?<!=)\r\n/);
}

/**
 * Content-Transfer-Encoding of one MIME part body: undone, and done again around edits of the
 * decoded bytes, on Buffers.
 *
 * Receives: a part body as it stands in the message (CRLF line ends); for re-encoding, edits in
 * decoded offsets (ascending, apart).
 * Promises: `decodeBody` reads what mailparser reads (quoted-printable as libqp decodes it:
 * trailing whitespace of a line is transport padding, '=' + line end is a soft break, '=XX' a
 * byte, anything else literal; base64 ignoring whitespace). `encodeEdited` returns a body in the
 * same encoding that decodes to the decoded bytes with the edits applied: 7bit/8bit/binary edited
 * in place; quoted-printable re-encoded only on the lines (between hard line breaks) an edit
 * touches — every other encoded line stays byte for byte — with lines of at most 76 characters,
 * every byte exact (a lone CR or LF as =0D / =0A, trailing whitespace and a line-opening "--"
 * escaped, so no line can pass for a boundary); base64 re-encoded whole with the original's line
 * length (76 when it had none) and its trailing line end, so an unchanged prefix comes out as it
 * was from any standard encoder. Own code rather than libqp: libqp works on strings and regular
 * expressions and cannot keep the lines it does not need to touch.
 */
import { applyEdits, type ByteEdit } from './byte-edits.js';

export type TransferEncoding = '7bit' | '8bit' | 'binary' | 'quoted-printable' | 'base64';

const KNOWN: readonly TransferEncoding[] = ['7bit', '8bit', 'binary', 'quoted-printable', 'base64'];

/** The encoding a header value names ('7bit' when absent), or null for one we do not write. */
export function parseTransferEncoding(value: string | null): TransferEncoding | null {
  if (value === null) return '7bit';
  const token = value.replace(/\(.*?\)/g, '').trim().toLowerCase();
  if (token === '') return '7bit';
  return (KNOWN as readonly string[]).includes(token) ? (token as TransferEncoding) : null;
}

/** A decoded body, with where its lines start in both (quoted-printable only). */
export interface DecodedBody {
  data: Buffer;
  lines?: LineMap;
}

export function decodeBody(body: Buffer, encoding: TransferEncoding): DecodedBody {
  if (encoding === 'quoted-printable') return decodeQuotedPrintable(body);
  if (encoding === 'base64') return { data: Buffer.from(body.toString('latin1'), 'base64') };
  return { data: body };
}

export function encodeEdited(encoded: Buffer, encoding: TransferEncoding, decoded: DecodedBody, edits: readonly ByteEdit[]): Buffer {
  if (edits.length === 0) return encoded;
  if (encoding === 'quoted-printable' && decoded.lines) return reencodeEditedLines(encoded, decoded.data, decoded.lines, edits);
  if (encoding === 'base64') return encodeBase64(applyEdits(decoded.data, edits), encoded);
  return applyEdits(encoded, edits);
}

// ── quoted-printable ─────────────────────────────────────────────────────────────────────────

/**
 * Where each line (up to and including its hard CRLF; soft breaks do not end one) starts, in
 * the encoded and in the decoded body; a last entry for the end of both.
 */
export interface LineMap {
  encoded: number[];
  decoded: number[];
}

const CR = 0x0d, LF = 0x0a, SP = 0x20, TAB = 0x09, EQ = 0x3d, DASH = 0x2d;

/** -1, or the value of a hex digit */
const HEX_VALUE = new Int8Array(256).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX_VALUE['0123456789ABCDEF'.charCodeAt(i)] = i;
  HEX_VALUE['0123456789abcdef'.charCodeAt(i)] = i;
}

function decodeQuotedPrintable(body: Buffer): DecodedBody {
  const out = Buffer.allocUnsafe(body.length);
  const lines: LineMap = { encoded: [0], decoded: [0] };
  const n = body.length;
  let o = 0;
  let i = 0;
  while (i < n) {
    const c = body[i]!;
    if (c === EQ) {
      if (i + 2 < n) {
        const hi = HEX_VALUE[body[i + 1]!]!, lo = HEX_VALUE[body[i + 2]!]!;
        if ((hi | lo) >= 0) {
          out[o++] = (hi << 4) | lo;
          i += 3;
          continue;
        }
      }
      const after = skipBlanks(body, i + 1);
      if (after === n) { i = n; continue; } // a soft break at the very end
      if (body[after] === CR && body[after + 1] === LF) { i = after + 2; continue; }
      out[o++] = EQ;
      i++;
    } else if (c === SP || c === TAB) {
      const after = skipBlanks(body, i);
      const endsLine = after === n || (body[after] === CR && body[after + 1] === LF);
      if (!endsLine) o += body.copy(out, o, i, after);
      i = after;
    } else if (c === CR && body[i + 1] === LF) {
      out[o++] = CR;
      out[o++] = LF;
      i += 2;
      lines.encoded.push(i);
      lines.decoded.push(o);
    } else {
      out[o++] = c;
      i++;
    }
  }
  if (lines.encoded[lines.encoded.length - 1] !== n) {
    lines.encoded.push(n);
    lines.decoded.push(o);
  }
  return { data: out.subarray(0, o), lines };
}

function skipBlanks(b: Buffer, from: number): number {
  let i = from;
  while (i < b.length && (b[i] === SP || b[i] === TAB)) i++;
  return i;
}

/** The encoded body with the lines the edits touch encoded anew, all others as they were. */
function reencodeEditedLines(encoded: Buffer, data: Buffer, lines: LineMap, edits: readonly ByteEdit[]): Buffer {
  const chunks: Buffer[] = [];
  let copied = 0;
  let k = 0;
  while (k < edits.length) {
    const first = lineOf(lines, edits[k]!.start);
    let last = lineOf(lines, Math.max(edits[k]!.start, edits[k]!.end - 1));
    let j = k + 1;
    while (j < edits.length && lineOf(lines, edits[j]!.start) <= last) {
      last = Math.max(last, lineOf(lines, Math.max(edits[j]!.start, edits[j]!.end - 1)));
      j++;
    }
    const from = lines.decoded[first]!, to = lines.decoded[Math.min(last + 1, lines.decoded.length - 1)]!;
    chunks.push(encoded.subarray(copied, lines.encoded[first]), encodeQuotedPrintable(applyEdits(data.subarray(from, to), edits.slice(k, j), from)));
    copied = lines.encoded[Math.min(last + 1, lines.encoded.length - 1)]!;
    k = j;
  }
  chunks.push(encoded.subarray(copied));
  return Buffer.concat(chunks);
}

/** The line holding decoded offset `pos` (the last line for the very end). */
function lineOf(lines: LineMap, pos: number): number {
  const starts = lines.decoded;
  let lo = 0, hi = starts.length - 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= pos) lo = mid;
    else hi = mid - 1;
  }
  return Math.max(lo, 0);
}

const HEX = Buffer.from('0123456789ABCDEF');
/** characters before the soft break's '='; the line is then 76 long */
const QP_LINE = 75;
/** 1 for the bytes written as they are, wherever they stand */
const LITERAL = new Uint8Array(256);
for (let c = 0x21; c <= 0x7e; c++) LITERAL[c] = c === EQ ? 0 : 1;

export function encodeQuotedPrintable(data: Buffer): Buffer {
  const n = data.length;
  // worst case: every byte as =XX, plus "=\r\n" after every 25 escapes
  const out = Buffer.allocUnsafe(n * 3 + Math.ceil(n / 25) * 3 + 3);
  let o = 0;
  let line = 0;
  for (let i = 0; i < n; i++) {
    const c = data[i]!;
    if (c === CR && data[i + 1] === LF) {
      out[o++] = CR; out[o++] = LF;
      line = 0;
      i++;
      continue;
    }
    let escape = LITERAL[c] === 0 && !((c === SP || c === TAB) && !endsLine(data, i + 1));
    if (line + (escape ? 3 : 1) > QP_LINE) {
      out[o++] = EQ; out[o++] = CR; out[o++] = LF;
      line = 0;
    }
    if (line === 0 && c === DASH && data[i + 1] === DASH) escape = true; // "--" would open a line
    if (escape) {
      out[o++] = EQ; out[o++] = HEX[c >> 4]!; out[o++] = HEX[c & 15]!;
      line += 3;
    } else {
      out[o++] = c;
      line++;
    }
  }
  return out.subarray(0, o);
}

/** Whether a blank before `i` would end its line (and so be transport padding if left bare). */
function endsLine(data: Buffer, i: number): boolean {
  return i >= data.length || (data[i] === CR && data[i + 1] === LF);
}

// ── base64 ───────────────────────────────────────────────────────────────────────────────────

function encodeBase64(data: Buffer, original: Buffer): Buffer {
  const width = base64LineLength(original);
  const b64 = data.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += width) lines.push(b64.slice(i, i + width));
  return Buffer.from(lines.join('\r\n') + trailingLineEnd(original), 'latin1');
}

/** The original's first line length when it is a sensible one (a multiple of 4, at most 76). */
function base64LineLength(original: Buffer): number {
  const firstEnd = original.indexOf('\r\n');
  if (firstEnd === -1 || firstEnd >= original.length - 2) return 76;
  const width = original.subarray(0, firstEnd).toString('latin1').trim().length;
  return width >= 4 && width <= 76 && width % 4 === 0 ? width : 76;
}

/** The whitespace after the last base64 character (usually one CRLF, or nothing). */
function trailingLineEnd(original: Buffer): string {
  let end = original.length;
  while (end > 0 && (original[end - 1] === CR || original[end - 1] === LF || original[end - 1] === SP || original[end - 1] === TAB)) end--;
  return original.toString('latin1', end);
}

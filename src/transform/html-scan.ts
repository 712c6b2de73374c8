/**
 * A byte-level HTML tokenizer that finds where the links of a mail's HTML are, without building a
 * DOM or decoding the charset.
 *
 * Receives: the HTML part as bytes in an ASCII-compatible charset, where every byte that is not
 * ASCII text has been masked to 0x80 or above (ISO-2022-JP two-byte text: see jis-mask.ts). No
 * structural byte (< > " ' = / ! - whitespace) is ever a trail byte of UTF-8, Shift_JIS/CP932,
 * EUC-JP, GBK/Big5 or a single-byte charset, so a '<' found here is a real one.
 * Promises: the offsets of the `href` values to track — `<a>` and `<area>` anywhere, and VML
 * elements (`<v:roundrect>` …) inside Outlook conditional comments — in document order, skipping
 * tags marked `data-notrack`, comments, `<script>`/`<style>` and other raw-text content; the
 * offset of the last `</body>` end tag; and whether the HTML ends in text (so something can be
 * appended). One pass; every search is `indexOf` or a forward loop, so the cost is linear.
 * Tag and attribute rules follow the HTML tokenizer (WHATWG), e.g. only the first `href` counts.
 */

export interface HrefTarget {
  /** offsets of the value: inside the quotes, or the bare value */
  valueStart: number;
  valueEnd: number;
  /** 0x22 ("), 0x27 (') or 0 for an unquoted value */
  quote: number;
}

export interface HtmlScan {
  hrefs: HrefTarget[];
  /** offset of the '<' of the last `</body>` end tag, -1 when there is none */
  lastBodyClose: number;
  /** false when the HTML ends inside a tag, comment or raw-text element: an append would land in it */
  endsInText: boolean;
}

const LT = 0x3c, GT = 0x3e, SLASH = 0x2f, BANG = 0x21, QMARK = 0x3f, DASH = 0x2d, EQ = 0x3d;
const DQ = 0x22, SQ = 0x27, LSQB = 0x5b;
const DASH_DASH = Buffer.from('--');
const END_TAG_OPEN = Buffer.from('</');

/** Elements whose content is not markup: a '<' inside them starts no tag until their end tag. */
const RAW_TEXT = new Set(['script', 'style', 'xmp', 'iframe', 'noembed', 'noframes', 'textarea', 'title']);

interface ScanState {
  hrefs: HrefTarget[];
  lastBodyClose: number;
  /** inside `<!--[if …]>` … `<![endif]` (what Outlook renders, where its VML buttons live) */
  inConditional: boolean;
}

/** Returned by the token readers when the input ends inside the token. */
const EOF = -1;

export function scanHtml(b: Buffer): HtmlScan {
  const st: ScanState = { hrefs: [], lastBodyClose: -1, inConditional: false };
  let pos = 0;
  for (;;) {
    const lt = b.indexOf(LT, pos);
    if (lt === -1) return { hrefs: st.hrefs, lastBodyClose: st.lastBodyClose, endsInText: true };
    const end = readMarkup(b, lt, st);
    if (end === EOF) return { hrefs: st.hrefs, lastBodyClose: st.lastBodyClose, endsInText: false };
    pos = end;
  }
}

/** Reads what starts at the '<' at `lt`; returns where text resumes. */
function readMarkup(b: Buffer, lt: number, st: ScanState): number {
  const next = b[lt + 1];
  if (next === BANG) return readDeclaration(b, lt, st);
  if (next === SLASH) return readEndTag(b, lt, st);
  if (next === QMARK) return skipTo(b, GT, lt + 2);
  if (next !== undefined && isAlpha(next)) return readStartTag(b, lt, st);
  return lt + 1; // a '<' that starts no tag is text
}

function readDeclaration(b: Buffer, lt: number, st: ScanState): number {
  if (b[lt + 2] === DASH && b[lt + 3] === DASH) return readComment(b, lt + 4, st);
  if (b[lt + 2] === LSQB && startsWithIgnoringCase(b, lt + 2, '[endif]')) st.inConditional = false;
  // <!DOCTYPE …>, <![endif]>, <![CDATA[…]> outside foreign content: all end at the first '>'
  return skipTo(b, GT, lt + 2);
}

/** `s` is just after "<!--". */
function readComment(b: Buffer, s: number, st: ScanState): number {
  if (b[s] === GT) return s + 1; // <!-->
  if (b[s] === DASH && b[s + 1] === GT) return s + 2; // <!--->
  if (startsWithIgnoringCase(b, s, '[if')) {
    // Outlook's conditional comment: what follows "]>" is markup Outlook renders, so it is read
    // as HTML until <![endif]>, not skipped as a comment
    st.inConditional = true;
    return skipTo(b, GT, s);
  }
  if (startsWithIgnoringCase(b, s, '<![endif]')) st.inConditional = false; // <!--<![endif]-->
  let i = s;
  for (;;) {
    const d = b.indexOf(DASH_DASH, i);
    if (d === -1) return EOF;
    if (b[d + 2] === GT) return d + 3;
    if (b[d + 2] === BANG && b[d + 3] === GT) return d + 4; // --!> closes a comment too
    i = d + 1;
  }
}

function readStartTag(b: Buffer, lt: number, st: ScanState): number {
  const nameEnd = readName(b, lt + 1);
  const name = b.toString('latin1', lt + 1, nameEnd).toLowerCase();
  const tag = readAttributes(b, nameEnd);
  if (tag === null) return EOF;
  if (tag.href && !tag.noTrack && isLinkElement(name, st.inConditional)) st.hrefs.push(tag.href);
  if (name === 'plaintext') return EOF; // everything after it is text: nothing may be appended
  if (RAW_TEXT.has(name)) return findEndTag(b, tag.end, name);
  return tag.end;
}

function isLinkElement(name: string, inConditional: boolean): boolean {
  return name === 'a' || name === 'area' || (inConditional && name.startsWith('v:'));
}

function readEndTag(b: Buffer, lt: number, st: ScanState): number {
  const first = b[lt + 2];
  if (first === GT) return lt + 3; // </> is dropped by browsers
  if (first === undefined || !isAlpha(first)) return skipTo(b, GT, lt + 2); // bogus comment
  const nameEnd = readName(b, lt + 2);
  const tag = readAttributes(b, nameEnd); // end tags may carry (ignored) attributes, quotes and all
  if (tag === null) return EOF;
  if (nameEnd - (lt + 2) === 4 && startsWithIgnoringCase(b, lt + 2, 'body')) st.lastBodyClose = lt;
  return tag.end;
}

/** Offset of the '<' of `</name` that ends a raw-text element opened before `from`. */
function findEndTag(b: Buffer, from: number, name: string): number {
  let i = from;
  for (;;) {
    const p = b.indexOf(END_TAG_OPEN, i);
    if (p === -1) return EOF;
    const after = b[p + 2 + name.length];
    if (startsWithIgnoringCase(b, p + 2, name) && (after === undefined || isSpace(after) || after === SLASH || after === GT)) return p;
    i = p + 2;
  }
}

interface TagAttributes {
  /** where text resumes after the tag's '>' */
  end: number;
  href: HrefTarget | null;
  noTrack: boolean;
}

/** Reads attributes from `i` to the tag's '>'; null when the input ends first. */
function readAttributes(b: Buffer, start: number): TagAttributes | null {
  const n = b.length;
  let href: HrefTarget | null = null;
  let hrefSeen = false;
  let noTrack = false;
  let i = start;
  for (;;) {
    while (i < n && (isSpace(b[i]!) || b[i] === SLASH)) i++;
    if (i >= n) return null;
    if (b[i] === GT) return { end: i + 1, href, noTrack };
    const nameStart = i++; // a leading '=' belongs to the name, as in the HTML tokenizer
    while (i < n && !isSpace(b[i]!) && b[i] !== SLASH && b[i] !== GT && b[i] !== EQ) i++;
    const nameEnd = i;
    while (i < n && isSpace(b[i]!)) i++;
    let value: HrefTarget | null = null;
    if (b[i] === EQ) {
      const read = readValue(b, i + 1);
      if (read === null) return null;
      value = read.value;
      i = read.end;
    }
    if (isName(b, nameStart, nameEnd, 'href')) {
      if (!hrefSeen) href = value; // only the first counts; one without a value has nothing to track
      hrefSeen = true;
    } else if (isName(b, nameStart, nameEnd, 'data-notrack')) noTrack = true;
  }
}

function readValue(b: Buffer, from: number): { value: HrefTarget; end: number } | null {
  const n = b.length;
  let i = from;
  while (i < n && isSpace(b[i]!)) i++;
  if (i >= n) return null;
  const q = b[i]!;
  if (q === DQ || q === SQ) {
    const close = b.indexOf(q, i + 1);
    if (close === -1) return null;
    return { value: { valueStart: i + 1, valueEnd: close, quote: q }, end: close + 1 };
  }
  const start = i;
  while (i < n && !isSpace(b[i]!) && b[i] !== GT) i++;
  return { value: { valueStart: start, valueEnd: i, quote: 0 }, end: i };
}

function readName(b: Buffer, from: number): number {
  let i = from;
  while (i < b.length && !isSpace(b[i]!) && b[i] !== SLASH && b[i] !== GT) i++;
  return i;
}

function skipTo(b: Buffer, byte: number, from: number): number {
  const p = b.indexOf(byte, from);
  return p === -1 ? EOF : p + 1;
}

function isName(b: Buffer, start: number, end: number, lower: string): boolean {
  return end - start === lower.length && startsWithIgnoringCase(b, start, lower);
}

/** `lower` is lower-case ASCII. */
function startsWithIgnoringCase(b: Buffer, at: number, lower: string): boolean {
  if (at + lower.length > b.length) return false;
  for (let k = 0; k < lower.length; k++) {
    const c = b[at + k]!;
    const folded = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
    if (folded !== lower.charCodeAt(k)) return false;
  }
  return true;
}

function isAlpha(c: number): boolean {
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x7a;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d;
}

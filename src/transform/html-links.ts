/**
 * Click and open tracking in ONE decoded HTML part, done on its bytes.
 *
 * Receives: the part's decoded bytes (transfer encoding undone, charset NOT decoded), its MIME
 * charset, and the caller's tracking URLs.
 * Promises: every byte outside the rewritten `href` values and the one inserted snippet is the
 * same as in the input — no decode/re-encode round trip (CP932 has duplicate code points, and
 * iconv-lite cannot encode ISO-2022-JP). Rewritten are the `href`s scan-html.ts finds (a, area,
 * VML in Outlook conditional comments; not data-notrack) that are absolute http(s) URLs
 * (href-url.ts) and not tracking links already; the quote style stays (an unquoted value is
 * written in double quotes). `links[i]` is the decoded URL of the link given index i, in document
 * order: the same for every recipient of the same input, whatever their tracking URLs. The open pixel (and the invisible honeypot
 * link, when given) goes right before the last `</body>`, else at the end — in ISO-2022-JP always
 * in ASCII mode. Inserted bytes are ASCII, so a 7bit part stays 7bit. With `maxLineLength` (7bit
 * and 8bit parts: SMTP's 998), a line within the limit is never pushed over it: such a link
 * stays as written, and the snippet goes on lines of its own. Nothing changed → the same Buffer.
 * A charset that is not ASCII-compatible (UTF-16, unknown names) → the part as given, `skipped`.
 */
import { scanHtml, type HrefTarget } from './html-scan.js';
import { charsetKind, maskIso2022jp, type JisView } from './html-charset.js';
import { hrefUrl } from './href-url.js';
import { applyEdits, type ByteEdit } from './byte-edits.js';

export interface TrackingOptions {
  /**
   * The tracking URL for the link at `index` (its position in `links`), or null to leave the link
   * as written. Asked once per trackable link, in document order. An index is given by the
   * message alone, never by a recipient's URLs: a link left as written (null, or a line that
   * would get too long for this recipient's URL) keeps its index and its place in `links`.
   */
  clickUrl?: ((index: number, url: string) => string | null) | null;
  /** links past this many stay as written and out of `links` (a bound on the stored list) */
  maxLinks?: number;
  /** the open pixel's image URL; none: no pixel */
  pixelUrl?: string | null;
  /** an invisible link no human clicks (scanner detection), inserted beside the pixel */
  honeypotUrl?: string | null;
  /** true for a URL that already is one of our tracking links */
  isTrackingUrl?: ((url: string) => boolean) | null;
}

export interface HtmlRewriteOptions extends TrackingOptions {
  /** the longest a line that fits may become (998 for 7bit/8bit parts); none: no limit */
  maxLineLength?: number;
}

export interface HtmlPlan {
  /** in ascending order, apart; none when nothing changes */
  edits: ByteEdit[];
  /** the decoded URLs of the trackable links; index = the index given to clickUrl */
  links: string[];
  /** whether the pixel / honeypot snippet is inserted */
  pixel: boolean;
  /** why the part is left whole */
  skipped?: string;
  /** what is left as written, and why */
  notes: string[];
}

export interface HtmlRewrite extends Omit<HtmlPlan, 'edits'> {
  /** the same Buffer as the input when nothing changed */
  html: Buffer;
}

const ESC_ASCII = Buffer.from('\x1b(B', 'latin1');

export function rewriteHtml(part: Buffer, charset: string, opts: HtmlRewriteOptions): HtmlRewrite {
  const { edits, ...plan } = planHtmlRewrite(part, charset, opts);
  return { ...plan, html: edits.length === 0 ? part : applyEdits(part, edits) };
}

/** The edits rewriteHtml makes, for a caller that splices them into an encoded body itself. */
export function planHtmlRewrite(part: Buffer, charset: string, opts: HtmlRewriteOptions): HtmlPlan {
  const kind = charsetKind(charset);
  if (kind === null) {
    return { edits: [], links: [], pixel: false, notes: [], skipped: `charset ${charset} is not one the byte-level rewriter can read (not ASCII-compatible or unknown)` };
  }
  const jis = kind === 'iso-2022-jp' ? maskIso2022jp(part) : null;
  const view = jis?.view ?? part;
  const scan = scanHtml(view);
  const notes = new Notes();
  const budget = opts.maxLineLength ? new LineBudget(part, opts.maxLineLength) : null;
  const edits: ByteEdit[] = [];
  const links = opts.clickUrl ? rewriteLinks(part, view, charset, scan.hrefs, opts, budget, notes, edits) : [];
  const pixel = insertSnippet(part, scan.lastBodyClose, scan.endsInText, jis, opts, budget, notes, edits);
  edits.sort((a, b) => a.start - b.start);
  return { edits, links, pixel, notes: notes.list() };
}

function rewriteLinks(part: Buffer, view: Buffer, charset: string, hrefs: HrefTarget[], opts: HtmlRewriteOptions, budget: LineBudget | null, notes: Notes, edits: ByteEdit[]): string[] {
  const links: string[] = [];
  for (const href of hrefs) {
    const found = hrefUrl(part.subarray(href.valueStart, href.valueEnd), view.subarray(href.valueStart, href.valueEnd), charset);
    if ('refused' in found) {
      if (!found.quiet) notes.add(`http(s) link left as written: ${found.refused}`);
      continue;
    }
    if (opts.isTrackingUrl?.(found.url)) continue;
    if (view !== part && !endsInAsciiMode(part, href)) {
      notes.add('ISO-2022-JP link left as written: its value does not end in ASCII mode');
      continue;
    }
    if (links.length >= (opts.maxLinks ?? Infinity)) {
      notes.add('link left as written: past maxLinks, the most links a message may have tracked');
      continue;
    }
    // the index is taken here, before anything that depends on the recipient's URL
    const tracked = opts.clickUrl!(links.length, found.url);
    links.push(found.url);
    if (tracked === null) continue;
    if (!isPlainAsciiUrl(tracked)) {
      notes.add('link left as written: clickUrl gave a URL with spaces, controls or non-ASCII characters');
      continue;
    }
    const value = href.quote === 0 ? `"${escapeAttribute(tracked)}"` : escapeAttribute(tracked);
    if (budget && !budget.take(href.valueStart, value.length - (href.valueEnd - href.valueStart))) {
      notes.add('link left as written: tracking it would push a line over the 998-byte SMTP limit');
      continue;
    }
    edits.push({ start: href.valueStart, end: href.valueEnd, bytes: Buffer.from(value, 'latin1') });
  }
  return links;
}

/**
 * Our ASCII value replaces the escapes inside the old one, so the mode after it is the mode before
 * it (ASCII or JIS-Roman: the quote or '=' was read in one of them); the old value must have
 * ended in ASCII as well, or the text after it would change meaning.
 */
function endsInAsciiMode(part: Buffer, href: HrefTarget): boolean {
  const value = part.subarray(href.valueStart, href.valueEnd); // a search bounded by the value stays linear
  const lastEsc = value.lastIndexOf(0x1b);
  return lastEsc === -1 || (value[lastEsc + 1] === 0x28 && value[lastEsc + 2] === 0x42);
}

function insertSnippet(part: Buffer, lastBodyClose: number, endsInText: boolean, jis: JisView | null, opts: TrackingOptions, budget: LineBudget | null, notes: Notes, edits: ByteEdit[]): boolean {
  const snippet = trackingSnippet(opts, (note) => notes.add(note));
  if (snippet === null) return false;
  const at = lastBodyClose >= 0 ? lastBodyClose : endsInText ? part.length : -1;
  if (at === -1) {
    notes.add('no open pixel: the HTML has no </body> and ends inside a tag, comment or raw-text element');
    return false;
  }
  let bytes = Buffer.from(snippet, 'latin1');
  // budget.fits, not take: the snippet may share a line with links already counted
  if (budget && !budget.fits(at, bytes.length)) bytes = Buffer.concat([CRLF, bytes, CRLF]);
  // the last '</body>' was found in ASCII mode; only the very end may be inside two-byte text
  if (at === part.length && jis && !jis.endsInAscii) bytes = Buffer.concat([ESC_ASCII, bytes]);
  edits.push({ start: at, end: at, bytes });
  return true;
}

const CRLF = Buffer.from('\r\n');

/** The honeypot link and the pixel, ASCII only; null when neither is wanted (or usable). */
export function trackingSnippet(opts: TrackingOptions, onUnusable?: (note: string) => void): string | null {
  let html = '';
  if (opts.honeypotUrl) {
    if (isPlainAsciiUrl(opts.honeypotUrl)) {
      html += `<a href="${escapeAttribute(opts.honeypotUrl)}" style="display:none;font-size:0;line-height:0;max-height:0;overflow:hidden;mso-hide:all" aria-hidden="true" tabindex="-1"></a>`;
    } else onUnusable?.('no honeypot link: its URL has spaces, controls or non-ASCII characters');
  }
  if (opts.pixelUrl) {
    if (isPlainAsciiUrl(opts.pixelUrl)) {
      html += `<img src="${escapeAttribute(opts.pixelUrl)}" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0;margin:0;padding:0" border="0">`;
    } else onUnusable?.('no open pixel: its URL has spaces, controls or non-ASCII characters');
  }
  return html === '' ? null : html;
}

function isPlainAsciiUrl(url: string): boolean {
  return /^[\x21-\x7e]+$/.test(url);
}

function escapeAttribute(url: string): string {
  if (!/[&"'<>]/.test(url)) return url;
  return url.replace(/[&"'<>]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * How much the lines of a 7bit/8bit part may grow. A line already over the limit may grow (it
 * is no worse for it); one within it stays within it. Positions asked by `take` ascend, so the
 * current line is cached and the searches stay linear even on a 5 MB single line.
 */
class LineBudget {
  private lineStart = 0;
  private lineEnd = -1;
  /** growth counted per line, by line start */
  private readonly grown = new Map<number, number>();

  constructor(private readonly text: Buffer, private readonly max: number) {}

  /** Counts `growth` at `pos` if the line has room for it. */
  take(pos: number, growth: number): boolean {
    if (pos >= this.lineEnd) this.moveTo(pos);
    const length = this.lineEnd - this.lineStart;
    const grown = this.grown.get(this.lineStart) ?? 0;
    if (length <= this.max && length + grown + growth > this.max) return false;
    this.grown.set(this.lineStart, grown + growth);
    return true;
  }

  /** Whether `growth` more at `pos` fits, counting what `take` counted on the same line. */
  fits(pos: number, growth: number): boolean {
    const { start, end } = this.lineAround(pos);
    const grown = this.grown.get(start) ?? 0;
    return end - start > this.max || end - start + grown + growth <= this.max;
  }

  private moveTo(pos: number): void {
    const { start, end } = this.lineAround(pos);
    this.lineStart = start;
    this.lineEnd = end;
  }

  private lineAround(pos: number): { start: number; end: number } {
    const start = pos === 0 ? 0 : this.text.lastIndexOf(0x0a, pos - 1) + 1;
    const crlf = this.text.indexOf(CRLF, pos);
    return { start, end: crlf === -1 ? this.text.length : crlf };
  }
}

/** Notes with a count when the same one repeats (a message with 300 refused links says so once). */
class Notes {
  private readonly counts = new Map<string, number>();

  add(note: string): void {
    this.counts.set(note, (this.counts.get(note) ?? 0) + 1);
  }

  list(): string[] {
    return [...this.counts].map(([note, n]) => (n === 1 ? note : `${note} (×${n})`));
  }
}

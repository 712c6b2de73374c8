/**
 * Which charsets the byte-level HTML rewriter can work in, and the ASCII view of ISO-2022-JP.
 *
 * Receives: a MIME charset name; for ISO-2022-JP, the part's bytes.
 * Promises: `charsetKind` names a charset only when no structural HTML byte can be part of a
 * multi-byte character in it (ASCII-compatible), or when it is ISO-2022-JP, whose two-byte text
 * is made of ASCII-range bytes and must be masked first; anything else (UTF-16/32, UTF-7,
 * ISO-2022-KR/CN, unknown names) is null and the caller leaves the part alone.
 * `maskIso2022jp` returns a copy of the same length in which every escape sequence and every
 * byte not in ASCII or JIS-Roman mode is 0x80, so a '<' in kanji never looks like markup and
 * offsets stay the same as in the original.
 */

export type CharsetKind = 'ascii-compatible' | 'iso-2022-jp';

/**
 * Every multi-byte encoding here keeps bytes below 0x40 for ASCII (UTF-8 and EUC-* use ≥ 0x80
 * only; Shift_JIS, GBK, Big5 and UHC trail bytes start at 0x40), and the single-byte ones are
 * ASCII below 0x80.
 */
const ASCII_COMPATIBLE = [
  /^(us-)?ascii$/, /^ansi_x3\.4-1968$/, /^utf-?8$/,
  /^iso[-_]?8859[-_]?\d+$/, /^latin-?\d$/, /^(windows|cp|x-cp)-?125\d$/, /^(windows|cp)-?874$/, /^tis-?620$/,
  /^koi8-?[rut]$/, /^macintosh$/, /^mac-?roman$/,
  /^(shift[-_]?jis|sjis|x-sjis|ms_kanji|csshiftjis|cp932|ms932|windows-31j|x-ms-cp932)$/,
  /^(euc-?jp|x-euc-?jp|cseucpkdfmtjapanese)$/,
  /^(gb2312|gbk|gb18030|cp936|x-gbk|euc-?cn)$/, /^(big5|big5-hkscs|cp950|x-big5)$/,
  /^(euc-?kr|ks_c_5601-1987|cp949|x-windows-949|uhc)$/,
];

export function charsetKind(name: string): CharsetKind | null {
  const n = name.trim().toLowerCase();
  if (/^(csiso2022jp|iso-?2022-?jp(-[123]|-ext)?)$/.test(n)) return 'iso-2022-jp';
  return ASCII_COMPATIBLE.some((re) => re.test(n)) ? 'ascii-compatible' : null;
}

const SHIFT_JIS = /^(shift[-_]?jis|sjis|x-sjis|ms_kanji|csshiftjis|cp932|ms932|windows-31j|x-ms-cp932)$/;
const DOUBLE_BYTE = /^(gb2312|gbk|gb18030|cp936|x-gbk|euc-?cn|big5|big5-hkscs|cp950|x-big5|euc-?kr|ks_c_5601-1987|cp949|x-windows-949|uhc)$/;

/**
 * For charsets whose trail bytes reach down into ASCII letters and '\' (Shift_JIS, GBK, Big5,
 * UHC), which bytes start a two-byte character; null where every byte of a non-ASCII character
 * is ≥ 0x80 (UTF-8, EUC-JP, single-byte charsets). GB18030's four-byte sequences are two such
 * pairs. Structural HTML bytes are below 0x40, so only readers of text need this.
 */
export function doubleByteLead(charset: string): ((byte: number) => boolean) | null {
  const n = charset.trim().toLowerCase();
  if (SHIFT_JIS.test(n)) return (b) => (b >= 0x81 && b <= 0x9f) || (b >= 0xe0 && b <= 0xfc);
  if (DOUBLE_BYTE.test(n)) return (b) => b >= 0x81 && b <= 0xfe;
  return null;
}

export interface JisView {
  view: Buffer;
  /** the mode at the end of the part: false when it ends inside two-byte (or kana) text */
  endsInAscii: boolean;
}

const ESC = 0x1b;
const MASK = 0x80;

type Mode = 'ascii' | 'opaque';

/** What an escape sequence at `at` does: its length and the mode after it (null: unchanged). */
function readEscape(b: Buffer, at: number): { length: number; mode: Mode | null; singleShift: boolean } {
  const a = b[at + 1], c = b[at + 2];
  if (a === 0x28) { // ESC ( F: a one-byte set into G0
    if (c === 0x42 || c === 0x4a) return { length: 3, mode: 'ascii', singleShift: false }; // ASCII, JIS-Roman
    return { length: 3, mode: 'opaque', singleShift: false }; // ESC ( I half-width kana and the like
  }
  if (a === 0x24) { // ESC $ F or ESC $ ( F: a two-byte set
    if (c === 0x28 || c === 0x29) return { length: 4, mode: 'opaque', singleShift: false };
    return { length: 3, mode: 'opaque', singleShift: false };
  }
  if (a === 0x4e) return { length: 2, mode: null, singleShift: true }; // SS2 (ISO-2022-JP-2): one G2 char follows
  if (a === 0x2e || a === 0x26) return { length: 3, mode: null, singleShift: false }; // G2 designation, ESC & @ announcer
  return { length: 1, mode: null, singleShift: false };
}

export function maskIso2022jp(part: Buffer): JisView {
  const view = Buffer.from(part);
  let mode: Mode = 'ascii';
  let pos = 0;
  for (;;) {
    const esc = part.indexOf(ESC, pos);
    const runEnd = esc === -1 ? part.length : esc;
    if (mode === 'opaque') view.fill(MASK, pos, runEnd);
    if (esc === -1) return { view, endsInAscii: mode === 'ascii' };
    const e = readEscape(part, esc);
    const end = Math.min(part.length, esc + e.length + (e.singleShift ? 1 : 0));
    view.fill(MASK, esc, end);
    if (e.mode) mode = e.mode;
    pos = end;
  }
}

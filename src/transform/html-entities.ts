/**
 * HTML character references in an attribute value, decoded as a browser decodes them.
 *
 * Receives: ASCII text from an attribute value (the URL of an `href`).
 * Promises: numeric references (`&#38;`, `&#x26;`, with or without ';') and the named ones that
 * occur in URLs decoded with the HTML standard's attribute rules: a legacy name without ';'
 * (`&amp`) is decoded only when neither '=' nor a letter or digit follows, so a query such as
 * `?a=1&copy=2` keeps its `&copy`. Unknown names stay as written. Linear in the text.
 */

/** Names with ';' that appear in URLs written by hand or by templating tools. */
const NAMED: Record<string, string> = {
  amp: '&', AMP: '&', lt: '<', LT: '<', gt: '>', GT: '>', quot: '"', QUOT: '"', apos: "'", nbsp: '\u00a0', sol: '/', quest: '?', equals: '=',
  num: '#', percnt: '%', colon: ':', semi: ';', comma: ',', period: '.', excl: '!', commat: '@',
  lpar: '(', rpar: ')', ast: '*', midast: '*', plus: '+', dollar: '$', lowbar: '_', UnderBar: '_',
  verbar: '|', vert: '|', VerticalLine: '|', lsqb: '[', lbrack: '[', rsqb: ']', rbrack: ']',
  lcub: '{', lbrace: '{', rcub: '}', rbrace: '}', bsol: '\\', Hat: '^', grave: '`', DiacriticalGrave: '`',
  tilde: '\u02dc', NewLine: '\n', Tab: '\t', copy: '\u00a9', reg: '\u00ae', trade: '\u2122', not: '\u00ac',
  shy: '\u00ad', middot: '\u00b7', times: '\u00d7', divide: '\u00f7', yen: '\u00a5', pound: '\u00a3',
  euro: '\u20ac', cent: '\u00a2', sect: '\u00a7', para: '\u00b6', deg: '\u00b0', hellip: '\u2026',
  ndash: '\u2013', mdash: '\u2014', lsquo: '\u2018', rsquo: '\u2019', ldquo: '\u201c', rdquo: '\u201d',
};

/** The legacy names browsers also accept without ';' that can stand for URL syntax. */
const LEGACY_WITHOUT_SEMICOLON: Record<string, string> = { amp: '&', AMP: '&', lt: '<', LT: '<', gt: '>', GT: '>', quot: '"', QUOT: '"' };

/** What the HTML standard makes of numeric references to C1 code points (windows-1252). */
const C1_REPLACEMENTS: Record<number, number> = {
  0x80: 0x20ac, 0x82: 0x201a, 0x83: 0x0192, 0x84: 0x201e, 0x85: 0x2026, 0x86: 0x2020, 0x87: 0x2021,
  0x88: 0x02c6, 0x89: 0x2030, 0x8a: 0x0160, 0x8b: 0x2039, 0x8c: 0x0152, 0x8e: 0x017d, 0x91: 0x2018,
  0x92: 0x2019, 0x93: 0x201c, 0x94: 0x201d, 0x95: 0x2022, 0x96: 0x2013, 0x97: 0x2014, 0x98: 0x02dc,
  0x99: 0x2122, 0x9a: 0x0161, 0x9b: 0x203a, 0x9c: 0x0153, 0x9e: 0x017e, 0x9f: 0x0178,
};

const MAX_NAME = 32;

export function decodeCharacterReferences(s: string): string {
  let amp = s.indexOf('&');
  if (amp === -1) return s;
  let out = '';
  let copied = 0;
  while (amp !== -1) {
    const ref = s.charCodeAt(amp + 1) === 0x23 ? numericReference(s, amp) : namedReference(s, amp);
    if (ref) {
      out += s.slice(copied, amp) + ref.text;
      copied = ref.end;
      amp = s.indexOf('&', ref.end);
    } else {
      amp = s.indexOf('&', amp + 1);
    }
  }
  return out + s.slice(copied);
}

interface Reference {
  text: string;
  /** offset after the reference */
  end: number;
}

function numericReference(s: string, amp: number): Reference | null {
  const hex = (s.charCodeAt(amp + 2) | 0x20) === 0x78;
  const digitsStart = amp + (hex ? 3 : 2);
  let i = digitsStart;
  while (i < s.length && (hex ? isHexDigit(s.charCodeAt(i)) : isDigit(s.charCodeAt(i)))) i++;
  if (i === digitsStart) return null;
  // a run of digits longer than any code point is an out-of-range reference, not a huge number
  const digits = s.slice(digitsStart, Math.min(i, digitsStart + 8));
  const code = i - digitsStart > 8 ? 0x110000 : parseInt(digits, hex ? 16 : 10);
  const end = s[i] === ';' ? i + 1 : i;
  return { text: String.fromCodePoint(codePointFor(code)), end };
}

function codePointFor(code: number): number {
  if (code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return 0xfffd;
  return C1_REPLACEMENTS[code] ?? code;
}

function namedReference(s: string, amp: number): Reference | null {
  let i = amp + 1;
  while (i < s.length && i - amp <= MAX_NAME && isAlphanumeric(s.charCodeAt(i))) i++;
  const name = s.slice(amp + 1, i);
  if (s[i] === ';' && Object.hasOwn(NAMED, name)) return { text: NAMED[name]!, end: i + 1 };
  const next = s[i];
  if (Object.hasOwn(LEGACY_WITHOUT_SEMICOLON, name) && next !== ';' && next !== '=') {
    return { text: LEGACY_WITHOUT_SEMICOLON[name]!, end: i };
  }
  return null;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isHexDigit(c: number): boolean {
  const l = c | 0x20;
  return isDigit(c) || (l >= 0x61 && l <= 0x66);
}

function isAlphanumeric(c: number): boolean {
  const l = c | 0x20;
  return isDigit(c) || (l >= 0x61 && l <= 0x7a);
}

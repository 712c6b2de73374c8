/**
 * The tracking rewrite on a corpus built here (test/support/mime-corpus.ts): Japanese mail in
 * ISO-2022-JP (7bit, quoted-printable), Shift_JIS with CP932 extensions (base64), UTF-8 (8bit);
 * alternative inside related with an inline image; an attached .eml and an attached .html;
 * multipart/signed; Outlook VML buttons; entity-encoded query strings and fragments; <base href>;
 * links that must stay; a 5 MB single-line HTML; broken MIME. Each message: only the intended
 * hrefs change (decoded bodies equal the expected splice byte for byte), every byte outside the
 * rewritten bodies is the input's, the links are the intended URLs, the pixel is there once,
 * mailparser reads the same parts, and a DKIM signature over the result verifies.
 */
import { describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { simpleParser, type ParsedMail } from 'mailparser';
import { dkimVerify } from 'mailauth';
import { decode as decodeCharset } from 'libmime/lib/charset.js';
import { rewriteMessage, type TrackingOptions } from '../src/transform/tracking-rewrite.js';
import { rewriteHtml, trackingSnippet } from '../src/transform/html-links.js';
import { signMessage } from '../src/transform/dkim.js';
import {
  Doc, PIXEL, cutAlongSegments, encodeText, hardLines, html, keep, leaf, link, longestLine, message, multipart, type BodyCheck, type Built,
} from './support/mime-corpus.js';

const track = (i: number): string => `https://t.example/c/R1.${i}`;
const OPTS: TrackingOptions = {
  clickUrl: (i) => track(i),
  pixelUrl: 'https://t.example/o/R1',
  honeypotUrl: 'https://t.example/h/R1',
  isTrackingUrl: (url) => url.startsWith('https://t.example/'),
};
const SNIPPET = trackingSnippet(OPTS)!;

const percent = (b: Buffer): string => [...b].map((x) => `%${x.toString(16).toUpperCase().padStart(2, '0')}`).join('');
const esc = (s: string): Buffer => Buffer.from(s, 'latin1');

// ── the documents ────────────────────────────────────────────────────────────────────────────

/** Kanji whose JIS bytes read "</body>!<a=\"'\"": markup to a tokenizer that ignores the escapes. */
const JIS_TRAP = Buffer.concat([esc('\x1b$B'), esc('</body>!<a="\'"'), esc('\x1b(B')]);

function jisNewsletter(): Doc {
  const jis = (s: string) => encodeText(s, 'iso-2022-jp');
  const searchUrl = Buffer.concat([esc('https://shop.example.jp/'), jis('検索'), esc('?q='), jis('日本')]);
  return new Doc('iso-2022-jp', [
    '<!DOCTYPE html>\r\n<html><head><title>お知らせ</title></head>\r\n<body>\r\n<p>いつもご利用ありがとうございます。</p>\r\n',
    JIS_TRAP, '\r\n',
    '<p><a href="', link('https://shop.example.jp/sale?id=1&amp;ref=mail', 'https://shop.example.jp/sale?id=1&ref=mail'), '">セール会場へ</a></p>\r\n',
    '<p>お電話：<a href="', keep('tel:0312345678'), '">03-1234-5678</a></p>\r\n',
    // path as UTF-8, query in the document's own bytes, as a browser sends them
    "<p><a href='", link(searchUrl, `https://shop.example.jp/%E6%A4%9C%E7%B4%A2?q=${percent(jis('日本'))}`), "'>検索する</a></p>\r\n",
    '<!--[if mso]><v:roundrect href="', link('https://shop.example.jp/btn', 'https://shop.example.jp/btn'), '" arcsize="10%"><center>購入する</center></v:roundrect><![endif]-->\r\n',
    PIXEL, '</body>\r\n</html>\r\n',
  ]);
}

/** CP932: ① ㈱, ∵ three times (NEC 0x879A, JIS 0x81E6, IBM 0xFA5B), 纊 twice (0xED40, 0xFA5C). */
const CP932_EXTENSIONS = Buffer.from([0x87, 0x40, 0x87, 0x8a, 0x87, 0x9a, 0x81, 0xe6, 0xfa, 0x5b, 0xed, 0x40, 0xfa, 0x5c]);

function shiftJisNewsletter(): Doc {
  const sjis = (s: string) => encodeText(s, 'shift_jis');
  const url = Buffer.concat([esc('https://shop.example.jp/'), sjis('表示'), esc('?q='), sjis('表示')]);
  return new Doc('shift_jis', [
    '<html><body>\r\n<p>会員様限定 ', CP932_EXTENSIONS, ' ソフト表示（ソ・表の第二バイトは0x5C）</p>\r\n',
    '<a href="', link(url, `https://shop.example.jp/%E8%A1%A8%E7%A4%BA?q=${percent(sjis('表示'))}`), '">表示</a>\r\n',
    '<a href=', link('https://shop.example.jp/plain?x=1', 'https://shop.example.jp/plain?x=1', true), '>ソフト</a>\r\n',
    PIXEL, '</body></html>\r\n',
  ]);
}

/** EUC-JP with half-width kana (SS2 0x8E) and a JIS X 0212 kanji (SS3 0x8F: 丂). */
function eucJpNewsletter(): Doc {
  const euc = (s: string) => encodeText(s, 'euc-jp');
  return new Doc('euc-jp', [
    '<html><body><p>ｶﾀｶﾅ ', Buffer.from([0x8f, 0xb0, 0xa1]), ' のお知らせ</p>\r\n',
    '<a href="', link(Buffer.concat([esc('https://shop.example.jp/s?q='), euc('ｶﾅ')]), `https://shop.example.jp/s?q=${percent(euc('ｶﾅ'))}`), '">検索</a>\r\n',
    PIXEL, '</body></html>\r\n',
  ]);
}

function utf8WithImage(): Doc {
  return new Doc('utf-8', [
    '<html><body><p>こんにちは 👋 ① café</p><img src="cid:logo@example.com" alt="ロゴ">\r\n',
    '<a href="', link('https://example.com/a', 'https://example.com/a'), '">a</a> and again <a href="', link('https://example.com/a', 'https://example.com/a'), '">a</a>\r\n',
    PIXEL, '</body></html>\r\n',
  ]);
}

/** Every rule in one document: what is tracked, what stays, and where the pixel goes. */
function linkZoo(): Doc {
  return new Doc('utf-8', [
    '<html><head><base href="https://base.example.com/dir/">',
    '<style>a[href^="https://style.example/"] { color: red } /* </body> */</style>',
    '<script>document.write(\'<a href="https://script.example/">\'); var x = "</body>";</script></head><body>\r\n',
    '<!-- </body> <a href="https://commented.example/">c</a> -->\r\n',
    '<a href="', link('https://example.com/p?a=1&amp;b=2&#38;c=3&#x26;d=4#section-2', 'https://example.com/p?a=1&b=2&c=3&d=4#section-2'), '">amp</a>\r\n',
    '<a href="', link('https://example.com/q?x=1&copy=2&not=3', 'https://example.com/q?x=1&copy=2&not=3'), '">legacy names stay</a>\r\n',
    '<a href="', keep('page.html'), '">relative</a> <a href="', keep('/root'), '">root</a> <a href="', keep('//cdn.example.com/x'), '">scheme-relative</a>\r\n',
    '<a href="', keep('mailto:info@example.com?subject=Hi&amp;body=x'), '">mail</a> <a href="', keep('tel:+81-3-1234-5678'), '">tel</a> ',
    '<a href="', keep('sms:+819012345678'), '">sms</a> <a href="', keep('#top'), '">top</a> <a href="', keep('javascript:alert(1)'), '">js</a>\r\n',
    '<a data-notrack href="', keep('https://example.com/untracked'), '">opt-out</a> <a href="', keep('https://t.example/c/ALREADY'), '">ours</a>\r\n',
    '<a href="', keep('https://example.com/bad\r\npath'), '">CRLF</a> <a href="', keep('https://example.com/&#10;x'), '">LF entity</a>\r\n',
    '<!--[if mso]>\r\n<v:roundrect xmlns:v="urn:schemas-microsoft-com:vml" href="',
    link('https://example.com/buy?utm_source=mail&amp;utm_medium=vml', 'https://example.com/buy?utm_source=mail&utm_medium=vml'),
    '" style="height:40px;width:200px" arcsize="10%" fillcolor="#d62828"><w:anchorlock/><center>Buy</center></v:roundrect>\r\n<![endif]-->\r\n',
    '<!--[if !mso]><!-- --><a href="', link('https://example.com/buy?utm_medium=html', 'https://example.com/buy?utm_medium=html'), '" class="btn">Buy</a><!--<![endif]-->\r\n',
    '<v:rect href="', keep('https://example.com/vml-outside-outlook'), '"></v:rect>\r\n',
    '<map><AREA shape="rect" coords="0,0,10,10" HREF="', link('HTTPS://Example.com/Area', 'HTTPS://Example.com/Area'), '"></map>\r\n',
    "<a class=btn HREF = '", link('https://example.com/spaced', 'https://example.com/spaced'), "'>spaces around =</a>\r\n",
    '<a title="x > y" href="', link('https://example.com/gt', 'https://example.com/gt'), '">a > in an attribute</a>\r\n',
    '<a href="', link('https://first.example/', 'https://first.example/'), '" href="', keep('https://second.example/'), '">the first href counts</a>\r\n',
    '<textarea><a href="https://textarea.example/"></textarea>\r\n',
    PIXEL, '</BODY>\r\n</html>\r\n',
  ]);
}

function simpleDoc(tag: string): Doc {
  return new Doc('utf-8', ['<html><body><p>', tag, '</p><a href="', link(`https://example.com/${tag}`, `https://example.com/${tag}`), '">go</a>', PIXEL, '</body></html>\r\n']);
}

// ── the messages ─────────────────────────────────────────────────────────────────────────────

const plain = (text: string) => leaf(['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit'], text);
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
const image = leaf(['Content-Type: image/png', 'Content-Transfer-Encoding: base64', 'Content-ID: <logo@example.com>', 'Content-Disposition: inline; filename="logo.png"'], PNG.toString('base64'));

function attachedEml(): Buffer {
  return esc([
    'From: someone@other.example', 'To: news@example.com', 'Subject: forwarded', 'MIME-Version: 1.0',
    'Content-Type: multipart/alternative; boundary="inner"', '', '--inner', 'Content-Type: text/plain', '', 'see https://inner.example/',
    '--inner', 'Content-Type: text/html; charset=utf-8', '', '<html><body><a href="https://inner.example/link?a=1&amp;b=2">inner</a></body></html>', '--inner--', '',
  ].join('\r\n'));
}

interface Case {
  name: string;
  built: Built;
  /** whether the message has a text/plain part (else mailparser derives text from the HTML) */
  hasText: boolean;
}

const CASES: Case[] = [
  { name: 'ISO-2022-JP 7bit', built: message(multipart('alternative', 'jis7', [plain('テキスト https://shop.example.jp/'), html(jisNewsletter(), '7bit')])), hasText: true },
  { name: 'ISO-2022-JP quoted-printable', built: message(multipart('alternative', 'jisqp', [plain('テキスト'), html(jisNewsletter(), 'quoted-printable')])), hasText: true },
  { name: 'ISO-2022-JP top-level text/html', built: message(html(jisNewsletter(), '7bit')), hasText: false },
  { name: 'Shift_JIS base64 with CP932 extensions', built: message(multipart('alternative', 'sjis', [plain('text'), html(shiftJisNewsletter(), 'base64')], { preamble: 'This is a multi-part message in MIME format.' })), hasText: true },
  { name: 'EUC-JP 8bit', built: message(multipart('alternative', 'euc', [plain('text'), html(eucJpNewsletter(), '8bit')])), hasText: true },
  {
    name: 'UTF-8 8bit: alternative inside related with an inline image',
    built: message(multipart('related', 'rel', [multipart('alternative', 'alt', [plain('hello'), html(utf8WithImage(), '8bit')]), image], { params: '; type="multipart/alternative"' })),
    hasText: true,
  },
  { name: 'link rules (UTF-8 quoted-printable)', built: message(multipart('alternative', 'zoo', [plain('links'), html(linkZoo(), 'quoted-printable')], { epilogue: 'epilogue text\r\n' })), hasText: true },
  {
    name: 'mixed: body, attached .eml, attached .html',
    built: message(multipart('mixed', 'mix', [
      multipart('alternative', 'mixalt', [plain('body'), html(simpleDoc('body'), 'quoted-printable')]),
      leaf(['Content-Type: message/rfc822', 'Content-Disposition: attachment; filename="forwarded.eml"'], attachedEml()),
      leaf(['Content-Type: text/html; charset=utf-8', 'Content-Disposition: attachment; filename="invoice.html"'], '<html><body><a href="https://invoice.example/">pay</a></body></html>\r\n'),
      leaf(['Content-Type: text/html; charset=utf-8; name="page.html"'], '<html><body><a href="https://named.example/">file</a></body></html>\r\n'),
    ])),
    hasText: true,
  },
  {
    name: 'two HTML bodies: indexes run on, one pixel',
    built: message(multipart('mixed', 'two', [html(simpleDoc('first'), '7bit'), leaf(['Content-Type: image/png', 'Content-Transfer-Encoding: base64'], PNG.toString('base64')), html(simpleDoc('second'), 'base64')])),
    hasText: false,
  },
];

// ── the checks ───────────────────────────────────────────────────────────────────────────────

function expectRewrittenAsBuilt(built: Built, out: Buffer): void {
  const { fixedIdentical, bodies } = cutAlongSegments(out, built, track, SNIPPET);
  expect(fixedIdentical, 'bytes outside the HTML bodies').toBe(true);
  let pixels = 0;
  for (const b of bodies) {
    expect(b.decoded.toString('latin1')).toBe(b.expected.toString('latin1'));
    expect(b.decoded.equals(b.expected)).toBe(true);
    pixels += b.decoded.toString('latin1').split('https://t.example/o/R1').length - 1;
    if (b.enc === '7bit') expect(b.encoded.every((x) => x < 0x80)).toBe(true);
    if (b.enc === 'quoted-printable' || b.enc === 'base64') expect(longestLine(b.encoded)).toBeLessThanOrEqual(76);
    if (b.enc === 'quoted-printable') expectUntouchedLinesKept(b);
  }
  expect(pixels).toBe(1);
}

/** A quoted-printable line whose text did not change is the original's encoded line, byte for byte. */
function expectUntouchedLinesKept(b: BodyCheck): void {
  const before = hardLines(b.original), after = hardLines(b.encoded);
  const want = b.expected.toString('latin1').split('\r\n'), had = b.doc.original().toString('latin1').split('\r\n');
  expect(after.length).toBe(before.length);
  let kept = 0;
  had.forEach((line, i) => {
    if (line !== want[i]) return;
    expect(after[i]).toBe(before[i]);
    kept++;
  });
  expect(kept).toBeGreaterThan(0);
}

const summary = (p: ParsedMail) => ({
  text: p.text,
  headers: [...p.headers.keys()],
  attachments: p.attachments.map((a) => ({ type: a.contentType, name: a.filename, size: a.size, checksum: a.checksum })),
});

/** mailparser reads the same message: same headers and attachments, HTML as expected. */
async function expectSameMime(c: Case, out: Buffer): Promise<void> {
  const [before, after] = await Promise.all([simpleParser(c.built.message, { keepCidLinks: true }), simpleParser(out, { keepCidLinks: true })]);
  const { bodies } = cutAlongSegments(out, c.built, track, SNIPPET);
  const a = summary(after), b = summary(before);
  expect(a.headers).toEqual(b.headers);
  expect(a.attachments).toEqual(b.attachments);
  if (c.hasText) expect(a.text).toBe(b.text);
  // mailparser hands HTML out with LF line ends
  const text = (b: Buffer, charset: string) => decodeCharset(b, charset).replace(/\r\n/g, '\n').trimEnd();
  const first = bodies[0]!;
  expect(before.html).toContain(text(first.doc.original(), first.doc.charset));
  expect(after.html).toContain(text(first.expected, first.doc.charset));
}

const DKIM = generateKeyPairSync('rsa', { modulusLength: 2048 });
const DKIM_RECORD = `v=DKIM1; k=rsa; p=${DKIM.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;
async function dkimResult(message: Buffer): Promise<string | undefined> {
  const signed = await signMessage(message, [{ domain: 'example.com', selector: 'sel', algorithm: 'rsa-sha256', key: DKIM.privateKey }]);
  const resolver = async (name: string, type: string): Promise<string[][]> => {
    if (type === 'TXT' && name === 'sel._domainkey.example.com') return [[DKIM_RECORD]];
    throw Object.assign(new Error(`no ${type} ${name}`), { code: 'ENOTFOUND' });
  };
  const verified = await dkimVerify(signed, { resolver });
  return verified.results[0]?.status.result;
}

// ── the tests ────────────────────────────────────────────────────────────────────────────────

describe('tracking rewrite of the corpus', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const r = rewriteMessage(c.built.message, OPTS);
      const bodies = c.built.segments.filter((s) => !Buffer.isBuffer(s));
      expect(r.links).toEqual(bodies.flatMap((b) => (Buffer.isBuffer(b) ? [] : b.doc.links())));
      expect(r.parts).toBe(bodies.length);
      expect(r.pixel).toBe(true);
      expectRewrittenAsBuilt(c.built, r.message);
      await expectSameMime(c, r.message);
      expect(await dkimResult(r.message)).toBe('pass');
    });
  }

  it('the CP932 duplicates and 0x5C trail bytes survive as bytes', () => {
    const c = CASES.find((x) => x.name.startsWith('Shift_JIS'))!;
    const { bodies } = cutAlongSegments(rewriteMessage(c.built.message, OPTS).message, c.built, track, SNIPPET);
    const decoded = bodies[0]!.decoded;
    expect(decoded.includes(CP932_EXTENSIONS)).toBe(true);
    expect(decoded.includes(encodeText('ソフト表示', 'shift_jis'))).toBe(true);
  });

  it('the JIS bytes that spell "</body>" and markup inside kanji are text, not tags', () => {
    const r = rewriteHtml(jisNewsletter().original(), 'ISO-2022-JP', OPTS);
    const trapAt = r.html.indexOf(JIS_TRAP);
    expect(trapAt).toBeGreaterThan(0);
    expect(r.html.indexOf(esc(SNIPPET))).toBeGreaterThan(trapAt);
  });

  it('leaves the attached .eml, the attached .html and the named .html part byte for byte', () => {
    const c = CASES.find((x) => x.name.startsWith('mixed'))!;
    const r = rewriteMessage(c.built.message, OPTS);
    expect(r.message.includes(attachedEml())).toBe(true);
    expect(r.links).toEqual(['https://example.com/body']);
    expect(r.notes).toEqual(expect.arrayContaining(['text/html attachment: left as is', 'text/html with a file name: left as is']));
  });

  it('every recipient gets the same link indexes', () => {
    const c = CASES.find((x) => x.name.startsWith('link rules'))!;
    const seen: Array<[number, string]> = [];
    const other = rewriteMessage(c.built.message, { ...OPTS, clickUrl: (i, url) => (seen.push([i, url]), `https://t.example/c/R2.${i}`) });
    const first = rewriteMessage(c.built.message, OPTS);
    expect(other.links).toEqual(first.links);
    expect(seen).toEqual(first.links.map((url, i) => [i, url]));
    const { bodies } = cutAlongSegments(other.message, c.built, (i) => `https://t.example/c/R2.${i}`, SNIPPET);
    expect(bodies[0]!.decoded.equals(bodies[0]!.expected)).toBe(true);
  });

  it('leaves multipart/signed and application/pkcs7-mime messages as they are', async () => {
    const signed = message(multipart('signed', 'sig', [
      multipart('alternative', 'sigalt', [plain('signed text'), leaf(['Content-Type: text/html; charset=utf-8'], '<html><body><a href="https://signed.example/">x</a></body></html>')]),
      leaf(['Content-Type: application/pkcs7-signature; name="smime.p7s"', 'Content-Transfer-Encoding: base64'], 'MIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgEFADCABgkqhkiG9w0BBwEAAKCAMIIB'),
    ], { params: '; protocol="application/pkcs7-signature"; micalg=sha-256' })).message;
    const r = rewriteMessage(signed, OPTS);
    expect(r.message).toBe(signed);
    expect(r.notes.join(' ')).toContain('multipart/signed');
    const enveloped = message(leaf(['Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"', 'Content-Transfer-Encoding: base64'], 'MIAGCSqGSIb3DQEHA6CAMIACAQAx text/html')).message;
    expect(rewriteMessage(enveloped, OPTS).message).toBe(enveloped);
  });

  it('returns a message without text/html, or with tracking off, as the same Buffer', () => {
    const text = message(plain('https://example.com/ no html here')).message;
    expect(rewriteMessage(text, OPTS).message).toBe(text);
    const c = CASES[0]!;
    expect(rewriteMessage(c.built.message, {}).message).toBe(c.built.message);
  });

  it('stops at maxLinks over the whole message: later links stay as written and out of the list', () => {
    const c = CASES.find((x) => x.name.startsWith('two HTML bodies'))!;
    const r = rewriteMessage(c.built.message, { ...OPTS, maxLinks: 1 });
    expect(r.links).toEqual(['https://example.com/first']);
    expect(r.notes.join()).toMatch(/past maxLinks/);
    expect(r.pixel).toBe(true);
  });

  it('tracks clicks only, or opens only, when asked', () => {
    const c = CASES.find((x) => x.name.startsWith('UTF-8 8bit'))!;
    const clicks = rewriteMessage(c.built.message, { clickUrl: OPTS.clickUrl });
    expect(clicks.links.length).toBe(2);
    expect(clicks.pixel).toBe(false);
    expect(clicks.message.includes('<img src="https://t.example/o')).toBe(false);
    const opens = rewriteMessage(c.built.message, { pixelUrl: OPTS.pixelUrl });
    expect(opens.links).toEqual([]);
    expect(opens.message.toString().split('https://t.example/o/R1').length).toBe(2);
    expect(opens.message.includes('href="https://example.com/a"')).toBe(true);
  });
});

describe('rewriteHtml on its own', () => {
  it('ends ISO-2022-JP two-byte mode before a pixel appended at the end', () => {
    const part = Buffer.concat([esc('<p><a href="https://example.jp/">'), encodeText('リンク', 'iso-2022-jp'), esc('</a></p>'), esc('\x1b$B'), esc('F|K\\')]);
    const r = rewriteHtml(part, 'iso-2022-jp', OPTS);
    expect(r.links).toEqual(['https://example.jp/']);
    const tail = `F|K\\\x1b(B${SNIPPET}`;
    expect(r.html.subarray(r.html.length - tail.length).toString('latin1')).toBe(tail);
  });

  it('leaves UTF-16 and unknown charsets alone, saying why', () => {
    const part = Buffer.from('<a href="https://example.com/">x</a>', 'utf16le');
    const r = rewriteHtml(part, 'utf-16le', OPTS);
    expect(r.html).toBe(part);
    expect(r.skipped).toMatch(/utf-16le/);
    expect(rewriteHtml(Buffer.from('<a href="https://example.com/">'), 'x-unknown', OPTS).skipped).toBeDefined();
  });

  it('puts no pixel into HTML that ends inside a comment, and says so', () => {
    const r = rewriteHtml(Buffer.from('<a href="https://example.com/">x</a><!-- unterminated'), 'utf-8', OPTS);
    expect(r.links).toEqual(['https://example.com/']);
    expect(r.pixel).toBe(false);
    expect(r.notes.join()).toMatch(/no open pixel/);
  });

  it('never pushes a line of a 7bit/8bit part over 998 bytes; a line already longer may grow', () => {
    const near = `<a href="https://example.com/x">x</a>${'y'.repeat(900)}`;
    const part = Buffer.from(`<html><body>${near}</body></html>\r\n<a href="https://example.com/y">y</a>\r\n`);
    const r = rewriteHtml(part, 'utf-8', { ...OPTS, clickUrl: (i) => `https://t.example/c/${'L'.repeat(40)}.${i}`, maxLineLength: 998 });
    // the first link keeps its index (another recipient's shorter URL may fit), but stays as written
    expect(r.links).toEqual(['https://example.com/x', 'https://example.com/y']);
    expect(r.html.includes('href="https://example.com/x"')).toBe(true);
    expect(r.html.includes(`href="https://t.example/c/${'L'.repeat(40)}.1"`)).toBe(true);
    expect(r.notes.join()).toMatch(/998/);
    expect(longestLine(r.html)).toBeLessThanOrEqual(998);
    expect(r.html.includes(esc(`\r\n${SNIPPET}\r\n</body>`))).toBe(true);
    const long = Buffer.from(`<a href="https://example.com/x">x</a>${'y'.repeat(2000)}`);
    expect(rewriteHtml(long, 'utf-8', { ...OPTS, maxLineLength: 998 }).links).toEqual(['https://example.com/x']);
  });

  it('hands out URLs as browsers follow them: entities, IDN, trimmed; refuses control characters', () => {
    const part = Buffer.from([
      '<a href="https://例え.jp/パス?q=値#frag">idn</a>', '<a href=" https://trim.example/ ">trim</a>',
      '<a href="https://example.com/?a=1&amp&b=2&ampc">amp without ;</a>', '<a href="https://example.com/\tx">tab</a>',
      '<a href="https://example.com/&#1;">U+0001</a>', '<a href="http:/example.com/">one slash</a>', '<a href="https://">no host</a>',
    ].join(''));
    const r = rewriteHtml(part, 'utf-8', { clickUrl: (i) => track(i) });
    expect(r.links).toEqual(['https://xn--r8jz45g.jp/%E3%83%91%E3%82%B9?q=%E5%80%A4#frag', 'https://trim.example/', 'https://example.com/?a=1&&b=2&ampc']);
    expect(r.notes.join()).toMatch(/control character \(CR, LF, tab …\) inside the URL \(×2\)/);
  });
});

describe('broken MIME', () => {
  it('rewrites the complete parts of a multipart that never closes and leaves its last part', () => {
    const complete = html(simpleDoc('complete'), '7bit');
    const built = message(multipart('mixed', 'open', [complete, html(simpleDoc('cut'), 'quoted-printable')]));
    const cut = built.message.subarray(0, built.message.indexOf('\r\n--open--'));
    const r = rewriteMessage(cut, OPTS);
    expect(r.links).toEqual(['https://example.com/complete']);
    expect(r.notes.join()).toMatch(/without its closing delimiter/);
    const tail = cut.subarray(cut.indexOf('\r\n--open\r\n', cut.indexOf('--open') + 1));
    expect(r.message.subarray(r.message.length - tail.length).equals(tail)).toBe(true);
  });

  it('leaves a multipart without boundary, with a boundary that never occurs, or nested too deep', () => {
    const noBoundary = esc('From: a@example.com\r\nContent-Type: multipart/alternative\r\n\r\n--x\r\nContent-Type: text/html\r\n\r\n<a href="https://example.com/">x</a>\r\n--x--\r\n');
    expect(rewriteMessage(noBoundary, OPTS).message).toBe(noBoundary);
    const never = esc('From: a@example.com\r\nContent-Type: multipart/alternative; boundary=zz\r\n\r\nContent-Type: text/html\r\n\r\n<a href="https://example.com/">x</a>\r\n');
    expect(rewriteMessage(never, OPTS).notes.join()).toMatch(/never occurs/);
    let deep = html(simpleDoc('deep'), '7bit');
    for (let i = 0; i < 40; i++) deep = multipart('mixed', `d${i}`, [deep]);
    const r = rewriteMessage(message(deep).message, OPTS);
    expect(r.links).toEqual([]);
    expect(r.notes.join()).toMatch(/deeper than 32/);
  });

  it('leaves an unknown transfer encoding alone', () => {
    const m = esc('From: a@example.com\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n<a href="https://example.com/">x</a>\r\n');
    const r = rewriteMessage(m, OPTS);
    expect(r.message).toBe(m);
    expect(r.notes.join()).toMatch(/x-uuencode/);
  });

  it('never throws on truncated or garbled messages, and keeps what it does not change', () => {
    const source = CASES.map((c) => c.built.message);
    let seed = 7;
    const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let n = 0; n < 400; n++) {
      const m = Buffer.from(source[random(source.length)]!);
      const cut = m.subarray(0, random(m.length + 1));
      for (let k = random(8); k > 0; k--) cut[random(cut.length || 1)] = random(256);
      const r = rewriteMessage(cut, OPTS);
      expect(r.notes.filter((x) => x.startsWith('not rewritten'))).toEqual([]);
      const headerSection = cut.subarray(0, cut.indexOf('\r\n\r\n') + 4);
      expect(r.message.subarray(0, headerSection.length).equals(headerSection)).toBe(true);
    }
  });
});

describe('a 5 MB single-line HTML', () => {
  it('is rewritten in well under a second, every link and the pixel in place', async () => {
    const pieces: Array<string | ReturnType<typeof link> | typeof PIXEL> = ['<html><body>'];
    let i = 0;
    while (pieces.length < 3 * 45_000) {
      pieces.push(`<p class="item">商品 ${i} のご案内 — café <a href="`, link(`https://example.com/item/${i}?a=1&amp;b=2`, `https://example.com/item/${i}?a=1&b=2`), '">詳しく</a></p>');
      i++;
    }
    pieces.push(PIXEL, '</body></html>');
    const doc = new Doc('utf-8', pieces);
    const built = message(html(doc, '8bit'));
    expect(built.message.length).toBeGreaterThan(5_000_000);
    const started = performance.now();
    const r = rewriteMessage(built.message, OPTS);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeLessThan(1000);
    expect(r.links.length).toBe(i);
    expect(r.links[12_345]).toBe('https://example.com/item/12345?a=1&b=2');
    expectRewrittenAsBuilt(built, r.message);
  });

  it('in ISO-2022-JP (long lines of ASCII between the escapes) as well', () => {
    const item = Buffer.concat([esc('<p>'), encodeText('商品のご案内', 'iso-2022-jp'), esc(` ${'x'.repeat(60)} <a href="https://example.com/item?a=1&amp;b=2">`), encodeText('詳しく', 'iso-2022-jp'), esc('</a></p>')]);
    const count = Math.ceil(5_000_000 / item.length);
    const part = Buffer.concat([esc('<html><body>'), ...Array<Buffer>(count).fill(item), esc('</body></html>')]);
    const started = performance.now();
    const r = rewriteHtml(part, 'iso-2022-jp', OPTS);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(r.links.length).toBe(count);
    expect(r.pixel).toBe(true);
  });
});


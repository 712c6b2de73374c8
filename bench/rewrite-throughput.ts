/**
 * Throughput of the tracking rewrite (src/transform/tracking-rewrite.ts) on one core, in MB of
 * HTML per second: a ~50 KB newsletter-like UTF-8 quoted-printable HTML with ~40 links (the
 * common case, per recipient at delivery), and a 5 MB single-line 8bit HTML (the worst case the
 * tests bound). Each message is rewritten as for a new recipient (its own tracking URLs), for
 * about a second per case after a warm-up.
 *
 *   npx tsx bench/rewrite-throughput.ts
 *
 * Prints one line per case: HTML size, links, time per message, MB/s of HTML (decoded bytes).
 */
import { rewriteMessage, type TrackingOptions } from '../src/transform/tracking-rewrite.js';
import { encodeQuotedPrintable } from '../src/transform/transfer-encoding.js';

const HEADERS = [
  'From: Shop <news@example.com>', 'To: taro@dest.example', 'Subject: =?UTF-8?B?44GK55+l44KJ44Gb?=',
  'Date: Thu, 26 Nov 2026 10:00:00 +0900', 'Message-ID: <bench@example.com>', 'MIME-Version: 1.0',
];

function newsletterHtml(): string {
  const items: string[] = [];
  for (let i = 0; i < 40; i++) {
    items.push(`<tr><td style="padding:12px 24px;font-family:'Hiragino Sans',Meiryo,sans-serif;font-size:15px;line-height:1.7;color:#333333">
<a href="https://shop.example.com/items/${1000 + i}?utm_source=newsletter&amp;utm_medium=email&amp;utm_campaign=2026-11" style="color:#d62828;text-decoration:none"><img src="https://cdn.example.com/img/${1000 + i}.jpg" width="120" height="120" alt="商品${i}" style="display:block;border:0"></a>
<p style="margin:0 0 8px;font-weight:bold">【期間限定】人気の商品 ${i} が今だけ特別価格でお求めいただけます。送料無料キャンペーンも実施中です。</p>
<p style="margin:0 0 8px">詳しくは商品ページをご覧ください。ご注文は十一月三十日まで承ります。在庫がなくなり次第終了となりますので、お早めにお申し込みください。Limited offer on item ${i}: free shipping this week only, while stocks last.</p>
<p style="margin:0;font-size:13px;color:#666">※表示価格は税込です。お届けまでに三日から五日ほどかかります。ギフト包装をご希望の方はご注文時にお申し付けください。会員ランクに応じてポイントが最大五倍になります。</p>
</td></tr>`);
  }
  return `<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8"><style>body{margin:0}.btn{color:#fff}</style></head>
<body style="margin:0;padding:0;background:#f4f4f4"><table role="presentation" width="100%" cellpadding="0" cellspacing="0">
<tr><td><a href="https://shop.example.com/?utm_source=newsletter">ショップ</a> | <a href="https://shop.example.com/sale#top">セール</a> | <a href="mailto:support@example.com">お問い合わせ</a></td></tr>
${items.join('\n')}
<tr><td><!--[if mso]><v:roundrect xmlns:v="urn:schemas-microsoft-com:vml" href="https://shop.example.com/sale?from=vml" style="height:44px;width:240px" arcsize="10%" fillcolor="#d62828"><center>セール会場へ</center></v:roundrect><![endif]-->
<!--[if !mso]><!-- --><a class="btn" href="https://shop.example.com/sale?from=html">セール会場へ</a><!--<![endif]--></td></tr>
<tr><td style="font-size:12px;color:#888">配信停止は<a href="https://shop.example.com/unsubscribe?u=123&amp;l=ja">こちら</a></td></tr>
</table></body></html>
`.replace(/\n/g, '\r\n');
}

function newsletterMessage(html: Buffer): Buffer {
  const head = [...HEADERS, 'Content-Type: multipart/alternative; boundary="b1"'].join('\r\n');
  const parts = [
    '--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nテキスト版 https://shop.example.com/\r\n',
    '--b1\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n',
  ];
  return Buffer.concat([Buffer.from(`${head}\r\n\r\n${parts.join('')}`), encodeQuotedPrintable(html), Buffer.from('\r\n--b1--\r\n')]);
}

function singleLineHtml(bytes: number): Buffer {
  const chunks: string[] = ['<html><body>'];
  let size = 12;
  for (let i = 0; size < bytes; i++) {
    const item = `<p class="item">商品 ${i} のご案内 — café <a href="https://example.com/item/${i}?a=1&amp;b=2">詳しく</a></p>`;
    chunks.push(item);
    size += Buffer.byteLength(item);
  }
  chunks.push('</body></html>');
  return Buffer.from(chunks.join(''));
}

function singleLineMessage(html: Buffer): Buffer {
  const head = [...HEADERS, 'Content-Type: text/html; charset=utf-8', 'Content-Transfer-Encoding: 8bit'].join('\r\n');
  return Buffer.concat([Buffer.from(`${head}\r\n\r\n`), html]);
}

function optionsFor(recipient: number): TrackingOptions {
  const base = `https://t.example.com/c/${recipient.toString(36)}`;
  return {
    clickUrl: (i) => `${base}.${i}`,
    pixelUrl: `https://t.example.com/o/${recipient.toString(36)}`,
    honeypotUrl: `https://t.example.com/h/${recipient.toString(36)}`,
    isTrackingUrl: (url) => url.startsWith('https://t.example.com/'),
  };
}

function measure(name: string, message: Buffer, htmlBytes: number, seconds: number): void {
  let recipient = 0;
  const first = rewriteMessage(message, optionsFor(recipient++));
  for (let i = 0; i < 3; i++) rewriteMessage(message, optionsFor(recipient++)); // warm-up
  const started = performance.now();
  let runs = 0;
  while (performance.now() - started < seconds * 1000) {
    rewriteMessage(message, optionsFor(recipient++));
    runs++;
  }
  const ms = (performance.now() - started) / runs;
  const mbps = htmlBytes / 1e6 / (ms / 1000);
  console.log(`${name.padEnd(34)} html ${(htmlBytes / 1024).toFixed(0).padStart(6)} KB  links ${String(first.links.length).padStart(6)}  ${ms.toFixed(2).padStart(8)} ms/msg  ${mbps.toFixed(1).padStart(7)} MB/s  (${runs} runs)`);
}

const newsletter = Buffer.from(newsletterHtml());
measure('newsletter, UTF-8 quoted-printable', newsletterMessage(newsletter), newsletter.length, 1);
const big = singleLineHtml(5 * 1024 * 1024);
measure('5 MB single line, UTF-8 8bit', singleLineMessage(big), big.length, 2);

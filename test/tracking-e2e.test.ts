/**
 * Tracking and unsubscribe end to end, as a sender, a recipient and a receiver see them: a
 * verified sending domain with its tracking host, an HTML newsletter (tagged: bulk) through the
 * submission port to a sink. Each copy has its own click links, one pixel and List-Unsubscribe
 * fields, and its DKIM signature (over the rewritten copy) passes at the receiver. Then the
 * recipient's side over the real HTTP port: a click redirects to the exact URL, the pixel records
 * an open, GET of the unsubscribe link changes nothing, POST (RFC 8058) unsubscribes for that
 * sending domain only; the List-Unsubscribe mailto: on port 25 unsubscribes the other recipient.
 */
import { afterEach, describe, expect, it } from 'vitest';
import nodemailer from 'nodemailer';
import { simpleParser } from 'mailparser';
import { authenticate } from 'mailauth';
import type { App } from '../src/app.js';
import { apiCall, apiGet, eventually, startTestApp } from './support/app.js';
import { startSink, type Received, type Sink } from './support/sink.js';
import { startDnsServer, type DnsTestServer } from './support/dns-server.js';
import { mailauthResolver, publish } from './support/published-dns.js';
import { RawSmtp } from './support/raw-smtp.js';

let app: App | undefined;
let sink: Sink | undefined;
let dns: DnsTestServer | undefined;
afterEach(async () => {
  await app?.stop();
  await sink?.close();
  await dns?.close();
  app = sink = dns = undefined;
});

const SENDING_IP = '192.0.2.25';
const TARGET = 'https://shop.example/sale?item=42&lang=ja#top';
const HTML = `<html><body><p>セールのお知らせ &amp; ご案内</p>
<a href="https://shop.example/sale?item=42&amp;lang=ja#top">今すぐ見る</a>
<a href="mailto:help@shop.example">お問い合わせ</a>
<a href="https://shop.example/keep" data-notrack>そのまま</a>
</body></html>`;

async function start(): Promise<App> {
  dns = await startDnsServer();
  sink = await startSink();
  const started = await startTestApp({
    smtp: { trustedNetworks: ['127.0.0.1/32'] },
    policy: { requireVerifiedDomains: false },
    http: { publicUrl: 'https://links.mta.example' },
    dns: { servers: [dns.address] },
    domains: { spf: { ip4: [SENDING_IP] } },
    delivery: { routes: [{ match: '*', host: '127.0.0.1', port: sink.port, tls: 'none' }] },
  });
  expect((await apiCall(started, 'POST', '/api/v1/domains', { domain: 'shop.example', selector: 'sel1', key: 'rsa2048' })).status).toBe(201);
  const { body: { records } } = await apiGet(started, '/api/v1/domains/shop.example/records');
  publish(dns, records, { [started.config.hostname]: { A: [SENDING_IP] }, 'links.mta.example': { A: [SENDING_IP] } });
  const verified = await apiCall(started, 'POST', '/api/v1/domains/shop.example/verify');
  expect(verified.body.records.find((r: { kind: string }) => r.kind === 'tracking')).toMatchObject({ host: 'track.shop.example', status: 'ok' });
  return started;
}

async function send(a: App, to: string[], headers: Record<string, string>, from = 'news@shop.example'): Promise<string> {
  const info = await nodemailer.createTransport({ host: '127.0.0.1', port: a.ports.submission!, ignoreTLS: true })
    .sendMail({ from, to, subject: 'セール', text: '今すぐ見る: https://shop.example/sale', html: HTML, headers });
  return /queued as (\S+)/.exec(info.response)![1]!;
}

/** Our public URLs point at the tracking host; the test reaches the same routes on the HTTP port. */
function local(a: App, url: string): string {
  const u = new URL(url);
  expect(u.origin).toBe('https://track.shop.example');
  return `http://127.0.0.1:${a.ports.http}${u.pathname}`;
}

const recipientOf = async (a: App, id: string, address: string) =>
  (await apiGet(a, `/api/v1/messages/${id}`)).body.recipients.find((r: { address: string }) => r.address === address);

/** The address's suppression entries ([] when it is not suppressed: the API answers 404). */
async function suppressionsOf(a: App, address: string): Promise<{ scope: string; state: string }[]> {
  const { status, body } = await apiGet(a, `/api/v1/suppressions/${encodeURIComponent(address)}`);
  if (status === 404) return [];
  expect(status).toBe(200);
  return body.entries;
}

describe('tracking and unsubscribe end to end', () => {
  it('rewrites each copy, signs it, redirects clicks, records opens, and unsubscribes by one-click POST and by mail', async () => {
    app = await start();
    const id = await send(app, ['taro@dest.example', 'hanako@dest.example'], { 'X-Sokutatsu-Tag': 'newsletter' });
    const copies = await sink!.waitFor(2);
    const copy = (address: string) => copies.find((m) => m.to[0] === address)!;

    const parsed = await simpleParser(copy('taro@dest.example').body);
    const html = String(parsed.html);
    const clicks = [...html.matchAll(/href="(https:\/\/track\.shop\.example\/t\/c\/[a-z2-7]+)"/g)].map((m) => m[1]!);
    expect(clicks).toHaveLength(2); // the link and the invisible honeypot beside the pixel
    expect(html).toContain('href="mailto:help@shop.example"');
    expect(html).toContain('href="https://shop.example/keep" data-notrack');
    expect(html.match(/<img src="https:\/\/track\.shop\.example\/t\/o\/[a-z2-7]+\.gif"/g)).toHaveLength(1);
    expect(html).toContain('<p>セールのお知らせ &amp; ご案内</p>');
    expect(parsed.text).toContain('今すぐ見る: https://shop.example/sale'); // text parts are left alone
    expect(parsed.headers.has('x-sokutatsu-tag')).toBe(false);
    const listUnsubscribe = /^List-Unsubscribe: <(https:\/\/track\.shop\.example\/u\/[a-z2-7]+)>,\r\n <mailto:(u\+[a-z2-7]+@rp\.shop\.example)>\r$/m.exec(copy('taro@dest.example').text);
    expect(listUnsubscribe).not.toBeNull();
    const httpLink = listUnsubscribe![1]!;
    expect(copy('taro@dest.example').text).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r$/m);
    // The other recipient's copy carries other tokens.
    expect(copy('hanako@dest.example').text).not.toContain(clicks[0]!);

    // DKIM signs the copy as sent (rewritten, with List-Unsubscribe): it passes at the receiver.
    for (const m of copies) {
      const auth = await authenticate(m.body, { ip: SENDING_IP, helo: app.config.hostname, sender: m.from, mta: 'mx.dest.example', resolver: mailauthResolver(dns!) });
      expect(auth.dkim.results.map((r) => r.status.result)).toEqual(['pass']);
      expect(m.text.replace(/\r\n\s+/g, ' ')).toMatch(/\bh=[^;]*list-unsubscribe/i);
    }

    // A click goes to the URL the author meant (&amp; decoded, fragment kept). It comes within
    // seconds of delivery, as a link scanner's would: recorded, flagged as a machine.
    const honeypot = /<a href="([^"]+)" style="display:none/.exec(html)![1]!;
    const link = clicks.find((c) => c !== honeypot)!;
    const res = await fetch(local(app, link), { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe(TARGET);
    const forged = await fetch(local(app, link.slice(0, -2) + (link.endsWith('aa') ? 'bb' : 'aa')), { redirect: 'manual' });
    expect(forged.status).toBe(404);
    expect(forged.headers.get('location')).toBeNull();

    const pixelUrl = /<img src="([^"]+)"/.exec(html)![1]!;
    const pixel = await fetch(local(app, pixelUrl), { headers: { 'User-Agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Thunderbird/128.0' } });
    expect(pixel.status).toBe(200);
    expect(pixel.headers.get('content-type')).toBe('image/gif');
    const taro = await eventually(async () => {
      const r = await recipientOf(app!, id, 'taro@dest.example');
      return r.events.some((e: { type: string }) => e.type === 'opened') && r.events.some((e: { type: string }) => e.type === 'clicked') ? r : null;
    }, 5000, 'open and click recorded');
    expect(taro.events.find((e: { type: string }) => e.type === 'clicked')).toMatchObject({ url: TARGET, machine: true });
    expect(taro.events.find((e: { type: string }) => e.type === 'opened')).toMatchObject({ count: 1 });

    // GET shows a page and changes nothing; the RFC 8058 POST unsubscribes, once.
    const page = await fetch(local(app, httpLink!), { headers: { 'Accept-Language': 'ja' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('shop.example');
    expect(await suppressionsOf(app, 'taro@dest.example')).toEqual([]);
    for (let i = 0; i < 2; i++) {
      const post = await fetch(local(app, httpLink!), { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
      expect(post.status).toBe(200);
    }
    expect(await suppressionsOf(app, 'taro@dest.example')).toMatchObject([{ scope: 'shop.example', state: 'stopped' }]);
    const events = (await recipientOf(app, id, 'taro@dest.example')).events.filter((e: { type: string }) => e.type === 'unsubscribed');
    expect(events).toHaveLength(1);

    // Hanako unsubscribes by mail to her List-Unsubscribe mailto: on port 25.
    const hanakoMailto = /<mailto:([^>]+)>/.exec(copy('hanako@dest.example').text)![1]!;
    const { client } = await RawSmtp.connect(app.ports.inbound!);
    await client.ehlo('mx.dest.example');
    expect((await client.send('MAIL FROM:<hanako@dest.example>')).code).toBe(250);
    expect((await client.send(`RCPT TO:<${hanakoMailto}>`)).code).toBe(250);
    expect((await client.send(`RCPT TO:<${hanakoMailto.replace(/^u\+./, 'u+a')}>`)).code).toBe(550); // a forged token
    expect((await client.data('From: hanako@dest.example\r\nSubject: unsubscribe\r\n\r\n\r\n')).code).toBe(250);
    await client.close();
    await eventually(async () => (await suppressionsOf(app!, 'hanako@dest.example'))[0]?.state === 'stopped', 5000, 'hanako stopped');

    // Both are stopped for shop.example only: its next mail is suppressed, another sender's goes out.
    const next = await send(app, ['taro@dest.example', 'hanako@dest.example'], { 'X-Sokutatsu-Tag': 'newsletter' });
    const other = await send(app, ['taro@dest.example'], {}, 'info@other.example');
    await eventually(async () => ((await recipientOf(app!, next, 'taro@dest.example')).status === 'suppressed' && (await recipientOf(app!, next, 'hanako@dest.example')).status === 'suppressed'), 5000, 'suppressed');
    await eventually(async () => (await recipientOf(app!, other, 'taro@dest.example')).status === 'delivered', 5000, 'other sender delivered');
    const otherCopy = (await sink!.waitFor(3))[2]!;
    expect(otherCopy.to).toEqual(['taro@dest.example']);
    expect(otherCopy.text).toMatch(/^From: info@other\.example\r$/m);
    expect(otherCopy.text).not.toMatch(/^List-Unsubscribe:/m); // untagged mail is not bulk
  });

  it('X-Sokutatsu-Track: none leaves the HTML as sent; opens only adds the pixel and no click links', async () => {
    app = await start();
    await send(app, ['taro@dest.example'], { 'X-Sokutatsu-Track': 'none' });
    await send(app, ['jiro@dest.example'], { 'X-Sokutatsu-Track': 'opens' });
    const copies = await sink!.waitFor(2);
    const htmlOf = async (m: Received) => String((await simpleParser(m.body)).html);
    const untouched = await htmlOf(copies.find((m) => m.to[0] === 'taro@dest.example')!);
    expect(untouched).toBe(HTML);
    const opensOnly = await htmlOf(copies.find((m) => m.to[0] === 'jiro@dest.example')!);
    expect(opensOnly).toContain('href="https://shop.example/sale?item=42&amp;lang=ja#top"');
    expect(opensOnly).not.toContain('/t/c/');
    expect(opensOnly.match(/\/t\/o\//g)).toHaveLength(1);
  });
});

/**
 * Statistics end to end, as a marketer reads them: a tagged HTML newsletter through the submission
 * port to six recipients at a sink that refuses two of them (550 5.1.1), then the recipients' side
 * over the real HTTP port — opens by a mail client, by a security gateway and by curl, clicks by a
 * person and by a script, a one-click unsubscribe — and GET /api/v1/stats checked against that
 * scenario exactly, formulas included. The event stream holds every event of the message in the
 * order of its timeline, each with the message's context; /metrics counts the events.
 */
import { afterEach, describe, expect, it } from 'vitest';
import nodemailer from 'nodemailer';
import { simpleParser } from 'mailparser';
import type { App } from '../src/app.js';
import { apiGet, eventually, startTestApp } from './support/app.js';
import { startSink, type Sink } from './support/sink.js';

let app: App | undefined;
let sink: Sink | undefined;
afterEach(async () => {
  await app?.stop();
  await sink?.close();
  app = sink = undefined;
});

const BROWSER = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36';
const TARGET = 'https://shop.example/sale?item=42';
const HTML = `<html><body><p>Spring sale</p><a href="${TARGET}">Shop now</a></body></html>`;
const RECIPIENTS = ['a1', 'a2', 'a3', 'a4', 'a5', 'a6'].map((n) => `${n}@dest.example`);
const REFUSED = new Set(['a5@dest.example', 'a6@dest.example']);

async function send(a: App, to: string[], headers: Record<string, string>, from: string): Promise<string> {
  const info = await nodemailer.createTransport({ host: '127.0.0.1', port: a.ports.submission!, ignoreTLS: true })
    .sendMail({ from, to, subject: 'Spring sale', text: 'Shop now', html: HTML, headers });
  return /queued as (\S+)/.exec(info.response)![1]!;
}

/** Our public URLs are under http.publicUrl; the test reaches the same paths on the HTTP port. */
const local = (a: App, url: string) => `http://127.0.0.1:${a.ports.http}${new URL(url).pathname}`;

describe('statistics end to end', () => {
  it('counts a scripted campaign exactly: sent, bounced by reason, opens and clicks human/machine, unsubscribes, rates; the stream holds its events in order', async () => {
    sink = await startSink({ onRcpt: (address) => (REFUSED.has(address) ? { code: 550, message: '5.1.1 <' + address + '>: Recipient address rejected: User unknown in virtual mailbox table' } : undefined) });
    app = await startTestApp({
      smtp: { trustedNetworks: ['127.0.0.1/32'] },
      http: { publicUrl: 'https://links.mta.example' },
      // Every open and click in this test comes after delivery; timing alone must not make one a machine's.
      tracking: { machine: { clickDelaySeconds: 0, openDelaySeconds: 0 } },
      delivery: { routes: [{ match: '*', host: '127.0.0.1', port: sink.port, tls: 'none' }] },
    });
    const started = Date.now();
    const id = await send(app, RECIPIENTS, { 'X-Sokutatsu-Tag': 'spring', 'X-Sokutatsu-Meta-Campaign': 'c-42' }, 'news@shop.example');
    // Other mail, untagged and from another domain: only in the all-mail figures.
    await send(app, ['z@dest.example'], {}, 'info@other.example');
    const copies = await sink.waitFor(5);
    const stats = async (query: string) => {
      const res = await apiGet(app!, `/api/v1/stats?${query}`);
      expect(res.status).toBe(200);
      return res.body;
    };
    await eventually(async () => {
      const b = await stats('tag=spring');
      return b.counts.delivered + b.counts.bounced === 6;
    }, 20_000, 'every recipient delivered or bounced');

    const html = async (address: string) => String((await simpleParser(copies.find((m) => m.to[0] === address)!.body)).html);
    const urls = async (address: string) => {
      const h = await html(address);
      const honeypot = /<a href="([^"]+)" style="display:none/.exec(h)?.[1];
      const link = [...h.matchAll(/href="(https:\/\/links\.mta\.example\/t\/c\/[a-z2-7]+)"/g)].map((m) => m[1]!).find((u) => u !== honeypot)!;
      const pixel = /<img src="([^"]+)"/.exec(h)![1]!;
      const unsubscribe = /^List-Unsubscribe: <(https:\/\/links\.mta\.example\/u\/[a-z2-7]+)>/m.exec(copies.find((m) => m.to[0] === address)!.text)![1]!;
      return { link: local(app!, link), pixel: local(app!, pixel), unsubscribe: local(app!, unsubscribe) };
    };
    const get = async (url: string, agent: string) => {
      const res = await fetch(url, { headers: { 'User-Agent': agent }, redirect: 'manual' });
      await res.arrayBuffer();
      return res.status;
    };
    const [u1, u2, u3] = [await urls('a1@dest.example'), await urls('a2@dest.example'), await urls('a3@dest.example')];
    // a1: opens twice in a mail client and clicks the link twice (human).
    expect(await get(u1.pixel, BROWSER)).toBe(200);
    expect(await get(u1.pixel, BROWSER)).toBe(200);
    expect(await get(u1.link, BROWSER)).toBe(302);
    expect(await get(u1.link, BROWSER)).toBe(302);
    // a2: a security gateway fetches the pixel first (machine), then the person opens; then unsubscribes (RFC 8058 POST).
    expect(await get(u2.pixel, 'Barracuda Sentinel (EE)')).toBe(200);
    expect(await get(u2.pixel, BROWSER)).toBe(200);
    const unsub = await fetch(u2.unsubscribe, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
    expect(unsub.status).toBeLessThan(300);
    // a3: only a script: its open and its click are a machine's.
    expect(await get(u3.pixel, 'curl/8.5.0')).toBe(200);
    expect(await get(u3.link, 'python-requests/2.31')).toBe(302);
    // a4 does nothing.

    const body = await eventually(async () => {
      const b = await stats('tag=spring&bucket=hour');
      return b.counts.unsubscribed === 1 && b.counts.clicked.total === 3 && b.counts.opened.total === 5 ? b : null;
    }, 5000, 'engagement counted');
    expect(body).toMatchObject({ tag: 'spring', domain: null, bucket: 'hour' });
    expect(body.note).toMatch(/unique human opens/);
    expect(body.counts).toEqual({
      sent: 6, delivered: 4, deferred: 0, bounced: 2, hardBounced: 2, expired: 0, suppressed: 0, cancelled: 0, complained: 0, unsubscribed: 1, delayed: 0, autoReplied: 0,
      opened: { total: 5, unique: 3, human: 3, uniqueHuman: 2, machine: 2 },
      clicked: { total: 3, unique: 2, human: 2, uniqueHuman: 1, machine: 1 },
    });
    expect(body.rates).toEqual({ bounce: 2 / 6, delivery: 4 / 6, open: 2 / 4, click: 1 / 4, clickToOpen: 1 / 2, unsubscribe: 1 / 4, complaint: 0 });
    expect(body.bounces.byReason).toEqual([{ reason: 'userunknown', count: 2 }]);
    const timeline = (await apiGet(app, `/api/v1/messages/${id}`)).body;
    const bouncedEvent = timeline.recipients.find((r: { address: string }) => r.address === 'a5@dest.example').events.find((e: { type: string }) => e.type === 'bounced');
    expect(body.bounces.byGroup).toEqual([{ group: bouncedEvent.failure.group, count: 2 }]);
    expect(body.links).toEqual([{ link: 0, url: TARGET, clicks: 3, humanClicks: 2, uniqueClicks: 2, uniqueHumanClicks: 1 }]);
    expect(body.meanSecondsToFirstOpen).toBeGreaterThan(0);
    expect(body.meanSecondsToFirstOpen).toBeLessThan((Date.now() - started) / 1000);
    expect(body.opensByHour).toHaveLength(24);
    expect(body.opensByHour.reduce((a: number, b: number) => a + b, 0)).toBe(3);
    const series = body.buckets.reduce((sum: number, b: { counts: { sent: number } }) => sum + b.counts.sent, 0);
    expect(series).toBe(6);

    // Scopes: the domain (both messages' senders apart), tag and domain together, all mail, another tag.
    expect((await stats('domain=shop.example')).counts.sent).toBe(6);
    expect((await stats('domain=other.example')).counts).toMatchObject({ sent: 1, delivered: 1 });
    expect((await stats('tag=spring&domain=SHOP.example')).counts.opened.uniqueHuman).toBe(2);
    expect((await stats('')).counts).toMatchObject({ sent: 7, delivered: 5, bounced: 2 });
    const none = await stats('tag=autumn');
    expect(none.counts.sent).toBe(0);
    expect(none.rates).toEqual({ bounce: null, delivery: null, open: null, click: null, clickToOpen: null, unsubscribe: null, complaint: null });
    expect(none.meanSecondsToFirstOpen).toBeNull();
    // A range before the campaign: nothing.
    expect((await stats(`tag=spring&from=${started - 10 * 3_600_000}&to=${started - 5 * 3_600_000}`)).counts.sent).toBe(0);

    // The stream: this message's events in the order of each recipient's timeline, with its context.
    const stream = (await app.events.read('-', 10_000)).filter((e) => e.messageId === id);
    for (const e of stream) expect(e).toMatchObject({ tag: 'spring', domain: 'shop.example', metadata: { campaign: 'c-42' } });
    for (const [rcpt, r] of timeline.recipients.entries()) {
      expect(stream.filter((e) => e.rcpt === rcpt).map((e) => e.type)).toEqual(r.events.map((e: { type: string }) => e.type));
    }
    expect(stream.map((e) => e.type).slice(0, 6)).toEqual(Array(6).fill('queued'));

    // Prometheus counts the same events.
    const metrics = await (await fetch(`http://127.0.0.1:${app.ports.http}/metrics`)).text();
    expect(metrics).toMatch(/sokutatsu_events_total\{type="opened",machine="true"\} 2\n/);
    expect(metrics).toMatch(/sokutatsu_events_total\{type="opened",machine="false"\} 3\n/);
    expect(metrics).toMatch(/sokutatsu_events_total\{type="bounced",machine=""\} 2\n/);
  });

  it('validates the query: JSON errors for bad fields, no token, a reversed or too long range', async () => {
    app = await startTestApp();
    const bad = async (query: string) => {
      const res = await apiGet(app!, `/api/v1/stats?${query}`);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
      return res.body.error.message as string;
    };
    expect(await bad('bucket=week')).toMatch(/^bucket/);
    expect(await bad('from=yesterday')).toMatch(/^from/);
    expect(await bad('from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z')).toMatch(/before/);
    expect(await bad('from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z')).toMatch(/at most/);
    expect(await bad('domain=a:b')).toMatch(/^domain/);
    expect(await bad('utcOffset=%2B09:30')).toMatch(/^utcOffset/);
    expect(await bad('color=red')).toMatch(/color|Unrecognized/i);
    expect((await apiGet(app, '/api/v1/stats', null)).status).toBe(401);
    const ok = await apiGet(app, '/api/v1/stats?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z');
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ from: '2026-01-01T00:00:00.000Z', to: '2026-01-02T00:00:00.000Z', bucket: 'day', utcOffset: 'Z', buckets: [], links: [] });
    expect((await apiGet(app, '/api/v1/stats?utcOffset=%2B09:00')).body.utcOffset).toBe('+09:00');
  });
});

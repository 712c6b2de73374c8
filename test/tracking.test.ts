/**
 * Tracking and unsubscribe over HTTP with a real Redis: messages stored by the real store,
 * delivered by store.record, links saved, then the public routes called with app.request().
 */
import { randomBytes } from 'node:crypto';
import { Hono } from 'hono';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createHttpApp, type HttpDeps } from '../src/http/app.js';
import { configSchema } from '../src/config/schema.js';
import { PIXEL, trackingRoutes } from '../src/http/tracking.js';
import { createDeliveryQueue, type DeliveryQueue } from '../src/queue/delivery-queue.js';
import { createKeys, type Keys } from '../src/redis/keys.js';
import { createMessageStore, newMessageId, type MessageStore } from '../src/store/messages.js';
import { SuppressionList } from '../src/store/suppressions.js';
import type { MessageEvent } from '../src/store/types.js';
import { EngagementTracker } from '../src/tracking/engagement.js';
import { LinkStore } from '../src/tracking/links.js';
import { recipientUrls, TrackingTokens, unsubscribeTokenOf, type RecipientUrls } from '../src/tracking/tokens.js';
import { Unsubscriber } from '../src/tracking/unsubscribe.js';

const BROWSER = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15';
const BASE = 'https://track.shop.example.jp';
const LINKS = ['https://shop.example.jp/sale?utm_source=news&utm_medium=mail&id=42#top', 'https://shop.example.jp/セール', 'javascript:alert(1)', 'https://shop.example.jp/a\r\nSet-Cookie: x=1'];

let redis: Redis;
let keys: Keys;
let queue: DeliveryQueue;
let store: MessageStore;
let tokens: TrackingTokens;
let links: LinkStore;
let engagement: EngagementTracker;
let suppressions: SuppressionList;
let unsubscriber: Unsubscriber;
/** trusts one proxy, so tests choose the client address with X-Forwarded-For */
let app: Hono;

beforeAll(async () => {
  redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
  keys = createKeys(`t${randomBytes(6).toString('hex')}`);
  queue = createDeliveryQueue(redis, keys);
  store = createMessageStore(redis, queue, keys, { retentionSeconds: 3600, bodyRetentionSeconds: 0 });
  tokens = await TrackingTokens.load(redis, keys);
  links = new LinkStore(redis, keys, 7200);
  engagement = new EngagementTracker(redis, keys, links, { ttlSeconds: 7200 });
  suppressions = new SuppressionList(redis, keys);
  unsubscriber = new Unsubscriber({ redis, keys, tokens, suppressions, engagement });
  app = new Hono().route('/', trackingRoutes({ tokens, engagement, unsubscriber, trustProxyHops: 1 }));
});
afterAll(async () => {
  await queue?.close();
  await redis?.quit();
});

interface Sent {
  id: string;
  urls: RecipientUrls[];
}

/** A message from `from` to `recipients`, each delivered `deliveredAgoMs` ago, its links saved. */
async function sent(options: { from?: string | null; recipients?: string[]; deliveredAgoMs?: number; deliver?: boolean } = {}): Promise<Sent> {
  const id = newMessageId();
  const recipients = options.recipients ?? ['kijitora@example.jp'];
  const from = options.from === undefined ? 'news@shop.example.jp' : options.from;
  await store.accept({
    id, mailFrom: 'bounce@shop.example.jp', recipients, headerFrom: from, subject: 'セール', messageIdHeader: `<${id}@shop.example.jp>`, tag: 'news',
    sendAt: null, track: 'opens,clicks', meta: {}, user: 'shop', clientIp: '127.0.0.1', source: 'submission', body: Buffer.from('Subject: x\r\n\r\nbody\r\n'),
  });
  const deliveredAt = Date.now() - (options.deliveredAgoMs ?? 3_600_000);
  if (options.deliver !== false) {
    for (const [rcpt, address] of recipients.entries()) {
      await store.record(id, { address, status: 'delivered', reason: null, hard: null, attempts: 1, updatedAt: deliveredAt }, { type: 'delivered', at: new Date(deliveredAt).toISOString(), rcpt, address });
    }
  }
  await links.save(id, LINKS);
  return { id, urls: recipients.map((_, rcpt) => recipientUrls(tokens, BASE, id, rcpt)) };
}

/** app.request() of a URL made by recipientUrls, from `ip` with a browser's agent unless told. */
function call(url: string, init: { method?: string; ip?: string; agent?: string; headers?: Record<string, string>; body?: BodyInit } = {}): Promise<Response> {
  const path = url.slice(BASE.length);
  const headers: Record<string, string> = { 'X-Forwarded-For': init.ip ?? '203.0.113.7', 'User-Agent': init.agent ?? BROWSER, ...init.headers };
  return Promise.resolve(app.request(path, { method: init.method ?? 'GET', headers, ...(init.body !== undefined ? { body: init.body } : {}) }));
}

async function eventsOf(id: string, type: MessageEvent['type']): Promise<MessageEvent[]> {
  return (await store.events(id)).filter((e) => e.type === type);
}

const tokenOf = (url: string) => url.slice(url.lastIndexOf('/') + 1).replace(/\.gif$/, '');

describe('links', () => {
  it('stores only http(s) URLs without control characters; the first list stays', async () => {
    const id = newMessageId();
    expect(await links.save(id, LINKS)).toEqual({ refused: [2, 3] });
    expect(await links.all(id)).toEqual([LINKS[0], 'https://shop.example.jp/%E3%82%BB%E3%83%BC%E3%83%AB', '', '']);
    await links.save(id, ['https://other.example/']);
    expect(await links.url(id, 0)).toBe(LINKS[0]);
    expect(await links.url(id, 2)).toBeNull();
    const ttl = await redis.ttl(keys.links(id));
    expect(ttl).toBeGreaterThan(7000);
    expect(ttl).toBeLessThanOrEqual(7200);
  });
});

describe('clicks', () => {
  it('redirects (302) to the exact stored URL, query and fragment included, and records the click', async () => {
    const { id, urls } = await sent();
    const res = await call(urls[0]!.click(0), { ip: '198.51.100.20' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('https://shop.example.jp/sale?utm_source=news&utm_medium=mail&id=42#top');
    expect(res.headers.get('cache-control')).toContain('no-store');
    expect((await call(urls[0]!.click(1))).headers.get('location')).toBe('https://shop.example.jp/%E3%82%BB%E3%83%BC%E3%83%AB');

    const [first, second] = await eventsOf(id, 'clicked');
    expect(first).toMatchObject({ rcpt: 0, address: 'kijitora@example.jp', link: 0, url: LINKS[0], ip: '198.51.100.20', userAgent: BROWSER, machine: false, count: 1, firstHuman: true });
    expect(second).toMatchObject({ link: 1, count: 2, machine: false });
    expect(second!.firstHuman).toBeUndefined();
  });

  it('answers forged, mangled, spliced and other kinds of tokens with a 404 page, never a redirect', async () => {
    const { id, urls } = await sent();
    const token = tokenOf(urls[0]!.click(0));
    const flipped = token.slice(0, 10) + (token[10] === 'a' ? 'b' : 'a') + token.slice(11);
    const otherSecret = recipientUrls(new TrackingTokens(randomBytes(32)), BASE, id, 0);
    for (const path of [
      `/t/c/${flipped}`,
      `/t/c/${token.slice(0, -1)}`,
      `/t/c/${token}a`,
      `/t/c/${token.toUpperCase()}x`,
      otherSecret.click(0).slice(BASE.length),
      `/t/c/${tokenOf(urls[0]!.open)}`,
      `/t/c/${tokenOf(urls[0]!.unsubscribe)}`,
      `/t/c/${encodeURIComponent('https://evil.example/')}`,
      '/t/c/',
      '/t/c/x/y',
      '/t/x',
    ]) {
      const res = await app.request(path);
      expect(res.status, path).toBe(404);
      expect(res.headers.get('location'), path).toBeNull();
      expect(res.headers.get('content-type'), path).toMatch(/^text\/html/);
      expect(await res.text()).toContain('This link is not valid');
    }
    // A link index the message does not have, and those whose URL was refused.
    for (const link of [2, 3, 4, 999]) expect((await call(urls[0]!.click(link))).status).toBe(404);
    expect(await eventsOf(id, 'clicked')).toEqual([]);
  });

  it('cannot reach another message: a valid token of message A never redirects to B\'s links', async () => {
    const a = await sent();
    const b = await sent();
    await links.save(b.id, ['https://b.example/secret']);
    const res = await call(a.urls[0]!.click(0));
    expect(res.headers.get('location')).toBe(LINKS[0]);
  });

  it('flags HEAD, scanners, clicks right after delivery and link bursts as machines, still redirecting', async () => {
    const { id, urls } = await sent({ deliveredAgoMs: 3_000 });
    const head = await call(urls[0]!.click(0), { method: 'HEAD', ip: '192.0.2.1' });
    expect(head.status).toBe(302);
    expect(head.headers.get('location')).toBe(LINKS[0]);
    await call(urls[0]!.click(0), { agent: 'Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/534+ (KHTML, like Gecko) BingPreview/1.0b', ip: '192.0.2.2' });
    await call(urls[0]!.click(0), { ip: '192.0.2.3' });
    const clicks = await eventsOf(id, 'clicked');
    expect(clicks.map((e) => [e.machine, e.why])).toEqual([
      [true, expect.stringMatching(/HEAD request/)],
      [true, expect.stringMatching(/BingPreview/)],
      [true, expect.stringMatching(/s after delivery/)],
    ]);
    expect(clicks.every((e) => !e.firstHuman)).toBe(true);

    const later = await sent();
    await call(later.urls[0]!.click(0), { ip: '192.0.2.9' });
    await call(later.urls[0]!.click(1), { ip: '192.0.2.9' });
    expect((await eventsOf(later.id, 'clicked')).map((e) => e.machine)).toEqual([false, true]);
  });

  it('flags a click before the delivery is recorded (a scanner at the receiving server)', async () => {
    const { id, urls } = await sent({ deliver: false });
    expect((await call(urls[0]!.click(0))).status).toBe(302);
    expect(await eventsOf(id, 'clicked')).toEqual([expect.objectContaining({ machine: true, why: expect.stringMatching(/no delivery/) })]);
  });

  it('takes the honeypot link and what the same client clicks next for machines', async () => {
    const { id, urls } = await sent();
    const pot = await call(urls[0]!.honeypot, { ip: '192.0.2.50' });
    expect(pot.status).toBe(404);
    expect(pot.headers.get('location')).toBeNull();
    await call(urls[0]!.click(0), { ip: '192.0.2.50' });
    await call(urls[0]!.click(0), { ip: '198.51.100.77' });
    const clicks = await eventsOf(id, 'clicked');
    expect(clicks.map((e) => [e.link, e.machine, e.firstHuman ?? false])).toEqual([
      [undefined, true, false],
      [0, true, false],
      [0, false, true],
    ]);
    expect(clicks[0]!.why).toMatch(/honeypot/);
    expect(await engagement.recipient(id, 0)).toMatchObject({ clicks: 2, humanClicks: 1, honeypotIp: '192.0.2.50' });
  });

  it('keeps unique clickers per link, humans apart', async () => {
    const { id, urls } = await sent({ recipients: ['a@example.jp', 'b@example.jp', 'c@example.jp'] });
    await call(urls[0]!.click(0), { ip: '198.51.100.1' });
    await call(urls[0]!.click(0), { ip: '198.51.100.1' });
    await call(urls[1]!.click(0), { ip: '198.51.100.2' });
    await call(urls[2]!.click(0), { agent: 'curl/8.5.0', ip: '198.51.100.3' });
    await call(urls[2]!.click(1), { ip: '198.51.100.4' });
    const report = await engagement.linkClicks(id);
    expect(report[0]).toEqual({ link: 0, url: LINKS[0], clicks: 4, humanClicks: 3, uniqueClickers: 3, uniqueHumanClickers: 2 });
    expect(report[1]).toMatchObject({ clicks: 1, humanClicks: 1, uniqueClickers: 1 });
    expect(report[2]).toMatchObject({ url: '', clicks: 0 });
    expect(await redis.ttl(keys.clicks(id))).toBeGreaterThan(0);
  });
});

describe('opens', () => {
  it('serves the same GIF with the same no-cache headers for valid, invalid and foreign tokens', async () => {
    const { id, urls } = await sent();
    const answers = await Promise.all([
      call(urls[0]!.open),
      app.request(`/t/o/${tokenOf(urls[0]!.open).slice(0, -2)}aa.gif`),
      app.request('/t/o/nothing.gif'),
      app.request(`/t/o/${tokenOf(urls[0]!.click(0))}.gif`),
      app.request('/t/o/a/b'),
    ]);
    const pixel = Buffer.from(PIXEL);
    for (const res of answers) {
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer())).toEqual(pixel);
      expect(Object.fromEntries(['content-type', 'cache-control', 'pragma', 'expires'].map((h) => [h, res.headers.get(h)]))).toEqual({
        'content-type': 'image/gif',
        'cache-control': 'no-store, no-cache, must-revalidate, max-age=0',
        pragma: 'no-cache',
        expires: 'Thu, 01 Jan 1970 00:00:00 GMT',
      });
    }
    expect(await eventsOf(id, 'opened')).toHaveLength(1);
  });

  it('counts every re-open, humans apart from privacy proxies; the first human open is marked once', async () => {
    const { id, urls } = await sent();
    await call(urls[0]!.open, { agent: 'Mozilla/5.0', ip: '17.58.100.1' });
    await call(urls[0]!.open, { ip: '17.58.100.2' });
    await call(urls[0]!.open);
    await call(urls[0]!.open, { agent: 'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)', ip: '66.249.84.1' });
    const opens = await eventsOf(id, 'opened');
    expect(opens.map((e) => [e.count, e.machine, e.firstHuman ?? false])).toEqual([
      [1, true, false],
      [2, true, false],
      [3, false, true],
      [4, false, false],
    ]);
    expect(opens[0]!.why).toMatch(/Apple Mail Privacy Protection/);
    const state = await engagement.recipient(id, 0);
    expect(state).toMatchObject({ opens: 4, humanOpens: 2 });
    expect(state!.firstOpenAt).toBeLessThanOrEqual(state!.firstHumanOpenAt!);
    // Engagement lives as long as the message's history.
    const [ttl, historyTtl] = await Promise.all([redis.ttl(keys.engagement(id)), redis.ttl(keys.events(id))]);
    expect(Math.abs(ttl - historyTtl)).toBeLessThanOrEqual(1);
  });

  it('keeps counting past 100 opens of a recipient without growing the timeline', async () => {
    const { id, urls } = await sent();
    for (let i = 0; i < 103; i++) await call(urls[0]!.open, { agent: 'Mozilla/5.0' });
    await call(urls[0]!.open);
    const opens = await eventsOf(id, 'opened');
    expect(opens).toHaveLength(101);
    expect(opens.at(-1)).toMatchObject({ count: 104, firstHuman: true });
    expect(await engagement.recipient(id, 0)).toMatchObject({ opens: 104, humanOpens: 1 });
  });

  it('records nothing for a message whose history expired, and still answers the same', async () => {
    const { id, urls } = await sent();
    await redis.del(keys.message(id), keys.recipients(id), keys.events(id), keys.links(id));
    const res = await call(urls[0]!.open);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(Buffer.from(PIXEL));
    expect((await call(urls[0]!.click(0))).status).toBe(404);
    expect(await redis.exists(keys.events(id), keys.engagement(id), keys.clicks(id))).toBe(0);
  });
});

describe('unsubscribe', () => {
  it('GET shows the confirmation page naming the sender and changes nothing', async () => {
    const { id, urls } = await sent();
    const res = await call(urls[0]!.unsubscribe);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(res.headers.get('cache-control')).toContain('no-store');
    const html = await res.text();
    expect(html).toContain('shop.example.jp');
    expect(html).toContain('k***@example.jp');
    expect(html).toMatch(/<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">/);
    expect(html).toContain('<html lang="en">');
    expect(await suppressions.entries('kijitora@example.jp')).toEqual([]);
    expect(await eventsOf(id, 'unsubscribed')).toEqual([]);
    const head = await call(urls[0]!.unsubscribe, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await suppressions.entries('kijitora@example.jp')).toEqual([]);
  });

  it('speaks Japanese to a Japanese browser', async () => {
    const { urls } = await sent({ recipients: ['mike@example.jp'] });
    const html = await (await call(urls[0]!.unsubscribe, { headers: { 'Accept-Language': 'ja-JP,ja;q=0.9,en-US;q=0.8' } })).text();
    expect(html).toContain('<html lang="ja">');
    expect(html).toContain('shop.example.jp</strong> から');
    expect(html).toContain('配信を停止する');
    const done = await (await call(urls[0]!.unsubscribe, { method: 'POST', headers: { 'Accept-Language': 'ja', 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' })).text();
    expect(done).toContain('配信を停止しました');
    const gone = await (await app.request('/u/nothing', { headers: { 'Accept-Language': 'ja' } })).text();
    expect(gone).toContain('このリンクは無効です');
  });

  it('POST (RFC 8058 one-click) suppresses the address for the sending domain and records it once', async () => {
    const address = 'hachiware@example.jp';
    const { id, urls } = await sent({ recipients: ['other@example.jp', address] });
    const post = () => call(urls[1]!.unsubscribe, { method: 'POST', ip: '198.51.100.30', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
    const res = await post();
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('You are unsubscribed');
    const [entry] = await suppressions.entries(address);
    expect(entry).toMatchObject({ address, scope: 'shop.example.jp', state: 'stopped', source: `unsubscribe ${id}/1` });
    expect(await suppressions.check(address, 'shop.example.jp')).not.toBeNull();
    expect(await suppressions.check(address, 'another.example')).toBeNull();
    expect(await eventsOf(id, 'unsubscribed')).toEqual([
      expect.objectContaining({ rcpt: 1, address, source: 'link', ip: '198.51.100.30', detail: 'suppressed for shop.example.jp' }),
    ]);

    // Again, by the page's button (multipart this time) and by mail: nothing more happens.
    const form = new FormData();
    form.set('List-Unsubscribe', 'One-Click');
    expect((await call(urls[1]!.unsubscribe, { method: 'POST', body: form })).status).toBe(200);
    expect((await post()).status).toBe(200);
    const byMail = await unsubscriber.unsubscribeByToken(unsubscribeTokenOf(urls[1]!.unsubscribeMailbox('shop.example.jp').toUpperCase())!, 'mail');
    expect(byMail.outcome).toBe('already');
    expect(await eventsOf(id, 'unsubscribed')).toHaveLength(1);
    expect(await suppressions.entries(address)).toEqual([entry]);
    expect(await suppressions.entries('other@example.jp')).toEqual([]);
  });

  it('by mail to u+TOKEN@: the same, with source mail', async () => {
    const { id, urls } = await sent({ recipients: ['sabi@example.jp'] });
    const token = unsubscribeTokenOf(urls[0]!.unsubscribeMailbox('shop.example.jp'))!;
    expect(await unsubscriber.unsubscribeByToken(token, 'mail')).toMatchObject({ outcome: 'unsubscribed', subject: { address: 'sabi@example.jp', scope: 'shop.example.jp' } });
    expect((await eventsOf(id, 'unsubscribed'))[0]).toMatchObject({ source: 'mail' });
    expect((await suppressions.entries('sabi@example.jp'))[0]).toMatchObject({ reason: 'unsubscribed by mail' });
    expect((await unsubscriber.unsubscribeByToken(tokenOf(urls[0]!.click(0)), 'mail')).outcome).toBe('unknown');
  });

  it('keeps a stronger entry the address has for the domain, and stops every sender when the message had no From', async () => {
    await suppressions.add({ address: 'kuro@example.jp', scope: 'shop.example.jp', state: 'prohibited', reason: 'complaint', source: 'arf' });
    const a = await sent({ recipients: ['kuro@example.jp'] });
    expect((await call(a.urls[0]!.unsubscribe, { method: 'POST' })).status).toBe(200);
    expect(await suppressions.entries('kuro@example.jp')).toEqual([expect.objectContaining({ state: 'prohibited', reason: 'complaint' })]);
    expect((await eventsOf(a.id, 'unsubscribed'))[0]!.detail).toBe('already suppressed for shop.example.jp');

    const b = await sent({ from: null, recipients: ['shiro@example.jp'] });
    expect(await (await call(b.urls[0]!.unsubscribe)).text()).toContain('every sender');
    await call(b.urls[0]!.unsubscribe, { method: 'POST' });
    expect(await suppressions.entries('shiro@example.jp')).toEqual([expect.objectContaining({ scope: 'global', state: 'stopped' })]);
  });

  it('refuses unknown tokens, other kinds, odd bodies and big ones without changing anything', async () => {
    const { id, urls } = await sent({ recipients: ['buchi@example.jp'] });
    for (const path of ['/u/nothing', `/u/${tokenOf(urls[0]!.click(0))}`, `/u/${tokenOf(urls[0]!.open)}`, '/u/', '/u/a/b']) {
      for (const method of ['GET', 'POST']) {
        const res = await app.request(path, { method });
        expect(res.status, `${method} ${path}`).toBe(404);
        expect(await res.text()).toContain('contact the sender');
      }
    }
    const bad = await call(urls[0]!.unsubscribe, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=Everything' });
    expect(bad.status).toBe(400);
    const big = await call(urls[0]!.unsubscribe, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: `List-Unsubscribe=One-Click&pad=${'x'.repeat(20_000)}` });
    expect(big.status).toBe(413);
    expect(await suppressions.entries('buchi@example.jp')).toEqual([]);
    expect(await eventsOf(id, 'unsubscribed')).toEqual([]);
  });

  it('says the link expired once the message is gone', async () => {
    const { id, urls } = await sent({ recipients: ['tora@example.jp'] });
    await redis.del(keys.message(id), keys.recipients(id), keys.events(id));
    expect((await call(urls[0]!.unsubscribe)).status).toBe(404);
    expect((await call(urls[0]!.unsubscribe, { method: 'POST' })).status).toBe(404);
    expect(await suppressions.entries('tora@example.jp')).toEqual([]);
  });
});

describe('client address', () => {
  it('ignores X-Forwarded-For unless proxies are trusted', async () => {
    const direct = new Hono().route('/', trackingRoutes({ tokens, engagement, unsubscriber }));
    const { id, urls } = await sent();
    await direct.request(urls[0]!.open.slice(BASE.length), { headers: { 'X-Forwarded-For': '17.0.0.1', 'User-Agent': BROWSER } });
    await call(urls[0]!.open, { headers: { 'X-Forwarded-For': '17.0.0.1, 203.0.113.99' } });
    const opens = await eventsOf(id, 'opened');
    // app.request() has no socket: no address rather than the header's.
    expect(opens[0]!.ip).toBeUndefined();
    expect(opens[0]!.machine).toBe(false);
    // One trusted proxy: the entry it appended, not what the client put before it.
    expect(opens[1]!.ip).toBe('203.0.113.99');
  });
});

describe('the HTTP app', () => {
  it('mounts the public routes at the root, beside the token-protected API', async () => {
    // Only the tracking services are used by these routes; the others are never reached.
    const deps = { tracking: { tokens, engagement, unsubscriber }, tokens: { verify: async () => null }, config: configSchema.parse({}) } as unknown as HttpDeps;
    const http = createHttpApp(deps);
    const { urls } = await sent();
    const click = await http.request(urls[0]!.click(0).slice(BASE.length), { headers: { 'User-Agent': BROWSER } });
    expect(click.status).toBe(302);
    expect((await http.request('/t/c/forged')).headers.get('content-type')).toMatch(/^text\/html/);
    expect((await http.request('/api/v1/messages/x')).status).toBe(401);
  });
});

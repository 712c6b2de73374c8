/**
 * The event log with a real Redis: the real store records, the scripts publish (stream, counters),
 * the log hands events to subscribers; the statistics reader reads the counters back per scope.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createDeliveryQueue, type DeliveryQueue } from '../queue/delivery-queue.js';
import { createKeys, type Keys } from '../redis/keys.js';
import { createMessageStore, newMessageId, type MessageStore } from '../store/messages.js';
import { createReportStore } from '../store/reports.js';
import { createMetrics } from '../metrics.js';
import { EngagementTracker } from '../tracking/engagement.js';
import { LinkStore } from '../tracking/links.js';
import { EventLog } from './event-log.js';
import { readStats, ratesOf, type Counts } from './stats.js';
import { statsScope } from './stats-scope.js';
import type { PublishedEvent } from './types.js';

let redis: Redis;
let queue: DeliveryQueue;

beforeAll(() => {
  redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
});
afterAll(async () => {
  await queue?.close();
  await redis?.quit();
});

function setup(options = { retentionSeconds: 3600, maxLength: 0, statsRetentionDays: 400 }) {
  const keys: Keys = createKeys(`t${randomBytes(6).toString('hex')}`);
  queue = createDeliveryQueue(redis, keys);
  const seen: PublishedEvent[] = [];
  const metrics = createMetrics();
  const log = new EventLog(redis, keys, options, { metrics, subscribers: [{ publish: async (e) => void seen.push(...e) }, { publish: async () => Promise.reject(new Error('webhook store down')) }] });
  const store = createMessageStore(redis, queue, keys, { retentionSeconds: 3600, bodyRetentionSeconds: 0 }, log);
  return { keys, log, store, seen, metrics };
}

async function accept(store: MessageStore, recipients: string[], tag: string | null = 'spring', from = 'News@Shop.Example'): Promise<string> {
  const id = newMessageId();
  await store.accept({
    id, mailFrom: 'bounce@shop.example', recipients, headerFrom: from, subject: 's', messageIdHeader: `<${id}@x>`, tag,
    sendAt: null, track: null, meta: { campaign: 'c1' }, user: 'shop', clientIp: '127.0.0.1', source: 'submission', body: Buffer.from('Subject: s\r\n\r\nb\r\n'),
  });
  return id;
}

/** Stream ids "<ms>-<seq>" compared as numbers. */
function streamOrder(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('-').map(Number) as [number, number];
  return am - bm || as - bs;
}

const now = Date.now();
const range = { from: now - 3_600_000, to: now + 3_600_000, bucket: 'hour' as const };

describe('event log', () => {
  it('publishes every recorded event with its message context, counts it once, and survives a failing subscriber', async () => {
    const { keys, log, store, seen, metrics } = setup();
    const id = await accept(store, ['a@dest.example', 'b@dest.example']);
    const at = new Date().toISOString();
    expect(await store.record(id, { address: 'a@dest.example', status: 'delivered', reason: null, hard: null, attempts: 1, updatedAt: Date.now() }, { type: 'delivered', at, rcpt: 0, address: 'a@dest.example' })).toBe(true);
    // A re-run job after a crash: the recipient is final, nothing is recorded, published or counted.
    expect(await store.record(id, { address: 'a@dest.example', status: 'delivered', reason: null, hard: null, attempts: 2, updatedAt: Date.now() }, { type: 'delivered', at, rcpt: 0, address: 'a@dest.example' })).toBe(false);
    const failure = { reason: 'userunknown', group: 'permanent', label: 'address does not exist' };
    await store.record(id, { address: 'b@dest.example', status: 'bounced', reason: '550', hard: true, failure, attempts: 1, updatedAt: Date.now() }, { type: 'bounced', at, rcpt: 1, address: 'b@dest.example', failure, hard: true });
    // A later DSN of the delivered recipient: bounced once more, by report.
    const reports = createReportStore(redis, keys, { retentionSeconds: 3600, bodyRetentionSeconds: 0 }, log);
    const dsn = { reason: 'mailboxfull', group: 'temporary', label: 'mailbox full' };
    expect(await reports.apply(id, 0, (current) => ({ kind: 'bounce', event: { type: 'bounced', at, rcpt: 0, address: current.address, failure: dsn, source: 'dsn' }, state: { ...current, status: 'bounced', failure: dsn } }))).toBe('recorded');

    const stream = await log.read();
    expect(stream.map((e) => [e.type, e.rcpt])).toEqual([['queued', 0], ['queued', 1], ['delivered', 0], ['bounced', 1], ['bounced', 0]]);
    for (const e of stream) expect(e).toMatchObject({ messageId: id, tag: 'spring', domain: 'shop.example', metadata: { campaign: 'c1' } });
    stream.slice(1).forEach((e, i) => expect(streamOrder(stream[i]!.id, e.id)).toBeLessThan(0));
    // Subscribers got the same events (ids included) — the failing one changed nothing.
    expect(seen.map((e) => e.id)).toEqual(stream.map((e) => e.id));
    expect(await log.read(stream[2]!.id)).toHaveLength(2);

    const report = await readStats(redis, keys, { scope: statsScope('spring', null), ...range });
    expect(report.counts).toMatchObject({ sent: 2, delivered: 1, bounced: 2, hardBounced: 1 });
    expect(report.bounces.byReason).toEqual([{ reason: 'mailboxfull', count: 1 }, { reason: 'userunknown', count: 1 }]);
    expect(report.bounces.byGroup).toEqual([{ group: 'permanent', count: 1 }, { group: 'temporary', count: 1 }]);
    expect(report.rates.bounce).toBe(1);
    const metricText = await metrics.registry.metrics();
    expect(metricText).toMatch(/sokutatsu_events_total\{type="queued",machine=""\} 2/);
    expect(metricText).toMatch(/sokutatsu_events_total\{type="bounced",machine=""\} 2/);
  });

  it('counts under all mail, the tag, the sending domain and both; not under another tag', async () => {
    const { keys, store } = setup();
    await accept(store, ['a@dest.example'], 'spring', 'news@shop.example');
    await accept(store, ['b@dest.example', 'c@dest.example'], null, 'info@Other.Example');
    await accept(store, ['d@dest.example'], 'autumn', 'news@shop.example');
    const sent = async (tag: string | null, domain: string | null) => (await readStats(redis, keys, { scope: statsScope(tag, domain), ...range })).counts.sent;
    expect(await sent(null, null)).toBe(4);
    expect(await sent('spring', null)).toBe(1);
    expect(await sent(null, 'shop.example')).toBe(2);
    expect(await sent(null, 'OTHER.example')).toBe(2);
    expect(await sent('spring', 'shop.example')).toBe(1);
    expect(await sent('spring', 'other.example')).toBe(0);
    expect(await sent('winter', null)).toBe(0);
    // Out of range: nothing.
    expect((await readStats(redis, keys, { scope: 'all', from: now - 10 * 3_600_000, to: now - 5 * 3_600_000, bucket: 'day' })).counts.sent).toBe(0);
  });

  it('engagement: past the 100th open of a recipient, opens are still counted but kept off the stream (as off the timeline)', async () => {
    const { keys, log, store } = setup();
    const id = await accept(store, ['a@dest.example']);
    const deliveredAt = Date.now() - 60_000;
    await store.record(id, { address: 'a@dest.example', status: 'delivered', reason: null, hard: null, attempts: 1, updatedAt: deliveredAt }, { type: 'delivered', at: new Date(deliveredAt).toISOString(), rcpt: 0, address: 'a@dest.example' });
    const engagement = new EngagementTracker(redis, keys, new LinkStore(redis, keys, 3600), { ttlSeconds: 3600, events: log });
    const client = { ip: '192.0.2.1', userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Thunderbird/128.0', method: 'GET' };
    for (let i = 0; i < 103; i++) await engagement.open({ messageId: id, rcpt: 0 }, client);
    const opens = (await log.read('-', 1000)).filter((e) => e.type === 'opened');
    expect(opens).toHaveLength(100);
    expect(opens[0]).toMatchObject({ count: 1, firstHuman: true, machine: false, messageId: id, tag: 'spring' });
    const report = await readStats(redis, keys, { scope: statsScope('spring', 'shop.example'), ...range });
    expect(report.counts.opened).toEqual({ total: 103, unique: 1, human: 103, uniqueHuman: 1, machine: 0 });
    // Measured from the delivery a minute ago.
    expect(report.meanSecondsToFirstOpen).toBeGreaterThanOrEqual(60);
    expect(report.meanSecondsToFirstOpen).toBeLessThan(90);
  });

  it('trims the stream by length (approximately: whole blocks of ~100 entries)', async () => {
    const { keys, log, store } = setup({ retentionSeconds: 3600, maxLength: 100, statsRetentionDays: 400 });
    const recipients = Array.from({ length: 350 }, (_, i) => `r${i}@dest.example`);
    await accept(store, recipients);
    const length = await redis.xlen(keys.eventStream);
    expect(length).toBeGreaterThanOrEqual(100);
    expect(length).toBeLessThan(250);
    const kept = await log.read('-', 1000);
    expect(kept.at(-1)).toMatchObject({ rcpt: 349, type: 'queued' }); // the newest stay, the oldest went
    expect(kept[0]!.rcpt).toBeGreaterThan(0);
    // The statistics are not trimmed with the stream.
    expect((await readStats(redis, keys, { scope: 'all', ...range })).counts.sent).toBe(350);
  });

  it('trims the stream by age: entries older than events.retentionSeconds go as new ones arrive (whole blocks)', async () => {
    const { keys, log, store } = setup({ retentionSeconds: 1, maxLength: 0, statsRetentionDays: 400 });
    await accept(store, Array.from({ length: 250 }, (_, i) => `old${i}@dest.example`));
    expect(await redis.xlen(keys.eventStream)).toBe(250);
    await new Promise((r) => setTimeout(r, 1100));
    const id = await accept(store, ['new@dest.example']);
    const length = await redis.xlen(keys.eventStream);
    expect(length).toBeLessThanOrEqual(51); // the two full blocks of 100 old entries went; a partly old block may stay
    expect((await log.read()).at(-1)).toMatchObject({ messageId: id, address: 'new@dest.example' });
  });

  it('accepts a message of 2,500 recipients in one go: every state, timeline entry, stream entry, job and index entry, in order', async () => {
    const { keys, store, seen } = setup({ retentionSeconds: 3600, maxLength: 0, statsRetentionDays: 400 });
    const recipients = Array.from({ length: 2500 }, (_, i) => `Many${i}@Dest.Example`);
    const id = await accept(store, [...recipients, 'many0@dest.example']);
    const states = await store.recipients(id);
    expect(states).toHaveLength(2501);
    expect(states[2499]).toMatchObject({ address: 'Many2499@Dest.Example', status: 'queued', attempts: 0 });
    const timeline = await store.events(id);
    expect(timeline.map((e) => e.rcpt)).toEqual(states.map((_, i) => i));
    expect(seen.filter((e) => e.messageId === id).map((e) => e.rcpt)).toEqual(states.map((_, i) => i));
    expect(await redis.xlen(keys.eventStream)).toBe(2501);
    expect(await queue.getJobCountByTypes('waiting')).toBe(2501);
    expect((await readStats(redis, keys, { scope: 'all', ...range })).counts.sent).toBe(2501);
    // One recipient index per address (lower case), expiring with the index window.
    expect(await redis.zscore(keys.recipientIndex('many0@dest.example'), id)).not.toBeNull();
    expect(await redis.zcard(keys.recipientIndex('many0@dest.example'))).toBe(1);
    expect(await redis.pttl(keys.recipientIndex('many2499@dest.example'))).toBeGreaterThan(0);
    expect(await redis.zscore(keys.tagIndex('spring'), id)).not.toBeNull();
    expect(await redis.zscore(keys.messageIndex, id)).not.toBeNull();
  });

  it('rates: null where the divisor is 0', () => {
    const zero: Counts = { sent: 0, delivered: 0, deferred: 0, bounced: 0, hardBounced: 0, expired: 0, suppressed: 0, cancelled: 0, complained: 0, unsubscribed: 0, delayed: 0, autoReplied: 0,
      opened: { total: 0, unique: 0, human: 0, uniqueHuman: 0, machine: 0 }, clicked: { total: 0, unique: 0, human: 0, uniqueHuman: 0, machine: 0 } };
    expect(ratesOf(zero)).toEqual({ bounce: null, delivery: null, open: null, click: null, clickToOpen: null, unsubscribe: null, complaint: null });
    expect(ratesOf({ ...zero, sent: 4, delivered: 2, bounced: 1, opened: { ...zero.opened, uniqueHuman: 0 }, clicked: { ...zero.clicked, uniqueHuman: 0 } })).toMatchObject({ bounce: 0.25, open: 0, clickToOpen: null });
  });
});

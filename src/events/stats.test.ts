/**
 * The statistics reader over counters written by hand: ranges, day buckets at a UTC offset,
 * opens by hour of day, link rows summed over hours, rates.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createKeys } from '../redis/keys.js';
import { readStats } from './stats.js';

let redis: Redis;
beforeAll(() => {
  redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
});
afterAll(async () => {
  await redis?.quit();
});

const H = 3600;
/** 2026-01-10T14:00:00Z (= 23:00 in Japan) and the next hour (00:00 on the 11th in Japan) */
const T1 = Date.UTC(2026, 0, 10, 14) / 1000;
const T2 = T1 + H;

describe('statistics reader', () => {
  it('sums hours into days at the UTC offset asked for, and opens by local hour of day', async () => {
    const keys = createKeys(`t${randomBytes(6).toString('hex')}`);
    await redis.hset(keys.statsCounters('t:spring', T1), { queued: 10, delivered: 8, opened: 5, 'opened:human': 4, 'opened:human:unique': 3, 'opened:first:ms': 90_000, 'opened:first:n': 3 });
    await redis.hset(keys.statsCounters('t:spring', T2), { 'opened:human': 2, 'opened:human:unique': 1, 'opened:first:ms': 30_000, 'opened:first:n': 1, clicked: 1, 'clicked:human:unique': 1 });
    await redis.hset(keys.statsLinks('t:spring', T1), { '0\thttps://a.example/\tclicks': 2, '0\thttps://a.example/\tunique': 1 });
    await redis.hset(keys.statsLinks('t:spring', T2), { '0\thttps://a.example/\tclicks': 1, '0\thttps://a.example/\thuman': 1, '1\thttps://b.example/?q=1\tclicks': 5 });
    const range = { scope: 't:spring', from: (T1 - 86_400) * 1000, to: (T2 + 86_400) * 1000 };

    const utc = await readStats(redis, keys, { ...range, bucket: 'day' });
    expect(utc.buckets.map((b) => b.start)).toEqual(['2026-01-10T00:00:00.000Z']);
    expect(utc.opensByHour[14]).toBe(4);
    expect(utc.opensByHour[15]).toBe(2);
    expect(utc.counts).toMatchObject({ sent: 10, delivered: 8, opened: { total: 5, human: 6, uniqueHuman: 4 } });
    expect(utc.rates).toMatchObject({ open: 4 / 8, click: 1 / 8, clickToOpen: 1 / 4, bounce: 0 });
    expect(utc.meanSecondsToFirstOpen).toBe(30);
    expect(utc.links).toEqual([
      { link: 1, url: 'https://b.example/?q=1', clicks: 5, humanClicks: 0, uniqueClicks: 0, uniqueHumanClicks: 0 },
      { link: 0, url: 'https://a.example/', clicks: 3, humanClicks: 1, uniqueClicks: 1, uniqueHumanClicks: 0 },
    ]);

    const japan = await readStats(redis, keys, { ...range, bucket: 'day', utcOffsetSeconds: 9 * H });
    // Japan's 10th starts at 15:00Z on the 9th; its 11th at 15:00Z on the 10th.
    expect(japan.buckets.map((b) => [b.start, b.counts.sent, b.counts.opened.human])).toEqual([['2026-01-09T15:00:00.000Z', 10, 4], ['2026-01-10T15:00:00.000Z', 0, 2]]);
    expect(japan.opensByHour[23]).toBe(4);
    expect(japan.opensByHour[0]).toBe(2);

    const hours = await readStats(redis, keys, { ...range, bucket: 'hour' });
    expect(hours.buckets.map((b) => b.start)).toEqual(['2026-01-10T14:00:00.000Z', '2026-01-10T15:00:00.000Z']);
    // A range that ends before the second hour: only the first.
    expect((await readStats(redis, keys, { scope: 't:spring', from: T1 * 1000, to: T2 * 1000, bucket: 'hour' })).counts.opened.human).toBe(4);
  });
});

/**
 * Message search paging against real Redis index entries: newest first, no message twice or
 * left out — also when hundreds share one millisecond (more than a batch), across the budget of
 * one page, and with entries whose message expired.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createKeys } from '../src/redis/keys.js';
import { searchMessages, type SearchQuery } from '../src/http/message-search.js';

const keys = createKeys(`t${randomBytes(6).toString('hex')}`);
let redis: Redis;
beforeAll(() => {
  redis = new Redis(inject('redisUrl'));
});
afterAll(async () => {
  await redis.quit();
});

async function store(id: string, at: number, tag: string, status = 'queued'): Promise<void> {
  await redis.multi()
    .hset(keys.message(id), { id, mailFrom: 'a@shop.example', headerFrom: 'a@shop.example', subject: id, tag, createdAt: String(at) })
    .hset(keys.recipients(id), '0', JSON.stringify({ address: 'r@example.jp', status, reason: null, hard: null, attempts: 0, updatedAt: at }))
    .zadd(keys.messageIndex, at, id)
    .zadd(keys.tagIndex(tag), at, id)
    .exec();
}

async function all(q: SearchQuery): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 1000; pages++) {
    const page = await searchMessages(redis, keys, { ...q, ...(cursor ? { cursor } : {}) });
    ids.push(...page.messages.map((m) => m.id));
    if (!page.nextCursor) return ids;
    cursor = page.nextCursor;
  }
  throw new Error('no end');
}

describe('searchMessages', () => {
  it('pages through 450 messages of one millisecond and more around them, newest first, each once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 450; i++) ids.push(`0000000aa${String(i).padStart(4, '0')}`);
    for (const id of ids) await store(id, 1_000_000, 'same');
    for (let i = 0; i < 20; i++) await store(`0000000bb${String(i).padStart(4, '0')}`, 2_000_000 + i, 'same');
    await store('0000000cc0000', 500_000, 'same', 'bounced');
    const got = await all({ tag: 'same', limit: 37 });
    expect(got).toHaveLength(471);
    expect(new Set(got).size).toBe(471);
    expect(got.slice(0, 20)).toEqual(Array.from({ length: 20 }, (_, i) => `0000000bb${String(19 - i).padStart(4, '0')}`));
    expect(got.slice(20, 470)).toEqual([...ids].reverse());
    expect(got[470]).toBe('0000000cc0000');
    // A filter that matches little: short pages with cursors, then the one match.
    expect(await all({ tag: 'same', status: 'bounced', limit: 10 })).toEqual(['0000000cc0000']);
    // Time range: from inclusive, to exclusive.
    expect(await all({ tag: 'same', from: '2000005', to: '2000008' })).toEqual(['0000000bb0007', '0000000bb0006', '0000000bb0005']);
  });

  it('skips index entries whose message has expired', async () => {
    await store('0000000dd0001', 3_000_000, 'gone');
    await redis.zadd(keys.tagIndex('gone'), 3_000_001, '0000000dd0002');
    expect(await all({ tag: 'gone' })).toEqual(['0000000dd0001']);
  });
});

import { afterAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pino from 'pino';
import { createKeys } from '../redis/keys.js';
import { SuppressionList } from '../store/suppressions.js';
import { SuppressionPolicy } from './suppression-policy.js';

const redis = new Redis(inject('redisUrl'));
afterAll(() => redis.disconnect());
const HOUR = 3_600_000;
const policy = () => new SuppressionPolicy(new SuppressionList(redis, createKeys(`sp${randomBytes(4).toString('hex')}`)), { softBounceCount: 3, softBounceMinHours: 72 }, pino({ level: 'silent' }));
const full = { reason: 'mailboxfull', hard: false, label: 'mailbox full' };

describe('suppression policy', () => {
  it('suppresses a hard bounce and a complaint at once, for every sender; never a reputation block', async () => {
    const p = policy();
    expect(await p.afterFailure('Taro@Example.JP', { reason: 'userunknown', hard: true, label: 'address does not exist' }, 'dsn m1/0')).toMatchObject({ address: 'taro@example.jp', scope: 'global', state: 'prohibited', source: 'dsn m1/0' });
    expect(await p.list.check('taro@example.jp', 'shop.example')).toMatchObject({ reason: 'hard bounce: address does not exist (userunknown)' });
    await p.afterComplaint('hanako@example.jp', 'complaint m2/0');
    expect((await p.list.check('HANAKO@example.jp', null))?.reason).toMatch(/^complaint/);
    for (let i = 0; i < 5; i++) expect(await p.afterFailure('jiro@example.jp', { reason: 'blocked', hard: false, label: 'refused (spam settings etc.)' }, `delivery m${i}/0`)).toBeNull();
    expect(await p.list.check('jiro@example.jp', null)).toBeNull();
  });

  it('suppresses soft bounces only after 3 in a row spanning 72 hours; a delivery starts the count again', async () => {
    const p = policy();
    const t0 = Date.parse('2026-11-01T00:00:00Z');
    expect(await p.afterFailure('full@example.jp', full, 'a', t0)).toBeNull();
    expect(await p.afterFailure('full@example.jp', full, 'b', t0 + 10 * HOUR)).toBeNull();
    expect(await p.afterFailure('full@example.jp', full, 'c', t0 + 20 * HOUR)).toBeNull(); // 3, but within a day
    expect(await p.afterFailure('full@example.jp', full, 'd', t0 + 73 * HOUR)).toMatchObject({ reason: 'soft bounces: 4 in a row over 73 h (last: mailbox full, mailboxfull)' });

    await p.afterFailure('back@example.jp', full, 'a', t0);
    await p.afterFailure('back@example.jp', full, 'b', t0 + 40 * HOUR);
    await p.afterDelivery('back@example.jp');
    expect(await p.afterFailure('back@example.jp', full, 'c', t0 + 80 * HOUR)).toBeNull(); // the run started again
  });

  it('keeps one entry per address and scope; remove by scope or all', async () => {
    const { list } = policy();
    await list.add({ address: 'a@example.jp', scope: 'shop.example', state: 'stopped', reason: 'unsubscribed', source: 'manual' });
    await list.add({ address: 'a@example.jp', scope: 'shop.example', state: 'stopped', reason: 'unsubscribed again', source: 'manual' });
    await list.add({ address: 'a@example.jp', scope: 'global', state: 'prohibited', reason: 'manual', source: 'manual' });
    expect((await list.entries('a@example.jp')).map((e) => `${e.scope}:${e.reason}`)).toEqual(['shop.example:unsubscribed again', 'global:manual']);
    expect(await list.check('a@example.jp', 'other.example')).toMatchObject({ scope: 'global' });
    expect(await list.remove('a@example.jp', 'global')).toBe(true);
    expect(await list.check('a@example.jp', 'other.example')).toBeNull();
    expect(await list.check('a@example.jp', 'shop.example')).toMatchObject({ state: 'stopped' });
    expect(await list.remove('a@example.jp')).toBe(true);
    expect(await list.entries('a@example.jp')).toEqual([]);
    expect(await list.remove('a@example.jp')).toBe(false);
  });
});

import { afterAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createKeys } from '../redis/keys.js';
import { isPushback, SiteThrottle } from './throttle.js';
import type { SiteLimits } from './sites.js';

// Two connections: two processes (or nodes) sharing one Redis.
const a = new Redis(inject('redisUrl'));
const b = new Redis(inject('redisUrl'));
afterAll(() => {
  a.disconnect();
  b.disconnect();
});
const backoff = { threshold: 3, firstPauseSeconds: 1, maxPauseSeconds: 4, successesPerStep: 2 };
const limits = (over: Partial<SiteLimits> = {}): SiteLimits => ({ connections: 2, perMinute: 0, messagesPerConnection: 100, idleSeconds: 10, ...over });
const pair = (leaseMs?: number) => {
  const keys = createKeys(`th${randomBytes(4).toString('hex')}`);
  return { keys, one: new SiteThrottle(a, keys, backoff, leaseMs), two: new SiteThrottle(b, keys, backoff, leaseMs) };
};

describe('site throttle', () => {
  it('holds the connection limit across processes; a released or expired lease frees a slot', async () => {
    const { one, two } = pair(400);
    const first = await one.openConnection('google.com', limits());
    const second = await two.openConnection('google.com', limits());
    expect([first.ok, second.ok]).toEqual([true, true]);
    expect(await one.openConnection('google.com', limits())).toEqual({ ok: false, waitMs: -1, paused: false });
    expect((await two.openConnection('outlook.com', limits())).ok).toBe(true); // another site is unaffected
    if (first.ok) await one.closeConnection('google.com', first.leaseId);
    const third = await two.openConnection('google.com', limits());
    expect(third.ok).toBe(true);
    // Nobody renews: the leases of a crashed holder expire.
    await new Promise((r) => setTimeout(r, 500));
    expect((await one.openConnection('google.com', limits())).ok).toBe(true);
    expect((await one.openConnection('google.com', limits())).ok).toBe(true);
    expect((await one.openConnection('google.com', limits())).ok).toBe(false);
    const renewed = await two.openConnection('renew.example', limits({ connections: 1 }));
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 200));
      if (renewed.ok) await two.renewConnection('renew.example', renewed.leaseId);
    }
    expect((await one.openConnection('renew.example', limits({ connections: 1 }))).ok).toBe(false); // renewed: still held after 800 ms
  });

  it('spaces messages evenly at perMinute across processes: each caller that must wait gets its own slot', async () => {
    const { one, two } = pair();
    const l = limits({ perMinute: 600 }); // one per 100 ms
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? one : two).admit('docomo.ne.jp', l)));
    expect(answers.filter((x) => x.ok)).toHaveLength(1);
    const slots = answers.map((x) => (x.ok ? 0 : x.waitMs)).sort((p, q) => p - q);
    // Six callers at once: one goes now, five get reserved slots 100, 200, … 500 ms out (± the calls' own time).
    slots.slice(1).forEach((w, i) => {
      expect(w).toBeGreaterThan((i + 1) * 100 - 60);
      expect(w).toBeLessThanOrEqual((i + 1) * 100);
    });
    expect(answers.every((x) => x.ok || (x.reserved && !x.paused))).toBe(true);
    // Coming back for a reserved slot: admitted without taking another.
    expect(await one.admit('docomo.ne.jp', l, true)).toEqual({ ok: true });
    const next = await two.admit('docomo.ne.jp', l);
    expect(next.ok === false && next.waitMs).toBeGreaterThan(500 - (Date.now() - started) - 60);
    expect(await one.admit('unlimited.example', limits({ perMinute: 0 }))).toEqual({ ok: true });
  });

  it('backs off after a run of pushback: halves the connections, pauses for a growing window, then earns them back', async () => {
    const { one, two } = pair();
    const l = limits({ connections: 8 });
    expect(await one.recordTrouble('yahoodns.net', l, '421 4.7.0 [TSS04] try later', 0)).toBeNull();
    expect(await two.recordTrouble('yahoodns.net', l, '421 4.7.0 [TSS04] try later', 0)).toBeNull();
    const paused = await one.recordTrouble('yahoodns.net', l, '421 4.7.0 [TSS04] try later', 6);
    expect(paused?.ceiling).toBe(3); // the 6 in use, halved
    const during = await two.openConnection('yahoodns.net', l);
    expect(during).toMatchObject({ ok: false, paused: true });
    expect(during.ok === false && during.waitMs).toBeGreaterThan(500);
    const [state] = (await one.states()).filter((s) => s.site === 'yahoodns.net');
    expect(state).toMatchObject({ ceiling: 3, reason: '421 4.7.0 [TSS04] try later', manual: false });
    expect(state!.pausedUntil).not.toBeNull();

    await new Promise((r) => setTimeout(r, 1100));
    const leases = [];
    for (let i = 0; i < 4; i++) leases.push(await two.openConnection('yahoodns.net', l));
    expect(leases.map((x) => x.ok)).toEqual([true, true, true, false]); // at most the lowered ceiling
    // A second backoff pauses twice as long.
    for (let i = 0; i < 3; i++) await one.recordTrouble('yahoodns.net', l, '421 too many connections', 3);
    const again = await two.openConnection('yahoodns.net', l);
    expect(again.ok === false && again.waitMs).toBeGreaterThan(1500);

    await one.resume('yahoodns.net');
    expect((await one.states()).find((s) => s.site === 'yahoodns.net')).toMatchObject({ ceiling: null, pausedUntil: null });
  });

  it('recovers one connection per successesPerStep and forgets the state once back at the limit', async () => {
    const { one, keys } = pair();
    const l = limits({ connections: 4 });
    for (let i = 0; i < 3; i++) await one.recordTrouble('icloud.com', l, '421 later', 4);
    expect(await a.hget(keys.siteState('icloud.com'), 'ceiling')).toBe('2');
    await a.hset(keys.siteState('icloud.com'), 'pausedUntil', 0);
    for (let i = 0; i < 2; i++) await one.recordSuccess('icloud.com', l);
    expect(await a.hget(keys.siteState('icloud.com'), 'ceiling')).toBe('3');
    for (let i = 0; i < 4; i++) await one.recordSuccess('icloud.com', l);
    expect(await a.exists(keys.siteState('icloud.com'))).toBe(0);
  });

  it('operator pause holds until resumed', async () => {
    const { one, two } = pair();
    await one.pause('docomo.ne.jp', Date.now() + 60_000, 'paused by operator');
    expect(await two.openConnection('docomo.ne.jp', limits())).toMatchObject({ ok: false, paused: true });
    for (let i = 0; i < 50; i++) await two.recordSuccess('docomo.ne.jp', limits());
    expect((await one.states()).find((s) => s.site === 'docomo.ne.jp')).toMatchObject({ manual: true, reason: 'paused by operator' });
    expect(await two.resume('docomo.ne.jp')).toBe(true);
    expect((await two.openConnection('docomo.ne.jp', limits())).ok).toBe(true);
  });

  it('tells pushback from other temporary failures', () => {
    expect(isPushback({ code: 421, detail: '' })).toBe(true);
    expect(isPushback({ code: 451, enhancedCode: '4.7.650', detail: '' })).toBe(true);
    expect(isPushback({ code: 450, reply: '450 too many connections from your IP', detail: '' })).toBe(true);
    expect(isPushback({ detail: 'connect ECONNREFUSED 192.0.2.1:25' })).toBe(true);
    expect(isPushback({ code: 452, enhancedCode: '4.2.2', reply: '452 4.2.2 mailbox full', detail: '' })).toBe(false);
    expect(isPushback({ code: 550, detail: '' })).toBe(false);
  });
});

describe('SiteThrottle.gauges', () => {
  it('counts live leases over every site and the sites paused now, in a few round trips', async () => {
    const { one, two } = pair(60_000);
    expect(await one.gauges()).toEqual({ connections: 0, paused: 0 });
    await one.openConnection('google.com', limits());
    await two.openConnection('google.com', limits());
    const lease = await two.openConnection('outlook.com', limits());
    expect(await one.gauges()).toEqual({ connections: 3, paused: 0 });
    if (lease.ok) await two.closeConnection('outlook.com', lease.leaseId);
    await one.pause('docomo.ne.jp', Date.now() + 60_000, 'operator');
    await one.pause('au.com', Date.now() - 1, 'already over');
    expect(await two.gauges()).toEqual({ connections: 2, paused: 1 });
    await one.resume('docomo.ne.jp');
    expect((await two.gauges()).paused).toBe(0);
  });
});

import { afterEach, describe, expect, it, vi } from 'vitest';
import { BodyCache } from './body-cache.js';

describe('body cache', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('evicts the oldest bodies to stay within its byte limit', () => {
    const cache = new BodyCache(100, 60_000);
    cache.set('a', Buffer.alloc(20));
    cache.set('b', Buffer.alloc(20));
    cache.set('c', Buffer.alloc(20));
    cache.set('d', Buffer.alloc(20));
    cache.set('e', Buffer.alloc(25));
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('e')).toBeDefined();
    expect(cache.size).toBeLessThanOrEqual(100);
  });

  it('does not keep a body larger than a quarter of the limit, and forgets deleted ones', () => {
    const cache = new BodyCache(100, 60_000);
    cache.set('big', Buffer.alloc(30));
    expect(cache.get('big')).toBeUndefined();
    cache.set('x', Buffer.alloc(10));
    cache.delete('x');
    expect(cache.get('x')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('forgets bodies not read within the age limit: on the next set, and on get', () => {
    let now = 1_000_000;
    const cache = new BodyCache(1000, 10_000, () => now);
    cache.set('old', Buffer.alloc(10));
    now += 6_000;
    cache.set('newer', Buffer.alloc(10));
    now += 4_000; // 'old' is 10 s old now
    expect(cache.get('old')).toBeUndefined();
    expect(cache.get('newer')).toBeDefined();
    now += 6_000;
    cache.set('newest', Buffer.alloc(10));
    expect(cache.count).toBe(1);
    expect(cache.size).toBe(10);
  });

  it('empties itself when nothing more is cached (the site waits, the process idles)', () => {
    vi.useFakeTimers();
    const cache = new BodyCache(1000, 10_000);
    cache.set('a', Buffer.alloc(10));
    vi.advanceTimersByTime(5_000);
    cache.set('b', Buffer.alloc(10));
    vi.advanceTimersByTime(5_000);
    expect(cache.count).toBe(1); // 'a' went when it turned 10 s old
    vi.advanceTimersByTime(5_000);
    expect(cache.count).toBe(0);
    expect(cache.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0); // no timer left behind once empty
  });
});

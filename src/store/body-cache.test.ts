import { describe, expect, it } from 'vitest';
import { BodyCache } from './body-cache.js';

describe('body cache', () => {
  it('evicts the oldest bodies to stay within its byte limit', () => {
    const cache = new BodyCache(100);
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
    const cache = new BodyCache(100);
    cache.set('big', Buffer.alloc(30));
    expect(cache.get('big')).toBeUndefined();
    cache.set('x', Buffer.alloc(10));
    cache.delete('x');
    expect(cache.get('x')).toBeUndefined();
    expect(cache.size).toBe(0);
  });
});

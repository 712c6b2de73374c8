import { describe, expect, it } from 'vitest';
import { isApiPath, TokenBuckets } from './api-guard.js';

describe('isApiPath', () => {
  it('sees /api in every spelling, and nothing else', () => {
    for (const p of ['/api', '/api/', '/api/v1/messages', '//api/v1', '/API/v1', '/%61pi/v1', '/%2561pi/v1', '/\\api/v1', '/api;x', '/api.json']) expect(isApiPath(p), p).toBe(true);
    for (const p of ['/', '/healthz', '/metrics', '/apis', '/t/c/api', '/u/abc', '/%zz']) expect(isApiPath(p), p).toBe(false);
  });
});

describe('TokenBuckets', () => {
  it('allows a minute\'s worth at once, then refills continuously; buckets are per name; 0 is unlimited', () => {
    let now = 0;
    const b = new TokenBuckets(60, () => now);
    for (let i = 0; i < 60; i++) expect(b.take('a')).toBe(0);
    expect(b.take('a')).toBe(1000);
    expect(b.take('b')).toBe(0);
    now += 1000;
    expect(b.take('a')).toBe(0);
    expect(b.take('a')).toBeGreaterThan(0);
    const unlimited = new TokenBuckets(0, () => now);
    for (let i = 0; i < 1000; i++) expect(unlimited.take('a')).toBe(0);
  });
});

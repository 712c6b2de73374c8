import { afterAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pino from 'pino';
import { createKeys } from '../redis/keys.js';
import { freePort } from '../../test/support/global-setup.js';
import { ApiRateLimit, isApiPath } from './api-guard.js';

describe('isApiPath', () => {
  it('sees /api in every spelling, and nothing else', () => {
    for (const p of ['/api', '/api/', '/api/v1/messages', '//api/v1', '/API/v1', '/%61pi/v1', '/%2561pi/v1', '/\\api/v1', '/api;x', '/api.json']) expect(isApiPath(p), p).toBe(true);
    for (const p of ['/', '/healthz', '/metrics', '/apis', '/t/c/api', '/u/abc', '/%zz']) expect(isApiPath(p), p).toBe(false);
  });
});

// Two connections: two processes (or nodes) sharing one Redis.
const a = new Redis(inject('redisUrl'));
const b = new Redis(inject('redisUrl'));
afterAll(() => {
  a.disconnect();
  b.disconnect();
});
const keys = () => createKeys(`rl${randomBytes(4).toString('hex')}`);

describe('ApiRateLimit', () => {
  it('allows a minute\'s worth at once, then one per 60/perMinute s; per token name; 0 is unlimited', async () => {
    const k = keys();
    const limit = new ApiRateLimit(a, k, 120); // one per 500 ms
    for (let i = 0; i < 120; i++) expect(await limit.take('a')).toBe(0);
    const wait = await limit.take('a');
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(500);
    expect(await limit.take('b')).toBe(0);
    await new Promise((r) => setTimeout(r, wait + 50));
    expect(await limit.take('a')).toBe(0);
    expect(await limit.take('a')).toBeGreaterThan(0);
    // A refused request is not counted: the wait does not grow with retries.
    expect(await limit.take('a')).toBeLessThanOrEqual(500);
    // The key expires once the allowance is whole again.
    expect(await a.pttl(k.apiRateLimit('a'))).toBeLessThanOrEqual(61_000);
    const unlimited = new ApiRateLimit(a, keys(), 0);
    for (let i = 0; i < 1000; i++) expect(await unlimited.take('a')).toBe(0);
  });

  it('is one budget per token across processes: 5 a minute, 3 through each, the 6th waits ~12 s', async () => {
    const k = keys();
    const one = new ApiRateLimit(a, k, 5);
    const two = new ApiRateLimit(b, k, 5);
    for (let i = 0; i < 3; i++) expect(await one.take('crm')).toBe(0);
    for (let i = 0; i < 2; i++) expect(await two.take('crm')).toBe(0);
    const wait = await two.take('crm');
    expect(wait).toBeGreaterThan(11_000);
    expect(wait).toBeLessThanOrEqual(12_000);
    expect(await one.take('crm')).toBeGreaterThan(11_000);
  });

  it('lets requests through when Redis does not answer, with one warning', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    // Nothing listens there: the client keeps reconnecting, commands would wait in its queue.
    const down = new Redis(`redis://127.0.0.1:${await freePort()}`, { maxRetriesPerRequest: null, retryStrategy: () => 50 });
    down.on('error', () => undefined);
    try {
      const limit = new ApiRateLimit(down, keys(), 1, log, 200);
      const started = Date.now();
      for (let i = 0; i < 5; i++) expect(await limit.take('a')).toBe(0);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({ level: 40, msg: expect.stringContaining('rate limit not checked') });
    } finally {
      down.disconnect();
    }
  });
});

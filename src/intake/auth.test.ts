import { afterAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pino from 'pino';
import { createKeys } from '../redis/keys.js';
import { validate } from '../config/load.js';
import { createUserStore } from './users.js';
import { createAuthGuard } from './auth.js';

const redis = new Redis(inject('redisUrl'));
afterAll(() => redis.disconnect());

async function guard() {
  const keys = createKeys(`auth${randomBytes(4).toString('hex')}`);
  const users = createUserStore(redis, keys);
  await users.add('alice', 'S3cret-pass', ['shop.example']);
  const limits = validate({ smtp: { limits: { authFailuresPerConnection: 2, authFailuresPerIp: 3, authLockoutSeconds: 60 } } }).smtp.limits;
  return createAuthGuard(users, redis, keys, limits, pino({ level: 'silent' }));
}

const attempt = (over: Partial<{ username: string; password: string; sessionId: string; remoteAddress: string; secure: boolean }> = {}) => ({
  username: 'alice', password: 'S3cret-pass', sessionId: 's1', remoteAddress: '192.0.2.10', secure: true, ...over,
});

describe('auth guard', () => {
  it('refuses AUTH without TLS from a non-loopback client with 538 5.7.11, allows it from loopback', async () => {
    const g = await guard();
    const plain = await g.authenticate(attempt({ secure: false }));
    expect(plain.ok).toBe(false);
    if (!plain.ok) expect(plain.error.message).toMatch(/^5\.7\.11 Encryption required/);
    expect((await g.authenticate(attempt({ secure: false, remoteAddress: '127.0.0.1' }))).ok).toBe(true);
    expect((await g.authenticate(attempt({ secure: false, remoteAddress: '::ffff:127.0.0.1' }))).ok).toBe(true);
  });

  it('disconnects after the per-connection limit and locks the IP out after the per-IP limit', async () => {
    const g = await guard();
    const first = await g.authenticate(attempt({ password: 'x' }));
    expect(first).toMatchObject({ ok: false, disconnect: false });
    const second = await g.authenticate(attempt({ password: 'x' }));
    expect(second).toMatchObject({ ok: false, disconnect: true });
    await g.authenticate(attempt({ password: 'x', sessionId: 's2' }));
    const locked = await g.authenticate(attempt({ sessionId: 's3' }));
    expect(locked.ok).toBe(false);
    if (!locked.ok) expect(locked.error.message).toMatch(/^4\.7\.0 Too many failed logins from 192\.0\.2\.10; try again in 1 minute$/);
    expect((await g.authenticate(attempt({ sessionId: 's4', remoteAddress: '198.51.100.1' }))).ok).toBe(true);
  });
});

import { afterAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createKeys } from '../redis/keys.js';
import { createDomainStore } from './domain-store.js';

const redis = new Redis(inject('redisUrl'));
afterAll(() => redis.disconnect());

describe('domain store', () => {
  it('signs a subdomain with its closest registered parent, never with a look-alike', async () => {
    const store = createDomainStore(redis, createKeys(`dom${randomBytes(4).toString('hex')}`));
    await store.add('shop.example', 'sel1', 'ed25519');
    expect((await store.signingKeyFor('news.mail.shop.example'))?.domain).toBe('shop.example');
    expect((await store.signingKeyFor('SHOP.example'))?.selector).toBe('sel1');
    expect(await store.signingKeyFor('evilshop.example')).toBeNull();
    expect(JSON.stringify(await store.list())).not.toMatch(/PRIVATE KEY/);
  });

  it('keeps the verification outcome and the time it last passed', async () => {
    const store = createDomainStore(redis, createKeys(`dom${randomBytes(4).toString('hex')}`));
    await store.add('shop.example', 'sel1', 'rsa1024');
    expect(await store.get('shop.example')).toMatchObject({ verified: false, verifiedAt: null });
    const ok = await store.recordVerification('shop.example', true);
    expect(ok).toMatchObject({ verified: true });
    const failed = await store.recordVerification('shop.example', false);
    expect(failed).toMatchObject({ verified: false, verifiedAt: ok!.verifiedAt });
    expect(await store.recordVerification('nope.example', true)).toBeNull();
  });
});

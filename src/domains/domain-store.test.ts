import { afterAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createKeys } from '../redis/keys.js';
import { createDomainStore } from './domain-store.js';
import { createKeyVault } from './key-vault.js';

const redis = new Redis(inject('redisUrl'));
afterAll(() => redis.disconnect());
const plain = createKeyVault('');
const fresh = () => createKeys(`dom${randomBytes(4).toString('hex')}`);

describe('domain store', () => {
  it('signs a subdomain with its closest registered parent, never with a look-alike', async () => {
    const store = createDomainStore(redis, fresh(), plain);
    expect(await store.create('shop.example', 'sel1', 'ed25519')).toMatchObject({ domain: 'shop.example', selector: 'sel1', verified: false });
    expect(await store.create('shop.example', 'sel2', 'ed25519')).toBeNull();
    const signer = await store.signerFor('news.mail.shop.example');
    expect(signer).toMatchObject({ domain: 'shop.example', verified: false });
    expect(signer!.keys.map((k) => [k.selector, k.algorithm, k.key.asymmetricKeyType])).toEqual([['sel1', 'ed25519-sha256', 'ed25519']]);
    expect((await store.signerFor('SHOP.example'))?.keys[0]?.selector).toBe('sel1');
    expect(await store.signerFor('evilshop.example')).toBeNull();
    expect(JSON.stringify(await store.list())).not.toMatch(/PRIVATE KEY|privateKey/);
  });

  it('changes state atomically and adds keys through modify; removes a domain with its events', async () => {
    const keys = fresh();
    const store = createDomainStore(redis, keys, plain);
    await store.create('shop.example', 'sel1', 'rsa1024');
    const changed = await store.modify('shop.example', (d, tools) => {
      d.verified = true;
      return tools.addKey('sel2', 'ed25519', 'active');
    });
    expect(changed!.result).toMatchObject({ selector: 'sel2', state: 'active' });
    expect(changed!.domain.keys.map((k) => k.selector)).toEqual(['sel1', 'sel2']);
    expect((await store.signerFor('shop.example'))!.keys.map((k) => k.algorithm)).toEqual(['rsa-sha256', 'ed25519-sha256']);
    // Concurrent writers (another process's verify) do not lose each other's changes.
    await Promise.all([
      store.modify('shop.example', (d) => void (d.checkedAt = 'a')),
      store.modify('shop.example', (d) => void (d.existingDmarc = 'v=DMARC1; p=none')),
    ]);
    expect(await store.get('shop.example')).toMatchObject({ verified: true, checkedAt: 'a', existingDmarc: 'v=DMARC1; p=none' });
    expect(await store.modify('nope.example', () => 1)).toBeNull();
    await store.appendEvents('shop.example', [{ at: 'x', type: 'added', detail: 'd' }]);
    expect(await store.events('shop.example')).toHaveLength(1);
    expect(await store.remove('shop.example')).toBe(true);
    expect(await redis.exists(keys.domainEvents('shop.example'))).toBe(0);
    expect(await store.remove('shop.example')).toBe(false);
  });

  it('encrypts private keys at rest when a secret is set, and says which setting is wrong otherwise', async () => {
    const keys = fresh();
    await createDomainStore(redis, keys, createKeyVault('correct horse battery staple')).create('shop.example', 'sel1', 'rsa2048');
    const raw = (await redis.hget(keys.domains, 'shop.example'))!;
    expect(raw).not.toMatch(/PRIVATE KEY/);
    expect(raw).toMatch(/"privateKey":"enc:v1:/);
    const signer = await createDomainStore(redis, keys, createKeyVault('correct horse battery staple')).signerFor('shop.example');
    expect(signer!.keys[0]!.key.asymmetricKeyType).toBe('rsa');
    await expect(createDomainStore(redis, keys, createKeyVault('wrong')).signerFor('shop.example')).rejects.toThrow(/cannot be decrypted: domains.keyEncryptionKey/);
    await expect(createDomainStore(redis, keys, plain).signerFor('shop.example')).rejects.toThrow(/is encrypted: set domains.keyEncryptionKey/);
  });

  it('reads domains stored by the first release (one key, top-level fields)', async () => {
    const keys = fresh();
    const { generateDkimKey } = await import('./dkim-key.js');
    const k = generateDkimKey('ed25519');
    await redis.hset(keys.domains, 'old.example', JSON.stringify({ domain: 'old.example', selector: 's1', keyType: 'ed25519', createdAt: '2026-11-01T00:00:00.000Z', dkimRecord: k.record, algorithm: k.algorithm, privateKey: k.privateKey, verified: true, checkedAt: null, verifiedAt: '2026-11-02T00:00:00.000Z' }));
    const store = createDomainStore(redis, keys, plain);
    expect(await store.get('old.example')).toMatchObject({ selector: 's1', dkimRecord: k.record, verified: true, keys: [{ selector: 's1', state: 'active' }] });
    expect((await store.signerFor('old.example'))!.keys).toHaveLength(1);
  });
});

/**
 * Sending domains and their DKIM keys, kept in Redis.
 *
 * Promises: private keys never leave this module except to the signer (`signingKeyFor`); a
 * domain's signing key is looked up for a From domain or its closest registered parent; reads
 * for signing are cached briefly in memory, since every delivery asks.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import { generateDkimKey, type DkimKey, type KeyType } from './dkim-key.js';

export interface SendingDomain {
  domain: string;
  selector: string;
  keyType: KeyType;
  createdAt: string;
  /** the DKIM TXT value to publish */
  dkimRecord: string;
  /** outcome of the last `domain verify`: every record found as advised */
  verified?: boolean;
  /** when the records were last checked, and when they last all passed */
  checkedAt?: string | null;
  verifiedAt?: string | null;
}

interface StoredDomain extends SendingDomain {
  algorithm: DkimKey['algorithm'];
  privateKey: string;
}

export interface SigningKey {
  domain: string;
  selector: string;
  algorithm: DkimKey['algorithm'];
  privateKey: string;
}

export interface DomainStore {
  add(domain: string, selector: string, keyType: KeyType): Promise<SendingDomain>;
  get(domain: string): Promise<SendingDomain | null>;
  list(): Promise<SendingDomain[]>;
  remove(domain: string): Promise<boolean>;
  /** stores the outcome of a DNS check */
  recordVerification(domain: string, verified: boolean): Promise<SendingDomain | null>;
  /** the key that signs mail From `domain`: its own, or that of its closest registered parent */
  signingKeyFor(domain: string): Promise<SigningKey | null>;
  /** the registered domain (itself or its closest parent) that covers `domain`, with its verification state */
  sendingDomainFor(domain: string): Promise<SendingDomain | null>;
}

const CACHE_MS = 30_000;

export function createDomainStore(redis: Redis, keys: Keys): DomainStore {
  let cache: { at: number; domains: Map<string, StoredDomain> } | null = null;

  async function all(): Promise<Map<string, StoredDomain>> {
    if (cache && Date.now() - cache.at < CACHE_MS) return cache.domains;
    const raw = await redis.hgetall(keys.domains);
    const domains = new Map(Object.entries(raw).map(([name, json]) => [name, JSON.parse(json) as StoredDomain]));
    cache = { at: Date.now(), domains };
    return domains;
  }

  return {
    async add(domain, selector, keyType) {
      const key = generateDkimKey(keyType);
      const stored: StoredDomain = { domain, selector, keyType, createdAt: new Date().toISOString(), dkimRecord: key.record, algorithm: key.algorithm, privateKey: key.privateKey };
      await redis.hset(keys.domains, domain, JSON.stringify(stored));
      cache = null;
      return publicView(stored);
    },
    async get(domain) {
      const raw = await redis.hget(keys.domains, domain);
      return raw ? publicView(JSON.parse(raw) as StoredDomain) : null;
    },
    async list() {
      return [...(await all()).values()].map(publicView).sort((a, b) => a.domain.localeCompare(b.domain));
    },
    async remove(domain) {
      cache = null;
      return (await redis.hdel(keys.domains, domain)) === 1;
    },
    async recordVerification(domain, verified) {
      const raw = await redis.hget(keys.domains, domain);
      if (!raw) return null;
      const stored = JSON.parse(raw) as StoredDomain;
      const now = new Date().toISOString();
      Object.assign(stored, { verified, checkedAt: now, verifiedAt: verified ? now : (stored.verifiedAt ?? null) });
      await redis.hset(keys.domains, domain, JSON.stringify(stored));
      cache = null;
      return publicView(stored);
    },
    async signingKeyFor(domain) {
      const d = closest(await all(), domain);
      return d ? { domain: d.domain, selector: d.selector, algorithm: d.algorithm, privateKey: d.privateKey } : null;
    },
    async sendingDomainFor(domain) {
      const d = closest(await all(), domain);
      return d ? publicView(d) : null;
    },
  };
}

/** `domain` itself or its closest registered parent (never a bare TLD). */
function closest(domains: Map<string, StoredDomain>, domain: string): StoredDomain | null {
  const labels = domain.toLowerCase().split('.');
  for (let i = 0; i < labels.length - 1; i++) {
    const d = domains.get(labels.slice(i).join('.'));
    if (d) return d;
  }
  return null;
}

function publicView(d: StoredDomain): SendingDomain {
  return {
    domain: d.domain, selector: d.selector, keyType: d.keyType, createdAt: d.createdAt, dkimRecord: d.dkimRecord,
    verified: d.verified ?? false, checkedAt: d.checkedAt ?? null, verifiedAt: d.verifiedAt ?? null,
  };
}

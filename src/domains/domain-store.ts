/**
 * Sending domains, their DKIM keys and DNS-check state, kept in Redis.
 *
 * Promises: private keys leave this module only as parsed KeyObjects for the signer
 * (`signingKeysFor`) and are sealed at rest when a key-encryption secret is set; a From domain
 * is covered by itself or its closest registered parent; changes are read-modify-write under
 * WATCH, so a CLI `verify` and the periodic re-check cannot overwrite each other; reads are
 * cached in memory and every process sees a change within a second.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import type { SigningKey } from '../transform/dkim.js';
import { generateDkimKey, type DkimKey, type KeyType } from './dkim-key.js';
import type { KeyVault } from './key-vault.js';
import type { RecordCheck } from './verify.js';

/** active: signs mail; pending: published by the operator, signs once its record verifies; retired: replaced */
export type KeyState = 'active' | 'pending' | 'retired';

export interface DomainKey {
  selector: string;
  keyType: KeyType;
  algorithm: DkimKey['algorithm'];
  /** the DKIM TXT value to publish at <selector>._domainkey.<domain> */
  record: string;
  state: KeyState;
  createdAt: string;
  activatedAt: string | null;
  retiredAt: string | null;
}

/** A domain as stored, minus the private keys. */
export interface DomainState {
  domain: string;
  createdAt: string;
  keys: DomainKey[];
  /** every required record was found as advised at the last conclusive check */
  verified: boolean;
  checkedAt: string | null;
  verifiedAt: string | null;
  /** per-record outcome of the last check */
  checks: RecordCheck[] | null;
  /** the DMARC record the domain already publishes (found at the last check): its policy is kept */
  existingDmarc: string | null;
}

export interface SendingDomain extends DomainState {
  /** the first active key, the one `domain records` leads with */
  selector: string;
  keyType: KeyType;
  dkimRecord: string;
}

interface StoredKey extends DomainKey {
  privateKey: string;
}

interface StoredDomain extends Omit<DomainState, 'keys'> {
  keys: StoredKey[];
}

export interface DomainEvent {
  at: string;
  type: 'added' | 'verified' | 'unverified' | 'check_failed' | 'key_added' | 'key_activated' | 'key_retired';
  detail: string;
}

export interface Signer {
  domain: string;
  verified: boolean;
  keys: SigningKey[];
  /** the domain's tracking host (<trackingLabel>.<domain>) once its CNAME checked ok, else null */
  trackingHost: string | null;
}

export interface DomainChangeTools {
  /** generates a key (sealed for storage) and adds it to the domain in the given state */
  addKey(selector: string, keyType: KeyType, state: KeyState): DomainKey;
}

export interface DomainStore {
  /** null when the domain is already registered */
  create(domain: string, selector: string, keyType: KeyType): Promise<SendingDomain | null>;
  get(domain: string): Promise<SendingDomain | null>;
  list(): Promise<SendingDomain[]>;
  remove(domain: string): Promise<boolean>;
  /** applies `change` to the stored state atomically (retried if another writer got there first); null: no such domain */
  modify<T>(domain: string, change: (d: DomainState, tools: DomainChangeTools) => T): Promise<{ domain: SendingDomain; result: T } | null>;
  appendEvents(domain: string, events: DomainEvent[]): Promise<void>;
  events(domain: string, limit?: number): Promise<DomainEvent[]>;
  /** what delivery needs for mail From `domain`: the covering registered domain, whether it is verified, its active keys */
  signerFor(domain: string): Promise<Signer | null>;
  /** the registered domain (itself or its closest parent) that covers `domain` */
  sendingDomainFor(domain: string): Promise<SendingDomain | null>;
}

/** How stale the in-memory copy may be: after this, one GET of the version counter says whether to reload. */
const CACHE_MS = 1000;
const EVENTS_KEPT = 200;

export function createDomainStore(redis: Redis, keys: Keys, vault: KeyVault): DomainStore {
  let cache: { at: number; version: string | null; domains: Map<string, StoredDomain> } | null = null;
  let loading: Promise<Map<string, StoredDomain>> | null = null;
  const keyObjects = new Map<string, KeyObject>();

  /**
   * Every process asks on every message, so domains are cached; every change bumps a version
   * counter, so a domain added, verified or rotated by the CLI, the API or another node is seen
   * everywhere within CACHE_MS, at the cost of one GET per second per process.
   */
  async function all(): Promise<Map<string, StoredDomain>> {
    if (cache && Date.now() - cache.at < CACHE_MS) return cache.domains;
    loading ??= (async () => {
      const version = await redis.get(keys.domainsVersion);
      if (cache && cache.version === version) {
        cache.at = Date.now();
        return cache.domains;
      }
      const [[, raw] = [], [, current] = []] = ((await redis.multi().hgetall(keys.domains).get(keys.domainsVersion).exec()) ?? []) as [unknown, unknown][];
      const domains = new Map(Object.entries(raw as Record<string, string>).map(([name, json]) => [name, parseStored(json)]));
      cache = { at: Date.now(), version: (current as string | null) ?? null, domains };
      return domains;
    })().finally(() => (loading = null));
    return loading;
  }

  /** Every write goes with a version bump, in the same transaction. */
  function changed(): void {
    cache = null;
  }

  function keyObject(domain: string, k: StoredKey): KeyObject {
    let obj = keyObjects.get(k.privateKey);
    if (!obj) {
      obj = createPrivateKey(vault.open(k.privateKey, `${domain} (selector ${k.selector})`));
      keyObjects.set(k.privateKey, obj);
    }
    return obj;
  }

  function newKey(selector: string, keyType: KeyType, state: KeyState): StoredKey {
    const generated = generateDkimKey(keyType);
    const now = new Date().toISOString();
    return {
      selector, keyType, algorithm: generated.algorithm, record: generated.record, state, createdAt: now,
      activatedAt: state === 'active' ? now : null, retiredAt: null, privateKey: vault.seal(generated.privateKey),
    };
  }

  return {
    async create(domain, selector, keyType) {
      const stored: StoredDomain = {
        domain, createdAt: new Date().toISOString(), keys: [newKey(selector, keyType, 'active')],
        verified: false, checkedAt: null, verifiedAt: null, checks: null, existingDmarc: null,
      };
      const [[, created] = []] = (await redis.multi().hsetnx(keys.domains, domain, JSON.stringify(stored)).incr(keys.domainsVersion).exec()) ?? [];
      changed();
      if (created !== 1) return null;
      return publicView(stored);
    },
    async get(domain) {
      const raw = await redis.hget(keys.domains, domain);
      return raw ? publicView(parseStored(raw)) : null;
    },
    async list() {
      changed();
      return [...(await all()).values()].map(publicView).sort((a, b) => a.domain.localeCompare(b.domain));
    },
    async remove(domain) {
      changed();
      const [[, removed] = []] = (await redis.multi().hdel(keys.domains, domain).del(keys.domainEvents(domain)).incr(keys.domainsVersion).exec()) ?? [];
      return removed === 1;
    },
    async modify(domain, change) {
      // WATCH belongs to a connection: a connection of its own keeps other commands (and other
      // modifies) of this process out of the transaction. Changes are rare (CLI, API, re-check).
      const conn = redis.duplicate({ enableAutoPipelining: false });
      try {
        for (;;) {
          await conn.watch(keys.domains);
          const raw = await conn.hget(keys.domains, domain);
          if (!raw) return null;
          const stored = parseStored(raw);
          const state: DomainState = { ...stored, keys: stored.keys.map(withoutSecret) };
          const added: StoredKey[] = [];
          const result = change(state, {
            addKey(selector, keyType, keyState) {
              const k = newKey(selector, keyType, keyState);
              added.push(k);
              state.keys.push(withoutSecret(k));
              return withoutSecret(k);
            },
          });
          const next: StoredDomain = { ...state, keys: state.keys.map((k) => ({ ...k, privateKey: privateKeyOf([...added, ...stored.keys], k.selector) })) };
          if (await conn.multi().hset(keys.domains, domain, JSON.stringify(next)).incr(keys.domainsVersion).exec()) {
            changed();
            return { domain: publicView(next), result };
          }
        }
      } finally {
        conn.disconnect();
      }
    },
    async appendEvents(domain, events) {
      if (events.length === 0) return;
      await redis.multi().lpush(keys.domainEvents(domain), ...events.map((e) => JSON.stringify(e))).ltrim(keys.domainEvents(domain), 0, EVENTS_KEPT - 1).exec();
    },
    async events(domain, limit = 50) {
      return (await redis.lrange(keys.domainEvents(domain), 0, limit - 1)).map((e) => JSON.parse(e) as DomainEvent);
    },
    async signerFor(domain) {
      const d = closest(await all(), domain);
      if (!d) return null;
      const active = d.keys.filter((k) => k.state === 'active');
      const trackingHost = d.checks?.find((c) => c.kind === 'tracking' && c.status === 'ok')?.host ?? null;
      return { domain: d.domain, verified: d.verified, trackingHost, keys: active.map((k) => ({ domain: d.domain, selector: k.selector, algorithm: k.algorithm, key: keyObject(d.domain, k) })) };
    },
    async sendingDomainFor(domain) {
      const d = closest(await all(), domain);
      return d ? publicView(d) : null;
    },
  };
}

function withoutSecret({ privateKey: _secret, ...k }: StoredKey): DomainKey {
  return k;
}

function privateKeyOf(keys: StoredKey[], selector: string): string {
  const k = keys.find((s) => s.selector === selector);
  if (!k) throw new Error(`internal: no private key for selector ${selector}`);
  return k.privateKey;
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

/** Reads the stored JSON, including the one-key layout of the first release. */
function parseStored(json: string): StoredDomain {
  const d = JSON.parse(json) as StoredDomain & Partial<{ selector: string; keyType: KeyType; algorithm: DkimKey['algorithm']; dkimRecord: string; privateKey: string }>;
  if (!d.keys && d.selector && d.keyType && d.algorithm && d.dkimRecord && d.privateKey) {
    d.keys = [{ selector: d.selector, keyType: d.keyType, algorithm: d.algorithm, record: d.dkimRecord, state: 'active', createdAt: d.createdAt, activatedAt: d.createdAt, retiredAt: null, privateKey: d.privateKey }];
  }
  return {
    domain: d.domain, createdAt: d.createdAt, keys: d.keys ?? [], verified: d.verified ?? false, checkedAt: d.checkedAt ?? null,
    verifiedAt: d.verifiedAt ?? null, checks: d.checks ?? null, existingDmarc: d.existingDmarc ?? null,
  };
}

function publicView(d: StoredDomain): SendingDomain {
  const keys = d.keys.map(withoutSecret);
  const lead = keys.find((k) => k.state === 'active') ?? keys[0];
  return {
    domain: d.domain, createdAt: d.createdAt, selector: lead?.selector ?? '', keyType: lead?.keyType ?? 'rsa2048', dkimRecord: lead?.record ?? '',
    keys, verified: d.verified, checkedAt: d.checkedAt, verifiedAt: d.verifiedAt, checks: d.checks, existingDmarc: d.existingDmarc,
  };
}

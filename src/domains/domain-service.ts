/**
 * What an operator can do with sending domains — add, list, show the records, verify, rotate the
 * key, remove — in one place for the CLI, the admin API and the periodic re-check.
 *
 * Promises: input is checked here (domain names, selectors, key types) with errors that say
 * what to do; a verify stores its outcome and records every change of state as a domain event
 * (and a log line); a lookup failure never turns a verified domain into an unverified one; a
 * pending key becomes the signing key only once its record verifies, and then replaces the
 * active key of the same algorithm (a key of another algorithm signs beside it).
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Keys } from '../redis/keys.js';
import { createKeyVault } from './key-vault.js';
import { isDomainName } from '../mime/address.js';
import { KEY_TYPES, type KeyType } from './dkim-key.js';
import { createDomainStore, type DomainEvent, type DomainKey, type DomainState, type DomainStore, type SendingDomain } from './domain-store.js';
import { recordsFor, type DnsRecord, type RecordSettings } from './records.js';
import { findDmarc, verifyRecords, type RecordCheck, type RecordResolver } from './verify.js';

export class DomainError extends Error {
  override name = 'DomainError';
  constructor(readonly code: 'invalid' | 'not_found' | 'exists' | 'conflict', message: string) {
    super(message);
  }
}

export interface KeyOptions {
  selector?: string | undefined;
  keyType?: string | undefined;
}

export interface VerifyOutcome {
  domain: SendingDomain;
  checks: RecordCheck[];
  /** false when a lookup failed: the stored verified state was left as it was */
  conclusive: boolean;
  events: DomainEvent[];
}

/** What `domain verify --json` and `POST /api/v1/domains/:domain/verify` answer. */
export function verifyReport(outcome: VerifyOutcome) {
  const d = outcome.domain;
  return { domain: d.domain, verified: d.verified, conclusive: outcome.conclusive, checkedAt: d.checkedAt, verifiedAt: d.verifiedAt, records: outcome.checks, events: outcome.events };
}

export interface DomainServiceDeps {
  store: DomainStore;
  resolver: RecordResolver;
  settings: RecordSettings;
  log?: Logger | undefined;
  /** per-lookup bound (ms) */
  lookupTimeoutMs?: number;
}

export type DomainService = ReturnType<typeof createDomainService>;

const SELECTOR = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

export function createDomainService(deps: DomainServiceDeps) {
  const { store, settings } = deps;

  async function existing(name: string): Promise<SendingDomain> {
    const d = await store.get(normalise(name));
    if (!d) throw new DomainError('not_found', `${name} is not a sending domain (add it with: sokutatsu domain add ${name})`);
    return d;
  }

  async function note(domain: string, events: DomainEvent[]): Promise<void> {
    await store.appendEvents(domain, events);
    for (const e of events) deps.log?.info({ domain, event: e.type }, `domain ${domain}: ${e.detail}`);
  }

  /**
   * Before the first check, the DMARC advice would be p=none even for a domain that publishes
   * p=reject: look its DMARC record up once, so the advice keeps the existing policy.
   */
  async function withExistingDmarc(d: SendingDomain): Promise<SendingDomain> {
    if (d.checkedAt || d.existingDmarc) return d;
    const found = await findDmarc(d.domain, deps.resolver, deps.lookupTimeoutMs);
    if (!found) return d;
    return (await store.modify(d.domain, (state) => void (state.existingDmarc = found)))?.domain ?? d;
  }

  return {
    async add(name: string, opts: KeyOptions = {}): Promise<{ domain: SendingDomain; records: DnsRecord[] }> {
      const domain = normalise(name);
      if (!isDomainName(domain) || !domain.includes('.')) throw new DomainError('invalid', `not a domain name: ${name}`);
      const keyType = checkKeyType(opts.keyType ?? 'rsa2048');
      const selector = checkSelector(opts.selector ?? defaultSelector([]));
      const created = await store.create(domain, selector, keyType);
      if (!created) throw new DomainError('exists', `${domain} is already a sending domain (see: sokutatsu domain records ${domain})`);
      await note(domain, [event('added', `added with a ${keyType} key, selector ${selector}`)]);
      const known = await withExistingDmarc(created);
      return { domain: known, records: recordsFor(known, settings) };
    },

    get: existing,
    list: () => store.list(),

    async records(name: string): Promise<{ domain: SendingDomain; records: DnsRecord[] }> {
      const domain = await withExistingDmarc(await existing(name));
      return { domain, records: recordsFor(domain, settings) };
    },

    async verify(name: string, source: 'cli' | 'api' | 'recheck'): Promise<VerifyOutcome> {
      const current = await existing(name);
      const checks = await verifyRecords(recordsFor(current, settings), deps.resolver, deps.lookupTimeoutMs);
      const changed = await store.modify(current.domain, (d) => applyCheck(d, checks, new Date(), source, settings.domains.rotationGraceSeconds));
      if (!changed) throw new DomainError('not_found', `${name} was removed while it was being checked`);
      await note(current.domain, changed.result.events);
      return { domain: changed.domain, checks, conclusive: changed.result.conclusive, events: changed.result.events };
    },

    async rotate(name: string, opts: KeyOptions = {}): Promise<{ domain: SendingDomain; key: DomainKey; records: DnsRecord[] }> {
      const current = await existing(name);
      const keyType = checkKeyType(opts.keyType ?? current.keyType);
      if (opts.selector !== undefined) checkSelector(opts.selector);
      const changed = await store.modify(current.domain, (d, tools) => {
        const waiting = d.keys.find((k) => k.state === 'pending');
        if (waiting) throw new DomainError('conflict', `a new key (selector ${waiting.selector}) is already waiting for its DNS record: publish it (sokutatsu domain records ${d.domain}) and run sokutatsu domain verify ${d.domain}`);
        const selector = opts.selector ?? defaultSelector(d.keys.map((k) => k.selector));
        if (d.keys.some((k) => k.selector === selector)) throw new DomainError('conflict', `selector ${selector} was already used for ${d.domain}: choose another with --selector`);
        return tools.addKey(selector, keyType, 'pending');
      });
      if (!changed) throw new DomainError('not_found', `${name} is not a sending domain`);
      await note(current.domain, [event('key_added', `new ${keyType} key ${changed.result.selector} waits for its DNS record; the current key signs until it verifies`)]);
      return { domain: changed.domain, key: changed.result, records: recordsFor(changed.domain, settings) };
    },

    async remove(name: string): Promise<void> {
      if (!(await store.remove(normalise(name)))) throw new DomainError('not_found', `${name} is not a sending domain`);
      deps.log?.info({ domain: normalise(name) }, `domain ${normalise(name)} removed`);
    },

    events: (name: string, limit?: number) => store.events(normalise(name), limit),
  };
}

/**
 * Folds one DNS check into the stored state: promotes a pending key whose record is published,
 * then decides "verified" from the required records of the keys that now sign.
 */
function applyCheck(d: DomainState, checks: RecordCheck[], now: Date, source: string, graceSeconds: number): { events: DomainEvent[]; conclusive: boolean } {
  const at = now.toISOString();
  const events: DomainEvent[] = [];
  const okSelectors = new Set(checks.filter((c) => c.selector && c.status === 'ok').map((c) => c.selector));

  for (const pending of d.keys.filter((k) => k.state === 'pending' && okSelectors.has(k.selector))) {
    for (const old of d.keys.filter((k) => k.state === 'active' && sameAlgorithm(k, pending))) {
      Object.assign(old, { state: 'retired', retiredAt: at });
      const removeAfter = new Date(now.getTime() + graceSeconds * 1000).toISOString();
      events.push(event('key_retired', `key ${old.selector} replaced by ${pending.selector}; keep its DNS record until ${removeAfter}, then delete ${old.selector}._domainkey.${d.domain}`, at));
    }
    Object.assign(pending, { state: 'active', activatedAt: at });
    events.push(event('key_activated', `key ${pending.selector} (${pending.keyType}) verified in DNS and signs from now on`, at));
  }

  const activeSelectors = new Set(d.keys.filter((k) => k.state === 'active').map((k) => k.selector));
  const required = checks.filter((c) => (c.kind === 'dkim' || c.kind === 'dkim-pending' ? activeSelectors.has(c.selector ?? '') : c.required));
  const failedLookups = required.filter((c) => c.lookupError);
  const conclusive = failedLookups.length === 0;
  d.checkedAt = at;
  d.checks = checks;
  const dmarc = checks.find((c) => c.kind === 'dmarc');
  if (dmarc && !dmarc.lookupError) d.existingDmarc = dmarc.status === 'ok' ? (dmarc.found[0] ?? null) : null;

  if (!conclusive) {
    events.push(event('check_failed', `DNS check (${source}) could not finish: ${failedLookups.map((c) => `${c.type} ${c.host}: ${c.lookupError}`).join('; ')}; the domain stays ${d.verified ? 'verified' : 'unverified'}`, at));
    return { events, conclusive };
  }
  const verified = required.every((c) => c.status === 'ok');
  if (verified) d.verifiedAt = at;
  if (verified !== d.verified) {
    const failing = required.filter((c) => c.status !== 'ok').map((c) => `${c.type} ${c.host} ${c.status}`);
    events.push(verified
      ? event('verified', `every required record is published (${source})`, at)
      : event('unverified', `no longer verified (${source}): ${failing.join('; ')}; mail From it is refused while policy.requireVerifiedDomains is on`, at));
  }
  d.verified = verified;
  return { events, conclusive };
}

function sameAlgorithm(a: DomainKey, b: DomainKey): boolean {
  return a.algorithm === b.algorithm;
}

function event(type: DomainEvent['type'], detail: string, at = new Date().toISOString()): DomainEvent {
  return { at, type, detail };
}

function normalise(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, '');
}

function checkKeyType(value: string): KeyType {
  if (!(KEY_TYPES as readonly string[]).includes(value)) throw new DomainError('invalid', `key type must be one of ${KEY_TYPES.join(', ')} (got ${value})`);
  return value as KeyType;
}

function checkSelector(value: string): string {
  if (!SELECTOR.test(value)) throw new DomainError('invalid', `not a valid selector: ${value} (letters, digits and -, up to 63)`);
  return value.toLowerCase();
}

/** sk<yyyymm>, or a longer date-based name when that one is taken (rotations within a month). */
export function defaultSelector(taken: string[], now = new Date()): string {
  const day = now.toISOString().slice(0, 10).replace(/-/g, '');
  const candidates = [`sk${day.slice(0, 6)}`, `sk${day}`, ...Array.from({ length: 24 }, (_, i) => `sk${day}${String.fromCharCode(98 + i)}`)];
  const free = candidates.find((c) => !taken.includes(c));
  if (!free) throw new DomainError('conflict', 'no free default selector today: choose one with --selector');
  return free;
}

/** The store and service over one Redis connection, as the app, the cluster primary and the CLI build them. */
export function openDomains(redis: Redis, keys: Keys, config: Config, resolver: RecordResolver, log?: Logger): { store: DomainStore; service: DomainService } {
  const store = createDomainStore(redis, keys, createKeyVault(config.domains.keyEncryptionKey));
  const service = createDomainService({ store, resolver, settings: config, log, lookupTimeoutMs: config.dns.timeoutSeconds * 2000 });
  return { store, service };
}

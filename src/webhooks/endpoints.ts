/**
 * Webhook endpoints in Redis: where events go, which types, and the secret that signs them.
 *
 * Receives: checked input (the HTTP routes validate shapes; URLs are checked for SSRF by the
 * caller before they are stored). Promises: a secret is made here (32 random bytes), returned by
 * `create` only — `view()` and every listing leave it out, and nothing here logs it; `matching()`
 * answers from a copy at most 1 s old (this process's own changes are seen at once), so
 * publishing events costs no Redis call per event.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import { RecordHash } from '../redis/record-hash.js';

/** CONTRACT's event types, plus the store's own (cancelled, delayed DSNs, auto-replies). */
export const WEBHOOK_EVENT_TYPES = [
  'queued', 'delivered', 'deferred', 'bounced', 'expired', 'suppressed', 'opened', 'clicked', 'unsubscribed', 'complained', 'inbound',
  'cancelled', 'delayed', 'auto_replied',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export interface Endpoint {
  id: string;
  url: string;
  /** the types sent; empty: every type */
  events: WebhookEventType[];
  /** signs every POST; stored as is because it must sign (it is the HMAC key) */
  secret: string;
  enabled: boolean;
  /** ISO time */
  createdAt: string;
}

/** An endpoint as listings show it: everything but the secret. */
export type EndpointView = Omit<Endpoint, 'secret'>;

/** Bounds the work of every publish (each event is matched against every endpoint). */
export const MAX_ENDPOINTS = 100;

const CACHE_MS = 1000;

export class EndpointLimitError extends Error {}

/** The HMAC key of a webhook endpoint or an inbound route: 256 random bits, shown once. */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

export class EndpointStore {
  private cache: { at: number; endpoints: Endpoint[] } | null = null;
  private readonly records: RecordHash<Endpoint>;

  constructor(redis: Redis, private readonly keys: Keys) {
    this.records = new RecordHash<Endpoint>(redis, keys.webhooks);
  }

  async create(input: { url: string; events: WebhookEventType[] }): Promise<Endpoint> {
    if ((await this.records.count()) >= MAX_ENDPOINTS) throw new EndpointLimitError(`at most ${MAX_ENDPOINTS} webhook endpoints`);
    const endpoint: Endpoint = {
      id: `wh_${randomBytes(8).toString('hex')}`,
      url: input.url,
      events: dedupe(input.events),
      secret: newSigningSecret(),
      enabled: true,
      createdAt: new Date().toISOString(),
    };
    await this.records.put(endpoint);
    this.cache = null;
    return endpoint;
  }

  get(id: string): Promise<Endpoint | null> {
    return this.records.get(id);
  }

  list(): Promise<Endpoint[]> {
    return this.records.list();
  }

  /** Changes the given fields; null when there is no such endpoint. */
  async update(id: string, change: { url?: string; events?: WebhookEventType[]; enabled?: boolean }): Promise<Endpoint | null> {
    const next = await this.records.update(id, (current) => ({
      ...current,
      ...(change.url !== undefined ? { url: change.url } : {}),
      ...(change.events !== undefined ? { events: dedupe(change.events) } : {}),
      ...(change.enabled !== undefined ? { enabled: change.enabled } : {}),
    }));
    this.cache = null;
    return next;
  }

  async remove(id: string): Promise<boolean> {
    const removed = await this.records.remove(id, [this.keys.webhookLog(id), this.keys.webhookInFlight(id)]);
    this.cache = null;
    return removed;
  }

  /** The enabled endpoints that want events of this type. */
  async matching(type: string): Promise<Endpoint[]> {
    if (!this.cache || Date.now() - this.cache.at > CACHE_MS) this.cache = { at: Date.now(), endpoints: await this.list() };
    return this.cache.endpoints.filter((e) => e.enabled && (e.events.length === 0 || (e.events as string[]).includes(type)));
  }
}

export function view(endpoint: Endpoint): EndpointView {
  const { secret: _secret, ...rest } = endpoint;
  return rest;
}

function dedupe(types: WebhookEventType[]): WebhookEventType[] {
  return [...new Set(types)];
}

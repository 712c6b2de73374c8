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

export class EndpointStore {
  private cache: { at: number; endpoints: Endpoint[] } | null = null;

  constructor(private readonly redis: Redis, private readonly keys: Keys) {}

  async create(input: { url: string; events: WebhookEventType[] }): Promise<Endpoint> {
    if ((await this.redis.hlen(this.keys.webhooks)) >= MAX_ENDPOINTS) throw new EndpointLimitError(`at most ${MAX_ENDPOINTS} webhook endpoints`);
    const endpoint: Endpoint = {
      id: `wh_${randomBytes(8).toString('hex')}`,
      url: input.url,
      events: dedupe(input.events),
      secret: `whsec_${randomBytes(32).toString('base64url')}`,
      enabled: true,
      createdAt: new Date().toISOString(),
    };
    await this.redis.hset(this.keys.webhooks, endpoint.id, JSON.stringify(endpoint));
    this.cache = null;
    return endpoint;
  }

  async get(id: string): Promise<Endpoint | null> {
    const json = await this.redis.hget(this.keys.webhooks, id);
    return json ? (JSON.parse(json) as Endpoint) : null;
  }

  async list(): Promise<Endpoint[]> {
    const all = Object.values(await this.redis.hgetall(this.keys.webhooks)).map((j) => JSON.parse(j) as Endpoint);
    return all.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  /** Changes the given fields; null when there is no such endpoint. */
  async update(id: string, change: { url?: string; events?: WebhookEventType[]; enabled?: boolean }): Promise<Endpoint | null> {
    // WATCH: a concurrent update or delete must not be overwritten (or resurrected). WATCH
    // belongs to a connection: one of its own keeps this process's other commands out of it.
    const conn = this.redis.duplicate({ enableAutoPipelining: false });
    try {
      for (;;) {
        await conn.watch(this.keys.webhooks);
        const json = await conn.hget(this.keys.webhooks, id);
        if (!json) return null;
        const current = JSON.parse(json) as Endpoint;
        const next: Endpoint = {
          ...current,
          ...(change.url !== undefined ? { url: change.url } : {}),
          ...(change.events !== undefined ? { events: dedupe(change.events) } : {}),
          ...(change.enabled !== undefined ? { enabled: change.enabled } : {}),
        };
        if (await conn.multi().hset(this.keys.webhooks, id, JSON.stringify(next)).exec()) {
          this.cache = null;
          return next;
        }
      }
    } finally {
      conn.disconnect();
    }
  }

  async remove(id: string): Promise<boolean> {
    const [[, removed] = []] = (await this.redis.multi().hdel(this.keys.webhooks, id).del(this.keys.webhookLog(id), this.keys.webhookInFlight(id)).exec()) ?? [];
    this.cache = null;
    return removed === 1;
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

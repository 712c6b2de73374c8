/**
 * The recent delivery attempts of each webhook endpoint (GET /api/v1/webhooks/:id/deliveries).
 *
 * Receives: one entry per POST (or per check that stopped one). Promises: newest first, at most
 * `size` entries per endpoint (older ones drop off), one Redis round trip per entry; response
 * bodies and secrets are never kept.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';

export interface DeliveryLogEntry {
  /** ISO time the attempt started */
  at: string;
  eventId: string;
  eventType: string;
  /** 1 for the first POST of this event to this endpoint */
  attempt: number;
  /** the HTTP status, when a response came */
  status: number | null;
  /** why there was no (good) response: timeout, refused address, connection error, non-2xx */
  error: string | null;
  durationMs: number;
  /** delivered: a 2xx; retrying: another attempt at nextAttemptAt; failed: no more attempts */
  outcome: 'delivered' | 'retrying' | 'failed';
  nextAttemptAt?: string;
}

export class DeliveryLog {
  /** `keyOf`: where an id's entries live (webhook endpoints by default; inbound routes keep their own log the same way) */
  constructor(private readonly redis: Redis, private readonly keys: Keys, private readonly size: number, private readonly keyOf: (id: string) => string = keys.webhookLog) {}

  async append(endpointId: string, entry: DeliveryLogEntry): Promise<void> {
    const key = this.keyOf(endpointId);
    await this.redis.multi().lpush(key, JSON.stringify(entry)).ltrim(key, 0, this.size - 1).exec();
  }

  async recent(endpointId: string, limit = this.size): Promise<DeliveryLogEntry[]> {
    return (await this.redis.lrange(this.keyOf(endpointId), 0, Math.min(limit, this.size) - 1)).map((j) => JSON.parse(j) as DeliveryLogEntry);
  }
}

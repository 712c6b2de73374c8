/**
 * The inbound-route queue: one BullMQ job per received mail and route ('inbound', under the
 * delivery queue's prefix, so it shares the keyspace's hash tag and our MULTI).
 *
 * Promises: job ids are `<mail id>.<route id>` (added twice → queued once); jobs are added in the
 * same MULTI as the mail they POST (src/inbound/intake.ts); stalled jobs are never parked in
 * "failed" (a crash mid-POST sends again: receivers dedupe by id and route).
 */
import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';

export const INBOUND_QUEUE = 'inbound';

export interface InboundJob {
  mailId: string;
  routeId: string;
  /** the RCPT TO addresses this route took */
  to: string[];
  /** the attempt this run makes (1 first) */
  attempt: number;
}

export const INBOUND_JOB_OPTIONS: JobsOptions = {
  // Our own schedule (webhooks.retry) retries failed POSTs; these only cover unexpected errors (Redis gone mid-job).
  attempts: 20,
  backoff: { type: 'fixed', delay: 30_000 },
  removeOnComplete: true,
  // Given up after the retry period: kept a week for inspection, bounded in number.
  removeOnFail: { age: 7 * 86_400, count: 10_000 },
};

export function inboundJobId(mailId: string, routeId: string): string {
  return `${mailId}.${routeId}`;
}

export function createInboundQueue(connection: Redis, keys: Keys): Queue<InboundJob> {
  return new Queue<InboundJob>(INBOUND_QUEUE, { connection, prefix: keys.queuePrefix, defaultJobOptions: INBOUND_JOB_OPTIONS });
}

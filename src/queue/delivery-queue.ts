/**
 * The delivery queue: one BullMQ job per recipient.
 *
 * Promises: jobs can be added inside the same MULTI/EXEC as the message they deliver (so a
 * message is durable and queued together, or neither); stalled jobs are never parked in
 * "failed" after crashes; unexpected processor errors are retried.
 */
import { Queue, type Job, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import { addJobInTransaction, type Transaction } from './job-transaction.js';

export const DELIVERY_QUEUE = 'delivery';

export interface DeliveryJob {
  messageId: string;
  rcpt: number;
  /** the recipient's address (jobs queued before it was added lack it): its suppression entries are read together with the message */
  to?: string;
  /** the destination site, once the job waits for it (a pause) or for a retry */
  site?: string;
  /** when the job waits for a rate slot reserved for it (ms): it sends then without asking again */
  slotAt?: number;
}

/** Job ids are deterministic so that re-adding a job for the same recipient is a no-op. */
export function deliveryJobId(messageId: string, rcpt: number): string {
  return `${messageId}.${rcpt}`;
}

/**
 * Safety net for errors our processor did not expect (it handles SMTP outcomes itself and
 * reschedules with its own retry schedule); the processor also expires recipients past maxAge,
 * so a high attempt count cannot keep mail forever.
 */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 100_000,
  backoff: { type: 'fixed', delay: 30_000 },
  removeOnComplete: true,
  removeOnFail: false,
};

export type DeliveryQueue = Queue<DeliveryJob>;

export function createDeliveryQueue(connection: Redis, keys: Keys): DeliveryQueue {
  return new Queue<DeliveryJob>(DELIVERY_QUEUE, { connection, prefix: keys.queuePrefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
}

/** Queues the add of one delivery job on `multi` (nothing is sent until `exec`): see job-transaction.ts. */
export function addJobToTransaction(queue: Queue<DeliveryJob>, multi: Transaction, data: DeliveryJob, delayMs: number): void {
  const jobId = deliveryJobId(data.messageId, data.rcpt);
  addJobInTransaction(queue, multi, 'deliver', data, { ...DEFAULT_JOB_OPTIONS, ...(delayMs > 0 ? { delay: delayMs } : {}) }, jobId);
}

/**
 * Brings forward the delayed jobs of one destination site (those waiting for its retry schedule
 * or its pause; jobs scheduled with Send-At carry no site and stay). Returns how many.
 */
export async function promoteSite(queue: Queue<DeliveryJob>, site: string): Promise<number> {
  const due: Job<DeliveryJob>[] = [];
  const page = 500;
  for (let start = 0; ; start += page) {
    const jobs = await queue.getDelayed(start, start + page - 1);
    due.push(...jobs.filter((j) => j.data.site === site));
    if (jobs.length < page) break;
  }
  let promoted = 0;
  for (const job of due) {
    // A job may have run or moved since the scan: skip it.
    await job.promote().then(() => promoted++, () => undefined);
  }
  return promoted;
}

/**
 * Putting a BullMQ job back for a later attempt on our own schedule (queue/retry.ts), without
 * using one of BullMQ's attempts: the job's data is updated (the attempt counter it carries),
 * it moves to "delayed" until `at`, and the processor ends with DelayedError so BullMQ leaves it
 * there. Shared by the webhook dispatcher and the inbound-route forwarder.
 */
import { DelayedError, type Job } from 'bullmq';

export async function retryJobAt<T>(job: Job<T>, token: string | undefined, at: number, data?: T): Promise<never> {
  if (data !== undefined) await job.updateData(data);
  await job.moveToDelayed(at, token);
  throw new DelayedError();
}

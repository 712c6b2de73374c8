/**
 * A BullMQ job added inside our own MULTI: the job exists exactly when what it works on does.
 *
 * Receives: a queue, a MULTI (nothing is sent until its `exec`), the job's name, data, options
 * and id. Uses BullMQ's `addJobToTransaction`, which it keeps public for exactly this (flows batch
 * inserts across queues onto one transaction); mirrors what `Queue.addBulk` does per job. Shared
 * by the delivery queue (message + recipient jobs) and inbound routes (raw mail + POST jobs).
 */
import { Job, type JobsOptions, type Queue } from 'bullmq';

/** The slice of a MULTI we need: BullMQ queues its script calls on it. */
export type Transaction = Parameters<Queue['backend']['addJobToTransaction']>[0];

export function addJobInTransaction<T>(queue: Queue<T>, multi: Transaction, name: string, data: T, opts: JobsOptions, jobId: string): void {
  const job = new Job<T>(queue, name, data, { ...opts, jobId }, jobId);
  void queue.backend.addJobToTransaction(multi, job.asJSON(), jobId);
}

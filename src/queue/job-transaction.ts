/**
 * A BullMQ job added inside our own MULTI: the job exists exactly when what it works on does.
 *
 * Receives: a queue, a MULTI (nothing is sent until its `exec`), the job's name, data, options
 * and id. Uses BullMQ's `addJobToTransaction`, which it keeps public for exactly this (flows batch
 * inserts across queues onto one transaction); mirrors what `Queue.addBulk` does per job. Shared
 * by the delivery queue (message + recipient jobs) and inbound routes (raw mail + POST jobs).
 */
import { createIORedisClient, Job, type JobsOptions, type Queue } from 'bullmq';
import type { ChainableCommander, Redis } from 'ioredis';

/** The slice of a MULTI we need: BullMQ queues its script calls on it. */
export type Transaction = Parameters<Queue['backend']['addJobToTransaction']>[0];

export function addJobInTransaction<T>(queue: Queue<T>, multi: Transaction, name: string, data: T, opts: JobsOptions, jobId: string): void {
  const job = new Job<T>(queue, name, data, { ...opts, jobId }, jobId);
  void queue.backend.addJobToTransaction(multi, job.asJSON(), jobId);
}

/** BullMQ's scripts that add a job (the one addJobToTransaction picks depends on delay and priority). */
const JOB_ADDING_SCRIPT = /^add(Standard|Delayed|Prioritized)Job:/;

/** A MULTI of ours that BullMQ can add jobs to. */
export type JobTransaction = ChainableCommander & Transaction;

/**
 * `client` made able to take addJobInTransaction in its MULTI: BullMQ's job-adding scripts
 * defined on it (read from the queue's own client once it has loaded them), wrapped the way
 * BullMQ wraps a client. Why not the queue's client: ioredis copies every script a client
 * defines into each MULTI it makes, and BullMQ defines ~50 — ~4% of a worker's CPU when a MULTI
 * is made for every message accepted.
 */
export async function withJobScripts(client: Redis, queue: Queue): Promise<{ multi(): JobTransaction }> {
  // ioredis keeps defined scripts in scriptsSet (not in its typings); BullMQ's proxy passes it through.
  const bull = (await queue.backend.client) as unknown as { scriptsSet: Record<string, { lua: string; numberOfKeys: number | null }> };
  const adding = Object.entries(bull.scriptsSet ?? {}).filter(([name]) => JOB_ADDING_SCRIPT.test(name));
  // A BullMQ that keeps its scripts elsewhere would otherwise fail every accept with a TypeError.
  if (adding.length < 3) throw new Error(`BullMQ's job-adding scripts were not found on its client (found: ${adding.map(([name]) => name).join(', ') || 'none'}); is the installed bullmq the one package-lock.json names?`);
  for (const [name, script] of adding) {
    if (!(name in client)) client.defineCommand(name, { lua: script.lua, numberOfKeys: script.numberOfKeys ?? undefined });
  }
  const wrapped = createIORedisClient(client);
  // BullMQ types its wrapped MULTI loosely; it is ioredis's MULTI with runCommand added.
  return { multi: () => wrapped.multi() as unknown as JobTransaction };
}

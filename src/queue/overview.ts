/**
 * The queue at a glance (`GET /api/v1/queue`): jobs by BullMQ state, recipients finished
 * recently (from the statistics counters: finished jobs are not kept), and the waiting jobs by
 * destination site with each site's pause (delivery/throttle.ts states(), as /api/v1/sites).
 *
 * Promises: bounded work — the per-site counts come from at most `scanLimit` waiting and delayed
 * jobs (their data read in pipelines of 500), and say whether that was all of them (`complete`).
 * A job names its site only once it waits for one (a pause, a retry: delivery/worker.ts
 * rememberWait); the others (new, scheduled by Send-At) are counted as `unassigned`.
 */
import type { ChainableCommander, Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import type { SiteThrottle } from '../delivery/throttle.js';
import { readStats } from '../events/stats.js';
import { ALL_MAIL, HOUR_SECONDS, hourStart } from '../events/stats-scope.js';
import type { DeliveryJob, DeliveryQueue } from './delivery-queue.js';

export interface SiteQueue {
  site: string;
  waiting: number;
  delayed: number;
  pausedUntil: string | null;
  reason: string | null;
}

export interface QueueOverview {
  counts: { waiting: number; active: number; delayed: number; prioritized: number; failed: number; completed: number };
  /** recipients that reached these outcomes since `since` (the start of the previous UTC hour) */
  recent: { since: string; delivered: number; deferred: number; bounced: number; expired: number; suppressed: number; cancelled: number };
  sites: SiteQueue[];
  unassigned: { waiting: number; delayed: number };
  /** jobs whose data was read for `sites` */
  scanned: number;
  /** false when the queue held more waiting/delayed jobs than were scanned */
  complete: boolean;
}

const PAGE = 500;

export async function queueOverview(queue: DeliveryQueue, throttle: SiteThrottle, redis: Redis, keys: Keys, scanLimit: number): Promise<QueueOverview> {
  const now = Date.now();
  const since = (hourStart(now) - HOUR_SECONDS) * 1000;
  const [raw, stats, states] = await Promise.all([
    queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'),
    readStats(redis, keys, { scope: ALL_MAIL, from: since, to: now, bucket: 'hour' }),
    throttle.states(),
  ]);
  const counts = { waiting: raw.waiting ?? 0, active: raw.active ?? 0, delayed: raw.delayed ?? 0, prioritized: raw.prioritized ?? 0, failed: raw.failed ?? 0, completed: raw.completed ?? 0 };
  const t = stats.counts;
  const paused = new Map(states.filter((s) => s.pausedUntil).map((s) => [s.site, s]));
  const bySite = new Map<string, SiteQueue>();
  const unassigned = { waiting: 0, delayed: 0 };
  let scanned = 0;
  for (const list of ['waiting', 'delayed'] as const) {
    for (let start = 0; scanned < scanLimit; start += PAGE) {
      const ids = await queue.getRanges([list], start, start + Math.min(PAGE, scanLimit - scanned) - 1, false);
      scanned += ids.length;
      for (const job of await jobData(queue, ids)) {
        if (!job) continue;
        if (!job.site) {
          unassigned[list]++;
          continue;
        }
        const state = paused.get(job.site);
        const entry = bySite.get(job.site) ?? { site: job.site, waiting: 0, delayed: 0, pausedUntil: state?.pausedUntil ?? null, reason: state?.reason ?? null };
        entry[list]++;
        bySite.set(job.site, entry);
      }
      if (ids.length < PAGE) break;
    }
  }
  return {
    counts,
    recent: { since: new Date(since).toISOString(), delivered: t.delivered, deferred: t.deferred, bounced: t.bounced, expired: t.expired, suppressed: t.suppressed, cancelled: t.cancelled },
    sites: [...bySite.values()].sort((a, b) => b.waiting + b.delayed - (a.waiting + a.delayed) || a.site.localeCompare(b.site)),
    unassigned,
    scanned,
    complete: scanned >= counts.waiting + counts.delayed,
  };
}

/** The data of each job, read in one pipeline (null where the job is gone). */
export async function jobData(queue: DeliveryQueue, ids: string[]): Promise<(DeliveryJob | null)[]> {
  if (ids.length === 0) return [];
  const client = await queue.backend.client;
  // BullMQ wraps an ioredis client (as in store/messages.ts accept): its pipeline takes every ioredis command.
  const pipeline = client.pipeline() as ReturnType<typeof client.pipeline> & ChainableCommander;
  for (const id of ids) pipeline.hget(queue.toKey(id), 'data');
  const replies = (await pipeline.exec()) ?? [];
  return replies.map(([err, raw]) => (err || typeof raw !== 'string' ? null : (JSON.parse(raw) as DeliveryJob)));
}

/**
 * The webhook dispatcher: every published event becomes one job per endpoint that wants it, on
 * its own BullMQ queue ('webhooks', under the delivery queue's prefix), and a worker POSTs them.
 *
 * Receives: events from the events backbone (`publish`, as an EventSubscriber), after they are
 * recorded. Promises: one job per (endpoint, event) — the job id is made of both, so publishing
 * the same event twice queues it once; a failed POST (non-2xx, network error, timeout, refused
 * target) is retried on `webhooks.retry` (doubling, capped, jittered) until `maxAgeSeconds`
 * after the event was queued, then the job ends in BullMQ's "failed" and the delivery log says
 * `failed`; every attempt is one delivery-log entry; at most `concurrencyPerEndpoint` POSTs are
 * in flight per endpoint across processes (a job over the limit waits a moment in "delayed",
 * using no attempt); a deleted or disabled endpoint's waiting jobs are dropped when they come up.
 */
import { DelayedError, Queue, UnrecoverableError, Worker, type Job, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { EventSubscriber, PublishedEvent } from '../events/types.js';
import type { Keys } from '../redis/keys.js';
import { nextRetry } from '../queue/retry.js';
import { retryJobAt } from '../queue/job-retry.js';
import type { DeliveryLog, DeliveryLogEntry } from './delivery-log.js';
import type { EndpointStore } from './endpoints.js';
import { InFlightLimit } from './in-flight.js';
import { eventPayload } from './payload.js';
import type { WebhookSender } from './sender.js';

export const WEBHOOK_QUEUE = 'webhooks';

export interface WebhookJob {
  endpointId: string;
  eventId: string;
  eventType: string;
  /** the JSON body, as it will be POSTed (and signed) on every attempt */
  body: string;
  /** the attempt this run makes (1 first) */
  attempt: number;
}

const JOB_OPTIONS: JobsOptions = {
  // Our own schedule retries failed POSTs; these only cover unexpected errors (Redis gone mid-job).
  attempts: 20,
  backoff: { type: 'fixed', delay: 30_000 },
  removeOnComplete: true,
  // Failed jobs (given up after maxAge) stay a week for inspection, bounded in number.
  removeOnFail: { age: 7 * 86_400, count: 10_000 },
};

/** The longest a job waits for a free slot of its endpoint before asking again. */
const WAIT_SPREAD_MAX_MS = 10_000;

export interface WebhookDeps {
  config: Config['webhooks'];
  log: Logger;
  keys: Keys;
  /** commands (the in-flight leases) */
  redis: Redis;
  endpoints: EndpointStore;
  deliveries: DeliveryLog;
  sender: WebhookSender;
  /** told each attempt's outcome (the metrics counter of webhook deliveries) */
  onResult?: (outcome: DeliveryLogEntry['outcome']) => void;
}

export class WebhookDispatcher implements EventSubscriber {
  private readonly queue: Queue<WebhookJob>;
  private worker: Worker<WebhookJob> | null = null;
  private readonly inFlight: InFlightLimit;
  /** per endpoint (at most MAX_ENDPOINTS entries): jobs turned away in the current second */
  private readonly waiters = new Map<string, { second: number; count: number }>();

  constructor(private readonly deps: WebhookDeps, queueConnection: Redis) {
    this.queue = new Queue<WebhookJob>(WEBHOOK_QUEUE, { connection: queueConnection, prefix: deps.keys.queuePrefix, defaultJobOptions: JOB_OPTIONS });
    // A lease outlives the longest POST by a margin; a crashed process's slots return after it.
    this.inFlight = new InFlightLimit(deps.redis, deps.keys, deps.config.concurrencyPerEndpoint, deps.config.timeoutSeconds * 1000 + 30_000);
  }

  async publish(events: readonly PublishedEvent[]): Promise<void> {
    const jobs: { name: string; data: WebhookJob; opts: JobsOptions }[] = [];
    for (const event of events) {
      const endpoints = await this.deps.endpoints.matching(event.type);
      if (endpoints.length === 0) continue;
      const body = JSON.stringify(eventPayload(event));
      for (const endpoint of endpoints) {
        // BullMQ refuses ':' in custom ids; event ids are stream ids ("<ms>-<seq>").
        const jobId = `${endpoint.id}.${event.id}`.replaceAll(':', '_');
        jobs.push({ name: event.type, data: { endpointId: endpoint.id, eventId: event.id, eventType: event.type, body, attempt: 1 }, opts: { ...JOB_OPTIONS, jobId } });
      }
    }
    if (jobs.length > 0) await this.queue.addBulk(jobs);
  }

  /** Starts this process's worker (each delivery process runs one). */
  startWorker(connection: Redis): void {
    if (this.worker) return;
    this.worker = new Worker<WebhookJob>(WEBHOOK_QUEUE, (job, token) => this.process(job, token), {
      connection,
      prefix: this.deps.keys.queuePrefix,
      concurrency: this.deps.config.concurrency,
      // A crash mid-POST just re-sends (receivers dedupe by event id); never park a job for it.
      maxStalledCount: 1000,
      lockDuration: Math.max(30_000, this.deps.config.timeoutSeconds * 2000),
    });
    this.worker.on('error', (err) => this.deps.log.error({ err: err.message }, 'webhook worker error'));
    this.worker.on('failed', (job, err) => {
      if (!(err instanceof UnrecoverableError)) this.deps.log.error({ job: job?.id, err: err.message }, 'webhook job failed unexpectedly; BullMQ will retry it');
    });
  }

  async close(): Promise<void> {
    await this.worker?.close();
    await this.queue.close();
  }

  /** How many jobs of the endpoint this process turned away in the current second (this one included). */
  private noteWaiter(endpointId: string): number {
    const second = Math.floor(Date.now() / 1000);
    const seen = this.waiters.get(endpointId);
    const count = seen && seen.second === second ? seen.count + 1 : 1;
    this.waiters.set(endpointId, { second, count });
    return count;
  }

  private async process(job: Job<WebhookJob>, token: string | undefined): Promise<void> {
    const { endpointId, eventId, eventType, body, attempt } = job.data;
    const endpoint = await this.deps.endpoints.get(endpointId);
    if (!endpoint || !endpoint.enabled) return;

    const lease = `${job.id}`;
    if (!(await this.inFlight.acquire(endpointId, lease))) {
      // The endpoint has its share in flight: come back later, spread over a window that grows
      // with the endpoint's backlog (a few waiters retry within a second; thousands behind a slow
      // endpoint do not cycle through Redis every second).
      const waiters = this.noteWaiter(endpointId);
      await job.moveToDelayed(Date.now() + 200 + Math.floor(Math.random() * Math.min(WAIT_SPREAD_MAX_MS, 800 + 50 * waiters)), token);
      throw new DelayedError();
    }
    const at = new Date().toISOString();
    let result;
    try {
      result = await this.deps.sender.send(endpoint, body, eventType, eventId);
    } finally {
      await this.inFlight.release(endpointId, lease);
    }
    const entry = { at, eventId, eventType, attempt, status: result.status, error: result.error, durationMs: result.durationMs };
    if (result.ok) {
      this.deps.onResult?.('delivered');
      await this.deps.deliveries.append(endpointId, { ...entry, outcome: 'delivered' });
      return;
    }
    const decision = nextRetry(this.deps.config.retry, attempt, job.timestamp, Date.now());
    this.deps.onResult?.(decision.kind === 'expire' ? 'failed' : 'retrying');
    if (decision.kind === 'expire') {
      await this.deps.deliveries.append(endpointId, { ...entry, outcome: 'failed' });
      this.deps.log.warn({ webhook: endpointId, event: eventId, attempts: attempt, error: result.error }, 'webhook given up after its retry period');
      throw new UnrecoverableError(`gave up after ${attempt} attempts: ${result.error}`);
    }
    const retryAt = Date.now() + decision.delayMs;
    await this.deps.deliveries.append(endpointId, { ...entry, outcome: 'retrying', nextAttemptAt: new Date(retryAt).toISOString() });
    await retryJobAt(job, token, retryAt, { ...job.data, attempt: attempt + 1 });
  }
}

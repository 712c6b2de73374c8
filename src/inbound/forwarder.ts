/**
 * The inbound-route forwarder: the worker of the 'inbound' queue, POSTing each received mail to
 * its route's URL.
 *
 * Receives: jobs queued by src/inbound/receive.ts in the mail's own MULTI. Promises: the mail is
 * parsed at every attempt (payload.ts: bounded, never throws: a MIME parse failure is POSTed with
 * `parseError` and the raw headers, not retried for that), signed and POSTed like a webhook
 * (WebhookSender: target checked against `webhooks.allowPrivateTargets` before every POST,
 * `X-Sokutatsu-Signature` with the route's secret, `X-Sokutatsu-Event: inbound`,
 * `X-Sokutatsu-Event-Id: <mail id>.<route id>`); a non-2xx, network error, timeout or refused
 * target is retried on `webhooks.retry` (queue/retry.ts's schedule, job-retry.ts's move) until
 * `maxAgeSeconds` after the mail came, then the job ends "failed"; one log entry per attempt in
 * the route's log; a deleted or disabled route's jobs are dropped; the raw mail is deleted once
 * every route of it is done (delivered, given up or dropped).
 */
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Keys } from '../redis/keys.js';
import { nextRetry } from '../queue/retry.js';
import { retryJobAt } from '../queue/job-retry.js';
import type { DeliveryLog, DeliveryLogEntry } from '../webhooks/delivery-log.js';
import type { WebhookSender } from '../webhooks/sender.js';
import { inboundPayload } from './payload.js';
import { INBOUND_QUEUE, type InboundJob } from './queue.js';
import type { InboundRouteStore } from './routes.js';

export interface ForwarderDeps {
  config: Pick<Config, 'webhooks' | 'inbound'>;
  log: Logger;
  keys: Keys;
  /** reads the raw mail, counts its finished routes */
  redis: Redis;
  routes: InboundRouteStore;
  /** the route's attempts (keys.inboundRouteLog) */
  deliveries: DeliveryLog;
  sender: WebhookSender;
  onResult?: (outcome: DeliveryLogEntry['outcome']) => void;
}

export class InboundForwarder {
  private worker: Worker<InboundJob> | null = null;

  constructor(private readonly deps: ForwarderDeps) {}

  /** Starts this process's worker (each delivery process runs one). */
  start(connection: Redis): void {
    if (this.worker) return;
    const { config, keys, log } = this.deps;
    this.worker = new Worker<InboundJob>(INBOUND_QUEUE, (job, token) => this.process(job, token), {
      connection,
      prefix: keys.queuePrefix,
      concurrency: config.inbound.concurrency,
      // A crash mid-POST just sends again (receivers dedupe by id and route); never park a job for it.
      maxStalledCount: 1000,
      // Renewed every half of it while a job runs (parsing and one POST are async); short, so a
      // crashed process's job comes back soon.
      lockDuration: Math.max(30_000, config.webhooks.timeoutSeconds * 2000),
    });
    this.worker.on('error', (err) => log.error({ err: err.message }, 'inbound worker error'));
    this.worker.on('failed', (job, err) => {
      if (!(err instanceof UnrecoverableError)) log.error({ job: job?.id, err: err.message }, 'inbound job failed unexpectedly; BullMQ will retry it');
    });
  }

  async close(): Promise<void> {
    await this.worker?.close();
  }

  async process(job: Job<InboundJob>, token: string | undefined): Promise<void> {
    const { mailId, routeId, to, attempt } = job.data;
    const { redis, keys, log } = this.deps;
    const key = keys.inboundMessage(mailId);
    const [raw, from, receivedAt] = await redis.hmgetBuffer(key, 'raw', 'from', 'receivedAt');
    if (!raw) {
      log.warn({ mail: mailId, route: routeId }, 'inbound mail gone before it was POSTed (kept past its retry period?)');
      return;
    }
    const route = await this.deps.routes.get(routeId);
    if (!route || !route.enabled) {
      log.info({ mail: mailId, route: routeId }, 'inbound route deleted or disabled: mail not POSTed');
      await this.finished(mailId, routeId);
      return;
    }
    const payload = await inboundPayload(
      { id: mailId, route, receivedAt: receivedAt?.toString() ?? new Date(job.timestamp).toISOString(), envelope: { from: from?.toString() ?? '', to }, raw },
      { attachmentContentBytes: this.deps.config.inbound.attachmentContentBytes },
    );
    if (payload.parseError && attempt === 1) log.warn({ mail: mailId, route: routeId, err: payload.parseError }, 'inbound mail not parsed: POSTing its headers with parseError');
    const eventId = `${mailId}.${routeId}`;
    const at = new Date().toISOString();
    const result = await this.deps.sender.send(route, JSON.stringify(payload), 'inbound', eventId);
    const entry = { at, eventId, eventType: 'inbound', attempt, status: result.status, error: result.error, durationMs: result.durationMs };
    if (result.ok) {
      this.deps.onResult?.('delivered');
      await this.deps.deliveries.append(routeId, { ...entry, outcome: 'delivered' });
      log.info({ mail: mailId, route: routeId, attempt, status: result.status }, 'inbound mail POSTed');
      await this.finished(mailId, routeId);
      return;
    }
    const decision = nextRetry(this.deps.config.webhooks.retry, attempt, job.timestamp, Date.now());
    this.deps.onResult?.(decision.kind === 'expire' ? 'failed' : 'retrying');
    if (decision.kind === 'expire') {
      await this.deps.deliveries.append(routeId, { ...entry, outcome: 'failed' });
      log.warn({ mail: mailId, route: routeId, attempts: attempt, error: result.error }, 'inbound mail given up after its retry period');
      await this.finished(mailId, routeId);
      throw new UnrecoverableError(`gave up after ${attempt} attempts: ${result.error}`);
    }
    const retryAt = Date.now() + decision.delayMs;
    await this.deps.deliveries.append(routeId, { ...entry, outcome: 'retrying', nextAttemptAt: new Date(retryAt).toISOString() });
    log.info({ mail: mailId, route: routeId, attempt, error: result.error, retryAt: new Date(retryAt).toISOString() }, 'inbound POST failed: retrying later');
    await retryJobAt(job, token, retryAt, { ...job.data, attempt: attempt + 1 });
  }

  /** One route of the mail is done: the last one deletes the raw mail (FINISH_ROUTE). */
  private async finished(mailId: string, routeId: string): Promise<void> {
    await this.deps.redis.eval(FINISH_ROUTE, 1, this.deps.keys.inboundMessage(mailId), routeId);
  }
}

/**
 * KEYS[1] the mail's hash; ARGV[1] the route done. Returns the routes still pending (-1: mail gone).
 * Once per route (a job run again after a crash does not count twice, which could delete the mail
 * under another route's waiting job); never recreates a hash that expired.
 */
const FINISH_ROUTE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HSETNX', KEYS[1], 'done:' .. ARGV[1], '1') == 0 then return tonumber(redis.call('HGET', KEYS[1], 'pending')) end
local left = redis.call('HINCRBY', KEYS[1], 'pending', -1)
if left <= 0 then redis.call('DEL', KEYS[1]) end
return left
`;

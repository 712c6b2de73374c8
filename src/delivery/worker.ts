/**
 * The delivery worker: takes one recipient's job, delivers, records the outcome, reschedules.
 *
 * Receives: jobs from the delivery queue. Promises: each attempt ends in one recorded event and
 * one log line; temporary failures are retried on the retry schedule (the job is moved back to
 * "delayed" without burning a BullMQ attempt) until maxAge, then expired; a message that cannot
 * be prepared for sending bounces with the reason instead of looping; a recipient already final
 * (duplicate job after a crash) is skipped; errors reaching Redis are left to BullMQ to retry.
 */
import { DelayedError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Keys } from '../redis/keys.js';
import type { MessageStore } from '../store/messages.js';
import { FINAL_STATUSES, type FailureClass, type MessageEvent, type RecipientState, type StoredMessage } from '../store/types.js';
import { DELIVERY_QUEUE, type DeliveryJob } from '../queue/delivery-queue.js';
import { nextRetry } from '../queue/retry.js';
import { transformForRecipient, type Prepared } from '../transform/transform.js';
import type { DomainStore, Signer } from '../domains/domain-store.js';
import { returnPathHost } from '../domains/records.js';
import type { Verp } from '../bounce/verp.js';
import { classifyReply } from '../bounce/classify.js';
import type { Rule } from '../bounce/rules.js';
import type { SuppressionPolicy } from '../bounce/suppression-policy.js';
import { stopping, type SuppressionEntry } from '../store/suppressions.js';
import { domainOf } from '../mime/address.js';
import type { Metrics } from '../metrics.js';
import { attemptDelivery, type AttemptOutcome } from './attempt.js';
import { ConnectionPool } from './pool.js';
import { cachedDestinations, hostAddress, type Resolution, type Resolver, type Target } from './routes.js';
import { limitsFor, siteOf, type Site, type SiteLimits } from './sites.js';
import { siteClass } from './site-class.js';
import { isPushback, type SiteThrottle } from './throttle.js';
import type { MtaSts } from './mta-sts.js';
import { planCopy } from '../tracking/copy-plan.js';
import type { TrackingTokens } from '../tracking/tokens.js';
import type { LinkStore } from '../tracking/links.js';

export interface DeliveryDeps {
  config: Config;
  log: Logger;
  store: MessageStore;
  connection: Redis;
  keys: Keys;
  resolver: Resolver;
  metrics: Metrics;
  domains: DomainStore;
  throttle: SiteThrottle;
  /** null: MTA-STS not enforced (delivery.mtaSts false) */
  mtaSts: MtaSts | null;
  /** extra CA certificates trusted for verified TLS (NODE_EXTRA_CA_CERTS does this for operators) */
  ca?: string;
  /** the envelope sender of every delivery: bounces name message and recipient */
  verp: Verp;
  /** config `bounce.rules`, compiled: checked before the built-in table */
  bounceRules?: readonly Rule[];
  suppression: SuppressionPolicy;
  /** tracking links, pixel and List-Unsubscribe per copy (config `tracking`); absent: copies go as stored */
  tracking?: { tokens: TrackingTokens; links: LinkStore };
}

export interface DeliveryWorker {
  close(): Promise<void>;
}

/** An outcome of a real attempt (not a wait for the site). */
type Attempted = Exclude<AttemptOutcome, { kind: 'waiting' }>;

/** What every job of this worker shares: connections, site limits, cached MX answers. */
interface Engine {
  pool: ConnectionPool;
  throttle: SiteThrottle;
  destinations: (domain: string) => Promise<Resolution>;
  /** messages whose link list this process stored already (every copy of a message has the same list) */
  linksSaved: Set<string>;
}

/** Bounds Engine.linksSaved: forgetting only costs one more (idempotent) save. */
const LINKS_SAVED_KEPT = 10_000;

export function startDeliveryWorker(deps: DeliveryDeps): DeliveryWorker {
  const d = deps.config.delivery;
  const pool = new ConnectionPool({
    hostname: deps.config.hostname,
    resolveHost: (host) => hostAddress(host, deps.resolver),
    connectTimeoutMs: d.connectTimeoutSeconds * 1000,
    commandTimeoutMs: d.commandTimeoutSeconds * 1000,
    ...(deps.ca ? { ca: deps.ca } : {}),
  }, deps.throttle);
  const engine: Engine = { pool, throttle: deps.throttle, destinations: cachedDestinations(d.routes, deps.resolver, d.mxCacheSeconds * 1000, d.mxPort), linksSaved: new Set() };
  const unwatch = deps.throttle.watch();
  const worker = new Worker<DeliveryJob>(DELIVERY_QUEUE, (job, token) => processJob(job, token, deps, engine), {
    connection: deps.connection,
    prefix: deps.keys.queuePrefix,
    concurrency: d.concurrency,
    // A job whose worker died is put back to run again however often that happens: parking
    // acknowledged mail in "failed" after two crashes is the trap BullMQ's default (1) sets.
    maxStalledCount: 1_000_000,
    // Renewed every 15 s while a delivery runs; after a crash its job is picked up again within ~30–45 s.
    lockDuration: 30_000,
    stalledInterval: 15_000,
  });
  worker.on('failed', (job, err) => deps.log.error({ job: job?.id, err: err.message }, 'delivery job failed unexpectedly; BullMQ will retry it'));
  worker.on('error', (err) => deps.log.error({ err: err.message }, 'delivery worker error'));
  return {
    async close() {
      unwatch();
      await worker.close();
      pool.close();
    },
  };
}

async function processJob(job: Job<DeliveryJob>, token: string | undefined, deps: DeliveryDeps, engine: Engine): Promise<void> {
  const { messageId, rcpt, to } = job.data;
  // One round trip (auto-pipelined): the message, the recipient's state and its suppression entries.
  const [message, state, entries] = await Promise.all([deps.store.get(messageId), deps.store.recipient(messageId, rcpt), to ? deps.suppression.list.entries(to) : null]);
  if (!message || !state) {
    deps.log.warn({ id: messageId, rcpt }, 'delivery job for a message that no longer exists: dropped');
    return;
  }
  if (FINAL_STATUSES.has(state.status)) return;
  if (await isSuppressed(message, rcpt, state, entries ?? (await deps.suppression.list.entries(state.address)), deps)) return;

  const started = Date.now();
  const attempt = state.attempts + 1;
  const { outcome, site } = await deliver(message, rcpt, state.address, deps, engine, job.data.slotAt);
  await rememberWait(job, outcome, site);
  if (outcome.kind === 'waiting') {
    // Not an attempt: the site said wait. Back in the queue for then: at the reserved rate slot
    // exactly, else with jitter so the waiting jobs of one site do not all return at once.
    deps.metrics.throttled.inc();
    deps.log.debug({ id: messageId, to: state.address, waitMs: outcome.waitMs, detail: outcome.detail }, 'delivery waits for its site');
    const jitter = outcome.reserved ? 0 : Math.floor(Math.random() * Math.min(1000, outcome.waitMs / 2 + 100));
    await job.moveToDelayed(Date.now() + outcome.waitMs + jitter, token);
    throw new DelayedError();
  }
  const recorded = await record(message, rcpt, state, attempt, outcome, deps);
  await learnSuppression(message, rcpt, state.address, recorded, deps);
  deps.metrics.deliveries.inc({ outcome: recorded.type, site_class: siteClass(site ?? domainOf(state.address)) });
  if (recorded.type !== 'deferred') deps.metrics.queueTime.observe({ outcome: recorded.type }, (Date.now() - Math.max(message.createdAt, message.sendAt ?? 0)) / 1000);
  deps.metrics.deliveryDuration.observe({ outcome: recorded.type }, (Date.now() - started) / 1000);
  deps.log.info({ id: messageId, to: state.address, attempt, ...logFields(outcome), status: recorded.type, ms: Date.now() - started, detail: recorded.detail, ...(recorded.failure ? { reason: recorded.failure.reason, hard: recorded.hard } : {}) }, `delivery ${recorded.type}`);

  if (recorded.type === 'deferred' && recorded.retryAt) {
    await job.moveToDelayed(recorded.retryAt, token);
    throw new DelayedError();
  }
}

/** A recipient on the suppression list is not delivered: `suppressed`, with the entry's reason. */
async function isSuppressed(message: StoredMessage, rcpt: number, state: RecipientState, entries: SuppressionEntry[], deps: DeliveryDeps): Promise<boolean> {
  const entry = stopping(entries, message.headerFrom ? domainOf(message.headerFrom) : null);
  if (!entry) return false;
  const detail = `${entry.state} since ${entry.createdAt} (${entry.scope === 'global' ? 'every sender' : `mail from ${entry.scope}`}): ${entry.reason}`;
  const now = Date.now();
  await deps.store.record(message.id, { ...state, status: 'suppressed', reason: entry.reason, updatedAt: now }, { type: 'suppressed', at: new Date(now).toISOString(), rcpt, address: state.address, detail });
  deps.metrics.deliveries.inc({ outcome: 'suppressed', site_class: siteClass(domainOf(state.address)) });
  deps.log.info({ id: message.id, to: state.address, status: 'suppressed', detail }, 'delivery suppressed');
  return true;
}

/** Final failures may put the address on the suppression list; a delivery ends a run of soft bounces. */
async function learnSuppression(message: StoredMessage, rcpt: number, address: string, recorded: Recorded, deps: DeliveryDeps): Promise<void> {
  try {
    if (recorded.type === 'delivered') return await deps.suppression.afterDelivery(address);
    if ((recorded.type === 'bounced' || recorded.type === 'expired') && recorded.failure) {
      await deps.suppression.afterFailure(address, { ...recorded.failure, hard: recorded.hard ?? false }, `delivery ${message.id}/${rcpt}`);
    }
  } catch (err) {
    deps.log.warn({ id: message.id, to: address, err: (err as Error).message }, 'could not update the suppression list');
  }
}

/**
 * A job comes back for the rate slot reserved for it. Jobs return from "delayed" late under load
 * (measured: often by more than 250 ms while intake runs at full speed), so a slot holds for a
 * second (or one interval at slower rates); a job later than that (a restart) asks again. Late
 * jobs can therefore go out together, at most a second's worth of the rate: the average holds
 * (0.96-0.99 of the limit in `npm run bench -- --throttle`), the spacing within a second may not.
 */
const SLOT_GRACE_MS = 1000;
function holdsSlotNow(slotAt: number | undefined, limits: SiteLimits): boolean {
  if (slotAt === undefined || limits.perMinute <= 0) return false;
  const now = Date.now();
  return now >= slotAt - 20 && now < slotAt + Math.max(60_000 / limits.perMinute, SLOT_GRACE_MS);
}

/**
 * What a waiting job must carry: its site's name when it waits for a pause or a retry (so
 * `queue retry-now` / `queue resume` find it), the time of a rate slot reserved for it.
 */
async function rememberWait(job: Job<DeliveryJob>, outcome: AttemptOutcome, site: string | null): Promise<void> {
  if (outcome.kind !== 'waiting' && outcome.kind !== 'deferred') return; // the job ends here
  const next: DeliveryJob = { ...job.data };
  if (site && ((outcome.kind === 'waiting' && outcome.paused) || outcome.kind === 'deferred')) next.site = site;
  if (outcome.kind === 'waiting' && outcome.reserved) next.slotAt = Date.now() + outcome.waitMs;
  else delete next.slotAt;
  if (next.site !== job.data.site || next.slotAt !== job.data.slotAt) await job.updateData(next);
}

async function deliver(message: StoredMessage, rcpt: number, address: string, deps: DeliveryDeps, engine: Engine, slotAt: number | undefined): Promise<{ outcome: AttemptOutcome; site: string | null }> {
  const domain = domainOf(address);
  const destination = await engine.destinations(domain);
  if (destination.kind === 'permanent') return { outcome: { kind: 'bounced', enhancedCode: destination.enhancedCode, detail: destination.reason }, site: null };
  if (destination.kind === 'temporary') return { outcome: { kind: 'deferred', detail: destination.reason }, site: null };
  const d = deps.config.delivery;
  const name = siteOf(domain, destination);
  const site = { name, limits: limitsFor(name, domain, d.throttle, d) };
  const viaMx = !destination.targets[0]?.via.startsWith('route ');
  const sts = viaMx && deps.mtaSts ? await deps.mtaSts.apply(domain, destination.targets) : { kind: 'targets' as const, targets: destination.targets };
  if (sts.kind === 'defer') return { outcome: { kind: 'deferred', detail: sts.reason }, site: name };
  return { outcome: await deliverToSite(message, rcpt, address, site, sts.targets, deps, engine, holdsSlotNow(slotAt, site.limits)), site: name };
}

async function deliverToSite(message: StoredMessage, rcpt: number, address: string, site: Site, targets: Target[], deps: DeliveryDeps, engine: Engine, holdsSlot: boolean): Promise<AttemptOutcome> {
  // Rate and pause first (a denied job is put back before it reads, signs or takes a connection),
  // and the pause once more with a connection in hand: the wait for one may outlast the admission.
  const slot = await engine.throttle.admit(site.name, site.limits, holdsSlot);
  if (!slot.ok) return { kind: 'waiting', waitMs: slot.waitMs, paused: slot.paused, reserved: slot.reserved, detail: slot.reason };
  const body = await deps.store.body(message.id);
  if (!body) return { kind: 'bounced', detail: 'the stored message body is missing (deleted or lost); nothing can be sent' };
  const fromDomain = message.headerFrom ? domainOf(message.headerFrom) : null;
  let prepared: Prepared;
  let signer: Signer | null;
  try {
    signer = fromDomain ? await deps.domains.signerFor(fromDomain) : null;
    const plan = deps.tracking ? planCopy({ message, rcpt, trackingHost: signer?.trackingHost ?? null, mailboxDomain: returnHost(signer, deps) }, deps.config, deps.tracking.tokens) : null;
    prepared = await transformForRecipient(body, { keys: signer?.keys ?? [], fromDomain, tracking: plan?.tracking ?? null, listUnsubscribe: plan?.listUnsubscribe ?? null });
  } catch (err) {
    return { kind: 'bounced', detail: `the message could not be prepared for sending: ${(err as Error).message}` };
  }
  if (prepared.notes.length > 0) deps.log.debug({ id: message.id, notes: prepared.notes }, 'tracking left parts of the message as they were');
  await saveLinks(message.id, prepared.links, deps, engine);
  const stillAdmitted = () => engine.throttle.admit(site.name, site.limits, true);
  const outcome = await attemptDelivery(engine.pool, targets, site, { from: envelopeSender(message, rcpt, signer, deps), to: address }, prepared.wire, stillAdmitted);
  await learnFrom(outcome, site, engine, deps.log);
  return outcome.kind === 'delivered' ? { ...outcome, dkim: prepared.dkim } : outcome;
}

/** Before the first copy goes out: a scanner may follow a link while the rest are still being sent. */
async function saveLinks(messageId: string, links: string[], deps: DeliveryDeps, engine: Engine): Promise<void> {
  if (links.length === 0 || !deps.tracking || engine.linksSaved.has(messageId)) return;
  await deps.tracking.links.save(messageId, links);
  if (engine.linksSaved.size >= LINKS_SAVED_KEPT) engine.linksSaved.clear();
  engine.linksSaved.add(messageId);
}

/** Adaptive backoff: a site's "try later" answers slow it down, its successes speed it back up. */
async function learnFrom(outcome: AttemptOutcome, site: Site, engine: Engine, log: Logger): Promise<void> {
  try {
    if (outcome.kind === 'delivered') return await engine.throttle.recordSuccess(site.name, site.limits);
    if (outcome.kind !== 'deferred' || !isPushback(outcome)) return;
    const paused = await engine.throttle.recordTrouble(site.name, site.limits, outcome.reply ?? outcome.detail, engine.pool.openTo(site.name));
    if (paused) {
      log.warn({ site: site.name, until: new Date(paused.pausedUntil).toISOString(), connections: paused.ceiling, reason: outcome.reply ?? outcome.detail }, `site ${site.name} pushes back: paused, then at most ${paused.ceiling} connection(s)`);
    }
  } catch (err) {
    log.warn({ site: site.name, err: (err as Error).message }, 'could not record the site\'s backoff state');
  }
}

/**
 * MAIL FROM on the wire: a VERP address naming this message and recipient, on the return-path
 * subdomain of a verified sending domain (SPF then aligns with the From domain) or else on our
 * hostname — bounces come back to us and say exactly whom they are about. The null sender stays
 * null (it marks a message that must not be bounced).
 */
function envelopeSender(message: StoredMessage, rcpt: number, signer: Signer | null, deps: DeliveryDeps): string {
  if (!message.mailFrom) return '';
  return deps.verp.address({ messageId: message.id, rcpt }, returnHost(signer, deps));
}

/** Where mail about a copy comes back to our port 25 (bounces, u+TOKEN unsubscribes). */
function returnHost(signer: Signer | null, deps: DeliveryDeps): string {
  return (signer?.verified ? returnPathHost(signer.domain, deps.config) : null) ?? deps.config.hostname;
}

interface Recorded {
  type: 'delivered' | 'bounced' | 'deferred' | 'expired';
  /** the classified cause of a failure, and whether the address itself is bad */
  failure?: FailureClass;
  hard?: boolean | null;
  retryAt?: number;
  detail?: string;
}

async function record(message: StoredMessage, rcpt: number, prev: RecipientState, attempt: number, outcome: Attempted, deps: DeliveryDeps): Promise<Recorded> {
  const now = Date.now();
  const event: MessageEvent = { type: 'delivered', at: new Date(now).toISOString(), rcpt, address: prev.address, attempt, ...eventFields(outcome) };
  const state: RecipientState = { ...prev, attempts: attempt, updatedAt: now };
  let result: Recorded;

  if (outcome.kind === 'delivered') {
    Object.assign(state, { status: 'delivered', reason: null, hard: null });
    result = { type: 'delivered' };
  } else if (outcome.kind === 'bounced') {
    const failure = classifyFailure(outcome, deps);
    Object.assign(state, { status: 'bounced', reason: outcome.reply ?? outcome.detail, hard: failure.hard, failure: failure.class });
    Object.assign(event, { type: 'bounced', failure: failure.class, hard: failure.hard });
    result = { type: 'bounced' };
  } else {
    const decision = nextRetry(deps.config.delivery.retry, attempt, message.createdAt, now);
    if (decision.kind === 'expire') {
      const reason = `gave up after ${attempt} attempts over ${formatAge(now - message.createdAt)}; last error: ${outcome.reply ?? outcome.detail}`;
      const failure = classifyFailure(outcome, deps, true);
      Object.assign(state, { status: 'expired', reason, hard: false, failure: failure.class });
      Object.assign(event, { type: 'expired', detail: reason, failure: failure.class });
      result = { type: 'expired', detail: reason };
    } else {
      const retryAt = now + decision.delayMs;
      const failure = classifyFailure(outcome, deps);
      event.failure = failure.class;
      Object.assign(state, { status: 'deferred', reason: outcome.reply ?? outcome.detail, hard: false, failure: failure.class });
      Object.assign(event, { type: 'deferred', detail: `${outcome.detail}; next attempt at ${new Date(retryAt).toISOString()}` });
      result = { type: 'deferred', retryAt, detail: event.detail };
    }
  }
  await deps.store.record(message.id, state, event);
  return state.failure ? { ...result, failure: state.failure, hard: state.hard } : result;
}

/** A failed attempt through the one bounce classifier (the same rules as DSNs on port 25). */
function classifyFailure(o: Extract<Attempted, { kind: 'bounced' | 'deferred' }>, deps: DeliveryDeps, expired = false): { hard: boolean; class: FailureClass } {
  const command = o.stage === 'AUTH' ? null : (o.stage ?? null);
  const c = classifyReply({ code: o.code ?? null, enhancedCode: o.enhancedCode ?? null, text: o.reply ?? o.detail, command }, { extraRules: deps.bounceRules, expired });
  return { hard: c.hard, class: { reason: c.reason, group: c.group, label: c.label } };
}

function eventFields(o: Attempted): Partial<MessageEvent> {
  if (o.kind === 'delivered') return { remoteHost: o.remoteHost, reply: o.reply, ...(o.tls ? { tls: o.tls } : {}), ...(o.dkim ? { dkim: o.dkim } : {}) };
  return {
    ...(o.remoteHost ? { remoteHost: o.remoteHost } : {}),
    ...(o.reply ? { reply: o.reply } : {}),
    ...(o.code ? { code: o.code } : {}),
    ...(o.enhancedCode ? { enhancedCode: o.enhancedCode } : {}),
    detail: o.detail,
  };
}

function logFields(o: Attempted): Record<string, unknown> {
  return o.kind === 'delivered' ? { remote: o.remoteHost, reply: o.reply, tls: o.tls, dkim: o.dkim } : { remote: o.remoteHost, reply: o.reply };
}

function formatAge(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

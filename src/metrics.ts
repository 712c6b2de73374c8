/**
 * Every Prometheus metric, defined once. Names start with `sokutatsu_` (CONTRACT.md).
 * Each app instance has its own registry, so tests can run several side by side.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { SITE_CLASSES } from './delivery/site-class.js';

/** What /metrics serves: this process's registry, or (cluster primary) every worker's, summed. */
export interface MetricsSource {
  contentType: string;
  text(): Promise<string>;
}

export function registryMetrics(registry: Registry): MetricsSource {
  return { contentType: registry.contentType, text: () => registry.metrics() };
}

export interface Metrics {
  registry: Registry;
  /** messages received by listener and result: accepted (250 after DATA, 202), rejected (5xx at DATA, 4xx refusal of a send request), deferred (4xx at DATA, 409/5xx of the send API) */
  messagesReceived: Counter<'listener' | 'result'>;
  /** recipients accepted in those messages */
  recipientsReceived: Counter<'listener'>;
  /** refusals sent to SMTP clients, by listener and reply code */
  smtpRejections: Counter<'listener' | 'code'>;
  /** delivery attempt outcomes per recipient: delivered, deferred, bounced, expired (and suppressed), by site class (delivery/site-class.ts) */
  deliveries: Counter<'outcome' | 'site_class'>;
  /** intake latency: end of DATA to the 250 reply (SMTP), request to 202 (send API), by listener */
  intakeDuration: Histogram<'listener'>;
  /** time in queue: from acceptance (or Send-At) to the final attempt, by outcome (delivered, bounced, expired) */
  queueTime: Histogram<'outcome'>;
  throttled: Counter<string>;
  deliveryDuration: Histogram<'outcome'>;
  /** recorded events (src/events/event-log.ts), by type and machine verdict ('' for events without one) */
  events: Counter<'type' | 'machine'>;
  /** bounced recipients (at delivery or by a later DSN) by the classifier's group and reason (bounded sets) */
  bounces: Counter<'group' | 'reason'>;
  /** webhook POST outcomes: delivered (2xx), retrying, failed (given up) */
  webhookDeliveries: Counter<'result'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sokutatsu_process_' });
  const metrics: Metrics = {
    registry,
    messagesReceived: new Counter({
      name: 'sokutatsu_messages_received_total',
      help: 'Messages received by listener and result: accepted (250 after DATA, 202 from the send API), rejected (permanent refusal: 5xx to DATA, 4xx to a send request), deferred (temporary: 4xx to DATA, 409 or 5xx to a send request)',
      labelNames: ['listener', 'result'],
      registers: [registry],
    }),
    recipientsReceived: new Counter({ name: 'sokutatsu_recipients_received_total', help: 'Recipients in accepted messages', labelNames: ['listener'], registers: [registry] }),
    smtpRejections: new Counter({ name: 'sokutatsu_smtp_rejections_total', help: 'Error replies sent to SMTP clients', labelNames: ['listener', 'code'], registers: [registry] }),
    throttled: new Counter({ name: 'sokutatsu_delivery_waits_total', help: 'Deliveries put back to wait for their site (connection limit, rate limit or backoff pause); not attempts', registers: [registry] }),
    deliveries: new Counter({ name: 'sokutatsu_deliveries_total', help: 'Delivery attempt outcomes per recipient (delivered, deferred, bounced, expired, suppressed) by site class (google, microsoft, yahoo, apple, docomo, au, softbank, other)', labelNames: ['outcome', 'site_class'], registers: [registry] }),
    intakeDuration: new Histogram({
      name: 'sokutatsu_intake_duration_seconds',
      help: 'Intake latency: end of DATA to the 250 reply (SMTP listeners), request to the 202 reply (listener api); the store write included',
      labelNames: ['listener'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    queueTime: new Histogram({
      name: 'sokutatsu_delivery_queue_seconds',
      help: 'Time from acceptance (or X-Sokutatsu-Send-At) to the final attempt of a recipient, by outcome (delivered, bounced, expired)',
      labelNames: ['outcome'],
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86_400, 5 * 86_400],
      registers: [registry],
    }),
    bounces: new Counter({ name: 'sokutatsu_bounces_total', help: 'Bounced recipients (a 5xx at delivery or a DSN later) by reason group (permanent, temporary, unknown) and the classifier\'s reason', labelNames: ['group', 'reason'], registers: [registry] }),
    webhookDeliveries: new Counter({ name: 'sokutatsu_webhook_deliveries_total', help: 'Webhook POST attempts by result: delivered (2xx), retrying (failed, will retry), failed (given up)', labelNames: ['result'], registers: [registry] }),
    events: new Counter({ name: 'sokutatsu_events_total', help: 'Recorded recipient events by type; opens and clicks by machine verdict (true/false; empty for other types)', labelNames: ['type', 'machine'], registers: [registry] }),
    deliveryDuration: new Histogram({
      name: 'sokutatsu_delivery_duration_seconds',
      help: 'Time of one delivery attempt, connection included',
      labelNames: ['outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
  };
  initSiteClasses(metrics);
  return metrics;
}

/** What intake (SMTP listeners, the send API) counts. */
export type IntakeMetrics = Pick<Metrics, 'messagesReceived' | 'recipientsReceived' | 'intakeDuration'>;

/** The `result` label of sokutatsu_messages_received_total. */
export type ReceivedResult = 'accepted' | 'rejected' | 'deferred';

/** A message refused at DATA with this SMTP reply code: 5xx is a permanent refusal, 4xx a temporary one. */
export function refusedResult(smtpCode: number): ReceivedResult {
  return smtpCode >= 500 ? 'rejected' : 'deferred';
}

/** Label values of a counter known in advance, so a dashboard sees 0 instead of no series. */
export function initSiteClasses(metrics: Metrics): void {
  for (const site_class of SITE_CLASSES) for (const outcome of ['delivered', 'deferred', 'bounced', 'expired']) metrics.deliveries.inc({ outcome, site_class }, 0);
}

/** What the gauges read at scrape time ask: the queue's job counts and the sites' state (both in Redis, so any process reads the whole cluster's). */
export interface ScrapeSources {
  jobCounts(): Promise<Record<string, number>>;
  siteGauges(): Promise<{ connections: number; paused: number }>;
}

/**
 * Gauges read at scrape (`collect`), in a registry of their own: they describe shared state
 * (Redis), so the process serving HTTP registers them once — in a cluster, summing them over
 * workers would count the same queue N times.
 */
export function createScrapeMetrics(sources: ScrapeSources): Registry {
  const registry = new Registry();
  new Gauge({
    name: 'sokutatsu_queue_jobs',
    help: 'Delivery jobs by state (waiting, active, delayed: retries, throttle waits, Send-At; failed: needs an operator), read from BullMQ at scrape',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const counts = await sources.jobCounts();
      for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
    },
  });
  let sites: Promise<{ connections: number; paused: number }> | null = null;
  // One read of the sites per scrape, shared by the two gauges below.
  const siteStates = () => (sites ??= sources.siteGauges().finally(() => setTimeout(() => (sites = null), 0)));
  new Gauge({
    name: 'sokutatsu_outbound_connections',
    help: 'Outgoing SMTP connections open across every process and node (live site leases), read at scrape',
    registers: [registry],
    async collect() {
      this.set((await siteStates()).connections);
    },
  });
  new Gauge({
    name: 'sokutatsu_sites_paused',
    help: 'Destination sites paused now (adaptive backoff or operator), read at scrape',
    registers: [registry],
    async collect() {
      this.set((await siteStates()).paused);
    },
  });
  return registry;
}

/** Several sources as one /metrics text (each holds different metric names). */
export function combinedMetrics(...sources: MetricsSource[]): MetricsSource {
  return {
    contentType: sources[0]!.contentType,
    text: async () => (await Promise.all(sources.map((s) => s.text()))).map((t) => t.trimEnd()).join('\n') + '\n',
  };
}

/**
 * The composition root: from a validated config to running listeners, worker and HTTP server,
 * and back down in order.
 *
 * Promises: `stop()` drains SMTP (new sessions 421, transactions in flight finish), lets
 * deliveries in flight finish, closes HTTP, then Redis connections, then the embedded
 * redis-server (AOF flushed) — each bounded by `shutdown.graceSeconds`.
 */
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { Redis } from 'ioredis';
import pino, { type Logger } from 'pino';
import type { Config } from './config/schema.js';
import { createRedis, describeTarget, type RedisTarget } from './redis/connection.js';
import { startEmbeddedRedis, type EmbeddedRedis } from './redis/embedded.js';
import { createKeys, type Keys } from './redis/keys.js';
import { createDeliveryQueue } from './queue/delivery-queue.js';
import { createMessageStore, type MessageStore } from './store/messages.js';
import { createUserStore } from './intake/users.js';
import { createAuthGuard } from './intake/auth.js';
import { loadTls } from './intake/tls.js';
import { startIntake, type Intake } from './intake/intake.js';
import { startDeliveryWorker } from './delivery/worker.js';
import { Verp } from './bounce/verp.js';
import { InboundReports } from './bounce/reports.js';
import { compileRules } from './bounce/config-rules.js';
import { createReportStore } from './store/reports.js';
import { SuppressionList } from './store/suppressions.js';
import { SuppressionPolicy } from './bounce/suppression-policy.js';
import { sharedSecret } from './secrets.js';
import { SiteThrottle } from './delivery/throttle.js';
import { MtaSts, type PolicyFetcher } from './delivery/mta-sts.js';
import { createResolver, type DnsResolver } from './dns.js';
import { createHttpApp } from './http/app.js';
import { createTokenStore } from './http/tokens.js';
import { combinedMetrics, createMetrics, createScrapeMetrics, registryMetrics, type Metrics } from './metrics.js';
import { createMetricsApp, scrapeSources } from './http/metrics-route.js';
import { claimDataDir } from './datadir.js';
import { waitAtMost } from './deadline.js';
import { openDomains } from './domains/domain-service.js';
import { startDomainRecheck } from './domains/recheck.js';
import { openTracking } from './tracking/services.js';
import { EventLog } from './events/event-log.js';
import { createDispatcher, openWebhooks } from './webhooks/services.js';
import type { WebhookDispatcher } from './webhooks/dispatcher.js';
import { openInboundRoutes, startInboundRuntime, type InboundRuntime } from './inbound/services.js';

export interface AppOptions {
  config: Config;
  log?: Logger;
  /** DNS for MX lookups and domain checks; default: built from `dns` in the config */
  resolver?: DnsResolver;
  /** HTTPS fetch of MTA-STS policies; tests inject one (no HTTPS server for test domains) */
  mtaStsFetcher?: PolicyFetcher;
  /** CA certificates (PEM) trusted for verified outgoing TLS (delivery, https webhooks) besides the system's; tests inject one */
  deliveryCa?: string;
  /**
   * Set in a cluster worker: the Redis its primary opened. The primary owns dataDir, the
   * embedded Redis and the HTTP server; the worker runs SMTP listeners and delivery.
   */
  clusterWorker?: { redis: RedisTarget };
}

export interface App {
  config: Config;
  log: Logger;
  redis: Redis;
  keys: Keys;
  store: MessageStore;
  metrics: Metrics;
  ports: Intake['ports'] & { http?: number; metrics?: number };
  embeddedRedis: EmbeddedRedis | null;
  /** where every recorded event goes: stream, statistics, metrics, subscribers */
  events: EventLog;
  /** queues webhook POSTs for published events (the events backbone's subscriber); its worker runs here */
  webhooks: WebhookDispatcher;
  /** port 25's inbound routes: reception (store + queue) and the forwarder whose worker runs here */
  inbound: InboundRuntime;
  reloadTls(): Promise<void>;
  stop(): Promise<void>;
}

export function createLogger(config: Config): Logger {
  return pino({
    level: config.log.level,
    base: { pid: process.pid },
    // Belt and braces: no code path logs these, and if one ever does, they are masked.
    redact: { paths: ['password', 'pass', '*.password', '*.pass', 'auth', 'token', '*.token', 'secret', '*.secret'], censor: '***' },
  });
}

/** Connects to the configured Redis, or starts/adopts the embedded one. */
export async function openRedis(config: Config, log: Logger): Promise<{ target: RedisTarget; embedded: EmbeddedRedis | null }> {
  if (config.redis.url) return { target: { url: config.redis.url }, embedded: null };
  const embedded = await startEmbeddedRedis(config.dataDir, log);
  return { target: { socketPath: embedded.socketPath }, embedded };
}

export async function startApp(options: AppOptions): Promise<App> {
  const log = options.log ?? createLogger(options.config);
  if (options.clusterWorker) return startRoles(options, log, options.clusterWorker.redis, null, { release: () => undefined });
  const claim = claimDataDir(options.config.dataDir);
  let embedded: EmbeddedRedis | null = null;
  try {
    const opened = await openRedis(options.config, log);
    embedded = opened.embedded;
    return await startRoles(options, log, opened.target, embedded, claim);
  } catch (err) {
    // We own dataDir, so an embedded Redis here is ours (started now, or left by a killed run).
    if (embedded) await embedded.stop();
    claim.release();
    throw err;
  }
}

async function startRoles(options: AppOptions, log: Logger, target: RedisTarget, embedded: EmbeddedRedis | null, claim: { release(): void }): Promise<App> {
  const { config } = options;
  log.info({ redis: describeTarget(target) }, 'using redis');

  const keys = createKeys(config.redis.namespace);
  const redis = createRedis(target, log, 'main', true);
  const queueConnection = createRedis(target, log, 'queue');
  const workerConnection = createRedis(target, log, 'worker');
  const metrics = createMetrics();
  const queue = createDeliveryQueue(queueConnection, keys);
  const events = new EventLog(redis, keys, config.events, { metrics, log });
  const store = createMessageStore(redis, queue, keys, { ...config.store, indexSeconds: config.store.retentionSeconds + config.delivery.retry.maxAgeSeconds }, events);
  const users = createUserStore(redis, keys);
  const auth = createAuthGuard(users, redis, keys, config.smtp.limits, log);
  const tokens = createTokenStore(redis, keys, config.admin.token);
  let tls = await loadTls(config, log);
  const resolver = options.resolver ?? createResolver(config.dns);
  const { store: domains, service: domainService } = openDomains(redis, keys, config, resolver, log);

  const throttle = new SiteThrottle(redis, keys, config.delivery.backoff);
  const mtaSts = config.delivery.mtaSts ? new MtaSts(redis, keys, resolver, log, options.mtaStsFetcher) : null;
  const verp = new Verp(await sharedSecret(redis, keys, 'verp'));
  const bounceRules = compileRules(config.bounce.rules);
  const suppression = new SuppressionPolicy(new SuppressionList(redis, keys), config.suppression, log);
  const tracking = await openTracking(redis, keys, config, suppression.list, log, events);
  const webhookServices = openWebhooks(redis, keys, config.webhooks, resolver, options.deliveryCa);
  const webhooks = createDispatcher(webhookServices, redis, queueConnection, keys, config.webhooks, log, (result) => metrics.webhookDeliveries.inc({ result }));
  webhooks.startWorker(workerConnection);
  events.subscribe(webhooks);
  const inboundRoutes = openInboundRoutes(redis, keys, config, webhookServices);
  const inbound = startInboundRuntime(inboundRoutes, redis, queueConnection, keys, config, events, log, (result) => metrics.webhookDeliveries.inc({ result }));
  inbound.forwarder.start(workerConnection);
  const worker = startDeliveryWorker({ config, log, store, connection: workerConnection, keys, resolver, metrics, domains, throttle, mtaSts, verp, bounceRules, suppression, tracking, ...(options.deliveryCa ? { ca: options.deliveryCa } : {}) });
  const reports = new InboundReports({ verp, reports: createReportStore(redis, keys, config.store, events), log, extraRules: bounceRules, suppression });
  const intake = await startIntake({ config, log, store, auth, tls, metrics, domains, reports, unsubscribes: tracking.inbound, inboundRoutes: inbound.reception });
  const ports: App['ports'] = { ...intake.ports };
  let http: ServerType | null = null;
  let metricsHttp: ServerType | null = null;
  // In a cluster the primary runs the re-check and the HTTP API.
  const recheck = options.clusterWorker ? null : startDomainRecheck({ service: domainService, redis, keys, intervalSeconds: config.domains.recheckIntervalSeconds, log });
  if (config.http.enabled && !options.clusterWorker) {
    const served = combinedMetrics(registryMetrics(metrics.registry), registryMetrics(createScrapeMetrics(scrapeSources(queue, throttle))));
    if (config.metrics.port !== undefined) {
      metricsHttp = await listenHttp(createMetricsApp(served, config.metrics.token).fetch, config.metrics.host, config.metrics.port);
      ports.metrics = (metricsHttp.address() as AddressInfo).port;
    }
    http = await listenHttp(createHttpApp({ redis, store, tokens, metrics: served, sendingDomains: domains, intakeMetrics: metrics, domains: domainService, throttle, queue, suppressions: suppression.list, config, tracking: tracking.http, webhooks: webhookServices, inboundRoutes, log }).fetch, config.http.host, config.http.port);
    ports.http = (http.address() as AddressInfo).port;
    log.info({ host: config.http.host, port: ports.http }, 'http listening');
  }
  if (!config.admin.token) log.warn('admin.token is empty: the admin API accepts only tokens made with `sokutatsu token create NAME`');

  let stopping: Promise<void> | null = null;
  return {
    config, log, redis, keys, store, metrics, ports, embeddedRedis: embedded, events, webhooks, inbound,
    async reloadTls() {
      tls = await loadTls(config, log);
      intake.reloadTls(tls);
    },
    stop() {
      stopping ??= (async () => {
        log.info('shutting down: refusing new SMTP sessions, finishing transactions and deliveries in flight');
        recheck?.stop();
        await intake.drain();
        await waitAtMost(worker.close(), config.shutdown.graceSeconds * 1000, () => log.warn('deliveries still in flight at the end of the grace period: they will be retried after restart'));
        if (http) await new Promise<void>((r) => http!.close(() => r()));
        if (metricsHttp) await new Promise<void>((r) => metricsHttp!.close(() => r()));
        // POSTs in flight finish (each bounded by webhooks.timeoutSeconds); waiting ones stay queued.
        await waitAtMost(webhooks.close(), config.shutdown.graceSeconds * 1000, () => log.warn('webhook POSTs still in flight at the end of the grace period: they will be sent again after restart'));
        await waitAtMost(inbound.close(), config.shutdown.graceSeconds * 1000, () => log.warn('inbound POSTs still in flight at the end of the grace period: they will be sent again after restart'));
        await queue.close();
        for (const c of [redis, queueConnection, workerConnection]) await c.quit().catch(() => c.disconnect());
        // Adopted or not, the embedded server is this process's to stop: it owns dataDir.
        if (embedded) await embedded.stop();
        claim.release();
        log.info('stopped');
      })();
      return stopping;
    },
  };
}

export function listenHttp(fetch: (req: Request) => Response | Promise<Response>, hostname: string, port: number): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, hostname, port }, () => resolve(server));
    server.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`http.port: cannot listen on ${hostname}:${port}: ${err.code === 'EADDRINUSE' ? 'another program uses it' : err.message}`)));
  });
}

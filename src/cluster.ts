/**
 * `processes: N|auto`: one primary and N worker processes (node:cluster), so SMTP intake and
 * delivery use every core.
 *
 * The primary owns dataDir, the embedded Redis, the TLS certificate and the HTTP server (its
 * /metrics sums every worker's and its own: cluster-metrics.ts); it restarts a worker that dies and, on stop, lets each worker
 * drain before Redis goes down. Workers share the SMTP ports (the primary hands connections
 * out) and the delivery queue (through Redis), and are otherwise the single-process app.
 */
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from './config/schema.js';
import { listenHttp, openRedis, startApp, type App } from './app.js';
import { waitAtMost } from './deadline.js';
import { claimDataDir } from './datadir.js';
import { createRedis, type RedisTarget } from './redis/connection.js';
import { createKeys } from './redis/keys.js';
import { createDeliveryQueue } from './queue/delivery-queue.js';
import { createMessageStore } from './store/messages.js';
import { createTokenStore } from './http/tokens.js';
import { createHttpApp } from './http/app.js';
import { SuppressionList } from './store/suppressions.js';
import { createResolver } from './dns.js';
import { openDomains } from './domains/domain-service.js';
import { startDomainRecheck } from './domains/recheck.js';
import { SiteThrottle } from './delivery/throttle.js';
import { loadTls } from './intake/tls.js';
import { collectWhenIdle } from './idle-gc.js';
import { openTracking } from './tracking/services.js';
import { combinedMetrics, createMetrics, createScrapeMetrics, registryMetrics } from './metrics.js';
import { answerMetricsRequests, clusterMetrics } from './cluster-metrics.js';
import { createMetricsApp, scrapeSources } from './http/metrics-route.js';
import { EventLog } from './events/event-log.js';
import { createDispatcher, openWebhooks } from './webhooks/services.js';
import { openInboundRoutes } from './inbound/services.js';

const REDIS_ENV = 'SOKUTATSU_CLUSTER_REDIS';

/**
 * Node flags for the worker processes, which do all SMTP intake and delivery (the primary only
 * supervises, serves HTTP and owns Redis). Measured with `npm run bench -- --queued 100000`
 * (README, Performance):
 *
 * - `--max-old-space-size=1024`: node sizes V8's heap limit from the machine's memory (4 GB on
 *   16 GB and more), and under such a limit V8 lets the heap grow to ~4× its live data before a
 *   full collection. A worker's live heap is ~35 MB, but intake promotes ~20 MB/s of objects
 *   that live a little while (messages waiting for Redis's fsync): the heap stood at ~160 MB per
 *   worker under load, and the message Buffers its garbage still referenced (freed only by those
 *   collections) grew the C heap alongside. Under a 1 GB limit V8 grows by ~1.6× (~85 MB under
 *   the same load) at a few more collections of ~10 ms each, and 1 GB still holds 25 deliveries
 *   of 25 MB messages at once.
 * - `--heap-growing-percent=200`: under that limit V8 set the next full collection at ~1.2× the
 *   live heap (36 -> 44 MB), and relaying 100 KB messages allocates enough that a worker ran a
 *   full collection (20-40 ms of marking each) every ~40 messages: as many full collections as
 *   scavenges, and about a third of the workers' CPU. Letting the heap grow to 3× its live data
 *   between full collections took the workers from 3.4 to 2.3 ms of CPU per 100 KB message and
 *   raised end-to-end throughput by ~30% (same machine, alternating runs), for ~35 MB more peak
 *   RSS per worker under load; idle-gc.ts still gives it back when the worker falls quiet.
 * - `--expose-gc`: full collections when a worker falls quiet after work (idle-gc.ts).
 *
 * A flag the operator gives (NODE_OPTIONS, or node's own command line) is left as given.
 */
export const WORKER_NODE_FLAGS = ['--max-old-space-size=1024', '--heap-growing-percent=200', '--expose-gc'];

/** The node arguments of a worker: the primary's, plus those of WORKER_NODE_FLAGS not given already. */
export function workerExecArgv(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const name = (arg: string) => arg.split('=')[0]!.replace(/_/g, '-');
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)].map(name));
  return [...execArgv, ...WORKER_NODE_FLAGS.filter((flag) => !given.has(name(flag)))];
}

/**
 * Environment the worker processes get besides the Redis target: `MALLOC_ARENA_MAX=2` (glibc).
 * glibc gives threads that allocate arenas of their own (a worker has ~10: node's thread pool,
 * V8's GC and compiler threads) and keeps the pages freed in them; after a burst that was
 * ~14 MB per worker, of which ~0.1 MB in use. The main thread's arena and one shared by the
 * others hold the same allocations. An operator's MALLOC_ARENA_MAX is left as given; other C
 * libraries ignore it.
 */
export function workerEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return env.MALLOC_ARENA_MAX ? {} : { MALLOC_ARENA_MAX: '2' };
}

export function processCount(config: Config): number {
  return config.processes === 'auto' ? availableParallelism() : config.processes;
}

export interface Primary {
  httpPort: number | undefined;
  stop(): Promise<void>;
  /** re-read TLS files in every worker */
  reloadTls(): void;
}

export async function startPrimary(config: Config, log: Logger): Promise<Primary> {
  const count = processCount(config);
  const claim = claimDataDir(config.dataDir);
  const { target, embedded } = await openRedis(config, log).catch((err: Error) => {
    claim.release();
    throw err;
  });
  // Generate the self-signed certificate once, before workers race to create it.
  await loadTls(config, log);

  let stopping = false;
  cluster.setupPrimary({ execArgv: workerExecArgv() });
  const spawn = (): Promise<Worker> => forkWorker(target, log);
  const workers = await Promise.all(Array.from({ length: count }, spawn)).catch(async (err: Error) => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGKILL');
    if (embedded) await embedded.stop();
    claim.release();
    throw err;
  });
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    log.error({ worker: worker.process.pid, code, signal }, 'cluster worker died; starting a new one (its deliveries in flight are retried)');
    spawn().catch((err: Error) => log.error({ err: err.message }, 'could not restart cluster worker'));
  });
  log.info({ processes: workers.length, workers: workers.map((w) => w.process.pid) }, 'cluster workers ready');

  const redis = createRedis(target, log, 'primary');
  const keys = createKeys(config.redis.namespace);
  const queue = createDeliveryQueue(redis, keys);
  // The primary records too (API sends, opens, clicks, unsubscribes): into the same stream and statistics.
  // The primary counts what it does itself (API sends, opens, clicks, webhook POSTs); /metrics adds the workers'.
  const primaryMetrics = createMetrics();
  const events = new EventLog(redis, keys, config.events, { metrics: primaryMetrics, log });
  const store = createMessageStore(redis, queue, keys, { ...config.store, indexSeconds: config.store.retentionSeconds + config.delivery.retry.maxAgeSeconds }, events);
  const throttle = new SiteThrottle(redis, keys, config.delivery.backoff);
  // Workers' counters summed, and the gauges of shared state (queue, sites) read once, here.
  const metrics = combinedMetrics(clusterMetrics(primaryMetrics.registry), registryMetrics(createScrapeMetrics(scrapeSources(queue, throttle))));
  const metricsHttp = config.metrics.port !== undefined ? await listenHttp(createMetricsApp(metrics, config.metrics.token).fetch, config.metrics.host, config.metrics.port) : null;
  const resolver = createResolver(config.dns);
  const { store: sendingDomains, service: domains } = openDomains(redis, keys, config, resolver, log);
  const recheck = startDomainRecheck({ service: domains, redis, keys, intervalSeconds: config.domains.recheckIntervalSeconds, log });
  const suppressions = new SuppressionList(redis, keys);
  const tracking = await openTracking(redis, keys, config, suppressions, log, events);
  const webhookServices = openWebhooks(redis, keys, config.webhooks, resolver);
  // Events recorded here (opens, clicks, unsubscribes, API sends) queue their webhooks too; the workers POST them.
  const webhooks = createDispatcher(webhookServices, redis, redis, keys, config.webhooks, log, (result) => primaryMetrics.webhookDeliveries.inc({ result }));
  events.subscribe(webhooks);
  // The API of inbound routes is served here; port 25 and the POSTs run in the workers.
  const inboundRoutes = openInboundRoutes(redis, keys, config, webhookServices);
  const http = config.http.enabled
    ? await listenHttp(createHttpApp({ redis, store, tokens: createTokenStore(redis, keys, config.admin.token), metrics, sendingDomains, intakeMetrics: primaryMetrics, domains, throttle, queue, suppressions, config, tracking: tracking.http, webhooks: webhookServices, inboundRoutes, log }).fetch, config.http.host, config.http.port)
    : null;

  return {
    httpPort: http ? (http.address() as AddressInfo).port : undefined,
    reloadTls() {
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGHUP');
    },
    async stop() {
      stopping = true;
      recheck.stop();
      const alive = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w);
      const exited = Promise.all(alive.map((w) => new Promise<void>((r) => (w.isDead() ? r() : w.once('exit', () => r())))));
      for (const w of alive) w.process.kill('SIGTERM');
      await waitAtMost(exited, (config.shutdown.graceSeconds + 10) * 1000, () => {
        log.warn('cluster workers did not stop in time: killing them (their deliveries are retried after restart)');
        for (const w of alive) w.process.kill('SIGKILL');
      });
      if (http) await new Promise<void>((r) => http.close(() => r()));
      if (metricsHttp) await new Promise<void>((r) => metricsHttp.close(() => r()));
      await webhooks.close();
      await queue.close();
      await redis.quit().catch(() => redis.disconnect());
      if (embedded) await embedded.stop();
      claim.release();
      log.info('stopped');
    },
  };
}

function forkWorker(target: RedisTarget, log: Logger): Promise<Worker> {
  const worker = cluster.fork({ ...workerEnv(), [REDIS_ENV]: JSON.stringify(target) });
  return new Promise((resolve, reject) => {
    const onExit = (code: number) => reject(new Error(`cluster worker ${worker.process.pid} exited with code ${code} during start-up (see its log above)`));
    worker.once('exit', onExit);
    worker.on('message', (msg: unknown) => {
      if ((msg as { sokutatsu?: string }).sokutatsu !== 'ready') return;
      worker.off('exit', onExit);
      log.debug({ worker: worker.process.pid }, 'cluster worker ready');
      resolve(worker);
    });
  });
}

/** In a worker: run listeners and delivery on the primary's Redis; report ready; SIGTERM drains. */
export async function runWorker(config: Config, log: Logger): Promise<App> {
  const redis = JSON.parse(process.env[REDIS_ENV] ?? 'null') as RedisTarget | null;
  if (!redis) throw new Error(`cluster worker started without ${REDIS_ENV}`);
  const app = await startApp({ config, log, clusterWorker: { redis } });
  // The primary's /metrics asks every worker for its registry (cluster-metrics.ts).
  const stopAnswering = answerMetricsRequests(app.metrics.registry);
  const stopIdleGc = collectWhenIdle();
  process.send?.({ sokutatsu: 'ready' });
  return {
    ...app,
    stop() {
      stopIdleGc();
      stopAnswering();
      return app.stop();
    },
  };
}

/**
 * The HTTP app (hono): health, readiness, Prometheus metrics, the admin API and (when given its
 * services) the public tracking and unsubscribe endpoints (http/tracking.ts).
 *
 * Promises: everything under /api — in any spelling a router or proxy might take for it —
 * requires a valid bearer token (401 otherwise, JSON error per CONTRACT) and keeps to the
 * token's rate limit (429) and the body size limit (413), see http/api-guard.ts and body.ts;
 * the OpenAPI document (/api/v1/openapi.json, behind the token too) is built from the
 * operations each route module declares; /metrics can move to a port of its own or need a
 * token (http/metrics-route.ts); errors never leak stack traces; unknown routes are JSON 404s.
 */
import { Hono } from 'hono';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { MetricsSource } from '../metrics.js';
import type { MessageStore } from '../store/messages.js';
import type { TokenStore } from './tokens.js';
import type { IntakeMetrics } from '../metrics.js';
import type { DomainStore } from '../domains/domain-store.js';
import { apiGuard, ApiRateLimit, type ApiEnv } from './api-guard.js';
import { apiBodyLimit } from './body.js';
import { messageOperations, messageRoutes } from './messages.js';
import { countSends, SEND_PATH, sendBodyLimit } from './send.js';
import { metricsHandler } from './metrics-route.js';
import { openApiDocument, type Operation } from './openapi.js';
import { adminOperations, webhookOperations } from './openapi-operations.js';
import type { DomainService } from '../domains/domain-service.js';
import { domainRoutes } from './domains.js';
import { siteRoutes } from './sites.js';
import { suppressionRoutes } from './suppressions.js';
import type { SuppressionList } from '../store/suppressions.js';
import type { SiteThrottle } from '../delivery/throttle.js';
import type { DeliveryQueue } from '../queue/delivery-queue.js';
import type { Config } from '../config/schema.js';
import { apiError, knownError } from './errors.js';
import { trackingRoutes, type TrackingHttpDeps } from './tracking.js';
import { statsRoutes } from './stats.js';
import { createKeys } from '../redis/keys.js';
import { webhookRoutes } from './webhooks.js';
import type { WebhookServices } from '../webhooks/services.js';
import { inboundRouteOperations, inboundRouteRoutes } from './inbound-routes.js';
import type { InboundRouteServices } from '../inbound/services.js';
import { credentialOperations, credentialRoutes } from './credentials.js';
import { queueOperations, queueRoutes } from './queue.js';
import { tokenOperations, tokenRoutes } from './token-routes.js';
import { createUserStore } from '../intake/users.js';

export interface HttpDeps {
  redis: Redis;
  store: MessageStore;
  tokens: TokenStore;
  metrics: MetricsSource;
  domains: DomainService;
  throttle: SiteThrottle;
  queue: DeliveryQueue;
  suppressions: SuppressionList;
  config: Config;
  /** policy.requireVerifiedDomains of the send API: the same check as SMTP intake */
  sendingDomains: Pick<DomainStore, 'sendingDomainFor'>;
  /** the send API counts its requests with SMTP intake's metrics (listener "api", by result: http/send.ts countSends); absent: not counted */
  intakeMetrics?: IntakeMetrics;
  /** open pixel, click redirects and unsubscribe pages at the root (no token); absent: not served */
  tracking?: TrackingHttpDeps;
  /** webhook endpoints, test pings and delivery logs (/api/v1/webhooks); absent: not served */
  webhooks?: WebhookServices;
  /** inbound routes and their POST logs (/api/v1/inbound-routes); absent: not served */
  inboundRoutes?: InboundRouteServices;
  /** warnings of the gate (its rate limit when Redis does not answer); absent: not logged */
  log?: Logger;
}

export function createHttpApp(deps: HttpDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const keys = createKeys(deps.config.redis.namespace);
  // First, before any route: the gate decides on the path in every spelling, routed or not.
  app.use('*', apiGuard(deps.tokens, new ApiRateLimit(deps.redis, keys, deps.config.admin.rateLimitPerMinute, deps.log)));

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const ok = await Promise.race([
      deps.redis.ping().then((r) => r === 'PONG', () => false),
      new Promise<boolean>((r) => setTimeout(() => r(false), 1000)),
    ]);
    return ok ? c.json({ status: 'ready' }) : c.json({ status: 'not ready', reason: 'Redis is not reachable' }, 503);
  });
  // With metrics.port set, /metrics is served only there (app.ts starts that listener).
  if (deps.config.metrics.port === undefined) app.get('/metrics', metricsHandler(deps.metrics, deps.config.metrics.token));
  if (deps.tracking) app.route('/', trackingRoutes(deps.tracking));

  const api = new Hono<ApiEnv>();
  // Send requests are counted by their final answer, the body limit's 413 included.
  api.use('*', countSends(deps.intakeMetrics));
  api.use('*', apiBodyLimit([{ method: 'POST', path: SEND_PATH, maxSize: sendBodyLimit(deps.config) }]));
  api.route('/messages', messageRoutes({ redis: deps.redis, keys, store: deps.store, queue: deps.queue, config: deps.config, sendingDomains: deps.sendingDomains }));
  const operations: Operation[] = [...messageOperations, ...adminOperations, ...credentialOperations, ...queueOperations, ...tokenOperations, ...(deps.webhooks ? webhookOperations : [])];
  if (deps.inboundRoutes) operations.push(...inboundRouteOperations);
  api.get('/openapi.json', (c) => c.json(openApiDocument(operations, '1')));
  api.route('/domains', domainRoutes(deps.domains));
  api.route('/sites', siteRoutes(deps.throttle, deps.queue, deps.config));
  api.route('/suppressions', suppressionRoutes(deps.suppressions));
  api.route('/credentials', credentialRoutes(createUserStore(deps.redis, keys)));
  api.route('/tokens', tokenRoutes(deps.tokens));
  api.route('/queue', queueRoutes({ queue: deps.queue, throttle: deps.throttle, store: deps.store, redis: deps.redis, keys }));
  api.route('/stats', statsRoutes(deps.redis, createKeys(deps.config.redis.namespace)));
  if (deps.webhooks) api.route('/webhooks', webhookRoutes(deps.webhooks));
  if (deps.inboundRoutes) api.route('/inbound-routes', inboundRouteRoutes(deps.inboundRoutes));
  app.route('/api/v1', api);
  // Anything else under /api must not fall through to a public handler.
  app.all('/api/*', (c) => c.json(apiError('not_found', 'no such API route'), 404));

  app.notFound((c) => c.json(apiError('not_found', 'not found'), 404));
  app.onError((err, c) => {
    const known = knownError(err);
    if (known) return c.json(known.body, known.status);
    console.error(err);
    return c.json(apiError('internal', 'internal error; see the server log'), 500);
  });
  return app;
}

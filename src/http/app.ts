/**
 * The HTTP app (hono): health, readiness, Prometheus metrics, the admin API and (when given its
 * services) the public tracking and unsubscribe endpoints (http/tracking.ts).
 *
 * Promises: everything under /api requires a valid bearer token (401 otherwise, JSON error per
 * CONTRACT); errors never leak stack traces; unknown routes are JSON 404s.
 */
import { Hono } from 'hono';
import type { Redis } from 'ioredis';
import type { MetricsSource } from '../metrics.js';
import type { MessageStore } from '../store/messages.js';
import type { TokenStore } from './tokens.js';
import { messageView } from './message-view.js';
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
  /** open pixel, click redirects and unsubscribe pages at the root (no token); absent: not served */
  tracking?: TrackingHttpDeps;
  /** webhook endpoints, test pings and delivery logs (/api/v1/webhooks); absent: not served */
  webhooks?: WebhookServices;
}

export function createHttpApp(deps: HttpDeps): Hono {
  const app = new Hono();

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const ok = await Promise.race([
      deps.redis.ping().then((r) => r === 'PONG', () => false),
      new Promise<boolean>((r) => setTimeout(() => r(false), 1000)),
    ]);
    return ok ? c.json({ status: 'ready' }) : c.json({ status: 'not ready', reason: 'Redis is not reachable' }, 503);
  });
  app.get('/metrics', async (c) => c.text(await deps.metrics.text(), 200, { 'Content-Type': deps.metrics.contentType }));
  if (deps.tracking) app.route('/', trackingRoutes(deps.tracking));

  const api = new Hono();
  api.use('*', async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const token = header.match(/^Bearer\s+(\S+)$/i)?.[1] ?? '';
    if (!(await deps.tokens.verify(token))) {
      return c.json(apiError('unauthorized', 'a valid admin token is required: Authorization: Bearer <token> (create one with `sokutatsu token create NAME`)'), 401, {
        'WWW-Authenticate': 'Bearer',
      });
    }
    await next();
  });
  api.get('/messages/:id', async (c) => {
    const id = c.req.param('id');
    if (!/^[0-9a-z]{9,40}$/.test(id)) return c.json(apiError('not_found', `no message with id ${id.slice(0, 60)}`), 404);
    const view = await messageView(deps.store, id);
    return view ? c.json(view) : c.json(apiError('not_found', `no message with id ${id} (unknown, or past its retention period)`), 404);
  });
  api.route('/domains', domainRoutes(deps.domains));
  api.route('/sites', siteRoutes(deps.throttle, deps.queue, deps.config));
  api.route('/suppressions', suppressionRoutes(deps.suppressions));
  api.route('/stats', statsRoutes(deps.redis, createKeys(deps.config.redis.namespace)));
  if (deps.webhooks) api.route('/webhooks', webhookRoutes(deps.webhooks));
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

/**
 * `GET /metrics` (Prometheus text): on the HTTP port, or on a port of its own (config
 * `metrics.port`, `metrics.host`), and behind a bearer token when `metrics.token` is set.
 *
 * Promises: with a token configured, a scrape without it is 401 and reads nothing; the token
 * is compared in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Hono, type Handler } from 'hono';
import type { MetricsSource, ScrapeSources } from '../metrics.js';
import type { DeliveryQueue } from '../queue/delivery-queue.js';
import type { SiteThrottle } from '../delivery/throttle.js';
import { apiError } from './errors.js';

export function metricsHandler(source: MetricsSource, token: string): Handler {
  const expected = token ? digest(token) : null;
  return async (c) => {
    if (expected) {
      const given = (c.req.header('authorization') ?? '').match(/^Bearer\s+(\S+)$/i)?.[1] ?? '';
      if (!timingSafeEqual(digest(given), expected)) {
        return c.json(apiError('unauthorized', 'metrics.token is set: scrape with Authorization: Bearer <token> (Prometheus: authorization.credentials)'), 401, { 'WWW-Authenticate': 'Bearer' });
      }
    }
    return c.text(await source.text(), 200, { 'Content-Type': source.contentType });
  };
}

/** The app of the separate metrics port: /metrics and nothing else. */
export function createMetricsApp(source: MetricsSource, token: string): Hono {
  const app = new Hono();
  app.get('/metrics', metricsHandler(source, token));
  app.notFound((c) => c.json(apiError('not_found', 'only /metrics is served here'), 404));
  return app;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** The scrape-time gauges' sources (metrics.ts createScrapeMetrics): BullMQ's job counts and the sites' Redis state. */
export function scrapeSources(queue: DeliveryQueue, throttle: SiteThrottle): ScrapeSources {
  return {
    jobCounts: () => queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'failed'),
    siteGauges: () => throttle.gauges(),
  };
}

/**
 * `/api/v1/sites`: destination sites and the operator's levers on them — the same as
 * `sokutatsu queue sites|pause|resume|retry-now`, over HTTP.
 *
 * Promises: each site with its connections across nodes, configured limits, backoff ceiling and
 * pause with its reason; pause / resume / retry-now answer what they did.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import type { Config } from '../config/schema.js';
import type { SiteThrottle } from '../delivery/throttle.js';
import { withLimits } from '../delivery/sites.js';
import { promoteSite, type DeliveryQueue } from '../queue/delivery-queue.js';
import { apiError } from './errors.js';
import { parseBody } from './body.js';

export const pauseBody = z.strictObject({
  minutes: z.number().positive().max(525_600).optional(),
  reason: z.string().min(1).max(300).optional(),
});

const SITE = /^[a-z0-9.-]{1,253}$/;

export function siteRoutes(throttle: SiteThrottle, queue: DeliveryQueue, config: Config): Hono {
  const api = new Hono();

  api.get('/', async (c) => c.json({ sites: withLimits(await throttle.states(), config.delivery) }));

  api.post('/:site/pause', async (c) => {
    const site = c.req.param('site').toLowerCase();
    if (!SITE.test(site)) return c.json(apiError('invalid', `not a site name: ${site.slice(0, 60)}`), 400);
    const body = await parseBody(c, pauseBody, true);
    if (!body.ok) return body.response;
    const until = Date.now() + (body.value.minutes ?? 525_600) * 60_000;
    await throttle.pause(site, until, body.value.reason ?? 'paused through the API');
    return c.json({ site, pausedUntil: new Date(until).toISOString() });
  });

  api.post('/:site/resume', async (c) => {
    const site = c.req.param('site').toLowerCase();
    const resumed = await throttle.resume(site);
    return c.json({ site, resumed, promoted: await promoteSite(queue, site) });
  });

  api.post('/:site/retry-now', async (c) => {
    const site = c.req.param('site').toLowerCase();
    return c.json({ site, promoted: await promoteSite(queue, site) });
  });
  return api;
}

/**
 * `/api/v1/queue`: the delivery queue's counts (by state, recently finished, by destination
 * site) and the purge — the same as `sokutatsu queue stats|purge`, over HTTP. Pausing, resuming
 * and retrying a site are /api/v1/sites (http/sites.ts).
 *
 * Promises: bounded work per request (queue/overview.ts scans at most `scan` jobs;
 * queue/purge.ts looks at most at `limit` jobs and answers a cursor to go on with); a purge
 * needs at least one selector and a reason, and repeating it cancels nothing twice.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import type { SiteThrottle } from '../delivery/throttle.js';
import type { DeliveryQueue } from '../queue/delivery-queue.js';
import type { MessageStore } from '../store/messages.js';
import { queueOverview } from '../queue/overview.js';
import { PURGE_CURSOR, purgeQueue } from '../queue/purge.js';
import { isDomainName } from '../mime/address.js';
import { apiError, issues } from './errors.js';
import { parseBody } from './body.js';
import { errorBody, type Operation } from './openapi.js';

export const overviewQuery = z.strictObject({
  scan: z.coerce.number().int().min(0).max(100_000).optional().describe('at most this many waiting/delayed jobs are read for the per-site counts (default 10000)'),
});

export const purgeBody = z
  .strictObject({
    domain: z.string().min(1).max(253).refine((d) => isDomainName(d) || d.toLowerCase() === 'localhost', 'not a domain name').optional().describe('recipient domain, exactly (subdomains are not included)'),
    tag: z.string().min(1).max(200).optional().describe('the message tag (X-Sokutatsu-Tag)'),
    site: z.string().regex(/^[a-z0-9.-]{1,253}$/i, 'a site as /api/v1/sites names it').optional().describe('jobs waiting for this destination site (a pause or a retry)'),
    reason: z.string().trim().min(1).max(300).describe('recorded in each cancelled recipient\'s event'),
    limit: z.number().int().min(1).max(10_000).optional().describe('at most this many jobs looked at in this request (default 1000)'),
    cursor: z.string().regex(PURGE_CURSOR, 'the next value of an earlier answer').optional(),
  })
  .refine((b) => b.domain !== undefined || b.tag !== undefined || b.site !== undefined, { message: 'give at least one of domain, tag, site (the queue is never purged whole by accident)' });

const purgeResult = z.strictObject({
  cancelled: z.number().describe('recipients cancelled by this request'),
  matched: z.number(),
  scanned: z.number(),
  next: z.string().nullable().describe('pass as cursor to go on; null: every waiting and delayed job was looked at'),
});

export interface QueueRouteDeps {
  queue: DeliveryQueue;
  throttle: SiteThrottle;
  store: MessageStore;
  redis: Redis;
  keys: Keys;
}

export function queueRoutes(deps: QueueRouteDeps): Hono {
  const api = new Hono();

  api.get('/', async (c) => {
    const query = overviewQuery.safeParse(c.req.query());
    if (!query.success) return c.json(apiError('invalid_request', issues(query.error)), 400);
    return c.json(await queueOverview(deps.queue, deps.throttle, deps.redis, deps.keys, query.data.scan ?? 10_000));
  });

  api.post('/purge', async (c) => {
    const body = await parseBody(c, purgeBody);
    if (!body.ok) return body.response;
    const { domain, tag, site, reason, limit, cursor } = body.value;
    const selector = { ...(domain ? { domain } : {}), ...(tag ? { tag } : {}), ...(site ? { site } : {}) };
    return c.json(await purgeQueue(deps.store, deps.queue, selector, reason, { limit: limit ?? 1000, ...(cursor ? { cursor } : {}) }));
  });

  return api;
}

export const queueOperations: Operation[] = [
  { method: 'get', path: '/api/v1/queue', summary: 'Jobs by state, recipients finished since the previous hour, waiting jobs by destination site (with pauses)', query: overviewQuery, responses: { '200': { description: '{counts, recent, sites, unassigned, scanned, complete}' }, '400': { description: 'invalid query', body: errorBody } } },
  {
    method: 'post',
    path: '/api/v1/queue/purge',
    summary: 'Cancel every waiting recipient matching domain / tag / site, with a reason',
    description: 'Looks at up to `limit` jobs per request; repeat with `cursor` = `next` until `next` is null. Repeating a purge cancels nothing twice.',
    body: purgeBody,
    responses: { '200': { description: 'what this request did', body: purgeResult }, '400': { description: 'invalid input', body: errorBody } },
  },
];

/**
 * `GET /api/v1/stats?tag=&domain=&from=&to=&bucket=hour|day`: the campaign report over HTTP.
 *
 * Receives: an optional tag and sending domain (both: mail of that tag from that domain; none: all
 * mail), a range (RFC 3339 times or epoch milliseconds; default the last 30 days up to now) and a
 * bucket size for the series (default day), and the UTC offset days and hours of day are taken at
 * (`utcOffset=+09:00`; default UTC).
 * Promises: the query validated (400 naming the field); counts, rates (null where a divisor is 0),
 * mean time to first open, opens by hour of day, bounces by reason and group, clicks per link and URL,
 * and the series, as events/stats.ts reads them; the response says which counts the rates use.
 */
import { Hono } from 'hono';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Keys } from '../redis/keys.js';
import { MAX_HOURS, readStats } from '../events/stats.js';
import { asciiLower, statsScope } from '../events/stats-scope.js';
import { apiError } from './errors.js';

const DEFAULT_DAYS = 30;

/** RFC 3339 / ISO 8601 time, or epoch milliseconds → epoch ms */
const time = z
  .string()
  .transform((v, ctx) => {
    const ms = /^\d{1,15}$/.test(v) ? Number(v) : Date.parse(v);
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: 'custom', message: 'expected an RFC 3339 time (2026-01-31T00:00:00Z) or epoch milliseconds' });
      return z.NEVER;
    }
    return ms;
  });

export const statsQuery = z
  .strictObject({
    tag: z.string().min(1).max(200).optional(),
    domain: z.string().min(1).max(253).regex(/^[^:\s@]+$/, 'a domain name such as example.com').optional(),
    from: time.optional(),
    to: time.optional(),
    bucket: z.enum(['hour', 'day']).optional(),
    utcOffset: z
      .string()
      .regex(/^(Z|[+-](0\d|1[0-4]):00)$/, 'a whole-hour offset such as +09:00, -05:00 or Z (buckets are hours)')
      .optional(),
  });

/** "+09:00" → 32400 */
function offsetSeconds(value: string | undefined): number {
  if (!value || value === 'Z') return 0;
  return (value.startsWith('-') ? -1 : 1) * Number(value.slice(1, 3)) * 3600;
}

export const RATES_NOTE =
  'rates use unique human opens and clicks (recipients whose first open or click was taken for a person); machine opens and clicks (privacy proxies, link scanners) are counted apart and in no rate. bounce = bounced/sent, open = opened.uniqueHuman/delivered, click = clicked.uniqueHuman/delivered, clickToOpen = clicked.uniqueHuman/opened.uniqueHuman, unsubscribe = unsubscribed/delivered; null where the divisor is 0. Events count in the UTC hour they happened.';

export function statsRoutes(redis: Redis, keys: Keys, now: () => number = Date.now): Hono {
  const api = new Hono();
  api.get('/', async (c) => {
    const parsed = statsQuery.safeParse(c.req.query());
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return c.json(apiError('invalid_request', `${issue?.path.join('.') || 'query'}: ${issue?.message ?? 'invalid'}`), 400);
    }
    const q = parsed.data;
    const to = q.to ?? now();
    const from = q.from ?? to - DEFAULT_DAYS * 86_400_000;
    if (from >= to) return c.json(apiError('invalid_request', 'from: must be before to'), 400);
    if (to - from > MAX_HOURS * 3_600_000) return c.json(apiError('invalid_request', `from/to: a range of at most ${MAX_HOURS / 24} days`), 400);
    const bucket = q.bucket ?? 'day';
    const utcOffsetSeconds = offsetSeconds(q.utcOffset);
    const report = await readStats(redis, keys, { scope: statsScope(q.tag ?? null, q.domain ?? null), from, to, bucket, utcOffsetSeconds });
    return c.json({
      tag: q.tag ?? null,
      domain: q.domain ? asciiLower(q.domain) : null,
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      bucket,
      utcOffset: q.utcOffset ?? 'Z',
      note: RATES_NOTE,
      ...report,
    });
  });
  return api;
}

/**
 * The gate in front of the admin API: bearer token, then the token's rate limit.
 *
 * It runs on every request of the app (not only on the /api/v1 sub-app), and decides "is this
 * an API request" on the path as a lenient router or proxy might read it — percent-decoded,
 * case-folded, `\` and repeated slashes folded to one `/`. So `//api/v1/x`, `/API/v1/x`,
 * `/%61pi/v1/x` and `/api/v1/x/` all need the token, whether or not a route answers them;
 * only what is surely not API passes untouched.
 *
 * Promises: 401 (WWW-Authenticate: Bearer) without a valid token, 429 with Retry-After (the
 * seconds until the token may make its next request) past the token's `admin.rateLimitPerMinute`
 * — one budget per token name shared by every process and node through Redis (GCRA: burst = one
 * minute's allowance, refilled continuously); both in CONTRACT's JSON error shape. Redis
 * unavailable: the limit is not checked (requests go on, one warning), never a failed request.
 * The token's name is left in the context (`tokenName`) for the routes (idempotency keys are
 * per token).
 */
import type { MiddlewareHandler } from 'hono';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { TokenStore } from './tokens.js';
import type { Keys } from '../redis/keys.js';
import { withDeadline } from '../deadline.js';
import { apiError } from './errors.js';

export type ApiEnv = { Variables: { tokenName: string } };

/** True for any spelling of a path under /api. */
export function isApiPath(pathname: string): boolean {
  let p = pathname;
  // Decode until stable (double encoding: %252e): bounded, a path cannot nest deeper usefully.
  for (let i = 0; i < 3; i++) {
    try {
      const next = decodeURIComponent(p);
      if (next === p) break;
      p = next;
    } catch {
      break;
    }
  }
  p = p.replace(/\\/g, '/').replace(/\/+/g, '/').toLowerCase();
  return p === '/api' || p.startsWith('/api/') || p.startsWith('/api;') || p.startsWith('/api.');
}

export function apiGuard(tokens: TokenStore, limiter: ApiRateLimit): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    if (!isApiPath(new URL(c.req.url).pathname)) return next();
    const header = c.req.header('authorization') ?? '';
    const token = header.match(/^Bearer\s+(\S+)$/i)?.[1] ?? '';
    const name = await tokens.verify(token);
    if (!name) {
      return c.json(apiError('unauthorized', 'a valid admin token is required: Authorization: Bearer <token> (create one with `sokutatsu token create NAME`)'), 401, {
        'WWW-Authenticate': 'Bearer',
      });
    }
    const waitMs = await limiter.take(name);
    if (waitMs > 0) {
      return c.json(apiError('rate_limited', `too many requests with this token: at most ${limiter.perMinute} a minute (admin.rateLimitPerMinute, counted across every node); retry after the Retry-After seconds`), 429, {
        'Retry-After': String(Math.max(1, Math.ceil(waitMs / 1000))),
      });
    }
    c.set('tokenName', name);
    await next();
  };
}

/**
 * One GCRA per token name in Redis (KEYS[1]: the theoretical arrival time of the token's next
 * request, ms). A request moves it one interval (60 s / perMinute) on; it may go while that
 * stays within one minute of now. So a token has a minute's allowance at once and earns it back
 * continuously — a token bucket, held in one key for every process and node. Redis's clock is
 * the clock. ARGV[1] interval ms (may be fractional), ARGV[2] the burst window ms.
 * Returns 0 when the request may go (counted), else the ms until it may (nothing counted).
 */
const TAKE = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local nextTat = tat + interval
local allowedAt = nextTat - tonumber(ARGV[2])
if allowedAt > now then return math.ceil(allowedAt - now) end
redis.call('SET', KEYS[1], nextTat, 'PX', math.ceil(nextTat - now) + 1000)
return 0`;

/** The window a token's allowance refills over, and its burst: one minute's worth. */
const WINDOW_MS = 60_000;
/** Beyond this, a Redis that does not answer is treated as unavailable. */
const ANSWER_MS = 1000;

interface RateCommands {
  apiRateTake(key: string, intervalMs: string, windowMs: number): Promise<number>;
}

/**
 * `admin.rateLimitPerMinute` per token name, shared through Redis by every process and node
 * serving the API (one budget per token, not one per process). 0: unlimited. When Redis does
 * not answer (down, reconnecting, slower than ANSWER_MS), requests are let through — the
 * limiter never fails a request — with one warning per outage.
 */
export class ApiRateLimit {
  private readonly redis: (Redis & RateCommands) | undefined;
  private warned = false;

  /** `redis` undefined only in tests of the gate alone: nothing is counted then. */
  constructor(redis: Redis | undefined, private readonly keys: Pick<Keys, 'apiRateLimit'>, readonly perMinute: number, private readonly log?: Logger, private readonly answerMs = ANSWER_MS) {
    redis?.defineCommand('apiRateTake', { numberOfKeys: 1, lua: TAKE });
    this.redis = redis as (Redis & RateCommands) | undefined;
  }

  /** 0 when a request may go now (and counts it), else the ms until one may. */
  async take(name: string): Promise<number> {
    if (this.perMinute <= 0 || !this.redis) return 0;
    try {
      // Commands wait in ioredis's queue while it reconnects: do not hold requests for that.
      if (['reconnecting', 'close', 'end'].includes(this.redis.status)) throw new Error(`the Redis connection is ${this.redis.status}`);
      const waitMs = Number(await withDeadline(this.redis.apiRateTake(this.keys.apiRateLimit(name), String(WINDOW_MS / this.perMinute), WINDOW_MS), this.answerMs, `no answer within ${this.answerMs} ms`));
      if (this.warned) this.log?.info('admin API rate limit: Redis answers again; requests are counted again');
      this.warned = false;
      return waitMs;
    } catch (err) {
      if (!this.warned) this.log?.warn({ err: (err as Error).message }, 'admin API rate limit not checked: Redis is unavailable; requests are let through uncounted until it answers');
      this.warned = true;
      return 0;
    }
  }
}

/**
 * The gate in front of the admin API: bearer token, then the token's rate limit.
 *
 * It runs on every request of the app (not only on the /api/v1 sub-app), and decides "is this
 * an API request" on the path as a lenient router or proxy might read it — percent-decoded,
 * case-folded, `\` and repeated slashes folded to one `/`. So `//api/v1/x`, `/API/v1/x`,
 * `/%61pi/v1/x` and `/api/v1/x/` all need the token, whether or not a route answers them;
 * only what is surely not API passes untouched.
 *
 * Promises: 401 (WWW-Authenticate: Bearer) without a valid token, 429 with Retry-After past
 * the token's `admin.rateLimitPerMinute` (a token bucket per token name in this process, burst
 * = one minute's allowance); both in CONTRACT's JSON error shape. The token's name is left in
 * the context (`tokenName`) for the routes (idempotency keys are per token).
 */
import type { MiddlewareHandler } from 'hono';
import type { TokenStore } from './tokens.js';
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

export function apiGuard(tokens: TokenStore, rateLimitPerMinute: number): MiddlewareHandler<ApiEnv> {
  const limiter = new TokenBuckets(rateLimitPerMinute);
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
    const waitMs = limiter.take(name);
    if (waitMs > 0) {
      return c.json(apiError('rate_limited', `too many requests with this token: at most ${rateLimitPerMinute} a minute (admin.rateLimitPerMinute); retry after the Retry-After seconds`), 429, {
        'Retry-After': String(Math.ceil(waitMs / 1000)),
      });
    }
    c.set('tokenName', name);
    await next();
  };
}

/**
 * One bucket per token name: holds up to `perMinute` requests and refills continuously.
 * Per process: with `processes: N` only the primary serves HTTP, so this is the node's limit.
 * 0: unlimited.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, { level: number; at: number }>();

  constructor(private readonly perMinute: number, private readonly now = () => Date.now()) {}

  /** 0 when a request may go now (and counts it), else the ms until one may. */
  take(name: string): number {
    if (this.perMinute <= 0) return 0;
    const now = this.now();
    const perMs = this.perMinute / 60_000;
    const b = this.buckets.get(name) ?? { level: this.perMinute, at: now };
    b.level = Math.min(this.perMinute, b.level + (now - b.at) * perMs);
    b.at = now;
    this.buckets.set(name, b);
    if (b.level >= 1) {
      b.level -= 1;
      return 0;
    }
    return Math.ceil((1 - b.level) / perMs);
  }
}

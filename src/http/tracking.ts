/**
 * The public tracking endpoints, at the root of the HTTP app (no admin token: recipients use them).
 *
 * - `GET|HEAD /t/c/:token` → 302 to the URL stored for the link (HEAD: the same, taken for a
 *   machine); an unknown, forged or expired token, and the honeypot link → 404 page, never a redirect.
 * - `GET /t/o/:token.gif` → 200 1×1 transparent GIF, never cached, the same bytes and headers
 *   whether the token is valid or not (nothing tells a prober which tokens exist).
 * - `GET /u/:token` → the confirmation page (changes nothing: scanners GET every link);
 *   `POST /u/:token` (the page's button or an RFC 8058 one-click POST) → unsubscribed, done page.
 *
 * Receives: the tracking services and how to find the client's address (socket, or the
 * X-Forwarded-For entry `trustProxyHops` proxies in front of us appended).
 * Promises: URLs come from storage only (tokens.ts, links.ts); request bodies bounded (16 KB) and
 * checked; pages in Japanese or English by Accept-Language, never cached, no scripts, not framed;
 * a Redis failure never turns a pixel into an error or a click into a redirect elsewhere.
 */
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { ClientInfo, EngagementTracker } from '../tracking/engagement.js';
import type { TrackingTokens } from '../tracking/tokens.js';
import type { Unsubscriber } from '../tracking/unsubscribe.js';
import { clientIp } from './client-ip.js';
import { badRequestPage, confirmPage, donePage, errorPage, notFoundPage, pickLanguage } from '../tracking/pages.js';

export interface TrackingHttpDeps {
  tokens: TrackingTokens;
  engagement: EngagementTracker;
  unsubscriber: Unsubscriber;
  /** proxies in front of us that append to X-Forwarded-For (config http.trustProxyHops); 0: the socket's address */
  trustProxyHops?: number;
  log?: Logger;
}

/** The smallest transparent GIF (1×1, one transparent palette entry). */
export const PIXEL = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

const NO_CACHE = {
  'Cache-Control': 'no-store, no-cache, must-revalidate, max-age=0',
  Pragma: 'no-cache',
  Expires: 'Thu, 01 Jan 1970 00:00:00 GMT',
};

const PAGE_HEADERS = {
  ...NO_CACHE,
  'Content-Type': 'text/html; charset=utf-8',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'X-Robots-Tag': 'noindex, nofollow',
};

const MAX_BODY_BYTES = 16 * 1024;

/** RFC 8058's body; the page's button posts the same. An empty POST is taken as one too. */
const oneClickBody = z.looseObject({ 'List-Unsubscribe': z.literal('One-Click').optional() });

export function trackingRoutes(deps: TrackingHttpDeps): Hono {
  const app = new Hono();
  const hops = deps.trustProxyHops ?? 0;
  const client = (c: Context): ClientInfo => ({ ip: clientIp(c, hops), userAgent: c.req.header('user-agent') ?? '', method: c.req.method });
  const failed = (what: string, err: unknown) => deps.log?.error({ err: err instanceof Error ? err.message : String(err) }, `tracking: ${what} failed`);

  // GET routes answer HEAD too (hono runs the GET handler; c.req.method says HEAD).
  app.get('/t/c/:token', async (c) => {
    const target = deps.tokens.parse(c.req.param('token'));
    if (!target || (target.kind !== 'click' && target.kind !== 'honeypot')) return htmlPage(c, 404, notFoundPage(lang(c)));
    const hit = target.kind === 'click' ? { ...target, link: target.link } : { ...target, honeypot: true as const };
    let url: string | null;
    try {
      url = (await deps.engagement.click(hit, client(c))).url;
    } catch (err) {
      failed('click', err);
      return htmlPage(c, 503, errorPage(lang(c)));
    }
    if (!url) return htmlPage(c, 404, notFoundPage(lang(c)));
    return c.body(null, 302, { Location: url, 'Cache-Control': 'no-store' });
  });

  app.get('/t/o/:file', async (c) => {
    const target = deps.tokens.parse(c.req.param('file').replace(/\.gif$/i, ''));
    if (target?.kind === 'open') await deps.engagement.open(target, client(c)).catch((err: unknown) => failed('open', err));
    return pixel(c);
  });

  app.get('/u/:token', async (c) => {
    let subject;
    try {
      subject = await deps.unsubscriber.subject(c.req.param('token'));
    } catch (err) {
      failed('unsubscribe page', err);
      return htmlPage(c, 503, errorPage(lang(c)));
    }
    if (!subject) return htmlPage(c, 404, notFoundPage(lang(c), true));
    return htmlPage(c, 200, confirmPage(lang(c), pageSubject(subject)));
  });

  app.post('/u/:token', bodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => htmlPage(c, 413, badRequestPage(lang(c))) }), async (c) => {
    if (!(await isOneClickBody(c))) return htmlPage(c, 400, badRequestPage(lang(c)));
    let result;
    try {
      result = await deps.unsubscriber.unsubscribeByToken(c.req.param('token'), 'link', client(c));
    } catch (err) {
      failed('unsubscribe', err);
      return htmlPage(c, 503, errorPage(lang(c)));
    }
    if (!result.subject) return htmlPage(c, 404, notFoundPage(lang(c), true));
    return htmlPage(c, 200, donePage(lang(c), pageSubject(result.subject)));
  });

  // Anything else under these prefixes: the same answers as a bad token, never the API's JSON.
  app.all('/t/o/*', (c) => pixel(c));
  app.all('/t/*', (c) => htmlPage(c, 404, notFoundPage(lang(c))));
  app.all('/u/*', (c) => htmlPage(c, 404, notFoundPage(lang(c), true)));
  return app;
}

function pixel(c: Context): Response {
  return c.body(new Uint8Array(PIXEL), 200, { ...NO_CACHE, 'Content-Type': 'image/gif', 'Content-Length': String(PIXEL.length) });
}

function htmlPage(c: Context, status: 200 | 400 | 404 | 413 | 503, html: string): Response {
  return c.body(html, status, PAGE_HEADERS);
}

function lang(c: Context) {
  return pickLanguage(c.req.header('accept-language'));
}

function pageSubject(s: { address: string; scope: string }) {
  return { address: s.address, domain: s.scope === 'global' ? null : s.scope };
}

/** A form body (urlencoded or multipart) holding at most RFC 8058's field; other types carry nothing we read. */
async function isOneClickBody(c: Context): Promise<boolean> {
  const type = c.req.header('content-type') ?? '';
  if (!/^(application\/x-www-form-urlencoded|multipart\/form-data)\b/i.test(type)) return true;
  try {
    return oneClickBody.safeParse(await c.req.parseBody()).success;
  } catch {
    return false;
  }
}

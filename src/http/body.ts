/**
 * Request bodies of the admin API: reading JSON through a zod schema, and the size limit.
 *
 * Promises: the parsed value, or a ready 400 response in CONTRACT's error shape naming each
 * bad field (or saying the body is not JSON); bodies over the limit are 413 before a handler
 * reads them.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { z } from 'zod';
import { apiError } from './errors.js';

export type Parsed<T> = { ok: true; value: T } | { ok: false; response: Response };

export async function parseBody<T>(c: Context, schema: z.ZodType<T>, emptyAllowed = false): Promise<Parsed<T>> {
  const text = await c.req.text();
  let json: unknown = {};
  if (text.trim() || !emptyAllowed) {
    try {
      json = JSON.parse(text);
    } catch {
      return { ok: false, response: c.json(apiError('invalid_json', 'the request body must be a JSON object'), 400) };
    }
  }
  const result = schema.safeParse(json);
  if (result.success) return { ok: true, value: result.data };
  const issues = result.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
  return { ok: false, response: c.json(apiError('invalid_request', issues), 400) };
}

/** Request bodies of the admin API, except the send API's (it carries whole messages: sendBodyLimit in send.ts). */
export const API_BODY_LIMIT = 1024 * 1024;

/**
 * The body size limit of every /api route: `large` for the routes it names (method and full
 * path), API_BODY_LIMIT for the rest. Enforced on Content-Length and on the bytes as they
 * arrive (a chunked body without length), before any handler reads them: 413 in CONTRACT's shape.
 */
export function apiBodyLimit(large: { method: string; path: RegExp; maxSize: number }[]): MiddlewareHandler {
  // Connection: close — the rest of the body is not read, so the connection cannot carry another request.
  const refuse = (maxSize: number) => (c: Context) => c.json(apiError('too_large', `the request body is larger than ${maxSize} bytes`), 413, { Connection: 'close' });
  return (c, next) => {
    const maxSize = large.find((l) => l.method === c.req.method && l.path.test(c.req.path))?.maxSize ?? API_BODY_LIMIT;
    return bodyLimit({ maxSize, onError: refuse(maxSize) })(c, next);
  };
}

/**
 * Reading a JSON request body through a zod schema, for every admin API route that takes one.
 *
 * Promises: the parsed value, or a ready 400 response in CONTRACT's error shape naming each
 * bad field (or saying the body is not JSON).
 */
import type { Context } from 'hono';
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

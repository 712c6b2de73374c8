/**
 * `/api/v1/suppressions`: the suppression list over HTTP — the same entries as
 * `sokutatsu suppress list|add|remove`, for a CRM that keeps its own list in step.
 *
 * Promises: bodies and query parameters validated (400 naming the field); addresses compared in
 * lower case; pages follow Redis's HSCAN cursor (`nextCursor` null at the end), so paging a list
 * of millions costs a page at a time; a page holds the entries of about `limit` addresses.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { GLOBAL, type SuppressionList } from '../store/suppressions.js';
import { checkAddress, checkReason, checkScope, checkState, orderedEntry, SUPPRESSION_STATES } from '../store/suppression-input.js';
import { apiError } from './errors.js';
import { parseBody } from './body.js';

export const addBody = z.strictObject({
  address: z.string().min(1).max(254),
  domain: z.string().min(1).max(253).optional(),
  reason: z.string().min(1).max(500).optional(),
  state: z.enum(SUPPRESSION_STATES as ['prohibited', 'stopped']).optional(),
});

export const pageQuery = z.strictObject({
  domain: z.string().min(1).max(253).optional(),
  cursor: z.string().regex(/^\d{1,20}$/, 'a cursor from nextCursor').optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

export const removeQuery = z.strictObject({
  domain: z.string().min(1).max(253).optional(),
  all: z.enum(['true', 'false', '1', '0']).optional(),
});

export function suppressionRoutes(list: SuppressionList): Hono {
  const api = new Hono();

  api.get('/', async (c) => {
    const query = pageQuery.safeParse(c.req.query());
    if (!query.success) return c.json(apiError('invalid_request', issues(query.error)), 400);
    const scope = query.data.domain === undefined ? undefined : checkScope(query.data.domain);
    const page = await list.page(query.data.cursor ?? '0', query.data.limit ?? 100, scope);
    return c.json({ suppressions: page.entries.map(orderedEntry), nextCursor: page.next === '0' ? null : page.next });
  });

  api.get('/:address', async (c) => {
    const address = checkAddress(c.req.param('address'));
    const entries = await list.entries(address);
    if (entries.length === 0) return c.json(apiError('not_found', `${address} is not suppressed`), 404);
    return c.json({ address, entries: entries.map(orderedEntry) });
  });

  api.post('/', async (c) => {
    const body = await parseBody(c, addBody);
    if (!body.ok) return body.response;
    const entry = await list.add({
      address: checkAddress(body.value.address),
      scope: checkScope(body.value.domain),
      state: checkState(body.value.state),
      reason: checkReason(body.value.reason, 'manual'),
      source: 'api',
    });
    return c.json(orderedEntry(entry), 201);
  });

  api.delete('/:address', async (c) => {
    const query = removeQuery.safeParse(c.req.query());
    if (!query.success) return c.json(apiError('invalid_request', issues(query.error)), 400);
    const all = query.data.all === 'true' || query.data.all === '1';
    if (all && query.data.domain !== undefined) return c.json(apiError('invalid_request', 'domain and all exclude each other'), 400);
    const address = checkAddress(c.req.param('address'));
    const scope = all ? undefined : checkScope(query.data.domain);
    if (await list.remove(address, scope)) return c.body(null, 204);
    const what = scope === undefined ? 'any sender' : scope === GLOBAL ? 'every sender' : scope;
    return c.json(apiError('not_found', `${address} is not suppressed for ${what}`), 404);
  });

  return api;
}

function issues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; ');
}


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
import { checkAddress, checkReason, checkScope, checkState, orderedEntry, SuppressionInputError, SUPPRESSION_STATES } from '../store/suppression-input.js';
import { csvHeader, csvRow, CSV_COLUMNS } from '../store/suppression-csv.js';
import { importSuppressions } from '../store/suppression-import.js';
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

export const importQuery = z.strictObject({
  /** scope of rows that name none (default: every sender) */
  domain: z.string().min(1).max(253).optional(),
  dryRun: z.enum(['true', 'false', '1', '0']).optional(),
});

/** Bad rows listed in an import's answer; the rest are only counted. */
const MAX_REPORTED = 100;

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

  // Before '/:address', which would take "export" for an address.
  api.get('/export', (c) => {
    const rows = async function* () {
      yield csvHeader();
      for await (const entry of list.all()) yield csvRow(entry);
    };
    return c.body(toStream(rows()), 200, { 'Content-Type': 'text/csv; charset=utf-8', 'Content-Disposition': 'attachment; filename="suppressions.csv"' });
  });

  api.post('/import', async (c) => {
    const query = importQuery.safeParse(c.req.query());
    if (!query.success) return c.json(apiError('invalid_request', issues(query.error)), 400);
    const type = c.req.header('content-type') ?? '';
    if (!/^text\/(csv|plain)\b/i.test(type)) return c.json(apiError('unsupported_media_type', 'send the CSV as the request body with Content-Type: text/csv (columns: ' + CSV_COLUMNS.join(', ') + ')'), 415);
    const dryRun = query.data.dryRun === 'true' || query.data.dryRun === '1';
    const errors: { line: number; error: string }[] = [];
    try {
      const body = await c.req.text();
      const summary = await importSuppressions(dryRun ? null : list, (async function* () { yield body; })(), {
        scope: checkScope(query.data.domain),
        onBad: (line, error) => void (errors.length < MAX_REPORTED && errors.push({ line, error })),
      });
      return c.json({ ...summary, errors });
    } catch (err) {
      if (err instanceof SuppressionInputError) return c.json(apiError('invalid_request', err.message), 400);
      throw err;
    }
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

/** A web stream of the rows, pulled as the client reads (a list of millions never sits in memory). */
function toStream(rows: AsyncGenerator<string>): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    async pull(controller) {
      const next = await rows.next();
      if (next.done) controller.close();
      else controller.enqueue(encoder.encode(next.value));
    },
    async cancel() {
      await rows.return(undefined);
    },
  });
}

function issues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; ');
}


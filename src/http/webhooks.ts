/**
 * `/api/v1/webhooks`: webhook endpoints over HTTP — create (the secret is in this answer only),
 * list, get, change, delete, a test ping sent now, and the recent delivery log.
 *
 * Promises: bodies and queries validated (400 naming the field); URLs must be http(s) and — unless
 * `webhooks.allowPrivateTargets` — resolve only to public addresses (400 otherwise, checked now
 * and again at every delivery); unknown event types are 400; no answer but the creation's
 * contains a secret; unknown ids are 404.
 */
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { apiError } from './errors.js';
import { parseBody } from './body.js';
import { EndpointLimitError, view, WEBHOOK_EVENT_TYPES, type Endpoint } from '../webhooks/endpoints.js';
import { MAX_URL_LENGTH, TargetError } from '../webhooks/target.js';
import { pingPayload } from '../webhooks/payload.js';
import type { WebhookServices } from '../webhooks/services.js';

const url = z.string().min(1).max(MAX_URL_LENGTH);
const events = z.array(z.enum(WEBHOOK_EVENT_TYPES)).max(WEBHOOK_EVENT_TYPES.length * 2);

const createBody = z.strictObject({ url, events: events.optional() });
const changeBody = z.strictObject({ url: url.optional(), events: events.optional(), enabled: z.boolean().optional() });
const logQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).optional() });

export function webhookRoutes(services: WebhookServices): Hono {
  const api = new Hono();
  const { endpoints, deliveries, sender } = services;

  /** The endpoint of `:id`, or a 404 response. */
  const find = async (c: Context): Promise<Endpoint | Response> => {
    const id = c.req.param('id') ?? '';
    const endpoint = /^wh_[0-9a-f]{16}$/.test(id) ? await endpoints.get(id) : null;
    return endpoint ?? c.json(apiError('not_found', `no webhook with id ${id.slice(0, 60)}`), 404);
  };

  api.post('/', async (c) => {
    const body = await parseBody(c, createBody);
    if (!body.ok) return body.response;
    await sender.checkUrl(body.value.url);
    const endpoint = await endpoints.create({ url: body.value.url, events: body.value.events ?? [] });
    return c.json({ ...view(endpoint), secret: endpoint.secret }, 201);
  });

  api.get('/', async (c) => c.json({ webhooks: (await endpoints.list()).map(view) }));

  api.get('/:id', async (c) => {
    const endpoint = await find(c);
    return endpoint instanceof Response ? endpoint : c.json(view(endpoint));
  });

  api.patch('/:id', async (c) => {
    const found = await find(c);
    if (found instanceof Response) return found;
    const body = await parseBody(c, changeBody);
    if (!body.ok) return body.response;
    if (body.value.url !== undefined) await sender.checkUrl(body.value.url);
    const changed = await endpoints.update(found.id, body.value);
    return changed ? c.json(view(changed)) : c.json(apiError('not_found', `no webhook with id ${found.id}`), 404);
  });

  api.delete('/:id', async (c) => {
    const found = await find(c);
    if (found instanceof Response) return found;
    await endpoints.remove(found.id);
    return c.body(null, 204);
  });

  api.post('/:id/test', async (c) => {
    const endpoint = await find(c);
    if (endpoint instanceof Response) return endpoint;
    const ping = pingPayload(endpoint.id);
    const at = new Date().toISOString();
    const result = await sender.send(endpoint, JSON.stringify(ping), ping.type, ping.id);
    await deliveries.append(endpoint.id, { at, eventId: ping.id, eventType: ping.type, attempt: 1, status: result.status, error: result.error, durationMs: result.durationMs, outcome: result.ok ? 'delivered' : 'failed' });
    return c.json({ eventId: ping.id, ok: result.ok, status: result.status, error: result.error, durationMs: result.durationMs });
  });

  api.get('/:id/deliveries', async (c) => {
    const query = logQuery.safeParse(c.req.query());
    if (!query.success) return c.json(apiError('invalid_request', query.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; ')), 400);
    const endpoint = await find(c);
    if (endpoint instanceof Response) return endpoint;
    return c.json({ deliveries: await deliveries.recent(endpoint.id, query.data.limit) });
  });

  // The services' refusals a client can act on (a sub-app's handler covers its own routes).
  api.onError((err, c) => {
    if (err instanceof TargetError) return c.json(apiError('invalid', `url: ${err.message}`), 400);
    if (err instanceof EndpointLimitError) return c.json(apiError('limit', err.message), 409);
    // As the app's own handler would answer (a handler of a sub-app takes its errors over).
    console.error(err);
    return c.json(apiError('internal', 'internal error; see the server log'), 500);
  });
  return api;
}

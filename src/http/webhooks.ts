/**
 * `/api/v1/webhooks`: webhook endpoints over HTTP — create (the secret is in this answer only),
 * list, get, change, delete, a test ping sent now, and the recent delivery log.
 *
 * Promises: bodies and queries validated (400 naming the field); URLs must be http(s) and — unless
 * `webhooks.allowPrivateTargets` — resolve only to public addresses (400 otherwise, checked now
 * and again at every delivery); unknown event types are 400; no answer but the creation's
 * contains a secret; unknown ids are 404. Each route is described in `webhookOperations` for the
 * OpenAPI document.
 */
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { apiError, issues } from './errors.js';
import { parseBody } from './body.js';
import { view, WEBHOOK_EVENT_TYPES, type Endpoint } from '../webhooks/endpoints.js';
import { MAX_URL_LENGTH } from '../webhooks/target.js';
import { pingPayload } from '../webhooks/payload.js';
import type { WebhookServices } from '../webhooks/services.js';
import { errorBody, type Operation } from './openapi.js';

const url = z.string().min(1).max(MAX_URL_LENGTH);
const events = z.array(z.enum(WEBHOOK_EVENT_TYPES)).max(WEBHOOK_EVENT_TYPES.length * 2);

const createBody = z.strictObject({ url, events: events.optional() });
const changeBody = z.strictObject({ url: url.optional(), events: events.optional(), enabled: z.boolean().optional() });
/** `?limit=` of a delivery log (webhook endpoints and inbound routes). */
export const deliveryLogQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).optional() });

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
    const query = deliveryLogQuery.safeParse(c.req.query());
    if (!query.success) return c.json(apiError('invalid_request', issues(query.error)), 400);
    const endpoint = await find(c);
    if (endpoint instanceof Response) return endpoint;
    return c.json({ deliveries: await deliveries.recent(endpoint.id, query.data.limit) });
  });

  return api;
}

const endpointView = z.object({ id: z.string(), url: z.string(), events: z.array(z.enum(WEBHOOK_EVENT_TYPES)).describe('empty: every type'), enabled: z.boolean(), createdAt: z.string() });
/** One entry of a delivery log (webhooks/delivery-log.ts), as webhook endpoints and inbound routes show it. */
export const deliveryAttemptView = z.object({
  at: z.string(), eventId: z.string(), eventType: z.string(), attempt: z.number(), status: z.number().nullable(), error: z.string().nullable(), durationMs: z.number(),
  outcome: z.enum(['delivered', 'retrying', 'failed']), nextAttemptAt: z.string().optional(),
});
const notFound = { description: 'no such webhook', body: errorBody };

export const webhookOperations: Operation[] = [
  {
    method: 'post', path: '/api/v1/webhooks', summary: 'Create a webhook endpoint; the answer carries its signing secret (shown only here)',
    description: 'The URL must be http(s) without credentials and (unless webhooks.allowPrivateTargets) resolve only to public addresses.',
    body: createBody,
    responses: { '201': { description: 'created', body: endpointView.extend({ secret: z.string() }) }, '400': { description: 'invalid body, URL or event type', body: errorBody }, '409': { description: 'too many endpoints', body: errorBody } },
  },
  { method: 'get', path: '/api/v1/webhooks', summary: 'Every webhook endpoint (no secrets)', responses: { '200': { description: 'the endpoints', body: z.object({ webhooks: z.array(endpointView) }) } } },
  { method: 'get', path: '/api/v1/webhooks/:id', summary: 'A webhook endpoint (no secret)', responses: { '200': { description: 'the endpoint', body: endpointView }, '404': notFound } },
  {
    method: 'patch', path: '/api/v1/webhooks/:id', summary: 'Change URL, event types or enabled', body: changeBody,
    responses: { '200': { description: 'the endpoint as changed', body: endpointView }, '400': { description: 'invalid body or URL', body: errorBody }, '404': notFound },
  },
  { method: 'delete', path: '/api/v1/webhooks/:id', summary: 'Delete a webhook endpoint (its waiting deliveries are dropped)', responses: { '204': { description: 'deleted' }, '404': notFound } },
  {
    method: 'post', path: '/api/v1/webhooks/:id/test', summary: 'Send a signed ping event now and return the result',
    responses: { '200': { description: 'the attempt (ok: a 2xx came back)', body: z.object({ eventId: z.string(), ok: z.boolean(), status: z.number().nullable(), error: z.string().nullable(), durationMs: z.number() }) }, '404': notFound },
  },
  {
    method: 'get', path: '/api/v1/webhooks/:id/deliveries', summary: 'Recent delivery attempts, newest first', query: deliveryLogQuery,
    responses: { '200': { description: 'the attempts (at most webhooks.logSize)', body: z.object({ deliveries: z.array(deliveryAttemptView) }) }, '400': { description: 'invalid query', body: errorBody }, '404': notFound },
  },
];

/**
 * `/api/v1/inbound-routes`: inbound routes over HTTP — create (the secret is in this answer only),
 * list, get, change, delete, and the recent POST attempts of a route.
 *
 * Promises: bodies and queries validated with zod (400 naming the field); a pattern must be
 * `local@domain` with `*` wildcards in the local part or a leading `*.` in the domain (400 with
 * what to change); URLs must be http(s) and — unless `webhooks.allowPrivateTargets` — resolve
 * only to public addresses (400, checked now and again before every POST); no answer but the
 * creation's contains a secret; unknown ids are 404; more than MAX_ROUTES is 409. Each route is
 * described in `inboundRouteOperations` for the OpenAPI document.
 */
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { apiError, issues } from './errors.js';
import { deliveryAttemptView, deliveryLogQuery } from './webhooks.js';
import { parseBody } from './body.js';
import { errorBody, type Operation } from './openapi.js';
import { MAX_PATTERN_LENGTH, view, type InboundRoute } from '../inbound/routes.js';
import { MAX_URL_LENGTH } from '../webhooks/target.js';
import type { InboundRouteServices } from '../inbound/services.js';

const pattern = z.string().min(1).max(MAX_PATTERN_LENGTH).describe('local@domain; * in the local part matches any run of characters, a leading *. in the domain its subdomains');
const url = z.string().min(1).max(MAX_URL_LENGTH);

export const createRouteBody = z.strictObject({ pattern, url, enabled: z.boolean().optional() });
export const changeRouteBody = z.strictObject({ pattern: pattern.optional(), url: url.optional(), enabled: z.boolean().optional() });

export function inboundRouteRoutes(services: InboundRouteServices): Hono {
  const api = new Hono();
  const { routes, sender, deliveries } = services;

  /** The route of `:id`, or a 404 response. */
  const find = async (c: Context): Promise<InboundRoute | Response> => {
    const id = c.req.param('id') ?? '';
    const route = /^ir_[0-9a-f]{16}$/.test(id) ? await routes.get(id) : null;
    return route ?? c.json(apiError('not_found', `no inbound route with id ${id.slice(0, 60)}`), 404);
  };

  api.post('/', async (c) => {
    const body = await parseBody(c, createRouteBody);
    if (!body.ok) return body.response;
    await sender.checkUrl(body.value.url);
    const route = await routes.create(body.value);
    return c.json({ ...view(route), secret: route.secret }, 201);
  });

  api.get('/', async (c) => c.json({ routes: (await routes.list()).map(view) }));

  api.get('/:id', async (c) => {
    const route = await find(c);
    return route instanceof Response ? route : c.json(view(route));
  });

  api.patch('/:id', async (c) => {
    const found = await find(c);
    if (found instanceof Response) return found;
    const body = await parseBody(c, changeRouteBody);
    if (!body.ok) return body.response;
    if (body.value.url !== undefined) await sender.checkUrl(body.value.url);
    const changed = await routes.update(found.id, body.value);
    return changed ? c.json(view(changed)) : c.json(apiError('not_found', `no inbound route with id ${found.id}`), 404);
  });

  api.delete('/:id', async (c) => {
    const found = await find(c);
    if (found instanceof Response) return found;
    await routes.remove(found.id);
    return c.body(null, 204);
  });

  api.get('/:id/deliveries', async (c) => {
    const query = deliveryLogQuery.safeParse(c.req.query());
    if (!query.success) return c.json(apiError('invalid_request', issues(query.error)), 400);
    const route = await find(c);
    if (route instanceof Response) return route;
    return c.json({ deliveries: await deliveries.recent(route.id, query.data.limit) });
  });

  return api;
}

const routeView = z.object({ id: z.string(), pattern: z.string(), url: z.string(), enabled: z.boolean(), createdAt: z.string() });
const attempt = deliveryAttemptView.extend({ eventId: z.string().describe('<mail id>.<route id>'), eventType: z.literal('inbound') });
const notFound = { description: 'no such inbound route', body: errorBody };

export const inboundRouteOperations: Operation[] = [
  {
    method: 'post', path: '/api/v1/inbound-routes', summary: 'Create an inbound route: mail to the pattern on port 25 is POSTed to the URL as JSON; the answer carries the signing secret (shown only here)',
    description: 'The URL must be http(s) without credentials and (unless webhooks.allowPrivateTargets) resolve only to public addresses. The domain\'s MX must point at this server.',
    body: createRouteBody,
    responses: { '201': { description: 'created', body: routeView.extend({ secret: z.string() }) }, '400': { description: 'invalid body, pattern or URL', body: errorBody }, '409': { description: 'too many routes', body: errorBody } },
  },
  { method: 'get', path: '/api/v1/inbound-routes', summary: 'Every inbound route (no secrets)', responses: { '200': { description: 'the routes', body: z.object({ routes: z.array(routeView) }) } } },
  { method: 'get', path: '/api/v1/inbound-routes/:id', summary: 'An inbound route (no secret)', responses: { '200': { description: 'the route', body: routeView }, '404': notFound } },
  {
    method: 'patch', path: '/api/v1/inbound-routes/:id', summary: 'Change pattern, URL or enabled', body: changeRouteBody,
    responses: { '200': { description: 'the route as changed', body: routeView }, '400': { description: 'invalid body, pattern or URL', body: errorBody }, '404': notFound },
  },
  { method: 'delete', path: '/api/v1/inbound-routes/:id', summary: 'Delete an inbound route (its mail not yet POSTed is dropped; port 25 refuses its addresses again)', responses: { '204': { description: 'deleted' }, '404': notFound } },
  {
    method: 'get', path: '/api/v1/inbound-routes/:id/deliveries', summary: 'Recent POST attempts of the route, newest first', query: deliveryLogQuery,
    responses: { '200': { description: 'the attempts (at most webhooks.logSize)', body: z.object({ deliveries: z.array(attempt) }) }, '400': { description: 'invalid query', body: errorBody }, '404': notFound },
  },
];

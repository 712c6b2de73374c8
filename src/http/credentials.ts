/**
 * `/api/v1/credentials`: the SMTP/API users of `sokutatsu user add|list|remove` over HTTP — the
 * same records (intake/users.ts), for a CRM that provisions a sender per customer.
 *
 * Promises: a password is in an answer only when Sokutatsu generated it (create, rotate), and
 * only in that answer; a chosen password is checked for strength and never echoed; no answer
 * carries a hash; names and domains validated (400 naming the field); a taken name is 409, an
 * unknown one 404. Changes apply to the next AUTH (sessions already open keep theirs).
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { generatePassword, passwordWeakness, USER_NAME, type User, type UserStore } from '../intake/users.js';
import { isDomainName } from '../mime/address.js';
import { apiError } from './errors.js';
import { parseBody } from './body.js';
import type { Operation } from './openapi.js';
import { errorBody } from './openapi.js';

const domain = z.string().min(1).max(253).refine((d) => isDomainName(d) || d.toLowerCase() === 'localhost', 'not a domain name');
const domains = z.array(domain).min(1).max(100);
const password = z.string().max(256).optional().describe('leave out to have a strong one generated (returned once)');

export const createBody = z.strictObject({
  name: z.string().regex(USER_NAME, '1–128 letters, digits and . _ @ + -'),
  domains: domains.describe('sending domains this credential may use in From / MAIL FROM (subdomains included)'),
  password,
});
export const updateBody = z.strictObject({ domains });
export const rotateBody = z.strictObject({ password });

const credentialView = z.strictObject({ name: z.string(), domains: z.array(z.string()), createdAt: z.string() });
const withPassword = credentialView.extend({ password: z.string().optional().describe('only when generated; shown this once') });

export function credentialRoutes(users: UserStore): Hono {
  const api = new Hono();

  api.get('/', async (c) => c.json({ credentials: (await users.list()).map(view) }));

  api.post('/', async (c) => {
    const body = await parseBody(c, createBody);
    if (!body.ok) return body.response;
    const weak = body.value.password === undefined ? null : passwordWeakness(body.value.password);
    if (weak) return c.json(apiError('invalid', `password: ${weak}`), 400);
    const secret = body.value.password ?? generatePassword();
    const created = await users.create(body.value.name, secret, body.value.domains);
    if (!created) return c.json(apiError('exists', `a credential named ${body.value.name} exists; change it with PATCH or POST …/rotate, or delete it first`), 409);
    return c.json({ ...view(created), ...(body.value.password === undefined ? { password: secret } : {}) }, 201);
  });

  api.get('/:name', async (c) => {
    const user = await users.get(c.req.param('name'));
    return user ? c.json(view(user)) : notFound(c.req.param('name'));
  });

  api.patch('/:name', async (c) => {
    const body = await parseBody(c, updateBody);
    if (!body.ok) return body.response;
    const user = await users.setDomains(c.req.param('name'), body.value.domains);
    return user ? c.json(view(user)) : notFound(c.req.param('name'));
  });

  api.post('/:name/rotate', async (c) => {
    const body = await parseBody(c, rotateBody, true);
    if (!body.ok) return body.response;
    const weak = body.value.password === undefined ? null : passwordWeakness(body.value.password);
    if (weak) return c.json(apiError('invalid', `password: ${weak}`), 400);
    const name = c.req.param('name');
    const secret = body.value.password ?? generatePassword();
    if (!(await users.setPassword(name, secret))) return notFound(name);
    const user = await users.get(name);
    if (!user) return notFound(name); // deleted in between
    return c.json({ ...view(user), ...(body.value.password === undefined ? { password: secret } : {}) });
  });

  api.delete('/:name', async (c) => ((await users.remove(c.req.param('name'))) ? c.body(null, 204) : notFound(c.req.param('name'))));

  return api;
}

/** Field order fixed and nothing but these fields, whatever the stored record holds. */
function view(user: User): z.infer<typeof credentialView> {
  return { name: user.name, domains: user.domains, createdAt: user.createdAt };
}

function notFound(name: string): Response {
  return Response.json(apiError('not_found', `no credential named ${name.slice(0, 128)} (GET /api/v1/credentials lists them)`), { status: 404 });
}

const ok = (description: string, body?: z.ZodType) => ({ '200': { description, ...(body ? { body } : {}) } });
const invalid = { '400': { description: 'invalid input', body: errorBody } };
const missing = { '404': { description: 'no such credential', body: errorBody } };

export const credentialOperations: Operation[] = [
  { method: 'get', path: '/api/v1/credentials', summary: 'SMTP/API credentials and their sending domains (never passwords)', responses: ok('{credentials}', z.strictObject({ credentials: z.array(credentialView) })) },
  { method: 'post', path: '/api/v1/credentials', summary: 'Create a credential; a generated password is returned once', body: createBody, responses: { '201': { description: 'the credential (with its generated password)', body: withPassword }, ...invalid, '409': { description: 'the name is taken', body: errorBody } } },
  { method: 'get', path: '/api/v1/credentials/:name', summary: 'One credential', responses: { ...ok('the credential', credentialView), ...missing } },
  { method: 'patch', path: '/api/v1/credentials/:name', summary: 'Replace the sending domains a credential may use', body: updateBody, responses: { ...ok('the credential', credentialView), ...invalid, ...missing } },
  { method: 'post', path: '/api/v1/credentials/:name/rotate', summary: 'Replace the password (generated and returned once unless given); the old one stops working', body: rotateBody, responses: { ...ok('the credential (with its generated password)', withPassword), ...invalid, ...missing } },
  { method: 'delete', path: '/api/v1/credentials/:name', summary: 'Delete a credential; its password stops working at once', responses: { '204': { description: 'deleted' }, ...missing } },
];

/**
 * `/api/v1/tokens`: admin API bearer tokens over HTTP — the same store as `sokutatsu token
 * create|list|revoke` (http/tokens.ts).
 *
 * Promises: a token is in the answer that creates it and nowhere else (only its SHA-256 is
 * stored; lists show an id derived from that hash, a name and a date); revoking takes effect
 * with the next request; the bootstrap `admin.token` is config and never appears here.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { TOKEN_ID, tokenId, type TokenStore } from './tokens.js';
import { apiError } from './errors.js';
import { parseBody } from './body.js';
import { errorBody, type Operation } from './openapi.js';

export const createTokenBody = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9._@+-]{1,64}$/, '1–64 letters, digits and . _ @ + -').describe('who or what uses the token (shown in lists and logs)'),
});

const tokenView = z.strictObject({ id: z.string(), name: z.string(), createdAt: z.string() });

export function tokenRoutes(tokens: TokenStore): Hono {
  const api = new Hono();

  api.get('/', async (c) => c.json({ tokens: await tokens.list() }));

  api.post('/', async (c) => {
    const body = await parseBody(c, createTokenBody);
    if (!body.ok) return body.response;
    const token = await tokens.create(body.value.name);
    const created = (await tokens.list()).find((t) => t.id === tokenId(token));
    return c.json({ id: tokenId(token), name: body.value.name, createdAt: created?.createdAt ?? new Date().toISOString(), token }, 201);
  });

  api.delete('/:id', async (c) => {
    const id = c.req.param('id').toLowerCase();
    if (!TOKEN_ID.test(id)) return c.json(apiError('invalid', `not a token id: ${id.slice(0, 40)} (16 hex digits, as GET /api/v1/tokens lists them)`), 400);
    if (await tokens.revoke(id)) return c.body(null, 204);
    return c.json(apiError('not_found', `no token with id ${id} (GET /api/v1/tokens lists them; admin.token is config and cannot be revoked here)`), 404);
  });

  return api;
}

export const tokenOperations: Operation[] = [
  { method: 'get', path: '/api/v1/tokens', summary: 'Admin API tokens: id, name, creation time (never the tokens)', responses: { '200': { description: '{tokens}', body: z.strictObject({ tokens: z.array(tokenView) }) } } },
  { method: 'post', path: '/api/v1/tokens', summary: 'Create an admin API token; returned this once', body: createTokenBody, responses: { '201': { description: 'the token', body: tokenView.extend({ token: z.string() }) }, '400': { description: 'invalid input', body: errorBody } } },
  { method: 'delete', path: '/api/v1/tokens/:id', summary: 'Revoke a token; it stops working with the next request', responses: { '204': { description: 'revoked' }, '400': { description: 'not a token id', body: errorBody }, '404': { description: 'no such token', body: errorBody } } },
];

/**
 * The admin API as a whole, from its route table (app.routes): every /api route needs the token
 * in every spelling of its path and with every method; the OpenAPI document lists exactly the
 * routes there are; body size limit and per-token rate limit. Redis only for the gate's rate
 * limit (shared by every app on the same Redis): with the gate in front, the services behind it
 * are never reached.
 */
import { randomBytes } from 'node:crypto';
import SwaggerParser from '@apidevtools/swagger-parser';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createHttpApp, type HttpDeps } from '../src/http/app.js';
import { configSchema } from '../src/config/schema.js';
import { openApiPath } from '../src/http/openapi.js';
import type { TokenStore } from '../src/http/tokens.js';

const GOOD = 'good-token';
const tokens: TokenStore = { verify: async (t) => (t === GOOD ? 'tests' : null), create: async () => '', list: async () => [], revoke: async () => false };

const redis = new Redis(inject('redisUrl'));
afterAll(() => redis.disconnect());
const namespace = () => `ar${randomBytes(4).toString('hex')}`;

function app(overrides: Record<string, unknown> = {}) {
  const deps = { tokens, redis, config: configSchema.parse({ redis: { namespace: namespace() }, ...overrides }), webhooks: {} } as unknown as HttpDeps;
  return createHttpApp(deps);
}

/** The API routes of the app: method and path, middleware ("ALL", wildcards) left out. */
function apiRoutes(http: ReturnType<typeof app>): { method: string; path: string }[] {
  const seen = new Set<string>();
  return http.routes
    .filter((r) => r.path.startsWith('/api/v1/') && r.method !== 'ALL' && !r.path.includes('*'))
    .filter((r) => !seen.has(`${r.method} ${r.path}`) && seen.add(`${r.method} ${r.path}`));
}

const concrete = (path: string) => path.replace(/:[A-Za-z0-9_]+/g, 'x1');
const auth = { Authorization: `Bearer ${GOOD}` };

describe('the admin API route table', () => {
  const http = app();
  const routes = apiRoutes(http);

  it('has the routes of every admin module', () => {
    const paths = routes.map((r) => `${r.method} ${r.path}`);
    for (const expected of ['POST /api/v1/messages', 'GET /api/v1/messages', 'GET /api/v1/messages/:id', 'POST /api/v1/messages/:id/cancel', 'GET /api/v1/openapi.json', 'GET /api/v1/domains', 'GET /api/v1/sites', 'GET /api/v1/suppressions', 'GET /api/v1/stats', 'POST /api/v1/webhooks']) {
      expect(paths).toContain(expected);
    }
  });

  it('answers 401 on every route without a token, in every spelling of its path and with every method', async () => {
    let checked = 0;
    for (const { method, path } of routes) {
      const p = concrete(path);
      const rest = p.slice('/api'.length);
      const spellings = [p, `/${p}`, `//${p.slice(1)}`, `/API${rest}`, `/Api${rest}`, `/%61pi${rest}`, `/%2561pi${rest}`, `${p}/`, `${p}//`, `/api/v1/%2e%2e/v1${p.slice('/api/v1'.length)}`, `/x/../api${rest}`, `/api/./v1${p.slice('/api/v1'.length)}`, `${p}?token=${GOOD}`, `${p};x=1`];
      for (const spelling of spellings) {
        for (const m of [method, 'HEAD', 'OPTIONS', 'PUT', 'PATCH', 'DELETE']) {
          for (const headers of [{}, { Authorization: 'Bearer wrong' }, { Authorization: GOOD }, { Authorization: `Basic ${GOOD}` }, { 'X-Api-Key': GOOD }] as Record<string, string>[]) {
            const res = await http.request(spelling, { method: m, headers });
            expect(res.status, `${m} ${spelling} ${JSON.stringify(headers)}`).toBe(401);
            if (m !== 'HEAD') expect(await res.json()).toMatchObject({ error: { code: 'unauthorized' } });
            checked++;
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(routes.length * 100);
    // Paths outside /api stay public: the gate is not everywhere.
    expect((await http.request('/healthz')).status).toBe(200);
    expect((await http.request('/apis-are-not-api')).status).toBe(404);
  });

  it('with the token, an unknown API path is a JSON 404, not a public page', async () => {
    for (const path of ['/api/v1/nothing', '/api/v2/messages', '/api', '//api/v1/messages']) {
      const res = await http.request(path, { headers: auth });
      expect(res.status, path).toBe(404);
      expect(await res.json()).toMatchObject({ error: { code: 'not_found' } });
    }
  });

  it('serves an OpenAPI 3.1 document (behind the token) that lists exactly the routes of the app', async () => {
    expect((await http.request('/api/v1/openapi.json')).status).toBe(401);
    const res = await http.request('/api/v1/openapi.json', { headers: auth });
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; info: { title: string }; paths: Record<string, Record<string, { responses: object; parameters?: { name: string; in: string }[] }>> };
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(doc.info.title).toBeTruthy();
    // Valid against the OpenAPI 3.1 schema (swagger-parser checks it with the official JSON Schema, and resolves every $ref).
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeTruthy();
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)).sort();
    const routed = routes.map((r) => `${r.method} ${openApiPath(r.path)}`).sort();
    expect(documented).toEqual(routed);
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const op of Object.values(ops)) {
        expect(Object.keys(op.responses).length).toBeGreaterThan(0);
        for (const name of [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1])) expect(op.parameters?.some((p) => p.in === 'path' && p.name === name), `${path} ${name}`).toBe(true);
      }
    }
    const send = doc.paths['/api/v1/messages']!.post as unknown as { requestBody: { content: { 'application/json': { schema: { properties: Record<string, unknown>; required: string[] } } } } };
    expect(Object.keys(send.requestBody.content['application/json'].schema.properties)).toEqual(expect.arrayContaining(['from', 'to', 'cc', 'bcc', 'subject', 'text', 'html', 'attachments', 'headers', 'tag', 'sendAt', 'metadata', 'track']));
    expect(send.requestBody.content['application/json'].schema.required).toEqual(['from']);
  });

  it('limits request bodies: 413 in the API error shape, by Content-Length and by the bytes that arrive', async () => {
    const big = JSON.stringify({ address: 'a@b.example', reason: 'x'.repeat(1024 * 1024) });
    const res = await http.request('/api/v1/suppressions', { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: big });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { code: 'too_large' } });
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 40; i++) controller.enqueue(new Uint8Array(64 * 1024).fill(0x20));
        controller.close();
      },
    });
    const streamed = await http.request('/api/v1/domains', { method: 'POST', headers: auth, body: chunks, duplex: 'half' } as RequestInit);
    expect(streamed.status).toBe(413);
    // The send API takes whole messages: its limit follows smtp.maxMessageSize.
    const small = app({ smtp: { maxMessageSize: 1024 } });
    const tooBig = await small.request('/api/v1/messages', { method: 'POST', headers: auth, body: 'x'.repeat(1024 * 1024 + 4096) });
    expect(tooBig.status).toBe(413);
  });

  it('rate-limits each token: 429 with Retry-After past admin.rateLimitPerMinute, other tokens unaffected', async () => {
    const two: TokenStore = { ...tokens, verify: async (t) => (t === GOOD ? 'a' : t === 'other' ? 'b' : null) };
    const limited = createHttpApp({ tokens: two, redis, config: configSchema.parse({ redis: { namespace: namespace() }, admin: { rateLimitPerMinute: 3 } }), webhooks: {} } as unknown as HttpDeps);
    const call = (token: string) => limited.request('/api/v1/nothing', { headers: { Authorization: `Bearer ${token}` } });
    for (let i = 0; i < 3; i++) expect((await call(GOOD)).status).toBe(404);
    const refused = await call(GOOD);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await refused.json()).toMatchObject({ error: { code: 'rate_limited' } });
    expect((await call('other')).status).toBe(404);
    // Without a valid token it is 401, not 429: the limit is the token's.
    expect((await call('wrong')).status).toBe(401);
  });

  it('shares each token\'s budget between apps on one Redis (nodes, processes): 5 a minute, 3 through each, the 6th is 429', async () => {
    const config = configSchema.parse({ redis: { namespace: namespace() }, admin: { rateLimitPerMinute: 5 } });
    const other = new Redis(inject('redisUrl'));
    try {
      const nodeA = createHttpApp({ tokens, redis, config, webhooks: {} } as unknown as HttpDeps);
      const nodeB = createHttpApp({ tokens, redis: other, config, webhooks: {} } as unknown as HttpDeps);
      const call = (node: typeof nodeA) => node.request('/api/v1/nothing', { headers: auth });
      for (let i = 0; i < 3; i++) expect((await call(nodeA)).status).toBe(404);
      for (let i = 0; i < 2; i++) expect((await call(nodeB)).status).toBe(404);
      const sixth = await call(nodeB);
      expect(sixth.status).toBe(429);
      // One request per 12 s comes back: the next one may go in 12 s.
      expect(sixth.headers.get('retry-after')).toBe('12');
      expect(await sixth.json()).toMatchObject({ error: { code: 'rate_limited', message: expect.stringContaining('admin.rateLimitPerMinute') } });
      expect((await call(nodeA)).status).toBe(429);
    } finally {
      other.disconnect();
    }
  });
});

/**
 * /api/v1/domains as a CRM calls it: every route behind the token, bodies validated, errors as
 * CONTRACT's JSON with a status a client can act on, never a private key in a response.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { apiCall, startTestApp } from './support/app.js';

let app: App;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app?.stop());

describe('/api/v1/domains', () => {
  it('requires the admin token on every route', async () => {
    const routes: [string, string][] = [['GET', '/api/v1/domains'], ['POST', '/api/v1/domains'], ['GET', '/api/v1/domains/a.example'], ['GET', '/api/v1/domains/a.example/records'],
      ['GET', '/api/v1/domains/a.example/events'], ['POST', '/api/v1/domains/a.example/verify'], ['POST', '/api/v1/domains/a.example/rotate'], ['DELETE', '/api/v1/domains/a.example']];
    for (const [method, path] of routes) {
      const res = await apiCall(app, method, path, undefined, null);
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.body.error.code).toBe('unauthorized');
    }
  });

  it('validates bodies and names what is wrong', async () => {
    expect(await apiCall(app, 'POST', '/api/v1/domains', '{not json')).toMatchObject({ status: 400, body: { error: { code: 'invalid_json' } } });
    const badKey = await apiCall(app, 'POST', '/api/v1/domains', { domain: 'a.example', key: 'dsa' });
    expect(badKey.status).toBe(400);
    expect(badKey.body.error.message).toMatch(/^key: /);
    expect((await apiCall(app, 'POST', '/api/v1/domains', { domain: 'a.example', extra: 1 })).status).toBe(400);
    expect(await apiCall(app, 'POST', '/api/v1/domains', { domain: 'not a domain' })).toMatchObject({ status: 400, body: { error: { code: 'invalid', message: 'not a domain name: not a domain' } } });
    expect((await apiCall(app, 'POST', '/api/v1/domains', { domain: 'a.example', selector: 'bad selector' })).status).toBe(400);
  });

  it('adds, lists, gets, rotates and deletes; conflicts are 409, unknown domains 404', async () => {
    const added = await apiCall(app, 'POST', '/api/v1/domains', { domain: 'Shop.Example', selector: 'k1' });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ domain: 'shop.example', selector: 'k1', keyType: 'rsa2048', verified: false });
    expect(added.body.records.length).toBeGreaterThanOrEqual(5);
    expect((await apiCall(app, 'POST', '/api/v1/domains', { domain: 'shop.example' })).status).toBe(409);

    const list = await apiCall(app, 'GET', '/api/v1/domains');
    expect(list.body.domains.map((d: { domain: string }) => d.domain)).toEqual(['shop.example']);
    const got = await apiCall(app, 'GET', '/api/v1/domains/shop.example');
    expect(got.body).toMatchObject({ domain: 'shop.example', events: [{ type: 'added' }] });

    expect((await apiCall(app, 'POST', '/api/v1/domains/shop.example/rotate')).status).toBe(201);
    expect(await apiCall(app, 'POST', '/api/v1/domains/shop.example/rotate', { key: 'rsa2048' })).toMatchObject({ status: 409, body: { error: { code: 'conflict' } } });

    // No DNS answers here (dns.servers points at a closed port): the check is inconclusive, not a crash.
    const verify = await apiCall(app, 'POST', '/api/v1/domains/shop.example/verify');
    expect(verify.body).toMatchObject({ verified: false, conclusive: false });
    expect(verify.body.records.every((r: { lookupError?: string }) => r.lookupError)).toBe(true);

    for (const [method, path] of [['GET', '/api/v1/domains/nope.example'], ['GET', '/api/v1/domains/nope.example/records'], ['POST', '/api/v1/domains/nope.example/verify'], ['DELETE', '/api/v1/domains/nope.example']] as const) {
      expect(await apiCall(app, method, path), `${method} ${path}`).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    }
    const everything = JSON.stringify([list.body, got.body, added.body, verify.body]);
    expect(everything).not.toMatch(/PRIVATE KEY|privateKey|enc:v1/);

    expect((await apiCall(app, 'DELETE', '/api/v1/domains/shop.example')).status).toBe(204);
    expect((await apiCall(app, 'GET', '/api/v1/domains/shop.example')).status).toBe(404);
  });
});

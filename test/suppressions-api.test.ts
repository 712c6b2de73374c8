/**
 * /api/v1/suppressions as a CRM calls it: behind the token, bodies and queries validated, errors
 * as CONTRACT's JSON; add, get, page through, delete per scope.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { SuppressionList } from '../src/store/suppressions.js';
import { apiCall, startTestApp } from './support/app.js';

let app: App;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app?.stop());

describe('/api/v1/suppressions', () => {
  it('requires the admin token on every route', async () => {
    const routes: [string, string, unknown?][] = [
      ['GET', '/api/v1/suppressions'],
      ['GET', '/api/v1/suppressions/a@b.example'],
      ['POST', '/api/v1/suppressions', { address: 'a@b.example' }],
      ['DELETE', '/api/v1/suppressions/a@b.example'],
      ['GET', '/api/v1/suppressions/export'],
      ['POST', '/api/v1/suppressions/import', 'address\na@b.example\n'],
    ];
    for (const [method, path, body] of routes) {
      const res = await apiCall(app, method, path, body, null);
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.body.error.code).toBe('unauthorized');
      expect((await apiCall(app, method, path, body, 'wrong-token')).status).toBe(401);
    }
    // Nothing was added by the refused POST.
    expect((await apiCall(app, 'GET', '/api/v1/suppressions/a@b.example')).status).toBe(404);
  });

  it('validates bodies and queries and names what is wrong', async () => {
    expect(await apiCall(app, 'POST', '/api/v1/suppressions', '{nope')).toMatchObject({ status: 400, body: { error: { code: 'invalid_json' } } });
    const badState = await apiCall(app, 'POST', '/api/v1/suppressions', { address: 'a@b.example', state: 'deliverable' });
    expect(badState.status).toBe(400);
    expect(badState.body.error.message).toMatch(/^state: /);
    expect((await apiCall(app, 'POST', '/api/v1/suppressions', { address: 'a@b.example', extra: true })).status).toBe(400);
    expect((await apiCall(app, 'POST', '/api/v1/suppressions', {})).body.error.message).toMatch(/^address: /);
    expect(await apiCall(app, 'POST', '/api/v1/suppressions', { address: 'not an address' })).toMatchObject({ status: 400, body: { error: { code: 'invalid', message: expect.stringMatching(/not a mail address/) } } });
    expect(await apiCall(app, 'POST', '/api/v1/suppressions', { address: 'a@b.example', domain: 'not a domain' })).toMatchObject({ status: 400, body: { error: { code: 'invalid' } } });
    expect((await apiCall(app, 'GET', '/api/v1/suppressions?limit=0')).status).toBe(400);
    expect((await apiCall(app, 'GET', '/api/v1/suppressions?limit=5000')).status).toBe(400);
    expect((await apiCall(app, 'GET', '/api/v1/suppressions?cursor=abc')).body.error.message).toMatch(/^cursor: /);
    expect((await apiCall(app, 'GET', '/api/v1/suppressions?colour=red')).status).toBe(400);
    expect((await apiCall(app, 'GET', '/api/v1/suppressions/nobody')).status).toBe(400);
    expect((await apiCall(app, 'DELETE', '/api/v1/suppressions/a@b.example?domain=shop.example&all=true')).status).toBe(400);
  });

  it('adds (201), gets, lists per scope and deletes per scope (204, then 404)', async () => {
    const added = await apiCall(app, 'POST', '/api/v1/suppressions', { address: 'Kijitora@Example.JP' });
    expect(added.status).toBe(201);
    expect(added.body).toEqual({ address: 'kijitora@example.jp', scope: 'global', state: 'prohibited', reason: 'manual', source: 'api', createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    const stopped = await apiCall(app, 'POST', '/api/v1/suppressions', { address: 'kijitora@example.jp', domain: 'Shop.Example', state: 'stopped', reason: 'unsubscribed from the newsletter' });
    expect(stopped).toMatchObject({ status: 201, body: { scope: 'shop.example', state: 'stopped', reason: 'unsubscribed from the newsletter' } });

    const got = await apiCall(app, 'GET', '/api/v1/suppressions/KIJITORA%40example.jp');
    expect(got.status).toBe(200);
    expect(got.body.address).toBe('kijitora@example.jp');
    expect(got.body.entries.map((e: { scope: string }) => e.scope).sort()).toEqual(['global', 'shop.example']);

    const all = await apiCall(app, 'GET', '/api/v1/suppressions');
    expect(all.body).toMatchObject({ nextCursor: null });
    expect(all.body.suppressions).toHaveLength(2);
    const shop = await apiCall(app, 'GET', '/api/v1/suppressions?domain=shop.example');
    expect(shop.body.suppressions).toEqual([expect.objectContaining({ address: 'kijitora@example.jp', scope: 'shop.example' })]);
    const global = await apiCall(app, 'GET', '/api/v1/suppressions?domain=global');
    expect(global.body.suppressions).toEqual([expect.objectContaining({ scope: 'global' })]);

    // Without ?domain only the entry for every sender goes; the domain's stays until asked for.
    expect((await apiCall(app, 'DELETE', '/api/v1/suppressions/kijitora@example.jp')).status).toBe(204);
    expect(await apiCall(app, 'DELETE', '/api/v1/suppressions/kijitora@example.jp')).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect((await apiCall(app, 'GET', '/api/v1/suppressions/kijitora@example.jp')).body.entries).toEqual([expect.objectContaining({ scope: 'shop.example' })]);
    expect((await apiCall(app, 'DELETE', '/api/v1/suppressions/kijitora@example.jp?domain=other.example')).status).toBe(404);
    expect((await apiCall(app, 'DELETE', '/api/v1/suppressions/kijitora@example.jp?domain=shop.example')).status).toBe(204);
    expect(await apiCall(app, 'GET', '/api/v1/suppressions/kijitora@example.jp')).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });

    await apiCall(app, 'POST', '/api/v1/suppressions', { address: 'noraneko@example.jp', domain: 'a.example' });
    await apiCall(app, 'POST', '/api/v1/suppressions', { address: 'noraneko@example.jp', domain: 'b.example' });
    expect((await apiCall(app, 'DELETE', '/api/v1/suppressions/noraneko@example.jp?all=true')).status).toBe(204);
    expect((await apiCall(app, 'GET', '/api/v1/suppressions/noraneko@example.jp')).status).toBe(404);
  });

  it('pages through a large list with the cursor, every entry exactly once', async () => {
    const list = new SuppressionList(app.redis, app.keys);
    const addresses = Array.from({ length: 1200 }, (_, i) => `user${i}@bulk.example`);
    await list.addMany(addresses.map((address, i) => ({ address, scope: i % 4 === 0 ? 'shop.example' : 'global', state: 'prohibited', reason: 'bulk', source: 'test' })));
    const seen: string[] = [];
    let cursor: string | null = '0';
    let pages = 0;
    while (cursor !== null) {
      const res = await apiCall(app, 'GET', `/api/v1/suppressions?limit=100&cursor=${cursor}`);
      expect(res.status).toBe(200);
      // HSCAN's COUNT is a hint: pages are about the limit, never the whole list at once.
      expect(res.body.suppressions.length).toBeLessThan(400);
      seen.push(...res.body.suppressions.map((e: { address: string }) => e.address));
      cursor = res.body.nextCursor;
      pages++;
    }
    expect(pages).toBeGreaterThan(5);
    expect(seen.filter((a) => a.endsWith('@bulk.example')).sort()).toEqual([...addresses].sort());
    expect(new Set(seen).size).toBe(seen.length);

    let shop = 0;
    cursor = '0';
    while (cursor !== null) {
      const res: { body: { suppressions: { scope: string }[]; nextCursor: string | null } } = await apiCall(app, 'GET', `/api/v1/suppressions?domain=shop.example&limit=500&cursor=${cursor}`);
      expect(res.body.suppressions.every((e) => e.scope === 'shop.example')).toBe(true);
      shop += res.body.suppressions.length;
      cursor = res.body.nextCursor;
    }
    expect(shop).toBe(300);
  });

  it('imports a CSV body (bad rows listed with their line, a dry run changes nothing) and exports the list as CSV that imports back', async () => {
    const csvHeaders = { Authorization: 'Bearer test-admin-token', 'Content-Type': 'text/csv' };
    const url = (path: string) => `http://127.0.0.1:${app.ports.http}${path}`;
    const csv = 'address,scope,state,reason\r\nimport-1@csv.example,,prohibited,"complaint, by phone"\r\nnot an address,,,\r\nimport-2@csv.example,shop.example,stopped,unsubscribed at the shop\r\n';
    const dry = await fetch(url('/api/v1/suppressions/import?dryRun=true'), { method: 'POST', headers: csvHeaders, body: csv });
    expect(await dry.json()).toMatchObject({ rows: 3, imported: 2, bad: 1, dryRun: true, errors: [{ line: 3 }] });
    expect((await apiCall(app, 'GET', '/api/v1/suppressions/import-1@csv.example')).status).toBe(404);

    const done = await fetch(url('/api/v1/suppressions/import'), { method: 'POST', headers: csvHeaders, body: csv });
    expect(done.status).toBe(200);
    expect(await done.json()).toMatchObject({ rows: 3, imported: 2, replaced: 0, bad: 1, dryRun: false });
    expect((await apiCall(app, 'GET', '/api/v1/suppressions/import-2@csv.example')).body.entries).toMatchObject([{ scope: 'shop.example', state: 'stopped', reason: 'unsubscribed at the shop' }]);

    const exported = await fetch(url('/api/v1/suppressions/export'), { headers: { Authorization: 'Bearer test-admin-token' } });
    expect(exported.headers.get('content-type')).toMatch(/^text\/csv/);
    const text = await exported.text();
    expect(text.split('\r\n')[0]).toBe('address,scope,state,reason,source,created_at');
    expect(text).toContain('import-1@csv.example,global,prohibited,"complaint, by phone"');
    const again = await fetch(url('/api/v1/suppressions/import'), { method: 'POST', headers: csvHeaders, body: text });
    const exportedRows = text.trim().split('\r\n').length - 1;
    expect(await again.json()).toMatchObject({ rows: exportedRows, imported: exportedRows, replaced: exportedRows, bad: 0 }); // the same entries again

    const wrongType = await fetch(url('/api/v1/suppressions/import'), { method: 'POST', headers: { ...csvHeaders, 'Content-Type': 'application/json' }, body: '{}' });
    expect(wrongType.status).toBe(415);
    const noAddress = await fetch(url('/api/v1/suppressions/import'), { method: 'POST', headers: csvHeaders, body: 'name,comment\nx@y.example,hi\n' });
    expect(noAddress.status).toBe(400);
  });
});

/**
 * /api/v1/tokens: an admin token made over the API works at once, is shown only when created
 * (lists carry an id, a name and a date), and stops working when revoked; the bootstrap
 * admin.token is never listed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { App } from '../src/app.js';
import { ADMIN_TOKEN, apiCall, apiGet, startTestApp } from './support/app.js';

let app: App;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app?.stop());

describe('/api/v1/tokens', () => {
  it('requires a token and validates names and ids', async () => {
    expect((await apiGet(app, '/api/v1/tokens', null)).status).toBe(401);
    expect((await apiCall(app, 'POST', '/api/v1/tokens', { name: 'crm' }, null)).status).toBe(401);
    expect((await apiCall(app, 'DELETE', '/api/v1/tokens/0123456789abcdef', undefined, null)).status).toBe(401);
    expect((await apiCall(app, 'POST', '/api/v1/tokens', { name: 'has space' })).body.error.message).toMatch(/^name: /);
    expect((await apiCall(app, 'POST', '/api/v1/tokens', {})).body.error.message).toMatch(/^name: /);
    expect(await apiCall(app, 'DELETE', '/api/v1/tokens/not-an-id')).toMatchObject({ status: 400, body: { error: { code: 'invalid' } } });
    expect(await apiCall(app, 'DELETE', '/api/v1/tokens/0123456789abcdef')).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect((await apiGet(app, '/api/v1/tokens')).body).toEqual({ tokens: [] });
  });

  it('create shows the token once; it works at once; revoke ends it with the next request', async () => {
    const created = await apiCall(app, 'POST', '/api/v1/tokens', { name: 'crm-sync' });
    expect(created).toMatchObject({ status: 201, body: { id: expect.stringMatching(/^[0-9a-f]{16}$/), name: 'crm-sync', createdAt: expect.stringMatching(/^\d{4}-/), token: expect.stringMatching(/^sk_/) } });
    const { id, token } = created.body as { id: string; token: string };

    const listed = await apiGet(app, '/api/v1/tokens', token);
    expect(listed).toEqual({ status: 200, body: { tokens: [{ id, name: 'crm-sync', createdAt: created.body.createdAt }] } });
    expect(JSON.stringify(listed.body)).not.toContain(token.slice(3));
    expect(JSON.stringify(listed.body)).not.toContain(ADMIN_TOKEN);

    expect((await apiCall(app, 'DELETE', `/api/v1/tokens/${id}`)).status).toBe(204);
    expect((await apiGet(app, '/api/v1/tokens', token)).status).toBe(401);
    expect((await apiCall(app, 'DELETE', `/api/v1/tokens/${id}`)).status).toBe(404);
    expect((await apiGet(app, '/api/v1/tokens')).body.tokens).toEqual([]);
  });

  it('sokutatsu token list shows the API-made token by id; token revoke ends it', async () => {
    const created = (await apiCall(app, 'POST', '/api/v1/tokens', { name: 'ops-script' })).body as { id: string; token: string };
    const dir = mkdtempSync(join(tmpdir(), 'sokutatsu-tokens-'));
    const file = join(dir, 'config.yaml');
    writeFileSync(file, `dataDir: ${dir}/var\nredis: { url: "${app.config.redis.url}", namespace: ${app.config.redis.namespace} }\n`);
    const list = await cli(['token', 'list', '--config', file]);
    expect(list.stdout).toContain(`${created.id}\tops-script\t`);
    expect(list.stdout).not.toContain(created.token);
    expect((await cli(['token', 'revoke', 'xyz', '--config', file])).code).toBe(2);
    const revoked = await cli(['token', 'revoke', created.id, '--config', file]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect((await apiGet(app, '/api/v1/tokens', created.token)).status).toBe(401);
    expect((await cli(['token', 'revoke', created.id, '--config', file])).code).toBe(1);
  });
});

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

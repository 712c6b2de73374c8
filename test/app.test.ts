/**
 * The appliance as a whole: one owner per dataDir, health and readiness, the API behind a token.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { apiGet, startTestApp, testConfig } from './support/app.js';

const apps: App[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.stop();
});

describe('appliance', () => {
  it('refuses a second instance on the same dataDir and leaves the first one running', async () => {
    const first = await startTestApp();
    apps.push(first);
    const config = testConfig({ dataDir: first.config.dataDir });
    await expect(startTestApp({ dataDir: first.config.dataDir, redis: config.redis })).rejects.toThrow(/another Sokutatsu \(pid \d+\) is running with dataDir/);
    const ready = await fetch(`http://127.0.0.1:${first.ports.http}/readyz`);
    expect(ready.status).toBe(200);
  });

  it('answers health, readiness and metrics, and keeps the API behind a bearer token', async () => {
    const app = await startTestApp();
    apps.push(app);
    const base = `http://127.0.0.1:${app.ports.http}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${base}/readyz`)).json()).toEqual({ status: 'ready' });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('sokutatsu_messages_received_total');
    expect(metrics).toContain('sokutatsu_deliveries_total');
    for (const path of ['/api/v1/messages/0mwxc390e15b5404c887dcb2f', '/api/v1/nothing', '/api/v1/']) {
      const res = await apiGet(app, path, null);
      expect(res.status, path).toBe(401);
      expect(res.body.error.code).toBe('unauthorized');
    }
    expect((await apiGet(app, '/api/v1/messages/0mwxc390e15b5404c887dcb2f', 'wrong-token')).status).toBe(401);
    const missing = await apiGet(app, '/api/v1/messages/0mwxc390e15b5404c887dcb2f');
    expect(missing.status).toBe(404);
    expect(missing.body.error.message).toMatch(/no message with id/);
  });
});

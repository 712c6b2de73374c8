/**
 * The appliance as a whole: one owner per dataDir, health and readiness, the API behind a token.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { generate } from 'selfsigned';
import type { App } from '../src/app.js';
import { apiGet, startTestApp, testConfig } from './support/app.js';

/** The certificate's common name a TLS client sees on the submissions port. */
function servedCommonName(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const cn = socket.getPeerCertificate().subject.CN;
      socket.end();
      resolve(String(Array.isArray(cn) ? cn[0] : cn));
    });
    socket.on('error', reject);
  });
}

async function writeCert(dir: string, cn: string): Promise<void> {
  const pems = await generate([{ name: 'commonName', value: cn }], { keySize: 2048 });
  writeFileSync(join(dir, 'cert.pem'), pems.cert);
  writeFileSync(join(dir, 'key.pem'), pems.private);
}

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

  it('serves a generated self-signed certificate by default, configured files otherwise, re-read on reload', async () => {
    const generated = await startTestApp();
    apps.push(generated);
    expect(await servedCommonName(generated.ports.submissions!)).toBe('mta.test.example');

    const dir = mkdtempSync(join(tmpdir(), 'sokutatsu-tls-'));
    await writeCert(dir, 'first.example');
    const app = await startTestApp({ smtp: { tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') } } });
    apps.push(app);
    expect(await servedCommonName(app.ports.submissions!)).toBe('first.example');
    await writeCert(dir, 'renewed.example');
    await app.reloadTls(); // what SIGHUP (systemctl reload) does
    expect(await servedCommonName(app.ports.submissions!)).toBe('renewed.example');
  });
});


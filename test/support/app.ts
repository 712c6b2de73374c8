/**
 * A Sokutatsu instance for a test: real Redis (the test run's, in a namespace of its own),
 * listeners on free ports, delivery routed to a test sink, logs silent unless TEST_LOG=1.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { inject } from 'vitest';
import { startApp, type App } from '../../src/app.js';
import { validate } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import type { DnsResolver } from '../../src/dns.js';

export const ADMIN_TOKEN = 'test-admin-token';

/** A config like a user's, with ports chosen by the OS and Redis shared with the test run. */
export function testConfig(overrides: Record<string, unknown> = {}): Config {
  const base = {
    hostname: 'mta.test.example',
    dataDir: mkdtempSync(join(tmpdir(), 'sokutatsu-test-')),
    log: { level: process.env.TEST_LOG ? 'debug' : 'silent' },
    redis: { url: inject('redisUrl'), namespace: `t${randomBytes(6).toString('hex')}` },
    smtp: {
      host: '127.0.0.1',
      submission: { port: 0 },
      submissions: { port: 0 },
      inbound: { port: 0 },
      trustedNetworks: [],
    },
    http: { host: '127.0.0.1', port: 0 },
    // Nothing listens on loopback port 1: a lookup a test did not arrange fails at once (ECONNREFUSED)
    // instead of reaching public DNS. Tests that need DNS start test/support/dns-server.ts.
    dns: { servers: ['127.0.0.1:1'], timeoutSeconds: 2 },
    // Most tests send From domains that are not sending domains; the policy has its own test.
    policy: { requireVerifiedDomains: false },
    admin: { token: ADMIN_TOKEN },
    delivery: { retry: { firstDelaySeconds: 1, maxDelaySeconds: 2, maxAgeSeconds: 3600 } },
    shutdown: { graceSeconds: 5 },
  };
  return validate(deepMerge(base, overrides));
}

export async function startTestApp(overrides: Record<string, unknown> = {}, resolver?: DnsResolver): Promise<App> {
  const config = testConfig(overrides);
  const log = pino({ level: config.log.level });
  return startApp({ config, log, ...(resolver ? { resolver } : {}) });
}

/** GET an admin API path with the test token; returns status and parsed JSON. */
export async function apiGet(app: App, path: string, token: string | null = ADMIN_TOKEN): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${app.ports.http}${path}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  return { status: res.status, body: await res.json().catch(() => null) };
}

/** Calls an admin API route with the test token and a JSON body; returns status and parsed JSON. */
export async function apiCall(app: App, method: string, path: string, body?: unknown, token: string | null = ADMIN_TOKEN): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`http://127.0.0.1:${app.ports.http}${path}`, { method, headers, ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}) });
  return { status: res.status, body: await res.json().catch(() => null) };
}

/** Polls `check` until it returns a truthy value (returned) or the time runs out. */
export async function eventually<T>(check: () => Promise<T | undefined | null | false>, timeoutMs = 20_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] = cur && typeof cur === 'object' && !Array.isArray(cur) && v && typeof v === 'object' && !Array.isArray(v) ? deepMerge(cur as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

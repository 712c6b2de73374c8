/**
 * Per-site limits as a destination sees them: a sink that counts connections and arrival times
 * proves the connection limit and the rate hold across two Sokutatsu instances on one Redis
 * (which also deliver each message once), that connections are reused, that a 421 storm makes
 * the site back off and recover, and that a dead site does not hold up a healthy one.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:net';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import nodemailer from 'nodemailer';
import type { App } from '../src/app.js';
import { SiteThrottle } from '../src/delivery/throttle.js';
import { apiCall, eventually, startTestApp } from './support/app.js';
import { startSink, type Sink } from './support/sink.js';

let apps: App[] = [];
let sinks: Sink[] = [];
let servers: Server[] = [];
afterEach(async () => {
  await Promise.all(apps.map((a) => a.stop()));
  await Promise.all(sinks.map((s) => s.close()));
  for (const s of servers) s.close();
  apps = [];
  sinks = [];
  servers = [];
});

async function sink(options: Parameters<typeof startSink>[0] = {}): Promise<Sink> {
  const s = await startSink(options);
  sinks.push(s);
  return s;
}

/** Two instances sharing one Redis namespace (one queue), as two nodes would. */
async function twoNodes(delivery: Record<string, unknown>): Promise<[App, App]> {
  const namespace = `n${randomBytes(5).toString('hex')}`;
  const config = { redis: { namespace }, smtp: { trustedNetworks: ['127.0.0.1/32'] }, delivery };
  apps = [await startTestApp(config), await startTestApp(config)];
  return apps as [App, App];
}

async function sendMany(app: App, to: string, count: number, tag: string): Promise<void> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: app.ports.submission!, ignoreTLS: true, pool: true, maxConnections: 5 });
  await Promise.all(Array.from({ length: count }, (_, i) => transport.sendMail({ from: 'crm@shop.example', to, subject: `${tag} ${i}`, text: 'hello' })));
  transport.close();
}

const route = (port: number, match = '*') => ({ match, host: '127.0.0.1', port, tls: 'none' });

describe('per-site limits', () => {
  it('two instances on one Redis: each message delivered once, at most 2 connections to the site, connections reused', async () => {
    const s = await sink();
    const [a, b] = await twoNodes({ routes: [route(s.port)], throttle: { sites: { 'dest.example': { connections: 2 } } } });
    await Promise.all([sendMany(a, 'x@dest.example', 30, 'from-a'), sendMany(b, 'y@dest.example', 30, 'from-b')]);
    await s.waitFor(60, 30_000);
    await new Promise((r) => setTimeout(r, 500)); // a duplicate would arrive now
    const subjects = s.messages.map((m) => /^Subject: (.*)$/m.exec(m.text)![1]);
    expect(new Set(subjects).size).toBe(60);
    expect(s.messages).toHaveLength(60);
    expect(s.stats.maxOpen).toBeLessThanOrEqual(2);
    expect(s.stats.connections).toBeLessThanOrEqual(10); // 60 messages, a handful of connections
  });

  it('an idle connection gives its site lease up within seconds when another node is refused one', async () => {
    const s = await sink();
    const [a] = await twoNodes({ routes: [route(s.port)], throttle: { sites: { 'idle.example': { connections: 1, idleSeconds: 60 } } } });
    await sendMany(a, 'x@idle.example', 1, 'first');
    await s.waitFor(1);
    const other = new SiteThrottle(a.redis, a.keys, a.config.delivery.backoff); // a third node asking for the site
    const limits = { connections: 1, perMinute: 0, messagesPerConnection: 100, idleSeconds: 60 };
    expect((await other.openConnection('idle.example', limits)).ok).toBe(false); // the idle connection holds the only lease
    const started = Date.now();
    const granted = await eventually(async () => ((await other.openConnection('idle.example', limits)).ok ? true : null), 5000, 'the lease to come free');
    expect(granted).toBe(true);
    expect(Date.now() - started).toBeLessThan(3500); // not idleSeconds (60 s)
    expect(s.stats.open).toBe(0);
  });

  it('spaces messages to a site at its perMinute across both instances', async () => {
    const s = await sink();
    const [a, b] = await twoNodes({ routes: [route(s.port)], throttle: { sites: { 'slow.example': { perMinute: 300 } } } }); // one per 200 ms
    await Promise.all([sendMany(a, 'x@slow.example', 4, 'a'), sendMany(b, 'y@slow.example', 4, 'b')]);
    await s.waitFor(8, 20_000);
    // Admitted 200 ms apart on average; arrivals also carry connection set-up jitter and late
    // returns for reserved slots, so check the span and that no second saw twice the rate.
    const t = [...s.stats.arrivals].sort((x, y) => x - y);
    expect(t.at(-1)! - t[0]!).toBeGreaterThanOrEqual(7 * 200 - 250);
    for (const start of t) expect(t.filter((x) => x >= start && x < start + 1000).length).toBeLessThanOrEqual(10);
  });

  it('a 421 storm makes the site back off (fewer connections, a pause) and delivery recovers', async () => {
    let refusals = 0;
    const attempts: number[] = [];
    const s = await sink({ onRcpt: () => (attempts.push(Date.now()), refusals++ < 3 ? { code: 421, message: '4.7.0 Try again later, closing connection' } : undefined) });
    const [a] = await twoNodes({ routes: [route(s.port)], throttle: { sites: { 'storm.example': { connections: 4 } } }, backoff: { threshold: 3, firstPauseSeconds: 2, maxPauseSeconds: 10, successesPerStep: 1 } });
    await sendMany(a, 'x@storm.example', 6, 'storm');
    const throttle = new SiteThrottle(a.redis, a.keys, a.config.delivery.backoff);
    const backedOff = await eventually(async () => (await throttle.states()).find((st) => st.site === 'storm.example' && st.pausedUntil), 10_000, 'site paused');
    expect(backedOff.reason).toMatch(/421/);
    expect(backedOff.ceiling).toBeLessThan(4);
    await s.waitFor(6, 30_000);
    // Nothing was tried in the rest of the pause: the process that saw the storm stops at once,
    // the other one within a second (it polls the set of troubled sites).
    const third = attempts[2]!;
    expect(attempts.filter((t) => t > third + 1100 && t < third + 1800)).toEqual([]);
    expect(attempts.some((t) => t >= third + 1800)).toBe(true);
    // Successes earned the connections back and the state was forgotten.
    await eventually(async () => !(await throttle.states()).find((st) => st.site === 'storm.example' && (st.ceiling || st.pausedUntil)), 10_000, 'site recovered');
  });

  it('a dead site does not hold up delivery to a healthy one', async () => {
    const healthy = await sink();
    // Accepts TCP and never greets: every connection hangs until connectTimeoutSeconds.
    const blackhole = createServer(() => undefined);
    servers.push(blackhole);
    await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', () => r()));
    const deadPort = (blackhole.address() as { port: number }).port;
    const [a] = await twoNodes({
      routes: [route(deadPort, 'dead.example'), route(healthy.port)], connectTimeoutSeconds: 5, concurrency: 10,
      throttle: { sites: { 'dead.example': { connections: 2 } } },
    });
    await sendMany(a, 'x@dead.example', 20, 'dead');
    const started = Date.now();
    await sendMany(a, 'y@healthy.example', 5, 'healthy');
    await healthy.waitFor(5, 10_000);
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

describe('operator levers (CLI)', () => {
  it('queue pause holds a site\'s mail, queue sites shows why, queue resume delivers it at once', async () => {
    const s = await sink();
    const [a] = await twoNodes({ routes: [route(s.port)] });
    const dir = mkdtempSync(join(tmpdir(), 'sokutatsu-sites-'));
    const file = join(dir, 'config.yaml');
    writeFileSync(file, `dataDir: ${dir}/var\nredis: { url: "${a.config.redis.url}", namespace: ${a.config.redis.namespace} }\ndns: { servers: ["127.0.0.1:1"] }\n`);

    const paused = await cli(['queue', 'pause', 'held.example', '--reason', 'complaint from the carrier', '--config', file]);
    expect(paused.code, paused.stderr).toBe(0);
    expect(paused.stdout).toMatch(/held\.example paused until resumed/);
    await sendMany(a, 'x@held.example', 3, 'held');
    await new Promise((r) => setTimeout(r, 2000));
    expect(s.messages).toHaveLength(0);

    const sites = JSON.parse((await cli(['queue', 'sites', '--json', '--config', file])).stdout) as { site: string; pausedUntil: string | null; reason: string }[];
    expect(sites.find((x) => x.site === 'held.example')).toMatchObject({ reason: 'complaint from the carrier', pausedUntil: expect.any(String) });

    const resumed = await cli(['queue', 'resume', 'held.example', '--config', file]);
    expect(resumed.stdout).toMatch(/held\.example: resumed; [1-3] waiting deliveries brought forward/);
    await s.waitFor(3, 5000);
  });
});

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('operator levers (API)', () => {
  it('/api/v1/sites lists sites; pause holds a site, resume releases its mail; every route needs the token', async () => {
    const s = await sink();
    const [a] = await twoNodes({ routes: [route(s.port)] });
    for (const [method, path] of [['GET', '/api/v1/sites'], ['POST', '/api/v1/sites/x.example/pause'], ['POST', '/api/v1/sites/x.example/resume'], ['POST', '/api/v1/sites/x.example/retry-now']] as const) {
      expect((await apiCall(a, method, path, undefined, null)).status, `${method} ${path}`).toBe(401);
    }
    expect((await apiCall(a, 'POST', '/api/v1/sites/held.example/pause', { minutes: -1 })).status).toBe(400);
    const paused = await apiCall(a, 'POST', '/api/v1/sites/held.example/pause', { reason: 'carrier asked us to slow down' });
    expect(paused).toMatchObject({ status: 200, body: { site: 'held.example', pausedUntil: expect.any(String) } });
    await sendMany(a, 'x@held.example', 2, 'api-held');
    await new Promise((r) => setTimeout(r, 1500));
    expect(s.messages).toHaveLength(0);
    const { body } = await apiCall(a, 'GET', '/api/v1/sites');
    expect(body.sites.find((x: { site: string }) => x.site === 'held.example')).toMatchObject({ reason: 'carrier asked us to slow down', manual: true, limits: { connections: 20 } });
    const resumed = await apiCall(a, 'POST', '/api/v1/sites/held.example/resume');
    expect(resumed.body).toMatchObject({ site: 'held.example', resumed: true });
    await s.waitFor(2, 5000);
  });
});

/**
 * `processes: 2`: a primary with two workers sharing the SMTP port and the queue. Mail flows,
 * /metrics sums the workers, a killed worker is replaced, SIGTERM stops everything cleanly.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { WORKER_NODE_FLAGS, workerEnv, workerExecArgv } from '../src/cluster.js';
import nodemailer from 'nodemailer';
import { startSink, type Sink } from './support/sink.js';
import { cleanupProcesses, createInstance, PROCESS_ADMIN_TOKEN, isAlive, redisPid, sleep, startProcess } from './support/process.js';

let sink: Sink | undefined;
afterEach(async () => {
  await cleanupProcesses();
  await sink?.close();
  sink = undefined;
});

function workerPids(primary: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(primary)], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => /node/.test(l))
      .map((l) => Number(l.trim().split(/\s+/)[0]));
  } catch {
    return [];
  }
}

async function submit(port: number, count: number, from: number): Promise<void> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, pool: true, maxConnections: 4 });
  try {
    await Promise.all(Array.from({ length: count }, (_, i) => transport.sendMail({ from: 'crm@shop.example', to: `u${from + i}@dest.example`, subject: `n ${from + i}`, text: 'hello' })));
  } finally {
    transport.close();
  }
}

describe('worker node flags and environment', () => {
  it('adds the heap flags to the primary\'s arguments, leaving any the operator gave', () => {
    expect(workerExecArgv(['--import', 'tsx'], '')).toEqual(['--import', 'tsx', ...WORKER_NODE_FLAGS]);
    expect(workerExecArgv([], '--max-old-space-size=4096')).toEqual(['--heap-growing-percent=200', '--expose-gc']);
    expect(workerExecArgv(['--max_old_space_size=2048', '--heap_growing_percent=50', '--expose-gc'], undefined)).toEqual(['--max_old_space_size=2048', '--heap_growing_percent=50', '--expose-gc']);
    expect(workerExecArgv([], '  --enable-source-maps  ')).toEqual(WORKER_NODE_FLAGS);
  });

  it('limits glibc to two malloc arenas unless the operator chose a number', () => {
    expect(workerEnv({})).toEqual({ MALLOC_ARENA_MAX: '2' });
    expect(workerEnv({ MALLOC_ARENA_MAX: '8' })).toEqual({});
  });
});

describe('cluster (processes: 2)', () => {
  it('delivers through two workers, sums their metrics, replaces a killed worker and stops cleanly', async () => {
    const instance = await createInstance({ processes: 2 });
    sink = await startSink({ port: instance.sinkPort });
    const app = await startProcess(instance);
    const workers = workerPids(app.pid);
    expect(workers).toHaveLength(2);
    // Workers run with cluster.ts's node flags (those not already in NODE_OPTIONS) and environment.
    for (const pid of workers) {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      expect(args).toEqual(expect.arrayContaining(workerExecArgv([], process.env.NODE_OPTIONS)));
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      expect(env).toContain(`MALLOC_ARENA_MAX=${process.env.MALLOC_ARENA_MAX ?? '2'}`);
    }

    await submit(instance.ports.submission, 40, 0);
    await sink.waitFor(40, 30_000);
    // The sink has the 40th message a moment before its worker records the delivery.
    let metrics = '';
    for (let i = 0; i < 50 && !/^sokutatsu_deliveries_total\{outcome="delivered",site_class="other"\} 40$/m.test(metrics); i++) {
      if (i) await sleep(100);
      metrics = await (await fetch(`http://127.0.0.1:${instance.ports.http}/metrics`)).text();
    }
    expect(metrics).toMatch(/^sokutatsu_messages_received_total\{listener="submission",result="accepted"\} 40$/m);
    expect(metrics).toMatch(/^sokutatsu_deliveries_total\{outcome="delivered",site_class="other"\} 40$/m);
    // The primary's own counts join the sum (an API send happens there), shared-state gauges appear once.
    const sent = await fetch(`http://127.0.0.1:${instance.ports.http}/api/v1/messages`, { method: 'POST', headers: { Authorization: `Bearer ${PROCESS_ADMIN_TOKEN}` }, body: JSON.stringify({ from: 'crm@shop.example', to: ['api@dest.example'], text: 'hello' }) });
    expect(sent.status).toBe(202);
    await sink.waitFor(41, 30_000);
    for (let i = 0; i < 50 && !/^sokutatsu_deliveries_total\{outcome="delivered",site_class="other"\} 41$/m.test(metrics); i++) {
      if (i) await sleep(100);
      metrics = await (await fetch(`http://127.0.0.1:${instance.ports.http}/metrics`)).text();
    }
    expect(metrics).toMatch(/^sokutatsu_messages_received_total\{listener="api",result="accepted"\} 1$/m);
    expect(metrics).toMatch(/^sokutatsu_deliveries_total\{outcome="delivered",site_class="other"\} 41$/m);
    expect(metrics.match(/^# TYPE sokutatsu_queue_jobs gauge$/gm)).toHaveLength(1);
    expect(metrics.match(/^# TYPE sokutatsu_deliveries_total counter$/gm)).toHaveLength(1);

    process.kill(workers[0]!, 'SIGKILL');
    for (let i = 0; i < 100 && !(workerPids(app.pid).length === 2 && !workerPids(app.pid).includes(workers[0]!)); i++) await sleep(100);
    const replaced = workerPids(app.pid);
    expect(replaced).toHaveLength(2);
    expect(replaced).not.toContain(workers[0]);
    await submit(instance.ports.submission, 20, 40);
    await sink.waitFor(61, 30_000);

    const redis = redisPid(instance);
    app.child.kill('SIGTERM');
    const exit = await app.exited;
    expect(exit.code).toBe(0);
    expect(replaced.some(isAlive)).toBe(false);
    if (redis) expect(isAlive(redis)).toBe(false);
  });
});

describe('cluster: per-site limits across worker processes', () => {
  it('two worker processes keep one site at 2 connections and 600/min together', async () => {
    const instance = await createInstance({ processes: 2, delivery: { throttle: { sites: { 'dest.example': { connections: 2, perMinute: 600 } } } } });
    sink = await startSink({ port: instance.sinkPort });
    const app = await startProcess(instance);
    expect(workerPids(app.pid)).toHaveLength(2);
    await submit(instance.ports.submission, 30, 0);
    await sink.waitFor(30, 30_000);
    expect(sink.stats.maxOpen).toBeLessThanOrEqual(2);
    const t = [...sink.stats.arrivals].sort((a, b) => a - b);
    expect(t.at(-1)! - t[0]!).toBeGreaterThanOrEqual(29 * 100 - 300); // one per 100 ms, never a burst
    // 10 per second on average; jobs returning late for their reserved slots may go out together
    // (at most a second's worth), so a one-second window holds no more than twice the rate.
    for (const start of t) expect(t.filter((x) => x >= start && x < start + 1000).length).toBeLessThanOrEqual(20);
    app.child.kill('SIGTERM');
    expect((await app.exited).code).toBe(0);
  });
});

/**
 * Redis unreachable while a client sends: the client is told 451 4.3.0 within
 * smtp.limits.storeTimeoutSeconds instead of hanging (counted as a deferred message), and is
 * served again once Redis is back.
 * Uses its own redis-server (frozen with SIGSTOP), so other tests' Redis is untouched.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { App } from '../src/app.js';
import { startTestApp } from './support/app.js';
import { freePorts } from './support/process.js';
import { startSink, type Sink } from './support/sink.js';
import { RawSmtp } from './support/raw-smtp.js';

let redis: ChildProcess;
let url: string;
let app: App;
let sink: Sink;

beforeAll(async () => {
  const [port] = await freePorts(1);
  const dir = mkdtempSync(join(tmpdir(), 'sokutatsu-outage-'));
  redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    const ok = await probe.connect().then(() => true, () => false);
    probe.disconnect();
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  sink = await startSink();
  app = await startTestApp({
    redis: { url },
    smtp: { trustedNetworks: ['127.0.0.1/32'], limits: { storeTimeoutSeconds: 1 } },
    delivery: { routes: [{ match: '*', host: '127.0.0.1', port: sink.port, tls: 'none' }] },
  });
});

afterAll(async () => {
  redis.kill('SIGCONT');
  await app?.stop();
  await sink?.close();
  redis.kill('SIGTERM');
});

async function sendOne(subject: string) {
  const { client } = await RawSmtp.connect(app.ports.submission!, { replyTimeoutMs: 10_000 });
  await client.ehlo();
  await client.send('MAIL FROM:<crm@shop.example>');
  await client.send('RCPT TO:<x@dest.example>');
  const reply = await client.data(`From: crm@shop.example\r\nTo: x@dest.example\r\nSubject: ${subject}\r\n\r\nHello.\r\n`);
  await client.close();
  return reply;
}

describe('redis outage at intake', () => {
  it('answers 451 4.3.0 when Redis does not store the message in time, and 250 once it is back', async () => {
    redis.kill('SIGSTOP');
    const started = Date.now();
    const refused = await sendOne('during outage');
    expect(refused.text).toMatch(/^451 4\.3\.0 /);
    expect(Date.now() - started).toBeLessThan(5000);
    redis.kill('SIGCONT');
    const accepted = await sendOne('after outage');
    expect(accepted.text).toMatch(/^250 .*queued as/);
    await sink.waitFor(1, 10_000);
    // Counted by listener and result: the 451 as deferred, the 250 as accepted.
    const metrics = await (await fetch(`http://127.0.0.1:${app.ports.http}/metrics`)).text();
    expect(metrics).toMatch(/^sokutatsu_messages_received_total\{listener="submission",result="deferred"\} 1$/m);
    expect(metrics).toMatch(/^sokutatsu_messages_received_total\{listener="submission",result="accepted"\} 1$/m);
  });
});

/**
 * /metrics as Prometheus scrapes it: valid text exposition (each family once), the counters and
 * histograms of issue 7 moving when a message is sent and delivered, messages received by
 * listener and result (SMTP and the send API: accepted, rejected, deferred), the gauges read at
 * scrape (queue by state, outbound connections, paused sites), and the token and separate port.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hono } from 'hono';
import type { App } from '../src/app.js';
import { createMetrics } from '../src/metrics.js';
import { countSends } from '../src/http/send.js';
import { createUserStore } from '../src/intake/users.js';
import { ADMIN_TOKEN, apiCall, apiGet, eventually, startTestApp } from './support/app.js';
import { startSink, type Sink } from './support/sink.js';
import { RawSmtp } from './support/raw-smtp.js';

type Sample = { name: string; labels: Record<string, string>; value: number };

/** Parses the text format strictly enough to catch what Prometheus would refuse. */
function parseProm(text: string): Sample[] {
  const samples: Sample[] = [];
  const typed = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = line.match(/^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/);
    if (type) {
      expect(typed.has(type[1]!), `TYPE ${type[1]} given twice`).toBe(false);
      typed.add(type[1]!);
      continue;
    }
    if (line.startsWith('# HELP ')) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+-]+|NaN|Nan|[+-]Inf)$/);
    expect(m, `not a sample line: ${line}`).not.toBeNull();
    const labels: Record<string, string> = {};
    for (const l of (m![2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m![1]!, labels, value: Number(m![3]) });
  }
  return samples;
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

const MAX_SIZE = 64 * 1024;
let app: App;
let sink: Sink;
beforeAll(async () => {
  sink = await startSink({ onRcpt: (address) => (address.startsWith('nobody@') ? { code: 550, message: '5.1.1 <nobody@example.jp>: Recipient address rejected: User unknown' } : undefined) });
  app = await startTestApp({ smtp: { maxMessageSize: MAX_SIZE }, delivery: { routes: [{ match: '*', host: '127.0.0.1', port: sink.port, tls: 'none' }] } });
  await createUserStore(app.redis, app.keys).add('alice', 'S3cret-pass', ['shop.example']);
});
afterAll(async () => {
  await app?.stop();
  await sink?.close();
});

const scrape = async (a: App = app) => parseProm(await (await fetch(`http://127.0.0.1:${a.ports.http}/metrics`)).text());

describe('/metrics', () => {
  it('is valid exposition text and counts a delivery by outcome and site class, with intake and queue latency', async () => {
    const before = await scrape();
    expect(value(before, 'sokutatsu_deliveries_total', { outcome: 'delivered', site_class: 'google' })).toBe(0);
    const delivered0 = value(before, 'sokutatsu_deliveries_total', { outcome: 'delivered', site_class: 'other' }) ?? 0;

    const sent = await apiCall(app, 'POST', '/api/v1/messages', { from: 'news@shop.example', to: ['kuro@example.jp'], text: 'hello' });
    expect(sent.status).toBe(202);
    await eventually(async () => (await apiGet(app, `/api/v1/messages/${sent.body.id}`)).body.recipients[0].status === 'delivered', 20_000, 'delivered');

    const after = await scrape();
    expect(value(after, 'sokutatsu_deliveries_total', { outcome: 'delivered', site_class: 'other' })).toBe(delivered0 + 1);
    expect(value(after, 'sokutatsu_messages_received_total', { listener: 'api', result: 'accepted' })).toBe(1);
    expect(value(after, 'sokutatsu_recipients_received_total', { listener: 'api' })).toBe(1);
    expect(value(after, 'sokutatsu_intake_duration_seconds_count', { listener: 'api' })).toBe(1);
    expect(value(after, 'sokutatsu_delivery_queue_seconds_count', { outcome: 'delivered' })).toBe(1);
    expect(value(after, 'sokutatsu_delivery_queue_seconds_bucket', { outcome: 'delivered', le: '+Inf' })).toBe(1);
    expect(value(after, 'sokutatsu_delivery_duration_seconds_count', { outcome: 'delivered' })).toBe(1);
    expect(value(after, 'sokutatsu_events_total', { type: 'delivered' })).toBeGreaterThanOrEqual(1);
    expect(value(after, 'sokutatsu_process_process_resident_memory_bytes')).toBeGreaterThan(0);
    // Every site_class label value is one of the bounded set.
    for (const s of after.filter((x) => x.name === 'sokutatsu_deliveries_total')) expect(['google', 'microsoft', 'yahoo', 'apple', 'docomo', 'au', 'softbank', 'other']).toContain(s.labels.site_class);
  });

  it('counts bounces by group and reason', async () => {
    const sent = await apiCall(app, 'POST', '/api/v1/messages', { from: 'news@shop.example', to: ['nobody@example.jp'], text: 'x' });
    await eventually(async () => (await apiGet(app, `/api/v1/messages/${sent.body.id}`)).body.recipients[0].status === 'bounced', 20_000, 'bounced');
    const samples = await scrape();
    expect(value(samples, 'sokutatsu_bounces_total', { group: 'permanent', reason: 'userunknown' })).toBe(1);
    expect(value(samples, 'sokutatsu_deliveries_total', { outcome: 'bounced', site_class: 'other' })).toBe(1);
    expect(value(samples, 'sokutatsu_delivery_queue_seconds_count', { outcome: 'bounced' })).toBe(1);
  });

  it('reads the queue, connections and pauses at scrape time', async () => {
    const later = new Date(Date.now() + 3600_000).toISOString();
    for (let i = 0; i < 3; i++) expect((await apiCall(app, 'POST', '/api/v1/messages', { from: 'news@shop.example', to: [`later${i}@example.jp`], text: 'x', sendAt: later })).status).toBe(202);
    expect((await apiCall(app, 'POST', '/api/v1/sites/example.org/pause', { minutes: 5 })).status).toBe(200);
    const samples = await scrape();
    expect(value(samples, 'sokutatsu_queue_jobs', { state: 'delayed' })).toBe(3);
    expect(value(samples, 'sokutatsu_queue_jobs', { state: 'failed' })).toBe(0);
    expect(value(samples, 'sokutatsu_sites_paused')).toBe(1);
    expect(value(samples, 'sokutatsu_outbound_connections')).toBeGreaterThanOrEqual(0);
    await apiCall(app, 'POST', '/api/v1/sites/example.org/resume');
    expect(value(await scrape(), 'sokutatsu_sites_paused')).toBe(0);
  });

  it('counts messages received by listener and result: SMTP 250 accepted, 552 rejected; API 202 accepted, 400/403/413/422 rejected, a replay not at all', async () => {
    const received = (samples: Sample[], listener: string, result: string) => value(samples, 'sokutatsu_messages_received_total', { listener, result }) ?? 0;
    const before = await scrape();
    const smtp = async (body: string) => {
      const { client } = await RawSmtp.connect(app.ports.submission!);
      try {
        expect((await client.ehlo()).code).toBe(250);
        expect((await client.authPlain('alice', 'S3cret-pass')).code).toBe(235);
        expect((await client.send('MAIL FROM:<news@shop.example>')).code).toBe(250);
        expect((await client.send('RCPT TO:<kuro@example.jp>')).code).toBe(250);
        expect((await client.send('RCPT TO:<shiro@example.jp>')).code).toBe(250);
        return (await client.data(`From: news@shop.example\r\nTo: kuro@example.jp\r\nSubject: metrics\r\n\r\n${body}`)).code;
      } finally {
        await client.close();
      }
    };
    expect(await smtp('Hello.\r\n')).toBe(250);
    expect(await smtp(('x'.repeat(99) + '\r\n').repeat(1000))).toBe(552);
    const afterSmtp = await scrape();
    expect(received(afterSmtp, 'submission', 'accepted')).toBe(received(before, 'submission', 'accepted') + 1);
    expect(received(afterSmtp, 'submission', 'rejected')).toBe(received(before, 'submission', 'rejected') + 1);
    expect(received(afterSmtp, 'submission', 'deferred')).toBe(received(before, 'submission', 'deferred'));
    expect(value(afterSmtp, 'sokutatsu_recipients_received_total', { listener: 'submission' })).toBe((value(before, 'sokutatsu_recipients_received_total', { listener: 'submission' }) ?? 0) + 2);
    // Every error reply is still a rejection reply, counted by code.
    expect(value(afterSmtp, 'sokutatsu_smtp_rejections_total', { listener: 'submission', code: '552' })).toBe((value(before, 'sokutatsu_smtp_rejections_total', { listener: 'submission', code: '552' }) ?? 0) + 1);

    const send = (body: unknown, headers: Record<string, string> = {}) =>
      fetch(`http://127.0.0.1:${app.ports.http}/api/v1/messages`, { method: 'POST', headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
    const good = { from: 'news@shop.example', to: ['kuro@example.jp'], text: 'hello' };
    expect((await send(good, { 'Idempotency-Key': 'metrics-1' })).status).toBe(202);
    const replay = await send(good, { 'Idempotency-Key': 'metrics-1' });
    expect(replay.status).toBe(202);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect((await send({ to: ['kuro@example.jp'], text: 'no from' })).status).toBe(400); // the zod body parser
    expect((await send('{not json')).status).toBe(400);
    expect((await send({ ...good, text: 'other' }, { 'Idempotency-Key': 'metrics-1' })).status).toBe(422); // key reused
    expect((await send({ ...good, from: 'taro@gmail.com' })).status).toBe(403); // free-mail From:
    expect((await send({ ...good, text: 'x'.repeat(MAX_SIZE + 1) })).status).toBe(413); // composed too big
    expect((await send('x'.repeat(1024 * 1024 + 100 * 1024))).status).toBe(413); // the body limit, before the handler
    const afterApi = await scrape();
    expect(received(afterApi, 'api', 'accepted')).toBe(received(before, 'api', 'accepted') + 1);
    expect(received(afterApi, 'api', 'rejected')).toBe(received(before, 'api', 'rejected') + 6);
    expect(received(afterApi, 'api', 'deferred')).toBe(received(before, 'api', 'deferred'));
    expect(value(afterApi, 'sokutatsu_recipients_received_total', { listener: 'api' })).toBe((value(before, 'sokutatsu_recipients_received_total', { listener: 'api' }) ?? 0) + 1);
    expect(value(afterApi, 'sokutatsu_intake_duration_seconds_count', { listener: 'api' })).toBe((value(before, 'sokutatsu_intake_duration_seconds_count', { listener: 'api' }) ?? 0) + 1);
    // Only listener and result label the counter, and result only these three.
    for (const s of afterApi.filter((x) => x.name === 'sokutatsu_messages_received_total')) {
      expect(Object.keys(s.labels).sort()).toEqual(['listener', 'result']);
      expect(['accepted', 'rejected', 'deferred']).toContain(s.labels.result);
    }
  });

  it('needs metrics.token when one is set, and moves to metrics.port when one is set', async () => {
    const guarded = await startTestApp({ metrics: { token: 'scrape-secret' } });
    try {
      const url = `http://127.0.0.1:${guarded.ports.http}/metrics`;
      const refused = await fetch(url);
      expect(refused.status).toBe(401);
      expect(await refused.json()).toMatchObject({ error: { code: 'unauthorized' } });
      expect((await fetch(url, { headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
      expect((await fetch(url, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } })).status).toBe(401);
      const ok = await fetch(url, { headers: { Authorization: 'Bearer scrape-secret' } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain('sokutatsu_deliveries_total');
    } finally {
      await guarded.stop();
    }
    const apart = await startTestApp({ metrics: { port: 0, token: 'other-secret' } });
    try {
      expect(apart.ports.metrics).toBeGreaterThan(0);
      expect((await fetch(`http://127.0.0.1:${apart.ports.http}/metrics`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${apart.ports.metrics}/metrics`)).status).toBe(401);
      const ok = await fetch(`http://127.0.0.1:${apart.ports.metrics}/metrics`, { headers: { Authorization: 'Bearer other-secret' } });
      expect(ok.status).toBe(200);
      expect(parseProm(await ok.text()).some((s) => s.name === 'sokutatsu_queue_jobs')).toBe(true);
      expect((await fetch(`http://127.0.0.1:${apart.ports.metrics}/api/v1/messages`)).status).toBe(404);
    } finally {
      await apart.stop();
    }
  });
});

describe('send API results (countSends)', () => {
  it('counts a send by its final status: 409 and 5xx deferred, 4xx rejected, 202 accepted, a replay and a 404 not at all', async () => {
    const metrics = createMetrics();
    const http = new Hono();
    http.use('*', countSends(metrics));
    http.post('/api/v1/messages', (c) => {
      const status = Number(c.req.header('x-status'));
      if (status === 500) throw new Error('boom');
      return c.json({}, status as 202, c.req.header('x-replay') ? { 'Idempotent-Replayed': 'true' } : {});
    });
    http.onError((_, c) => c.json({}, 500));
    const post = (status: number, replay = false) => http.request('/api/v1/messages', { method: 'POST', headers: { 'x-status': String(status), ...(replay ? { 'x-replay': '1' } : {}) } });
    for (const status of [202, 202, 400, 403, 413, 422, 409, 503, 500]) expect((await post(status)).status).toBe(status);
    await post(202, true);
    await http.request('/api/v1/messages/x', { method: 'POST', headers: { 'x-status': '202' } });
    await http.request('/api/v1/messages', { headers: { 'x-status': '202' } });
    const counts = Object.fromEntries((await metrics.messagesReceived.get()).values.map((v) => [`${v.labels.listener}/${v.labels.result}`, v.value]));
    expect(counts).toEqual({ 'api/accepted': 2, 'api/rejected': 4, 'api/deferred': 3 });
  });
});

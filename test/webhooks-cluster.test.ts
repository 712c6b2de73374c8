/**
 * Webhooks with `processes: 2`: endpoints managed through the primary's API, events recorded in
 * the workers (SMTP intake, delivery) and in the primary (the send API) all reach a receiver on
 * 127.0.0.1 exactly once each, signed; the primary sends test pings itself.
 */
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import nodemailer from 'nodemailer';
import { afterAll, expect, it } from 'vitest';
import { startSink, type Sink } from './support/sink.js';
import { cleanupProcesses, createInstance, PROCESS_ADMIN_TOKEN, sleep, startProcess } from './support/process.js';

const posts: { signature: string; body: string; json: any }[] = [];
const receiver = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c: string) => (body += c));
  req.on('end', () => {
    posts.push({ signature: String(req.headers['x-sokutatsu-signature']), body, json: JSON.parse(body) });
    res.end('ok');
  });
});
let sink: Sink | undefined;
afterAll(async () => {
  await cleanupProcesses();
  await sink?.close();
  receiver.closeAllConnections();
  await new Promise((r) => receiver.close(r));
});

it('workers and primary queue webhooks, workers POST them, once per event', async () => {
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const instance = await createInstance({ processes: 2, webhooks: { allowPrivateTargets: true } });
  sink = await startSink({ port: instance.sinkPort });
  const app = await startProcess(instance);
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`http://127.0.0.1:${instance.ports.http}${path}`, { method, headers: { Authorization: `Bearer ${PROCESS_ADMIN_TOKEN}`, 'Content-Type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
    return { status: res.status, body: (await res.json()) as any };
  };
  const created = await api('POST', '/api/v1/webhooks', { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`, events: ['queued', 'delivered'] });
  expect(created.status).toBe(201);
  // Workers see a new endpoint within a second (their copy of the list is at most 1 s old).
  await sleep(1200);

  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: instance.ports.submission, secure: false, ignoreTLS: true, pool: true, maxConnections: 4 });
  await Promise.all(Array.from({ length: 10 }, (_, i) => transport.sendMail({ from: 'crm@shop.example', to: `r${i}@dest.example`, subject: `n${i}`, text: 'hi' })));
  transport.close();
  const sent = await api('POST', '/api/v1/messages', { from: 'crm@shop.example', to: ['api@dest.example'], subject: 'by API', text: 'hi' });
  expect(sent.status, JSON.stringify(sent.body)).toBe(202);

  for (let i = 0; i < 200 && posts.length < 22; i++) await sleep(100);
  await sleep(500);
  expect(posts).toHaveLength(22);
  expect(new Set(posts.map((p) => p.json.id)).size).toBe(22);
  for (const p of posts) {
    const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(p.signature)!;
    expect(createHmac('sha256', created.body.secret).update(`${t}.${p.body}`).digest('hex')).toBe(v1);
  }
  const apiEvents = posts.filter((p) => p.json.messageId === sent.body.id).map((p) => p.json.type).sort();
  expect(apiEvents).toEqual(['delivered', 'queued']);

  const ping = await api('POST', `/api/v1/webhooks/${created.body.id}/test`);
  expect(ping.body).toMatchObject({ ok: true, status: 200 });
  app.child.kill('SIGTERM');
  expect((await app.exited).code).toBe(0);
});

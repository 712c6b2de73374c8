/**
 * Webhooks fed by the events backbone: a message sent by SMTP and delivered to a sink reaches a
 * receiver on 127.0.0.1 as signed `queued` and `delivered` POSTs carrying the message's tag and
 * metadata; a filtered endpoint gets only its type; sokutatsu_webhook_deliveries_total counts them.
 */
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { apiCall, eventually, startTestApp } from './support/app.js';
import { startSink, type Sink } from './support/sink.js';

const posts: { path: string; signature: string; body: string }[] = [];
const receiver = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c: string) => (body += c));
  req.on('end', () => {
    posts.push({ path: req.url ?? '', signature: String(req.headers['x-sokutatsu-signature']), body });
    res.end('ok');
  });
});
let app: App;
let sink: Sink;

beforeAll(async () => {
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  sink = await startSink();
  app = await startTestApp({
    smtp: { trustedNetworks: ['127.0.0.1/32'] },
    delivery: { routes: [{ match: '*', host: '127.0.0.1', port: sink.port, tls: 'none' }] },
    webhooks: { allowPrivateTargets: true },
  });
});
afterAll(async () => {
  await app?.stop();
  await sink?.close();
  receiver.closeAllConnections();
  await new Promise((r) => receiver.close(r));
});

it('POSTs the events of a delivered message, signed, with tag and metadata', async () => {
  const base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  const all = (await apiCall(app, 'POST', '/api/v1/webhooks', { url: `${base}/all` })).body;
  await apiCall(app, 'POST', '/api/v1/webhooks', { url: `${base}/delivered`, events: ['delivered'] });

  const info = await nodemailer.createTransport({ host: '127.0.0.1', port: app.ports.submission!, secure: false, ignoreTLS: true }).sendMail({
    from: 'crm@shop.example', to: 'alice@dest.example', subject: 'Order 42', text: 'Thanks.',
    headers: { 'X-Sokutatsu-Tag': 'orders', 'X-Sokutatsu-Meta-Customer': '77' },
  });
  const messageId = /queued as (\S+)/.exec(info.response)![1];

  await eventually(async () => posts.filter((p) => p.path === '/all').length >= 2 && posts.some((p) => p.path === '/delivered'), 20_000, 'queued and delivered POSTs');
  const mine = posts.filter((p) => p.path === '/all').map((p) => ({ ...p, json: JSON.parse(p.body) }));
  expect(mine.map((p) => p.json.type).sort()).toEqual(['delivered', 'queued']);
  for (const p of mine) {
    expect(p.json).toMatchObject({ messageId, recipient: 'alice@dest.example', tag: 'orders', domain: 'shop.example', metadata: { customer: '77' } });
    const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(p.signature)!;
    expect(createHmac('sha256', all.secret).update(`${t}.${p.body}`).digest('hex')).toBe(v1);
  }
  expect(mine.find((p) => p.json.type === 'delivered')!.json).toMatchObject({ attempt: 1, remoteHost: expect.any(String) });
  expect(posts.filter((p) => p.path === '/delivered').map((p) => JSON.parse(p.body).type)).toEqual(['delivered']);
  // Each POST is counted once its log entry is written (just after the receiver answered).
  await eventually(async () => /^sokutatsu_webhook_deliveries_total\{result="delivered"\} 3$/m.test(await (await fetch(`http://127.0.0.1:${app.ports.http}/metrics`)).text()), 5_000, 'the webhook counter');
});

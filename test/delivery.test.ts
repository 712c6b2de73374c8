/**
 * The path intake → store → delivery against a real sink: delivered, retried on 4xx,
 * bounced on 5xx, expired when the destination never answers; the API shows each step.
 */
import { afterEach, describe, expect, it } from 'vitest';
import nodemailer from 'nodemailer';
import pino from 'pino';
import { startApp, type App } from '../src/app.js';
import { apiGet, eventually, startTestApp, testConfig } from './support/app.js';
import { startSink, type Sink } from './support/sink.js';
import { freePort } from './support/global-setup.js';
import { makeTestCa } from './support/test-ca.js';

let app: App | undefined;
let sink: Sink | undefined;

afterEach(async () => {
  await app?.stop();
  await sink?.close();
  app = undefined;
  sink = undefined;
});

function relay(port: number) {
  return nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
}

async function send(app: App, to: string, extra: Record<string, unknown> = {}): Promise<string> {
  const info = await relay(app.ports.submission!).sendMail({ from: 'crm@shop.example', to, subject: 'Order 42', text: 'Thanks for your order.', ...extra });
  const id = /queued as (\S+)/.exec(info.response)?.[1];
  expect(id, info.response).toBeTruthy();
  return id!;
}

async function recipientStatus(app: App, id: string, status: string) {
  return eventually(async () => {
    const { body } = await apiGet(app, `/api/v1/messages/${id}`);
    return body?.recipients?.[0]?.status === status ? body.recipients[0] : null;
  }, 20_000, `recipient status ${status}`);
}

const trusted = (sinkPort: number, extra: Record<string, unknown> = {}) => ({
  smtp: { trustedNetworks: ['127.0.0.1/32'] },
  delivery: { routes: [{ match: '*', host: '127.0.0.1', port: sinkPort, tls: 'none' }], ...extra },
});

describe('delivery', () => {
  it('delivers a message with headers and body intact, plus Received, minus control headers', async () => {
    sink = await startSink();
    app = await startTestApp(trusted(sink.port));
    const text = 'Thanks for your order.\r\n.a line that starts with a dot\r\n..and two\r\n.\r\nafter a lone dot\r\n';
    const id = await send(app, 'alice@dest.example', { text, headers: { 'X-Sokutatsu-Tag': 'welcome', 'X-Sokutatsu-Meta-Customer': '77', 'X-Custom': 'kept' } });
    const [received] = await sink.waitFor(1);
    expect(received!.to).toEqual(['alice@dest.example']);
    expect(received!.text).toMatch(/^Received: from [^\r\n]*\r\n\tby mta\.test\.example \(Sokutatsu\) with ESMTP/);
    expect(received!.text).toContain('Subject: Order 42');
    expect(received!.text).toContain('X-Custom: kept');
    expect(received!.text.endsWith('\r\n\r\n' + text)).toBe(true); // leading dots survive both hops
    expect(received!.text).not.toMatch(/X-Sokutatsu-/i);
    const rcpt = await recipientStatus(app, id, 'delivered');
    expect(rcpt.attempts).toBe(1);
    const { body } = await apiGet(app, `/api/v1/messages/${id}`);
    expect(body.tag).toBe('welcome');
    expect(body.metadata).toEqual({ customer: '77' });
    expect(rcpt.events.map((e: { type: string }) => e.type)).toEqual(['queued', 'delivered']);
  });

  it('retries 451 twice, then delivers on the third attempt with all three in the events', async () => {
    sink = await startSink({ onRcpt: (_a, seen) => (seen <= 2 ? { code: 451, message: '4.7.1 Greylisted, try again' } : undefined) });
    app = await startTestApp(trusted(sink.port));
    const id = await send(app, 'bob@dest.example');
    const rcpt = await recipientStatus(app, id, 'delivered');
    expect(rcpt.attempts).toBe(3);
    const types = rcpt.events.map((e: { type: string }) => e.type);
    expect(types).toEqual(['queued', 'deferred', 'deferred', 'delivered']);
    expect(rcpt.events[1].reply).toContain('451');
    expect(rcpt.events[1].enhancedCode).toBe('4.7.1');
    expect(sink.messages).toHaveLength(1);
  });

  it('bounces at once on 550 at RCPT, keeping the reply and enhanced code', async () => {
    sink = await startSink({ onRcpt: () => ({ code: 550, message: '5.1.1 No such user here' }) });
    app = await startTestApp(trusted(sink.port));
    const id = await send(app, 'nobody@dest.example');
    const rcpt = await recipientStatus(app, id, 'bounced');
    expect(rcpt.attempts).toBe(1);
    expect(rcpt.reason).toContain('5.1.1 No such user here');
    expect(rcpt.hard).toBe(true);
    expect(rcpt.failure).toEqual({ reason: 'userunknown', group: 'permanent', label: 'address does not exist' });
    expect(rcpt.events.at(-1)).toMatchObject({ type: 'bounced', code: 550, enhancedCode: '5.1.1', hard: true, failure: { reason: 'userunknown' } });
  });

  it('classifies a reputation block as a permanent bounce that says nothing about the address (not hard)', async () => {
    sink = await startSink({ onRcpt: () => ({ code: 554, message: '5.7.1 Service unavailable; client host [192.0.2.1] blocked using zen.spamhaus.org' }) });
    app = await startTestApp(trusted(sink.port));
    const id = await send(app, 'someone@dest.example');
    const rcpt = await recipientStatus(app, id, 'bounced');
    expect(rcpt.hard).toBe(false);
    expect(rcpt.failure).toMatchObject({ reason: 'blocked', group: 'temporary' });
  });

  it('defers while the host is unreachable, then expires after maxAge', async () => {
    const deadPort = await freePort();
    app = await startTestApp(trusted(deadPort, { retry: { firstDelaySeconds: 1, maxDelaySeconds: 1, maxAgeSeconds: 3 }, backoff: { threshold: 1000 } }));
    const id = await send(app, 'carol@dest.example');
    const rcpt = await recipientStatus(app, id, 'expired');
    expect(rcpt.attempts).toBeGreaterThanOrEqual(2);
    const types = rcpt.events.map((e: { type: string }) => e.type);
    expect(types[0]).toBe('queued');
    expect(types).toContain('deferred');
    expect(types.at(-1)).toBe('expired');
    expect(rcpt.reason).toMatch(/gave up after \d+ attempts.*ECONNREFUSED|gave up after \d+ attempts.*refused/i);
    expect(rcpt.failure).toMatchObject({ reason: 'expired', label: 'cannot connect' });
  });

  it('upgrades to TLS when the destination offers STARTTLS and records protocol and cipher in the event', async () => {
    sink = await startSink({ starttls: true });
    app = await startTestApp({ ...trusted(sink.port), delivery: { routes: [{ match: '*', host: '127.0.0.1', port: sink.port }] } }); // tls: opportunistic (default)
    const id = await send(app, 'erin@dest.example');
    const rcpt = await recipientStatus(app, id, 'delivered');
    expect(rcpt.events.at(-1).tls).toMatch(/^TLSv1\.[23] TLS_\w+|^TLSv1\.2 [A-Z0-9-]+$/);
  });

  it('relays through a smarthost with AUTH over verified STARTTLS; wrong credentials defer, never bounce', async () => {
    const ca = await makeTestCa();
    sink = await startSink({ starttls: true, tls: await ca.issue('localhost'), auth: { user: 'relay', pass: 's3cret' } }); // certificate names localhost and 127.0.0.1
    const route = (match: string, pass: string) => ({ match, host: '127.0.0.1', port: sink!.port, tls: 'required', auth: { user: 'relay', pass } });
    const config = testConfig({ smtp: { trustedNetworks: ['127.0.0.1/32'] }, delivery: { routes: [route('good.example', 's3cret'), route('bad.example', 'wrong')] } });
    app = await startApp({ config, log: pino({ level: config.log.level }), deliveryCa: ca.cert });
    const good = await send(app, 'kaori@good.example');
    const bad = await send(app, 'ken@bad.example');
    expect((await recipientStatus(app, good, 'delivered')).events.at(-1).tls).toMatch(/^TLSv1\.[23] /);
    const deferred = await recipientStatus(app, bad, 'deferred');
    expect(deferred.events.at(-1).detail).toMatch(/authentication to 127\.0\.0\.1:\d+ \(route bad\.example\) was refused/);
    expect(deferred.events.at(-1).reply).toMatch(/^535/);
    expect(sink.messages.map((m) => m.to)).toEqual([['kaori@good.example']]);
  });

  it('holds a message with X-Sokutatsu-Send-At until its time', async () => {
    sink = await startSink();
    app = await startTestApp(trusted(sink.port));
    const sendAt = new Date(Date.now() + 2500).toISOString();
    const id = await send(app, 'dave@dest.example', { headers: { 'X-Sokutatsu-Send-At': sendAt } });
    await new Promise((r) => setTimeout(r, 1000));
    expect(sink.messages).toHaveLength(0);
    await sink.waitFor(1, 10_000);
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(sendAt));
    await recipientStatus(app, id, 'delivered');
  });

  it('deletes the body after the last recipient is final (bodyRetentionSeconds 0) and keeps the history', async () => {
    sink = await startSink();
    app = await startTestApp({ ...trusted(sink.port), store: { bodyRetentionSeconds: 0 } });
    const id = await send(app, 'erin@dest.example');
    await recipientStatus(app, id, 'delivered');
    expect(await app.redis.exists(app.keys.body(id))).toBe(0);
    expect(await app.redis.ttl(app.keys.message(id))).toBeGreaterThan(0);
  });
});


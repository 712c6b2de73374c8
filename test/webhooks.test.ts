/**
 * Webhooks as a CRM sees them: endpoints managed through /api/v1/webhooks, events POSTed to a real
 * HTTP receiver on 127.0.0.1, signed per CONTRACT, filtered by type, retried after failures and
 * timeouts, at most N in flight per endpoint, logged; private targets refused unless allowed
 * (resolver injected: no public DNS, and no traffic leaves 127.0.0.1).
 */
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type App } from '../src/app.js';
import type { DnsResolver } from '../src/dns.js';
import type { PublishedEvent } from '../src/events/types.js';
import { Receiver, verifySignature } from './support/receiver.js';
import { apiCall, eventually, startTestApp, testConfig } from './support/app.js';
import { makeTestCa } from './support/test-ca.js';

let seq = 0;
function event(type: PublishedEvent['type'], extra: Partial<PublishedEvent> = {}): PublishedEvent {
  seq++;
  return {
    id: `${Date.now()}-${seq}`, type, at: new Date().toISOString(), rcpt: 0, address: 'kijitora@example.jp',
    messageId: `msg${seq}abcdefgh`, tag: 'newsletter-2026-12', domain: 'shop.example', metadata: { customer: '42' },
    ...extra,
  };
}

async function create(app: App, body: unknown): Promise<{ id: string; secret: string }> {
  const res = await apiCall(app, 'POST', '/api/v1/webhooks', body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

const deliveries = async (app: App, id: string) => (await apiCall(app, 'GET', `/api/v1/webhooks/${id}/deliveries`)).body.deliveries as any[];

describe('webhooks to a receiver on loopback (allowPrivateTargets: true)', () => {
  let app: App;
  const receiver = new Receiver();
  beforeAll(async () => {
    await receiver.start();
    app = await startTestApp({ webhooks: { allowPrivateTargets: true, timeoutSeconds: 1, concurrencyPerEndpoint: 2, retry: { firstDelaySeconds: 1, maxDelaySeconds: 1, maxAgeSeconds: 3600 } } });
  });
  afterAll(async () => {
    await app?.stop();
    await receiver.stop();
  });

  it('requires the admin token on every route', async () => {
    for (const [method, path] of [['GET', '/api/v1/webhooks'], ['POST', '/api/v1/webhooks'], ['GET', '/api/v1/webhooks/wh_0000000000000000'], ['PATCH', '/api/v1/webhooks/wh_0000000000000000'], ['DELETE', '/api/v1/webhooks/wh_0000000000000000'], ['POST', '/api/v1/webhooks/wh_0000000000000000/test'], ['GET', '/api/v1/webhooks/wh_0000000000000000/deliveries']] as const) {
      expect((await apiCall(app, method, path, method === 'POST' ? { url: receiver.url('/x') } : undefined, null)).status, `${method} ${path}`).toBe(401);
    }
    expect((await apiCall(app, 'GET', '/api/v1/webhooks')).body).toEqual({ webhooks: [] });
  });

  it('creates (secret once), lists and gets without the secret, changes, deletes; validation errors are 400 JSON', async () => {
    const bad = async (body: unknown, message: RegExp) => {
      const res = await apiCall(app, 'POST', '/api/v1/webhooks', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.message).toMatch(message);
    };
    await bad({ url: 'not a url' }, /^url: not a valid URL/);
    await bad({ url: 'ftp://127.0.0.1/x' }, /only http and https/);
    await bad({ url: 'http://user:pw@127.0.0.1/x' }, /user name or password/);
    await bad({ url: receiver.url('/x'), events: ['delivered', 'exploded'] }, /^events\.1: /);
    await bad({ url: receiver.url('/x'), colour: 'red' }, /colour/);
    await bad({}, /^url: /);
    expect(await apiCall(app, 'POST', '/api/v1/webhooks', '{nope')).toMatchObject({ status: 400, body: { error: { code: 'invalid_json' } } });

    const made = await apiCall(app, 'POST', '/api/v1/webhooks', { url: receiver.url('/crud'), events: ['bounced', 'complained'] });
    expect(made.status).toBe(201);
    expect(made.body).toEqual({ id: expect.stringMatching(/^wh_[0-9a-f]{16}$/), url: receiver.url('/crud'), events: ['bounced', 'complained'], enabled: true, createdAt: expect.stringMatching(/^\d{4}-/), secret: expect.stringMatching(/^whsec_[A-Za-z0-9_-]{43}$/) });
    const { id, secret } = made.body;

    const list = await apiCall(app, 'GET', '/api/v1/webhooks');
    expect(list.body.webhooks).toEqual([{ id, url: receiver.url('/crud'), events: ['bounced', 'complained'], enabled: true, createdAt: made.body.createdAt }]);
    expect(JSON.stringify(list.body)).not.toContain(secret);
    const one = await apiCall(app, 'GET', `/api/v1/webhooks/${id}`);
    expect(one.body).toEqual(list.body.webhooks[0]);

    const changed = await apiCall(app, 'PATCH', `/api/v1/webhooks/${id}`, { events: [], enabled: false });
    expect(changed).toMatchObject({ status: 200, body: { id, events: [], enabled: false } });
    expect(JSON.stringify(changed.body)).not.toContain(secret);
    expect((await apiCall(app, 'PATCH', `/api/v1/webhooks/${id}`, { url: 'gopher://127.0.0.1/' })).status).toBe(400);
    expect((await apiCall(app, 'PATCH', `/api/v1/webhooks/${id}`, { enabled: 'yes' })).status).toBe(400);
    expect((await apiCall(app, 'PATCH', `/api/v1/webhooks/${id}`, { url: receiver.url('/crud2') })).body.url).toBe(receiver.url('/crud2'));

    expect((await apiCall(app, 'DELETE', `/api/v1/webhooks/${id}`)).status).toBe(204);
    for (const [method, path] of [['GET', `/api/v1/webhooks/${id}`], ['DELETE', `/api/v1/webhooks/${id}`], ['PATCH', `/api/v1/webhooks/${id}`], ['POST', `/api/v1/webhooks/${id}/test`], ['GET', `/api/v1/webhooks/${id}/deliveries`], ['GET', '/api/v1/webhooks/nonsense']] as const) {
      expect(await apiCall(app, method, path, method === 'PATCH' ? { enabled: true } : undefined), `${method} ${path}`).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    }
  });

  it('POSTs each event signed to the endpoints whose filter matches, with the documented payload', async () => {
    const onlyDelivered = await create(app, { url: receiver.url('/only-delivered'), events: ['delivered'] });
    const all = await create(app, { url: receiver.url('/all') });
    const disabled = await create(app, { url: receiver.url('/disabled') });
    await apiCall(app, 'PATCH', `/api/v1/webhooks/${disabled.id}`, { enabled: false });

    const delivered = event('delivered', { attempt: 1, remoteHost: 'mx.example.jp', reply: '250 2.0.0 OK', tls: 'TLSv1.3' });
    const bounced = event('bounced', { failure: { reason: 'userunknown', group: 'permanent', label: 'address does not exist' }, hard: true, reply: '550 5.1.1 no such user', code: 550, enhancedCode: '5.1.1' });
    const clicked = event('clicked', { url: 'https://shop.example/sale?a=1', link: 2, machine: false, ip: '198.51.100.7', userAgent: 'Mozilla/5.0', count: 1, firstHuman: true });
    await app.webhooks.publish([delivered, bounced, clicked]);
    // Published twice (a retried publish): still one POST per endpoint and event.
    await app.webhooks.publish([delivered]);

    await eventually(async () => receiver.on('/all').length === 3 && receiver.on('/only-delivered').length === 1, 10_000, 'the POSTs');
    await new Promise((r) => setTimeout(r, 500));
    expect(receiver.on('/all')).toHaveLength(3);
    expect(receiver.on('/only-delivered').map((r) => r.json.id)).toEqual([delivered.id]);
    expect(receiver.on('/disabled')).toHaveLength(0);

    for (const r of receiver.on('/all')) {
      expect(verifySignature(all.secret, r), r.body).toBe(true);
      expect(verifySignature(onlyDelivered.secret, r)).toBe(false);
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['x-sokutatsu-event']).toBe(r.json.type);
      expect(r.headers['x-sokutatsu-event-id']).toBe(r.json.id);
    }
    expect(verifySignature(onlyDelivered.secret, receiver.on('/only-delivered')[0]!)).toBe(true);

    const byType = Object.fromEntries(receiver.on('/all').map((r) => [r.json.type, r.json]));
    const common = { messageId: expect.any(String), recipient: 'kijitora@example.jp', rcpt: 0, tag: 'newsletter-2026-12', domain: 'shop.example', metadata: { customer: '42' } };
    expect(byType.delivered).toEqual({ ...common, id: delivered.id, type: 'delivered', at: delivered.at, reason: null, group: null, hard: null, reply: '250 2.0.0 OK', detail: null, url: null, machine: null, attempt: 1, remoteHost: 'mx.example.jp', tls: 'TLSv1.3' });
    expect(byType.bounced).toEqual({ ...common, id: bounced.id, type: 'bounced', at: bounced.at, reason: 'userunknown', group: 'permanent', label: 'address does not exist', hard: true, reply: '550 5.1.1 no such user', detail: null, url: null, machine: null, code: 550, enhancedCode: '5.1.1' });
    expect(byType.clicked).toEqual({ ...common, id: clicked.id, type: 'clicked', at: clicked.at, reason: null, group: null, hard: null, reply: null, detail: null, url: 'https://shop.example/sale?a=1', machine: false, link: 2, ip: '198.51.100.7', userAgent: 'Mozilla/5.0', count: 1, firstHuman: true });

    const log = await deliveries(app, all.id);
    expect(log).toHaveLength(3);
    expect(log[0]).toEqual({ at: expect.any(String), eventId: expect.any(String), eventType: expect.any(String), attempt: 1, status: 200, error: null, durationMs: expect.any(Number), outcome: 'delivered' });
    for (const id of [onlyDelivered.id, all.id, disabled.id]) await apiCall(app, 'DELETE', `/api/v1/webhooks/${id}`);
  });

  it('retries after 500s and redirects (not followed) until a 2xx, with the same event and a fresh signature', async () => {
    const hook = await create(app, { url: receiver.url('/flaky') });
    let calls = 0;
    receiver.respond = (req, res) => {
      if (req.path !== '/flaky') return void res.end('ok');
      calls++;
      if (calls === 1) res.writeHead(500).end('boom');
      else if (calls === 2) res.writeHead(302, { Location: receiver.url('/elsewhere') }).end();
      else res.writeHead(204).end();
    };
    const e = event('deferred', { detail: 'connection refused by 192.0.2.1:25' });
    await app.webhooks.publish([e]);
    await eventually(async () => (await deliveries(app, hook.id)).some((d) => d.outcome === 'delivered'), 15_000, 'the third attempt');
    const log = (await deliveries(app, hook.id)).reverse();
    expect(log.map((d) => [d.attempt, d.status, d.outcome])).toEqual([[1, 500, 'retrying'], [2, 302, 'retrying'], [3, 204, 'delivered']]);
    expect(log[0].error).toBe('HTTP 500');
    expect(log[1].error).toMatch(/redirects are not followed/);
    expect(log[0].nextAttemptAt).toEqual(expect.any(String));
    const posts = receiver.on('/flaky');
    expect(posts.map((p) => p.json.id)).toEqual([e.id, e.id, e.id]);
    expect(posts.every((p) => verifySignature(hook.secret, p))).toBe(true);
    // The backoff (1 s here) separates the attempts.
    expect(posts[1]!.at - posts[0]!.at).toBeGreaterThanOrEqual(800);
    expect(receiver.on('/elsewhere')).toHaveLength(0);
    receiver.respond = (_req, res) => void res.end('ok');
    await apiCall(app, 'DELETE', `/api/v1/webhooks/${hook.id}`);
  });

  it('counts a slow endpoint (past timeoutSeconds) as a failure and retries it', async () => {
    const hook = await create(app, { url: receiver.url('/slow') });
    let calls = 0;
    receiver.respond = async (req, res) => {
      if (req.path === '/slow' && ++calls === 1) await new Promise((r) => setTimeout(r, 2500));
      if (!res.destroyed) res.end('ok');
    };
    await app.webhooks.publish([event('opened', { machine: true, why: 'Apple Mail Privacy Protection' })]);
    await eventually(async () => (await deliveries(app, hook.id)).some((d) => d.outcome === 'delivered'), 15_000, 'the retry');
    const log = (await deliveries(app, hook.id)).reverse();
    expect(log[0]).toMatchObject({ attempt: 1, status: null, error: 'no complete response within 1 s', outcome: 'retrying' });
    expect(log[0].durationMs).toBeGreaterThanOrEqual(950);
    expect(log[0].durationMs).toBeLessThan(2000);
    expect(log[1]).toMatchObject({ attempt: 2, status: 200, outcome: 'delivered' });
    receiver.respond = (_req, res) => void res.end('ok');
    await apiCall(app, 'DELETE', `/api/v1/webhooks/${hook.id}`);
  });

  it('keeps at most concurrencyPerEndpoint POSTs in flight to one endpoint', async () => {
    const hook = await create(app, { url: receiver.url('/busy') });
    receiver.maxActive = 0;
    receiver.respond = async (_req, res) => {
      await new Promise((r) => setTimeout(r, 250));
      res.end('ok');
    };
    const events = Array.from({ length: 8 }, () => event('delivered'));
    await app.webhooks.publish(events);
    await eventually(async () => (await deliveries(app, hook.id)).filter((d) => d.outcome === 'delivered').length === 8, 20_000, '8 deliveries');
    expect(new Set(receiver.on('/busy').map((r) => r.json.id))).toEqual(new Set(events.map((e) => e.id)));
    expect(receiver.maxActive).toBe(2);
    receiver.respond = (_req, res) => void res.end('ok');
    await apiCall(app, 'DELETE', `/api/v1/webhooks/${hook.id}`);
  });

  it('sends a test ping now and returns its result; the delivery log shows it', async () => {
    const hook = await create(app, { url: receiver.url('/ping'), events: ['bounced'] });
    const res = await apiCall(app, 'POST', `/api/v1/webhooks/${hook.id}/test`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ eventId: expect.stringMatching(/^ping-/), ok: true, status: 200, error: null, durationMs: expect.any(Number) });
    const [ping] = receiver.on('/ping');
    expect(verifySignature(hook.secret, ping!)).toBe(true);
    expect(ping!.json).toMatchObject({ id: res.body.eventId, type: 'ping', webhookId: hook.id, messageId: null, recipient: null });

    receiver.respond = (_req, r) => void r.writeHead(503).end();
    const failed = await apiCall(app, 'POST', `/api/v1/webhooks/${hook.id}/test`);
    expect(failed.body).toMatchObject({ ok: false, status: 503, error: 'HTTP 503' });
    receiver.respond = (_req, r) => void r.end('ok');

    const log = await deliveries(app, hook.id);
    expect(log.map((d) => [d.eventType, d.status, d.outcome])).toEqual([['ping', 503, 'failed'], ['ping', 200, 'delivered']]);
    expect((await apiCall(app, 'GET', `/api/v1/webhooks/${hook.id}/deliveries?limit=1`)).body.deliveries).toHaveLength(1);
    expect((await apiCall(app, 'GET', `/api/v1/webhooks/${hook.id}/deliveries?limit=0`)).status).toBe(400);
  });
});

describe('private targets refused (allowPrivateTargets: false)', () => {
  let app: App;
  const answers = new Map<string, { a?: string[]; aaaa?: string[] }>();
  const nodata = () => Object.assign(new Error('no data'), { code: 'ENODATA' });
  const resolver: DnsResolver = {
    resolve4: async (name) => answers.get(name)?.a ?? Promise.reject(answers.has(name) ? nodata() : Object.assign(new Error('not found'), { code: 'ENOTFOUND' })),
    resolve6: async (name) => answers.get(name)?.aaaa ?? Promise.reject(answers.has(name) ? nodata() : Object.assign(new Error('not found'), { code: 'ENOTFOUND' })),
    resolveMx: async () => Promise.reject(Object.assign(new Error('not found'), { code: 'ENOTFOUND' })),
    resolveTxt: async () => Promise.reject(Object.assign(new Error('not found'), { code: 'ENOTFOUND' })),
    resolveCname: async () => Promise.reject(Object.assign(new Error('not found'), { code: 'ENOTFOUND' })),
  };
  beforeAll(async () => {
    app = await startTestApp({ webhooks: { allowPrivateTargets: false, retry: { firstDelaySeconds: 1, maxDelaySeconds: 1, maxAgeSeconds: 2 } } }, resolver);
  });
  afterAll(() => app?.stop());

  it('refuses URLs on private addresses or names resolving to them at creation, and accepts public ones', async () => {
    answers.set('lan.example', { a: ['10.0.0.5'] });
    answers.set('mixed.example', { a: ['93.184.216.34'], aaaa: ['::1'] });
    answers.set('metadata.example', { a: ['169.254.169.254'] });
    answers.set('hooks.crm.example', { a: ['93.184.216.34'], aaaa: ['2606:2800:220:1:248:1893:25c8:1946'] });
    for (const url of ['http://127.0.0.1:8080/hook', 'http://10.1.2.3/hook', 'http://[::1]/hook', 'http://169.254.169.254/latest/meta-data', 'http://[::ffff:127.0.0.1]/', 'http://100.64.1.1/', 'http://[fd00::1]/', 'http://0.0.0.0/', 'http://localhost:8080/', 'https://lan.example/hook', 'https://mixed.example/hook', 'http://metadata.example/']) {
      const res = await apiCall(app, 'POST', '/api/v1/webhooks', { url });
      expect(res.status, url).toBe(400);
      expect(res.body.error.message, url).toMatch(/private, loopback, link-local or reserved address/);
    }
    expect((await apiCall(app, 'POST', '/api/v1/webhooks', { url: 'https://nowhere.example/hook' })).body.error.message).toMatch(/cannot resolve nowhere\.example \(ENOTFOUND, ENOTFOUND\)/);
    expect((await apiCall(app, 'GET', '/api/v1/webhooks')).body.webhooks).toEqual([]);
    const ok = await create(app, { url: 'https://hooks.crm.example/sokutatsu' });
    expect((await apiCall(app, 'PATCH', `/api/v1/webhooks/${ok.id}`, { url: 'http://192.168.0.10/' })).status).toBe(400);
    await apiCall(app, 'DELETE', `/api/v1/webhooks/${ok.id}`);
  });

  it('checks again at each delivery (DNS rebinding), logs the refusal and gives up after maxAgeSeconds', async () => {
    answers.set('rebind.example', { a: ['93.184.216.34'] });
    const hook = await create(app, { url: 'http://rebind.example/hook' });
    // The name now points at loopback: nothing may be sent (and nothing is sent to the public address either).
    answers.set('rebind.example', { a: ['127.0.0.1'] });
    await app.webhooks.publish([event('delivered')]);
    await eventually(async () => (await deliveries(app, hook.id)).some((d) => d.outcome === 'failed'), 15_000, 'giving up');
    const log = (await deliveries(app, hook.id)).reverse();
    expect(log.length).toBeGreaterThanOrEqual(2);
    expect(log.slice(0, -1).every((d) => d.outcome === 'retrying')).toBe(true);
    for (const d of log) expect(d).toMatchObject({ status: null, error: expect.stringMatching(/^127\.0\.0\.1 \(rebind\.example resolves to it\) is a private/) });
    expect(log.at(-1)!.attempt).toBe(log.length);
    // The ping is refused the same way, before any connection.
    expect((await apiCall(app, 'POST', `/api/v1/webhooks/${hook.id}/test`)).body).toMatchObject({ ok: false, status: null, error: expect.stringMatching(/private/) });
  });
});

describe('https endpoints', () => {
  let app: App;
  const servers: ReturnType<typeof createHttpsServer>[] = [];
  const hosts: string[] = [];
  /** An https receiver on 127.0.0.1 whose certificate names `certName`; answers 200 and notes the Host header. */
  async function httpsReceiver(certName: string, tls: { cert: string; key: string }): Promise<number> {
    const server = createHttpsServer(tls, (req, res) => {
      hosts.push(`${certName} ${req.headers.host}`);
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return (server.address() as AddressInfo).port;
  }
  const fail = () => Promise.reject(Object.assign(new Error('not found'), { code: 'ENOTFOUND' }));
  // Every name is 127.0.0.1 here: the connection goes to the checked address, the certificate is checked for the URL's name.
  const resolver: DnsResolver = { resolve4: async () => ['127.0.0.1'], resolve6: fail, resolveMx: fail, resolveTxt: fail, resolveCname: fail };
  let ca: Awaited<ReturnType<typeof makeTestCa>>;
  beforeAll(async () => {
    ca = await makeTestCa();
    const config = testConfig({ webhooks: { allowPrivateTargets: true, timeoutSeconds: 2 } });
    app = await startApp({ config, log: pino({ level: config.log.level }), resolver, deliveryCa: ca.cert });
  });
  afterAll(async () => {
    await app?.stop();
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  it('verifies the certificate for the URL\'s host name while connecting to the checked address', async () => {
    const good = await httpsReceiver('hooks.crm.test', await ca.issue('hooks.crm.test'));
    const hook = await create(app, { url: `https://hooks.crm.test:${good}/sokutatsu` });
    expect((await apiCall(app, 'POST', `/api/v1/webhooks/${hook.id}/test`)).body).toMatchObject({ ok: true, status: 200 });
    expect(hosts).toEqual([`hooks.crm.test hooks.crm.test:${good}`]);

    // A server whose certificate names another host: refused by TLS, nothing POSTed.
    const other = await httpsReceiver('other.test', await ca.issue('other.test'));
    const wrong = await create(app, { url: `https://hooks.crm.test:${other}/sokutatsu` });
    const res = (await apiCall(app, 'POST', `/api/v1/webhooks/${wrong.id}/test`)).body;
    expect(res).toMatchObject({ ok: false, status: null, error: expect.stringMatching(/ERR_TLS_CERT_ALTNAME_INVALID|does not match/) });
    expect(hosts).toHaveLength(1);
  });
});

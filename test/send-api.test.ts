/**
 * POST /api/v1/messages as a CRM calls it: composed with MailComposer, refused like SMTP
 * (free-mail From, unverified domain, size, recipients), stored and queued like SMTP mail (the
 * sink receives it, control headers removed), Idempotency-Key answered once per key even for
 * concurrent requests; then search and cancel.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simpleParser } from 'mailparser';
import type { App } from '../src/app.js';
import { createTokenStore } from '../src/http/tokens.js';
import { ADMIN_TOKEN, apiCall, apiGet, eventually, startTestApp } from './support/app.js';
import { startSink, type Sink } from './support/sink.js';

let app: App;
let sink: Sink;
beforeAll(async () => {
  sink = await startSink();
  app = await startTestApp({
    smtp: { maxMessageSize: 64 * 1024, limits: { maxRecipients: 5 } },
    delivery: { routes: [{ match: '*', host: '127.0.0.1', port: sink.port, tls: 'none' }] },
  });
});
afterAll(async () => {
  await app?.stop();
  await sink?.close();
});

const send = (body: unknown, headers: Record<string, string> = {}) =>
  fetch(`http://127.0.0.1:${app.ports.http}/api/v1/messages`, { method: 'POST', headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });

const status = (id: string, i = 0) => apiGet(app, `/api/v1/messages/${id}`).then((r) => r.body?.recipients?.[i]?.status as string | undefined);

describe('POST /api/v1/messages', () => {
  it('composes, stores and delivers like SMTP mail: headers, text, html, attachment, bcc on the envelope only, control headers stripped', async () => {
    const res = await send({
      from: { name: '速達ショップ', address: 'news@shop.example' },
      to: ['Tama <tama@example.jp>'],
      cc: [{ address: 'mike@example.jp' }],
      bcc: ['audit@example.net'],
      subject: '週末セールのお知らせ',
      text: 'こんにちは\nセールです',
      html: '<p>こんにちは <a href="https://shop.example/sale">セール</a></p>',
      attachments: [{ filename: 'クーポン.txt', contentType: 'text/plain', content: Buffer.from('COUPON-123').toString('base64') }],
      headers: { 'Reply-To': 'support@shop.example', 'X-Campaign': 'winter' },
      tag: 'セール2026',
      metadata: { customerId: '42', plan: 'gold' },
      track: 'none',
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    expect(id).toMatch(/^[0-9a-z]{25}$/);

    const received = await sink.waitFor(3);
    expect(received.map((m) => m.to[0]).sort()).toEqual(['audit@example.net', 'mike@example.jp', 'tama@example.jp']);
    const parsed = await simpleParser(received[0]!.body);
    expect(parsed.subject).toBe('週末セールのお知らせ');
    expect(parsed.text?.trim()).toBe('こんにちは\nセールです');
    expect(parsed.html).toContain('https://shop.example/sale'); // track: none → links as written
    expect(parsed.attachments.map((a) => [a.filename, a.content.toString()])).toEqual([['クーポン.txt', 'COUPON-123']]);
    expect(parsed.headers.get('reply-to')).toMatchObject({ text: 'support@shop.example' });
    expect(parsed.headers.get('x-campaign')).toBe('winter');
    expect(parsed.headers.has('bcc')).toBe(false);
    expect(received[0]!.text).not.toMatch(/^X-Sokutatsu-/im);
    expect(received[0]!.text).toMatch(new RegExp(`^Received: from api \\(\\[.*\\]\\)\\r\\n\\tby mta\\.test\\.example \\(Sokutatsu\\) with HTTP\\r\\n\\tid ${id}`, 'm'));
    expect(received[0]!.text).toMatch(new RegExp(`^Message-ID: <${id}@mta\\.test\\.example>`, 'mi'));

    const view = await apiGet(app, `/api/v1/messages/${id}`);
    expect(view.body).toMatchObject({ id, from: 'news@shop.example', subject: '週末セールのお知らせ', tag: 'セール2026', metadata: { customerId: '42', plan: 'gold' } });
    expect((await app.store.get(id))?.source).toBe('api');
    await eventually(async () => (await status(id)) === 'delivered', 20_000, 'delivered');
  });

  it('refuses what SMTP refuses, with the same sentence, as 4xx JSON', async () => {
    const base = { to: ['a@example.jp'], text: 'x' };
    const free = await send({ ...base, from: 'someone@gmail.com' });
    expect(free.status).toBe(403);
    expect(await free.json()).toMatchObject({ error: { code: 'refused', message: expect.stringMatching(/^5\.7\.1 From: gmail\.com addresses cannot be sent through this server/) } });

    const tooMany = await send({ ...base, from: 'news@shop.example', to: ['1@x.example', '2@x.example', '3@x.example'], cc: ['4@x.example', '5@x.example'], bcc: ['6@x.example'] });
    expect(tooMany.status).toBe(422);
    expect((await tooMany.json()).error.code).toBe('too_many_recipients');

    const big = await send({ ...base, from: 'news@shop.example', attachments: [{ filename: 'big.bin', content: Buffer.alloc(70 * 1024).toString('base64') }] });
    expect(big.status).toBe(413);
    expect((await big.json()).error).toMatchObject({ code: 'message_too_big', message: expect.stringMatching(/limit is 65536/) });


    for (const [body, field] of [
      [{ ...base, from: 'not an address' }, /^from: /],
      [{ from: 'news@shop.example', text: 'x' }, /^to: at least one recipient/],
      [{ ...base, from: 'news@shop.example', headers: { From: 'evil@x.example' } }, /^headers\.From: /],
      [{ ...base, from: 'news@shop.example', headers: { 'X-Sokutatsu-Tag': 'x' } }, /^headers\.X-Sokutatsu-Tag: /],
      [{ ...base, from: 'news@shop.example', subject: 'a\r\nBcc: x@y.example' }, /^subject: must not contain line breaks/],
      [{ ...base, from: 'news@shop.example', sendAt: 'tomorrow' }, /^sendAt: /],
      [{ ...base, from: 'news@shop.example', attachments: [{ filename: 'a', content: '***' }] }, /^attachments\.0\.content: /],
      [{ ...base, from: 'news@shop.example', colour: 'red' }, /colour/],
    ] as const) {
      const res = await send(body);
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect((await res.json()).error.message).toMatch(field);
    }
    expect((await fetch(`http://127.0.0.1:${app.ports.http}/api/v1/messages`, { method: 'POST', headers: { Authorization: `Bearer ${ADMIN_TOKEN}` }, body: '{nope' })).status).toBe(400);
    // Last: the server answers 413 before reading the body and closes the connection under the upload.
    const huge = await send({ ...base, from: 'news@shop.example', text: 'x'.repeat(2 * 1024 * 1024) });
    expect(huge.status).toBe(413);
    expect((await huge.json()).error.code).toBe('too_large');
  });

  it('applies policy.requireVerifiedDomains through the same check as SMTP', async () => {
    const strict = await startTestApp({ policy: { requireVerifiedDomains: true } });
    try {
      const call = (from: string) => fetch(`http://127.0.0.1:${strict.ports.http}/api/v1/messages`, { method: 'POST', headers: { Authorization: `Bearer ${ADMIN_TOKEN}` }, body: JSON.stringify({ from, to: ['a@example.jp'], text: 'x' }) });
      const unknown = await call('news@unknown.example');
      expect(unknown.status).toBe(403);
      expect((await unknown.json()).error.message).toMatch(/^5\.7\.1 From: domain unknown\.example is not a sending domain of this server; add it with `sokutatsu domain add unknown\.example`/);
      expect((await apiCall(strict, 'POST', '/api/v1/domains', { domain: 'pending.example', key: 'ed25519' })).status).toBe(201);
      const pending = await call('news@pending.example');
      expect(pending.status).toBe(403);
      expect((await pending.json()).error.message).toMatch(/^5\.7\.1 From: domain pending\.example is not verified yet/);
    } finally {
      await strict.stop();
    }
  });

  it('Idempotency-Key: a repeat gets the same id and sends nothing; concurrent repeats too; keys are per token', async () => {
    const body = { from: 'news@shop.example', to: ['idem@example.jp'], text: 'once', sendAt: new Date(Date.now() + 3600_000).toISOString() };
    const first = await send(body, { 'Idempotency-Key': 'order-1' });
    expect(first.status).toBe(202);
    const { id } = await first.json();
    const again = await send(body, { 'Idempotency-Key': 'order-1' });
    expect(again.status).toBe(202);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect((await again.json()).id).toBe(id);

    // The same key for a different message is refused, not answered with the first id.
    const reused = await send({ ...body, text: 'another message' }, { 'Idempotency-Key': 'order-1' });
    expect(reused.status).toBe(422);
    expect((await reused.json()).error).toMatchObject({ code: 'idempotency_key_reused', message: expect.stringContaining(id) });

    const racing = await Promise.all(Array.from({ length: 8 }, () => send(body, { 'Idempotency-Key': 'order-2' })));
    const ids = await Promise.all(racing.map(async (r) => { expect(r.status).toBe(202); return (await r.json()).id as string; }));
    expect(new Set(ids).size).toBe(1);

    const other = await send(body, { 'Idempotency-Key': 'order-3' });
    expect((await other.json()).id).not.toBe(id);
    // Another token's same key is another request.
    const token = await createTokenStore(app.redis, app.keys, '').create('crm-b');
    const otherToken = await send(body, { 'Idempotency-Key': 'order-1', Authorization: `Bearer ${token}` });
    expect(otherToken.status).toBe(202);
    expect((await otherToken.json()).id).not.toBe(id);

    // A refused request frees its key: the corrected repeat is sent.
    const refused = await send({ ...body, from: 'x@gmail.com' }, { 'Idempotency-Key': 'order-4' });
    expect(refused.status).toBe(403);
    const corrected = await send(body, { 'Idempotency-Key': 'order-4' });
    expect(corrected.status).toBe(202);
    expect(corrected.headers.get('idempotent-replayed')).toBeNull();

    const search = await apiGet(app, '/api/v1/messages?recipient=IDEM@example.jp&limit=50');
    // order-1, order-2, order-3, crm-b's order-1, order-4: five messages, not fourteen.
    expect(search.body.messages).toHaveLength(5);
    expect((await send(body, { 'Idempotency-Key': 'bad key with spaces' })).status).toBe(400);
  });
});

describe('GET /api/v1/messages and cancel', () => {
  it('searches by recipient, tag, status and time, newest first, page by page; cancels queued recipients', async () => {
    const later = new Date(Date.now() + 3600_000).toISOString();
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const res = await send({ from: 'news@shop.example', to: [`p${i % 2}@search.example`], text: `n${i}`, tag: i < 5 ? 'search-a' : 'search-b', sendAt: later });
      ids.push((await res.json()).id);
    }
    const tagA = await apiGet(app, '/api/v1/messages?tag=search-a&limit=2');
    expect(tagA.status).toBe(200);
    expect(tagA.body.messages.map((m: { id: string }) => m.id)).toEqual([ids[4], ids[3]]);
    let cursor = tagA.body.nextCursor as string | null;
    const seen = [...tagA.body.messages.map((m: { id: string }) => m.id)];
    while (cursor) {
      const page = await apiGet(app, `/api/v1/messages?tag=search-a&limit=2&cursor=${encodeURIComponent(cursor)}`);
      seen.push(...page.body.messages.map((m: { id: string }) => m.id));
      cursor = page.body.nextCursor;
    }
    expect(seen).toEqual([ids[4], ids[3], ids[2], ids[1], ids[0]]);

    const p1 = await apiGet(app, '/api/v1/messages?recipient=p1@search.example');
    expect(p1.body.messages.map((m: { id: string }) => m.id)).toEqual([ids[5], ids[3], ids[1]]);
    expect(p1.body.messages[0]).toMatchObject({ from: 'news@shop.example', tag: 'search-b', recipients: [{ address: 'p1@search.example', status: 'queued' }] });

    const cancel = await apiCall(app, 'POST', `/api/v1/messages/${ids[3]}/cancel`, { reason: 'customer asked' });
    expect(cancel).toMatchObject({ status: 200, body: { id: ids[3], cancelled: ['p1@search.example'], unchanged: [] } });
    expect((await apiCall(app, 'POST', `/api/v1/messages/${ids[3]}/cancel`)).body).toMatchObject({ cancelled: [], unchanged: [{ address: 'p1@search.example', status: 'cancelled' }] });
    const view = await apiGet(app, `/api/v1/messages/${ids[3]}`);
    expect(view.body.recipients[0]).toMatchObject({ status: 'cancelled', reason: 'customer asked', events: [{ type: 'queued' }, { type: 'cancelled', detail: 'customer asked' }] });
    expect(await app.redis.exists(`${app.keys.queuePrefix}:delivery:${ids[3]}.0`)).toBe(0);

    const cancelled = await apiGet(app, '/api/v1/messages?recipient=p1@search.example&status=cancelled');
    expect(cancelled.body.messages.map((m: { id: string }) => m.id)).toEqual([ids[3]]);
    const createdAt = Date.parse(p1.body.messages[1].createdAt);
    const window = await apiGet(app, `/api/v1/messages?recipient=p1@search.example&from=${createdAt}&to=${new Date(createdAt + 1).toISOString()}`);
    expect(window.body.messages.map((m: { id: string }) => m.id)).toContain(ids[3]);
    expect(window.body.messages.map((m: { id: string }) => m.id)).not.toContain(ids[5]);

    expect((await apiGet(app, '/api/v1/messages?status=lost')).status).toBe(400);
    expect((await apiGet(app, '/api/v1/messages?cursor=zzz')).status).toBe(400);
    expect((await apiCall(app, 'POST', '/api/v1/messages/0000000000000000000000000/cancel')).status).toBe(404);
  });
});

/**
 * Inbound routes end to end: routes managed through /api/v1/inbound-routes, mail to a routed
 * address on port 25 POSTed as signed JSON to a real HTTP receiver on 127.0.0.1 (Japanese
 * ISO-2022-JP subject and body decoded to UTF-8, html, attachments), retried after a 500, the
 * `inbound` event in the event stream and at webhook endpoints; unrouted and disabled addresses
 * refused 550 5.7.1; a VERP bounce address beside a routed one in the same transaction; a MIME
 * structure mailparser refuses POSTed with its headers and parseError; CRUD validation.
 */
import Encoding from 'encoding-japanese';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { Verp } from '../src/bounce/verp.js';
import { sharedSecret } from '../src/secrets.js';
import { Receiver, verifySignature } from './support/receiver.js';
import { apiCall, eventually, startTestApp } from './support/app.js';
import { RawSmtp } from './support/raw-smtp.js';

const jis = (s: string) => Buffer.from(Encoding.convert(Encoding.stringToCode(s), { to: 'JIS', from: 'UNICODE' }) as number[]);

/** A multipart mail: ISO-2022-JP subject and text part, an html part, a PDF-ish attachment and an inline image. */
function japaneseMail(to: string): Buffer {
  const subject = `=?ISO-2022-JP?B?${jis('お問い合わせ：注文番号 1234').toString('base64')}?=`;
  const fromName = `=?ISO-2022-JP?B?${jis('山田 太郎').toString('base64')}?=`;
  const attachment = Buffer.from('%PDF-1.4 invoice bytes \x00\x01\x02', 'latin1');
  const image = Buffer.from('GIF89a-not-really-an-image');
  return Buffer.concat([
    Buffer.from([
      `From: ${fromName} <taro@customer.example>`,
      `To: <${to}>`,
      'Cc: Hanako <hanako@customer.example>',
      `Subject: ${subject}`,
      'Message-ID: <reply-1@customer.example>',
      'In-Reply-To: <order-1234@shop.example>',
      'References: <order-1234@shop.example> <order-1234-2@shop.example>',
      'Date: Sun, 06 Dec 2026 10:00:00 +0900',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="outer"',
      '',
      '--outer',
      'Content-Type: multipart/alternative; boundary="alt"',
      '',
      '--alt',
      'Content-Type: text/plain; charset=ISO-2022-JP',
      'Content-Transfer-Encoding: 7bit',
      '',
      '',
    ].join('\r\n')),
    jis('注文の配送について質問があります。'),
    Buffer.from([
      '',
      '--alt',
      'Content-Type: text/html; charset=UTF-8',
      'Content-Transfer-Encoding: base64',
      '',
      Buffer.from('<p>注文の<b>配送</b>について</p><img src="cid:logo@x">').toString('base64'),
      '--alt--',
      '--outer',
      'Content-Type: application/pdf; name="invoice.pdf"',
      'Content-Disposition: attachment; filename="invoice.pdf"',
      'Content-Transfer-Encoding: base64',
      '',
      attachment.toString('base64'),
      '--outer',
      'Content-Type: image/gif',
      'Content-ID: <logo@x>',
      'Content-Disposition: inline',
      'Content-Transfer-Encoding: base64',
      '',
      image.toString('base64'),
      '--outer--',
      '',
    ].join('\r\n')),
  ]);
}

function plainMail(to: string, subject: string, body = 'hello'): string {
  return [`From: <sender@customer.example>`, `To: <${to}>`, `Subject: ${subject}`, 'Message-ID: <m@customer.example>', '', body, ''].join('\r\n');
}

async function smtp(app: App, from: string, rcpts: string[], body: string | Buffer): Promise<{ rcpt: number[]; rcptText: string[]; data: number | null; dataText: string }> {
  const { client } = await RawSmtp.connect(app.ports.inbound!);
  try {
    await client.ehlo('mx.customer.example');
    expect((await client.send(`MAIL FROM:<${from}>`)).code).toBe(250);
    const replies = [];
    for (const r of rcpts) replies.push(await client.send(`RCPT TO:<${r}>`));
    const rcpt = replies.map((r) => r.code);
    if (!rcpt.includes(250)) return { rcpt, rcptText: replies.map((r) => r.text), data: null, dataText: '' };
    const data = await client.data(body, 15_000);
    return { rcpt, rcptText: replies.map((r) => r.text), data: data.code, dataText: data.text };
  } finally {
    await client.close();
  }
}

let app: App;
const receiver = new Receiver();
let support: { id: string; secret: string };
let replies: { id: string; secret: string };
let webhook: { id: string; secret: string };

beforeAll(async () => {
  await receiver.start();
  app = await startTestApp({
    webhooks: { allowPrivateTargets: true, retry: { firstDelaySeconds: 1, maxDelaySeconds: 1, maxAgeSeconds: 3600 } },
    inbound: { attachmentContentBytes: 64 },
  });
  const a = await apiCall(app, 'POST', '/api/v1/inbound-routes', { pattern: 'support@in.shop.example', url: receiver.url('/support') });
  expect(a.status, JSON.stringify(a.body)).toBe(201);
  support = a.body;
  const b = await apiCall(app, 'POST', '/api/v1/inbound-routes', { pattern: 'reply+*@Shop.Example', url: receiver.url('/replies') });
  expect(b.status, JSON.stringify(b.body)).toBe(201);
  replies = b.body;
  const w = await apiCall(app, 'POST', '/api/v1/webhooks', { url: receiver.url('/events'), events: ['inbound'] });
  expect(w.status, JSON.stringify(w.body)).toBe(201);
  webhook = w.body;
});
afterAll(async () => {
  await app?.stop();
  await receiver.stop();
});

describe('inbound routes', () => {
  it('POSTs a routed mail as signed JSON with Japanese text decoded, html and attachments', async () => {
    const sent = await smtp(app, 'bounce-123@customer.example', ['Support@IN.shop.example'], japaneseMail('support@in.shop.example'));
    expect(sent.rcpt).toEqual([250]);
    expect(sent.data, sent.dataText).toBe(250);
    const id = /queued as (\w+)/.exec(sent.dataText)?.[1];
    expect(id).toBeTruthy();

    const post = await eventually(async () => receiver.on('/support')[0], 15_000, 'the POST');
    expect(verifySignature(support.secret, post)).toBe(true);
    expect(post.headers['x-sokutatsu-event']).toBe('inbound');
    expect(post.headers['x-sokutatsu-event-id']).toBe(`${id}.${support.id}`);
    const p = post.json;
    expect(p.id).toBe(id);
    expect(p.type).toBe('inbound');
    expect(p.route).toEqual({ id: support.id, pattern: 'support@in.shop.example' });
    expect(Date.parse(p.receivedAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(p.envelope).toEqual({ from: 'bounce-123@customer.example', to: ['Support@IN.shop.example'] });
    expect(p.subject).toBe('お問い合わせ：注文番号 1234');
    expect(p.from).toEqual([{ name: '山田 太郎', address: 'taro@customer.example' }]);
    expect(p.to).toEqual([{ name: '', address: 'support@in.shop.example' }]);
    expect(p.cc).toEqual([{ name: 'Hanako', address: 'hanako@customer.example' }]);
    expect(p.messageId).toBe('<reply-1@customer.example>');
    expect(p.inReplyTo).toBe('<order-1234@shop.example>');
    expect(p.references).toEqual(['<order-1234@shop.example>', '<order-1234-2@shop.example>']);
    expect(p.date).toBe('2026-12-06T01:00:00.000Z');
    expect(p.text.trim()).toBe('注文の配送について質問があります。');
    expect(p.html).toContain('<p>注文の<b>配送</b>について</p>');
    expect(p.headers.find((h: any) => h.name === 'Subject').value).toBe('お問い合わせ：注文番号 1234');
    expect(p.parseError).toBeNull();
    // 64 bytes of attachment content allowed in this test: the PDF (26 bytes) fits, the image (26) too, nothing is omitted.
    const pdf = p.attachments.find((a: any) => a.filename === 'invoice.pdf');
    expect(pdf).toMatchObject({ contentType: 'application/pdf', size: 26, contentId: null, contentOmitted: false });
    expect(Buffer.from(pdf.content, 'base64').toString('latin1')).toBe('%PDF-1.4 invoice bytes \x00\x01\x02');
    const gif = p.attachments.find((a: any) => a.contentType === 'image/gif');
    expect(gif).toMatchObject({ contentId: 'logo@x', size: 26, contentOmitted: false });

    // The event: in the stream, and at a webhook endpoint that asked for `inbound`.
    const events = await app.events.read();
    const ev = events.find((e) => e.type === 'inbound' && e.messageId === id);
    expect(ev).toMatchObject({ address: 'Support@IN.shop.example', domain: 'in.shop.example' });
    expect(ev!.detail).toContain(support.id);
    const hook = await eventually(async () => receiver.on('/events').find((r) => r.json.messageId === id), 15_000, 'the inbound webhook');
    expect(verifySignature(webhook.secret, hook)).toBe(true);
    expect(hook.json).toMatchObject({ type: 'inbound', recipient: 'Support@IN.shop.example', domain: 'in.shop.example' });

    // Done: the raw mail is gone from Redis, the route's log says delivered.
    await eventually(async () => (await app.redis.exists(app.keys.inboundMessage(id!))) === 0, 5000, 'the raw mail deleted');
    const log = await apiCall(app, 'GET', `/api/v1/inbound-routes/${support.id}/deliveries`);
    expect(log.body.deliveries[0]).toMatchObject({ eventId: `${id}.${support.id}`, outcome: 'delivered', status: 200, attempt: 1 });
  });

  it('leaves attachment content out past inbound.attachmentContentBytes, with a flag', async () => {
    const big = Buffer.alloc(100, 7).toString('base64');
    const mail = ['From: <a@customer.example>', 'To: <reply+42@shop.example>', 'Subject: big', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b"', '',
      '--b', 'Content-Type: text/plain', '', 'see attached', '--b', 'Content-Type: application/octet-stream; name="big.bin"', 'Content-Transfer-Encoding: base64', '', big, '--b--', ''].join('\r\n');
    const sent = await smtp(app, 'a@customer.example', ['reply+42@shop.example'], mail);
    expect(sent.data, sent.dataText).toBe(250);
    const post = await eventually(async () => receiver.on('/replies').find((r) => r.json.subject === 'big'), 15_000, 'the POST');
    expect(verifySignature(replies.secret, post)).toBe(true);
    expect(post.json.attachments).toEqual([{ filename: 'big.bin', contentType: 'application/octet-stream', size: 100, contentId: null, contentOmitted: true }]);
  });

  it('keeps 8-bit bodies byte-exact through Redis: Shift_JIS decoded to UTF-8', async () => {
    const sjis = Buffer.from(Encoding.convert(Encoding.stringToCode('半角ｶﾅと全角の混在、①②'), { to: 'SJIS', from: 'UNICODE' }) as number[]);
    const mail = Buffer.concat([
      Buffer.from('From: <a@customer.example>\r\nTo: <reply+sjis@shop.example>\r\nSubject: sjis\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=Shift_JIS\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'),
      sjis,
      Buffer.from('\r\n'),
    ]);
    const sent = await smtp(app, 'a@customer.example', ['reply+sjis@shop.example'], mail);
    expect(sent.data, sent.dataText).toBe(250);
    const post = await eventually(async () => receiver.on('/replies').find((r) => r.json.subject === 'sjis'), 15_000, 'the POST');
    expect(post.json.text.trim()).toBe('半角ｶﾅと全角の混在、①②');
  });

  it('retries after a 500 with the same id until a 2xx', async () => {
    let calls = 0;
    receiver.respond = (req, res) => {
      if (req.path === '/replies' && req.json?.subject === 'retry me' && ++calls === 1) {
        res.statusCode = 500;
        return void res.end('busy');
      }
      res.end('ok');
    };
    const sent = await smtp(app, 'a@customer.example', ['reply+order-9@shop.example'], plainMail('reply+order-9@shop.example', 'retry me'));
    expect(sent.data, sent.dataText).toBe(250);
    const posts = await eventually(async () => {
      const got = receiver.on('/replies').filter((r) => r.json.subject === 'retry me');
      return got.length >= 2 ? got : null;
    }, 20_000, 'the retried POST');
    expect(posts[0]!.json.id).toBe(posts[1]!.json.id);
    expect(posts[0]!.body).toBe(posts[1]!.body);
    for (const p of posts) expect(verifySignature(replies.secret, p)).toBe(true);
    await eventually(async () => {
      const entries = (await apiCall(app, 'GET', `/api/v1/inbound-routes/${replies.id}/deliveries?limit=10`)).body.deliveries.filter((d: any) => d.eventId.startsWith(posts[0]!.json.id));
      return entries.length === 2 ? entries : null;
    }, 5000, 'two log entries');
    const entries = (await apiCall(app, 'GET', `/api/v1/inbound-routes/${replies.id}/deliveries?limit=10`)).body.deliveries.filter((d: any) => d.eventId.startsWith(posts[0]!.json.id));
    expect(entries.map((e: any) => [e.attempt, e.outcome, e.status])).toEqual([[2, 'delivered', 200], [1, 'retrying', 500]]);
    receiver.respond = (_req, res) => void res.end('ok');
  });

  it('refuses unrouted and disabled addresses with 550 5.7.1, and takes them once a route is enabled', async () => {
    const refused = await smtp(app, 'a@customer.example', ['nobody@in.shop.example', 'support@shop.example', 'support@in.shop.example.evil.example', 'reply@shop.example'], plainMail('x@y.example', 'no'));
    expect(refused.rcpt).toEqual([550, 550, 550, 550]);
    for (const t of refused.rcptText) expect(t).toMatch(/^550 5\.7\.1 /);

    expect((await apiCall(app, 'PATCH', `/api/v1/inbound-routes/${support.id}`, { enabled: false })).status).toBe(200);
    const disabled = await smtp(app, 'a@customer.example', ['support@in.shop.example'], plainMail('support@in.shop.example', 'disabled'));
    expect(disabled.rcpt).toEqual([550]);
    expect((await apiCall(app, 'PATCH', `/api/v1/inbound-routes/${support.id}`, { enabled: true })).body.enabled).toBe(true);
    const again = await smtp(app, 'a@customer.example', ['support@in.shop.example'], plainMail('support@in.shop.example', 'enabled again'));
    expect(again.rcpt).toEqual([250]);
    expect(again.data).toBe(250);
  });

  it('handles a VERP bounce address and a routed address in one transaction: the route gets only its recipient', async () => {
    const verp = new Verp(await sharedSecret(app.redis, app.keys, 'verp')).address({ messageId: '0mwxc390e15b5404c887dcb2f', rcpt: 0 }, 'mta.test.example');
    const sent = await smtp(app, '', [verp, 'reply+mixed@shop.example', 'stranger@shop.example'], plainMail('reply+mixed@shop.example', 'mixed'));
    expect(sent.rcpt).toEqual([250, 250, 550]);
    expect(sent.data, sent.dataText).toBe(250);
    const post = await eventually(async () => receiver.on('/replies').find((r) => r.json.subject === 'mixed'), 15_000, 'the POST');
    expect(post.json.envelope).toEqual({ from: '', to: ['reply+mixed@shop.example'] });
  });

  it('POSTs a mail mailparser cannot parse with its raw headers and parseError, without a crash or a retry loop', async () => {
    const folded = Array.from({ length: 25_000 }, () => ' ' + 'x'.repeat(70)).join('\r\n');
    const mail = ['From: <a@customer.example>', 'To: <reply+broken@shop.example>', `Subject: =?UTF-8?B?${Buffer.from('壊れた').toString('base64')}?=`, `X-Huge:${folded}`, 'Content-Type: multipart/mixed; boundary="never-closed"', '', '--never-closed', 'Content-Type: text/plain', '', 'hi', ''].join('\r\n');
    const sent = await smtp(app, 'a@customer.example', ['reply+broken@shop.example'], mail);
    expect(sent.data, sent.dataText).toBe(250);
    const post = await eventually(async () => receiver.on('/replies').find((r) => r.json.parseError), 15_000, 'the POST');
    expect(post.json.parseError).toMatch(/could not be parsed/);
    expect(post.json.headers.find((h: any) => h.name === 'Subject').value).toBe('壊れた');
    expect(post.json.headers.find((h: any) => h.name === 'X-Huge').value.length).toBeLessThanOrEqual(8192);
    expect(post.json).toMatchObject({ text: null, html: null, attachments: [], subject: null });
    await new Promise((r) => setTimeout(r, 1500));
    expect(receiver.on('/replies').filter((r) => r.json.parseError)).toHaveLength(1);
    // The app still takes mail.
    expect((await smtp(app, 'a@customer.example', ['reply+after@shop.example'], plainMail('reply+after@shop.example', 'after'))).data).toBe(250);
  });
});

describe('/api/v1/inbound-routes', () => {
  it('creates, lists without secrets, changes and deletes', async () => {
    const created = await apiCall(app, 'POST', '/api/v1/inbound-routes', { pattern: '*@*.In.Example.org', url: receiver.url('/x'), enabled: false });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ pattern: '*@*.in.example.org', enabled: false });
    expect(created.body.secret).toMatch(/^whsec_/);
    const list = await apiCall(app, 'GET', '/api/v1/inbound-routes');
    expect(list.body.routes.map((r: any) => r.id)).toContain(created.body.id);
    expect(JSON.stringify(list.body)).not.toContain('whsec_');
    const one = await apiCall(app, 'GET', `/api/v1/inbound-routes/${created.body.id}`);
    expect(one.body.secret).toBeUndefined();
    const changed = await apiCall(app, 'PATCH', `/api/v1/inbound-routes/${created.body.id}`, { pattern: 'help@in.example.org' });
    expect(changed.body.pattern).toBe('help@in.example.org');
    expect((await apiCall(app, 'DELETE', `/api/v1/inbound-routes/${created.body.id}`)).status).toBe(204);
    expect((await apiCall(app, 'GET', `/api/v1/inbound-routes/${created.body.id}`)).status).toBe(404);
    expect((await apiCall(app, 'DELETE', `/api/v1/inbound-routes/${created.body.id}`)).status).toBe(404);
  });

  it('answers 400 for bad patterns, URLs and fields, 404 for unknown ids', async () => {
    const bad: unknown[] = [
      { url: receiver.url('/x') },
      { pattern: 'support@in.shop.example' },
      { pattern: 'no-at-sign', url: receiver.url('/x') },
      { pattern: '@in.shop.example', url: receiver.url('/x') },
      { pattern: 'a@nodot', url: receiver.url('/x') },
      { pattern: 'a@in.*.example', url: receiver.url('/x') },
      { pattern: '"quoted"@in.shop.example', url: receiver.url('/x') },
      { pattern: 'a@in.shop.example', url: 'ftp://127.0.0.1/x' },
      { pattern: 'a@in.shop.example', url: 'http://user:pw@127.0.0.1/x' },
      { pattern: 'a@in.shop.example', url: 'not a url' },
      { pattern: 'a@in.shop.example', url: receiver.url('/x'), extra: true },
      { pattern: 'a@in.shop.example', url: receiver.url('/x'), enabled: 'yes' },
      'not json',
    ];
    for (const body of bad) {
      const res = await apiCall(app, 'POST', '/api/v1/inbound-routes', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toMatch(/^invalid/);
      expect(res.body.error.message.length).toBeGreaterThan(5);
    }
    expect((await apiCall(app, 'PATCH', `/api/v1/inbound-routes/${support.id}`, { pattern: 'bad pattern' })).status).toBe(400);
    expect((await apiCall(app, 'PATCH', `/api/v1/inbound-routes/${support.id}`, { secret: 'mine' })).status).toBe(400);
    expect((await apiCall(app, 'GET', `/api/v1/inbound-routes/${support.id}/deliveries?limit=0`)).status).toBe(400);
    expect((await apiCall(app, 'GET', '/api/v1/inbound-routes/ir_0000000000000000')).status).toBe(404);
    expect((await apiCall(app, 'POST', '/api/v1/inbound-routes', { pattern: 'a@in.shop.example', url: receiver.url('/x') }, null)).status).toBe(401);
  });

  it('refuses private and loopback URLs unless webhooks.allowPrivateTargets (the SSRF rule of webhooks)', async () => {
    const strict = await startTestApp();
    try {
      for (const url of ['http://127.0.0.1:9/in', 'http://10.1.2.3/in', 'http://169.254.169.254/latest', 'http://[::1]/in', 'http://localhost/in']) {
        const res = await apiCall(strict, 'POST', '/api/v1/inbound-routes', { pattern: 'a@in.shop.example', url });
        expect(res.status, url).toBe(400);
        expect(res.body.error.message).toMatch(/^url: /);
      }
    } finally {
      await strict.stop();
    }
  });
});

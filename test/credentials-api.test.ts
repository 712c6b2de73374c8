/**
 * /api/v1/credentials as a CRM provisioning senders calls it: create (generated password shown
 * once, or a chosen one checked for strength), list and get without secrets, change domains,
 * rotate, delete — and what SMTP makes of each change: the credential logs in over STARTTLS and
 * sends From its domains only, a rotated or deleted one no longer logs in.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import nodemailer from 'nodemailer';
import type { App } from '../src/app.js';
import { apiCall, startTestApp } from './support/app.js';
import { startSink, type Sink } from './support/sink.js';

let app: App;
let sink: Sink;
beforeAll(async () => {
  sink = await startSink();
  app = await startTestApp({ delivery: { routes: [{ match: '*', host: '127.0.0.1', port: sink.port, tls: 'none' }] } });
});
afterAll(async () => {
  await app?.stop();
  await sink?.close();
});

/** Sends over submission with STARTTLS and AUTH; the 250 reply's text, or the error's. */
async function send(user: string, pass: string, from: string): Promise<string> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: app.ports.submission, secure: false, requireTLS: true, tls: { rejectUnauthorized: false }, auth: { user, pass } });
  try {
    return (await transport.sendMail({ from, to: 'x@dest.example', subject: 'credential test', text: 'hello' })).response;
  } catch (err) {
    return `error: ${(err as Error).message}`;
  } finally {
    transport.close();
  }
}

describe('/api/v1/credentials', () => {
  it('requires the admin token on every route', async () => {
    const routes: [string, string, unknown?][] = [
      ['GET', '/api/v1/credentials'],
      ['POST', '/api/v1/credentials', { name: 'x', domains: ['a.example'] }],
      ['GET', '/api/v1/credentials/x'],
      ['PATCH', '/api/v1/credentials/x', { domains: ['a.example'] }],
      ['POST', '/api/v1/credentials/x/rotate'],
      ['DELETE', '/api/v1/credentials/x'],
    ];
    for (const [method, path, body] of routes) {
      expect((await apiCall(app, method, path, body, null)).status, `${method} ${path}`).toBe(401);
    }
    expect((await apiCall(app, 'GET', '/api/v1/credentials/x')).status).toBe(404);
  });

  it('validates names, domains and chosen passwords, naming what is wrong', async () => {
    const post = (body: unknown) => apiCall(app, 'POST', '/api/v1/credentials', body);
    expect(await post('{nope')).toMatchObject({ status: 400, body: { error: { code: 'invalid_json' } } });
    expect((await post({ name: 'has space', domains: ['a.example'] })).body.error.message).toMatch(/^name: /);
    expect((await post({ name: 'crm', domains: [] })).body.error.message).toMatch(/^domains: /);
    expect((await post({ name: 'crm', domains: ['not a domain'] })).body.error.message).toMatch(/^domains\.0: not a domain name/);
    expect((await post({ name: 'crm', domains: ['a.example'], extra: 1 })).status).toBe(400);
    expect(await post({ name: 'crm', domains: ['a.example'], password: 'short1' })).toMatchObject({ status: 400, body: { error: { code: 'invalid', message: expect.stringMatching(/^password: .*at least 12 characters/) } } });
    expect((await post({ name: 'crm', domains: ['a.example'], password: 'onlylowercaseletters' })).body.error.message).toMatch(/at least two of/);
    expect((await post({ name: 'crm', domains: ['a.example'], password: 'aaaaaaaaaaaa1' })).body.error.message).toMatch(/too few different/);
    expect((await apiCall(app, 'PATCH', '/api/v1/credentials/crm', { domains: 'a.example' })).status).toBe(400);
    expect((await apiCall(app, 'POST', '/api/v1/credentials/crm/rotate', { password: 'weak' })).status).toBe(400);
    // Nothing was created by the refusals.
    expect((await apiCall(app, 'GET', '/api/v1/credentials')).body.credentials).toEqual([]);
  });

  it('create returns a generated password once; it logs in over STARTTLS and sends From its domains only', async () => {
    const created = await apiCall(app, 'POST', '/api/v1/credentials', { name: 'shop-crm', domains: ['Shop.Example'] });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ name: 'shop-crm', domains: ['shop.example'], createdAt: expect.stringMatching(/^\d{4}-/), password: expect.stringMatching(/^[A-Za-z0-9_-]{24}$/) });
    const password = created.body.password as string;

    expect(await apiCall(app, 'POST', '/api/v1/credentials', { name: 'shop-crm', domains: ['other.example'] })).toMatchObject({ status: 409, body: { error: { code: 'exists' } } });

    // Never again: not in the list, not in get, not in the stored record's answer.
    const list = await apiCall(app, 'GET', '/api/v1/credentials');
    expect(list.body.credentials).toEqual([{ name: 'shop-crm', domains: ['shop.example'], createdAt: created.body.createdAt }]);
    expect(JSON.stringify(list.body)).not.toContain(password);
    expect(JSON.stringify(list.body)).not.toMatch(/scrypt/);
    expect((await apiCall(app, 'GET', '/api/v1/credentials/shop-crm')).body).toEqual({ name: 'shop-crm', domains: ['shop.example'], createdAt: created.body.createdAt });

    expect(await send('shop-crm', password, 'news@mail.shop.example')).toMatch(/^250 .*queued as/);
    expect(await send('shop-crm', password, 'ceo@bank.example')).toMatch(/^error: .*5\.7\.1/);
    expect(await send('shop-crm', 'wrong-password', 'news@shop.example')).toMatch(/^error: .*535/);
    await sink.waitFor(1);
  });

  it('a chosen strong password is accepted and never echoed; PATCH changes the domains SMTP allows', async () => {
    const chosen = 'Correct-Horse-42';
    const created = await apiCall(app, 'POST', '/api/v1/credentials', { name: 'agency@example.jp', domains: ['a.example'], password: chosen });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ name: 'agency@example.jp', domains: ['a.example'], createdAt: expect.any(String) });
    expect(await send('agency@example.jp', chosen, 'x@b.example')).toMatch(/^error: .*5\.7\.1/);

    const patched = await apiCall(app, 'PATCH', '/api/v1/credentials/agency%40example.jp', { domains: ['b.example', 'c.example'] });
    expect(patched).toMatchObject({ status: 200, body: { name: 'agency@example.jp', domains: ['b.example', 'c.example'], createdAt: created.body.createdAt } });
    expect(patched.body.password).toBeUndefined();
    expect(await send('agency@example.jp', chosen, 'x@b.example')).toMatch(/^250 /);
    expect(await send('agency@example.jp', chosen, 'x@a.example')).toMatch(/^error: .*5\.7\.1/);
    expect((await apiCall(app, 'PATCH', '/api/v1/credentials/nobody', { domains: ['a.example'] })).status).toBe(404);
  });

  it('rotate returns a new password once and the old one stops working; delete ends logins', async () => {
    const created = await apiCall(app, 'POST', '/api/v1/credentials', { name: 'rotating', domains: ['r.example'] });
    const old = created.body.password as string;
    const rotated = await apiCall(app, 'POST', '/api/v1/credentials/rotating/rotate');
    expect(rotated).toMatchObject({ status: 200, body: { name: 'rotating', domains: ['r.example'], password: expect.any(String) } });
    expect(rotated.body.password).not.toBe(old);
    expect(await send('rotating', old, 'a@r.example')).toMatch(/^error: .*535/);
    expect(await send('rotating', rotated.body.password, 'a@r.example')).toMatch(/^250 /);

    const chosen = await apiCall(app, 'POST', '/api/v1/credentials/rotating/rotate', { password: 'Another-Strong-Pass-7' });
    expect(chosen.status).toBe(200);
    expect(chosen.body.password).toBeUndefined();
    expect(await send('rotating', 'Another-Strong-Pass-7', 'a@r.example')).toMatch(/^250 /);
    expect((await apiCall(app, 'POST', '/api/v1/credentials/nobody/rotate')).status).toBe(404);

    expect((await apiCall(app, 'DELETE', '/api/v1/credentials/rotating')).status).toBe(204);
    expect(await apiCall(app, 'DELETE', '/api/v1/credentials/rotating')).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect(await send('rotating', 'Another-Strong-Pass-7', 'a@r.example')).toMatch(/^error: .*535/);
  });
});

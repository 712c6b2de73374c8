/**
 * policy.requireVerifiedDomains: mail must be From a sending domain (or a subdomain of one) whose
 * DNS records verified; the refusal names the domain and the command that shows what to publish.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { inject } from 'vitest';
import { Redis } from 'ioredis';
import { openDomains } from '../src/domains/domain-service.js';
import { createResolver } from '../src/dns.js';
import { apiCall, apiGet, eventually, startTestApp } from './support/app.js';
import { startDnsServer, type DnsTestServer } from './support/dns-server.js';
import { publish } from './support/published-dns.js';
import { startSink, type Sink } from './support/sink.js';
import { RawSmtp, type SmtpReply } from './support/raw-smtp.js';

let app: App;
let sink: Sink;
let dns: DnsTestServer;

beforeAll(async () => {
  sink = await startSink();
  dns = await startDnsServer();
  app = await startTestApp({
    smtp: { trustedNetworks: ['127.0.0.1/32'] },
    policy: { requireVerifiedDomains: true },
    dns: { servers: [dns.address] },
    delivery: { routes: [{ match: '*', host: '127.0.0.1', port: sink.port, tls: 'none' }] },
  });
  for (const domain of ['pending.example', 'shop.example']) expect((await apiCall(app, 'POST', '/api/v1/domains', { domain, key: 'ed25519' })).status).toBe(201);
  publish(dns, (await apiGet(app, '/api/v1/domains/shop.example/records')).body.records);
  expect((await apiCall(app, 'POST', '/api/v1/domains/shop.example/verify')).body.verified).toBe(true);
});

afterAll(async () => {
  await app?.stop();
  await sink?.close();
  await dns?.close();
});

async function sendFrom(from: string | null): Promise<SmtpReply> {
  const { client } = await RawSmtp.connect(app.ports.submission!);
  await client.ehlo();
  await client.send('MAIL FROM:<bounces@shop.example>');
  await client.send('RCPT TO:<x@dest.example>');
  const reply = await client.data(`${from ? `From: ${from}\r\n` : ''}To: x@dest.example\r\nSubject: policy\r\n\r\nHello.\r\n`);
  await client.close();
  return reply;
}

describe('policy.requireVerifiedDomains', () => {
  it('refuses a From domain that is not a sending domain, naming it and the command to run', async () => {
    const reply = await sendFrom('a@unknown.example');
    expect(reply.text).toMatch(/^550 5\.7\.1 From: domain unknown\.example is not a sending domain/);
    expect(reply.text).toContain('sokutatsu domain add unknown.example');
  });

  it('refuses a sending domain whose records have not verified', async () => {
    const reply = await sendFrom('a@pending.example');
    expect(reply.text).toMatch(/^550 5\.7\.1 From: domain pending\.example is not verified yet/);
    expect(reply.text).toContain('sokutatsu domain records pending.example');
  });

  it('refuses a message without From:', async () => {
    expect((await sendFrom(null)).text).toMatch(/^550 5\.6\.0 Message has no From: header/);
  });

  it('sees a domain verified elsewhere (CLI, another node) within a second or two, not after a cache period', async () => {
    expect((await sendFrom('a@late.example')).text).toMatch(/^550 5\.7\.1 From: domain late\.example is not a sending domain/);
    // Another process: its own connection and store, as `sokutatsu domain add/verify` would be.
    const other = new Redis(inject('redisUrl'));
    try {
      const { service } = openDomains(other, app.keys, app.config, createResolver(app.config.dns));
      const { records } = await service.add('late.example', { keyType: 'ed25519' });
      publish(dns, records);
      expect((await service.verify('late.example', 'cli')).domain.verified).toBe(true);
    } finally {
      other.disconnect();
    }
    const started = Date.now();
    await eventually(async () => /^250 /.test((await sendFrom('a@late.example')).text), 5000, 'late.example accepted');
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('accepts a verified domain and its subdomains, and signs their mail', async () => {
    expect((await sendFrom('a@shop.example')).text).toMatch(/^250 .*queued as/);
    expect((await sendFrom('news@mail.shop.example')).text).toMatch(/^250 .*queued as/);
    const fromShop = () => sink.messages.filter((m) => /^From: .*shop\.example$/m.test(m.text));
    const received = await eventually(async () => fromShop().length === 2 && fromShop(), 20_000, 'two messages From shop.example');
    for (const m of received) expect(m.text).toMatch(/^DKIM-Signature: .*d=shop\.example/s);
  });
});

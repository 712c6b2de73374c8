/**
 * Sender domains end to end, as an operator and a receiver see them: add a domain through the
 * admin API, publish what it advises in (test) DNS, verify, send. The captured message passes
 * mailauth's DKIM, SPF (on the return-path envelope sender) and DMARC checks against that DNS —
 * for RSA-2048, RSA-1024 and Ed25519, with an ISO-2022-JP Subject and a Shift_JIS 8bit body.
 */
import { afterEach, describe, expect, it } from 'vitest';
import nodemailer from 'nodemailer';
import { authenticate } from 'mailauth';
import type { App } from '../src/app.js';
import type { KeyType } from '../src/domains/dkim-key.js';
import { apiCall, apiGet, eventually, startTestApp } from './support/app.js';
import { startSink, type Received, type Sink } from './support/sink.js';
import { startDnsServer, type DnsTestServer } from './support/dns-server.js';
import { mailauthResolver, publish } from './support/published-dns.js';

let app: App | undefined;
let sink: Sink | undefined;
let dns: DnsTestServer | undefined;
afterEach(async () => {
  await app?.stop();
  await sink?.close();
  await dns?.close();
  app = sink = dns = undefined;
});

const SENDING_IP = '192.0.2.25';
// 日本語のお知らせ in ISO-2022-JP, as an encoded word; 日本語 in Shift_JIS for the body.
const SUBJECT = `=?ISO-2022-JP?B?${Buffer.from([0x1b, 0x24, 0x42, 0x46, 0x7c, 0x4b, 0x5c, 0x38, 0x6c, 0x24, 0x4e, 0x24, 0x2a, 0x43, 0x4e, 0x24, 0x69, 0x24, 0x3b, 0x1b, 0x28, 0x42]).toString('base64')}?=`;
const SJIS_BODY = Buffer.from([0x93, 0xfa, 0x96, 0x7b, 0x8c, 0xea, 0x0d, 0x0a]);

function rawMessage(from: string): Buffer {
  const head = `From: Shop <${from}>\r\nTo: taro@dest.example\r\nSubject: ${SUBJECT}\r\nDate: Thu, 26 Nov 2026 10:00:00 +0900\r\nMessage-ID: <dkim-test@shop.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=Shift_JIS\r\nContent-Transfer-Encoding: 8bit\r\nX-Sokutatsu-Tag: dkim\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), SJIS_BODY]);
}

async function start(extra: Record<string, unknown> = {}): Promise<App> {
  dns = await startDnsServer();
  sink = await startSink();
  return startTestApp({
    smtp: { trustedNetworks: ['127.0.0.1/32'] },
    policy: { requireVerifiedDomains: true },
    dns: { servers: [dns.address] },
    domains: { spf: { ip4: [SENDING_IP] } },
    delivery: { routes: [{ match: '*', host: '127.0.0.1', port: sink.port, tls: 'none' }] },
    ...extra,
  });
}

/** Sends From `from` with the client's envelope sender `sender`; the reply text, or the message as the destination got it. */
async function send(app: App, from: string, sender = 'client-bounces@shop.example'): Promise<{ reply: string; id?: string }> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: app.ports.submission!, ignoreTLS: true });
  try {
    const info = await transport.sendMail({ envelope: { from: sender, to: ['taro@dest.example'] }, raw: rawMessage(from) });
    return { reply: info.response, id: /queued as (\S+)/.exec(info.response)![1]! };
  } catch (err) {
    return { reply: (err as { response?: string }).response ?? (err as Error).message };
  }
}

async function authenticateAsReceiver(message: Received) {
  return authenticate(message.body, { ip: SENDING_IP, helo: app!.config.hostname, sender: message.from, mta: 'mx.dest.example', resolver: mailauthResolver(dns!) });
}

describe('sender domains', () => {
  for (const keyType of ['rsa2048', 'rsa1024', 'ed25519'] as KeyType[]) {
    it(`${keyType}: add via API, refused until verified, then signed; DKIM, SPF (return-path) and DMARC pass at the receiver`, async () => {
      app = await start();
      const added = await apiCall(app, 'POST', '/api/v1/domains', { domain: 'shop.example', selector: 'sel1', key: keyType });
      expect(added.status).toBe(201);
      expect(JSON.stringify(added.body)).not.toMatch(/PRIVATE KEY|privateKey/);

      expect((await send(app, 'news@mail.shop.example')).reply).toMatch(/^550 5\.7\.1 From: domain mail\.shop\.example is not verified yet/);
      const before = await apiCall(app, 'POST', '/api/v1/domains/shop.example/verify');
      expect(before.body).toMatchObject({ verified: false, conclusive: true });
      expect(before.body.records.filter((r: { required: boolean }) => r.required).map((r: { status: string }) => r.status)).toEqual(['missing', 'missing', 'missing', 'missing', 'missing']);

      const { body: { records } } = await apiGet(app, '/api/v1/domains/shop.example/records');
      publish(dns!, records, { [app.config.hostname]: { A: [SENDING_IP] } });
      const after = await apiCall(app, 'POST', '/api/v1/domains/shop.example/verify');
      expect(after.body).toMatchObject({ verified: true, events: [{ type: 'verified' }] });

      const { id } = await send(app, 'news@mail.shop.example');
      const [received] = await sink!.waitFor(1);
      // VERP on the return-path subdomain (not the client's sender): message id, recipient 0, mac
      expect(received!.from).toMatch(new RegExp(`^b\\+${id}-0-[a-z2-7]{16}@rp\\.shop\\.example$`));
      expect(received!.body.subarray(0, 16).toString()).toBe('DKIM-Signature: ');
      expect(received!.body.subarray(received!.body.length - SJIS_BODY.length)).toEqual(SJIS_BODY);
      const h = /\bh=([^;]+)/.exec(received!.body.toString('latin1').replace(/\r\n\s+/g, ''))![1]!.split(':').map((f) => f.trim().toLowerCase());
      expect(h.filter((f) => f === 'from')).toHaveLength(2); // over-signed: one From present, listed twice

      const result = await authenticateAsReceiver(received!);
      expect(result.dkim.results.map((r) => r.status.result)).toEqual(['pass']);
      expect(result.dkim.results[0]?.signingDomain).toBe('shop.example');
      expect(result.spf && result.spf.status.result).toBe('pass');
      expect(result.spf && result.spf.domain).toBe('rp.shop.example');
      expect(result.dmarc && result.dmarc.status.result).toBe('pass');

      const event = await eventually(async () => (await apiGet(app!, `/api/v1/messages/${id}`)).body?.recipients?.[0]?.events?.find((e: { type: string }) => e.type === 'delivered'));
      expect(event.dkim).toBe('d=shop.example s=sel1');
    });
  }

  it('a From field added in transit breaks the signature (From is over-signed)', async () => {
    app = await start();
    await apiCall(app, 'POST', '/api/v1/domains', { domain: 'shop.example', selector: 'sel1' });
    publish(dns!, (await apiGet(app, '/api/v1/domains/shop.example/records')).body.records, { [app.config.hostname]: { A: [SENDING_IP] } });
    expect((await apiCall(app, 'POST', '/api/v1/domains/shop.example/verify')).body.verified).toBe(true);
    await send(app, 'news@shop.example');
    const [received] = await sink!.waitFor(1);
    expect((await authenticateAsReceiver(received!)).dkim.results[0]?.status.result).toBe('pass');
    const tampered = { ...received!, body: Buffer.concat([Buffer.from('From: CEO <ceo@shop.example>\r\n'), received!.body]) };
    expect((await authenticateAsReceiver(tampered)).dkim.results[0]?.status.result).not.toBe('pass');
  });

  it('signs with RSA and Ed25519 side by side once an Ed25519 key is added through rotation; both pass', async () => {
    app = await start();
    await apiCall(app, 'POST', '/api/v1/domains', { domain: 'shop.example', selector: 'rsa1', key: 'rsa2048' });
    const rotated = await apiCall(app, 'POST', '/api/v1/domains/shop.example/rotate', { selector: 'ed1', key: 'ed25519' });
    expect(rotated.status).toBe(201);
    publish(dns!, rotated.body.records, { [app.config.hostname]: { A: [SENDING_IP] } });
    const verified = await apiCall(app, 'POST', '/api/v1/domains/shop.example/verify');
    expect(verified.body.verified).toBe(true);
    expect(verified.body.events.map((e: { type: string }) => e.type)).toEqual(['key_activated', 'verified']); // nothing retired: another algorithm
    await send(app, 'news@shop.example');
    const [received] = await sink!.waitFor(1);
    const result = await authenticateAsReceiver(received!);
    expect(result.dkim.results.map((r) => `${r.selector}:${r.status.result}`).sort()).toEqual(['ed1:pass', 'rsa1:pass']);
  });

  it('sends mail From a domain without a key unsigned (when policy allows), with a VERP sender on our hostname, and says so', async () => {
    app = await start({ policy: { requireVerifiedDomains: false } });
    const { id } = await send(app, 'info@other.example', 'bounce@other.example');
    const [received] = await sink!.waitFor(1);
    expect(received!.from).toMatch(new RegExp(`^b\\+${id}-0-[a-z2-7]{16}@${app.config.hostname.replace(/\./g, '\\.')}$`));
    expect(received!.body.toString('latin1')).not.toMatch(/DKIM-Signature/i);
    const event = await eventually(async () => (await apiGet(app!, `/api/v1/messages/${id}`)).body?.recipients?.[0]?.events?.find((e: { type: string }) => e.type === 'delivered'));
    expect(event.dkim).toBe('unsigned: no DKIM key for other.example');
  });
});

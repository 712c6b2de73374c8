/**
 * Mail From a sending domain leaves DKIM-signed, and a receiver that looks up the records
 * `domain records` prints finds DKIM, SPF and DMARC passing — for every key type, with a
 * Japanese subject (ISO-2022-JP encoded words) and a Shift_JIS 8bit body.
 */
import { afterEach, describe, expect, it } from 'vitest';
import nodemailer from 'nodemailer';
import { authenticate } from 'mailauth';
import type { App } from '../src/app.js';
import { createDomainStore } from '../src/domains/domain-store.js';
import { recordsFor, type DnsRecord } from '../src/domains/records.js';
import type { KeyType } from '../src/domains/dkim-key.js';
import { apiGet, eventually, startTestApp } from './support/app.js';
import { startSink, type Sink } from './support/sink.js';

let app: App | undefined;
let sink: Sink | undefined;
afterEach(async () => {
  await app?.stop();
  await sink?.close();
  app = undefined;
  sink = undefined;
});

const SENDING_IP = '192.0.2.25';
// 日本語のお知らせ in ISO-2022-JP, as an encoded word; 日本語 in Shift_JIS for the body.
const SUBJECT = `=?ISO-2022-JP?B?${Buffer.from([0x1b, 0x24, 0x42, 0x46, 0x7c, 0x4b, 0x5c, 0x38, 0x6c, 0x24, 0x4e, 0x24, 0x2a, 0x43, 0x4e, 0x24, 0x69, 0x24, 0x3b, 0x1b, 0x28, 0x42]).toString('base64')}?=`;
const SJIS_BODY = Buffer.from([0x93, 0xfa, 0x96, 0x7b, 0x8c, 0xea, 0x0d, 0x0a]);

function rawMessage(from: string): Buffer {
  const head = `From: Shop <${from}>\r\nTo: taro@dest.example\r\nSubject: ${SUBJECT}\r\nDate: Thu, 26 Nov 2026 10:00:00 +0900\r\nMessage-ID: <dkim-test@shop.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=Shift_JIS\r\nContent-Transfer-Encoding: 8bit\r\nX-Sokutatsu-Tag: dkim\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), SJIS_BODY]);
}

/** A resolver that answers from the records an operator published, plus the appliance's A record. */
function publishedDns(records: DnsRecord[], hostname: string) {
  return async (name: string, type: string) => {
    const txt = records.filter((r) => r.type === 'TXT' && r.host === name).map((r) => r.strings ?? [r.value]);
    if (type === 'TXT' && txt.length) return txt;
    if (type === 'A' && name === hostname) return [SENDING_IP];
    throw Object.assign(new Error(`no ${type} for ${name}`), { code: 'ENOTFOUND' });
  };
}

/** From: `from`; the envelope sender is `sender` (until the return-path subdomain exists, the domain itself). */
async function sendAndCapture(app: App, from: string, sender = from): Promise<{ id: string; bytes: Buffer }> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: app.ports.submission!, ignoreTLS: true });
  const info = await transport.sendMail({ envelope: { from: sender, to: ['taro@dest.example'] }, raw: rawMessage(from) });
  const id = /queued as (\S+)/.exec(info.response)![1]!;
  const [received] = await sink!.waitFor(1);
  return { id, bytes: received!.body };
}

describe('DKIM signing', () => {
  for (const keyType of ['rsa2048', 'rsa1024', 'ed25519'] as KeyType[]) {
    it(`signs with ${keyType}; DKIM, SPF and DMARC pass against the published records; the body is untouched`, async () => {
      sink = await startSink();
      app = await startTestApp({ smtp: { trustedNetworks: ['127.0.0.1/32'] }, delivery: { routes: [{ match: '*', host: '127.0.0.1', port: sink.port, tls: 'none' }] } });
      const domain = await createDomainStore(app.redis, app.keys).add('shop.example', 'sel1', keyType);
      const { id, bytes } = await sendAndCapture(app, 'news@mail.shop.example', 'bounces@shop.example');

      expect(bytes.subarray(0, 16).toString()).toBe('DKIM-Signature: ');
      expect(bytes.subarray(bytes.length - SJIS_BODY.length)).toEqual(SJIS_BODY);
      const result = await authenticate(bytes, {
        ip: SENDING_IP, helo: app.config.hostname, sender: 'bounces@shop.example', mta: 'mx.dest.example',
        resolver: publishedDns(recordsFor(domain, app.config.hostname), app.config.hostname),
      });
      expect(result.dkim.results.map((r: { status: { result: string } }) => r.status.result)).toEqual(['pass']);
      expect(result.dkim.results[0]!.signingDomain).toBe('shop.example');
      expect(result.spf && result.spf.status.result).toBe('pass');
      expect(result.dmarc && result.dmarc.status.result).toBe('pass');

      const { body } = await apiGet(app, `/api/v1/messages/${id}`);
      expect(body.recipients[0].events.at(-1).dkim).toBe('d=shop.example s=sel1');
    });
  }

  it('sends mail From a domain without a key unsigned, and says so in its events', async () => {
    sink = await startSink();
    app = await startTestApp({ smtp: { trustedNetworks: ['127.0.0.1/32'] }, delivery: { routes: [{ match: '*', host: '127.0.0.1', port: sink.port, tls: 'none' }] } });
    const { id, bytes } = await sendAndCapture(app, 'info@other.example');
    expect(bytes.toString('latin1')).not.toMatch(/DKIM-Signature/i);
    const event = await eventually(async () => (await apiGet(app!, `/api/v1/messages/${id}`)).body?.recipients?.[0]?.events?.find((e: { type: string }) => e.type === 'delivered'));
    expect(event.dkim).toBe('unsigned: no DKIM key for other.example');
  });
});

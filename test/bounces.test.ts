/**
 * Bounces that come back: Sokutatsu delivers to a sink (which sees the VERP envelope sender of each
 * recipient), then a real DSN from the labelled corpus is sent to port 25 with MAIL FROM:<> to
 * those VERP addresses, as the remote MTA would. The recipients turn `bounced` with the classified
 * reason; a replay changes nothing; a forged address is refused at RCPT; a complaint is recorded.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import nodemailer from 'nodemailer';
import type { App } from '../src/app.js';
import { apiGet, eventually, startTestApp } from './support/app.js';
import { startSink, type Sink } from './support/sink.js';
import { RawSmtp } from './support/raw-smtp.js';

const CORPUS = new URL('../../shared/corpus/bounces/eml/', import.meta.url);
/** A corpus message as it arrives over SMTP: CRLF line endings. */
const sample = (name: string) => readFileSync(new URL(name, CORPUS), 'latin1').replace(/\r?\n/g, '\r\n');

let app: App | undefined;
let sink: Sink | undefined;
afterEach(async () => {
  await app?.stop();
  await sink?.close();
  app = sink = undefined;
});

async function deliverTo(recipients: string[]): Promise<{ id: string; verp: Map<string, string> }> {
  sink = await startSink();
  app = await startTestApp({ smtp: { trustedNetworks: ['127.0.0.1/32'] }, delivery: { routes: [{ match: '*', host: '127.0.0.1', port: sink.port, tls: 'none' }] } });
  const info = await nodemailer.createTransport({ host: '127.0.0.1', port: app.ports.submission!, ignoreTLS: true })
    .sendMail({ from: 'news@shop.example', to: recipients, subject: 'Campaign', text: 'Hello' });
  const id = /queued as (\S+)/.exec(info.response)![1]!;
  const received = await sink.waitFor(recipients.length);
  return { id, verp: new Map(received.map((m) => [m.to[0]!, m.from])) };
}

/** What a remote MTA does: MAIL FROM:<>, RCPT TO the VERP address(es), DATA. Returns the replies. */
async function report(port: number, to: string[], message: string): Promise<{ rcpt: number[]; data: number | null }> {
  const { client } = await RawSmtp.connect(port);
  await client.ehlo('mx.remote.example');
  expect((await client.send('MAIL FROM:<>')).code).toBe(250);
  const rcpt: number[] = [];
  for (const address of to) rcpt.push((await client.send(`RCPT TO:<${address}>`)).code);
  const data = rcpt.some((c) => c === 250) ? (await client.data(message)).code : null;
  await client.close();
  return { rcpt, data };
}

const recipient = async (a: App, id: string, address: string) => {
  const { body } = await apiGet(a, `/api/v1/messages/${id}`);
  return body.recipients.find((r: { address: string }) => r.address === address);
};

describe('bounces on port 25', () => {
  it('a real DSN to the VERP addresses bounces each recipient with its classified reason; a replay changes nothing', async () => {
    // lhost-postfix-13: kijitora "User Unknown" (5.2.1), noraneko "Mailbox Full" (5.2.2)
    const { id, verp } = await deliverTo(['kijitora@example.jp', 'noraneko@example.jp']);
    for (const address of verp.values()) expect(address).toMatch(new RegExp(`^b\\+${id}-[01]-[a-z2-7]{16}@mta\\.test\\.example$`));
    const dsn = sample('lhost-postfix-13.eml');
    expect(await report(app!.ports.inbound!, [...verp.values()], dsn)).toEqual({ rcpt: [250, 250], data: 250 });

    const unknown = await eventually(async () => ((await recipient(app!, id, 'kijitora@example.jp')).status === 'bounced' ? recipient(app!, id, 'kijitora@example.jp') : null), 5000, 'kijitora bounced');
    expect(unknown).toMatchObject({ status: 'bounced', hard: true, failure: { reason: 'userunknown', group: 'permanent', label: 'address does not exist' } });
    expect(unknown.events.at(-1)).toMatchObject({ type: 'bounced', source: 'dsn', enhancedCode: '5.2.1', code: 550, hard: true });
    const full = await recipient(app!, id, 'noraneko@example.jp');
    expect(full).toMatchObject({ status: 'bounced', hard: false, failure: { reason: 'mailboxfull' } });

    // The hard bounce suppressed kijitora for every sender; the mailbox-full one is only counted.
    const next = await nodemailer.createTransport({ host: '127.0.0.1', port: app!.ports.submission!, ignoreTLS: true })
      .sendMail({ from: 'other@another.example', to: ['kijitora@example.jp', 'noraneko@example.jp'], subject: 'Next', text: 'Hello again' });
    const nextId = /queued as (\S+)/.exec(next.response)![1]!;
    const suppressed = await eventually(async () => ((await recipient(app!, nextId, 'kijitora@example.jp')).status === 'suppressed' ? recipient(app!, nextId, 'kijitora@example.jp') : null), 5000, 'suppressed');
    expect(suppressed.reason).toBe('hard bounce: address does not exist (userunknown)');
    expect(suppressed.events.at(-1)).toMatchObject({ type: 'suppressed', detail: expect.stringMatching(/^prohibited since .* \(every sender\): hard bounce/) });
    await sink!.waitFor(3);
    expect(sink!.messages.slice(2).map((m) => m.to)).toEqual([['noraneko@example.jp']]);

    // The same DSN again (a replay, or the remote's retry): accepted, nothing changes.
    const before = unknown.events.length;
    expect((await report(app!.ports.inbound!, [verp.get('kijitora@example.jp')!], dsn)).data).toBe(250);
    await new Promise((r) => setTimeout(r, 300));
    expect((await recipient(app!, id, 'kijitora@example.jp')).events).toHaveLength(before);
  });

  it('refuses forged and foreign addresses at RCPT, and records a complaint without bouncing', async () => {
    const { id, verp } = await deliverTo(['redacted@example.net']);
    const real = verp.get('redacted@example.net')!;
    const forged = real.replace(/-0-/, '-1-');
    const tampered = real.replace(/([a-z2-7])@/, (_, c: string) => `${c === 'a' ? 'b' : 'a'}@`);
    expect(await report(app!.ports.inbound!, [forged, tampered, 'postmaster@mta.test.example', 'someone@elsewhere.example'], sample('arf-01.eml'))).toEqual({ rcpt: [550, 550, 550, 550], data: null });

    expect((await report(app!.ports.inbound!, [real], sample('arf-01.eml'))).data).toBe(250);
    const complained = await eventually(async () => (await recipient(app!, id, 'redacted@example.net')).events.find((e: { type: string }) => e.type === 'complained'), 5000, 'complained event');
    expect(complained).toMatchObject({ type: 'complained', source: 'arf' });
    expect((await recipient(app!, id, 'redacted@example.net')).status).toBe('delivered');
  });
});

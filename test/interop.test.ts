/**
 * Real mail clients (swaks, curl, Python smtplib, nodemailer) against the submission
 * (STARTTLS + AUTH) and submissions (implicit TLS + AUTH) listeners, logged in as a user made
 * through the app's user store. Each message must reach a real sink with headers and body
 * intact plus our Received header, and the API must show it delivered under the queued-as id.
 * Japanese mail (ISO-2022-JP 7bit, Shift_JIS 8bit) must pass byte for byte.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import type { App } from '../src/app.js';
import { createUserStore } from '../src/intake/users.js';
import { apiGet, eventually, startTestApp } from './support/app.js';
import { startSink, type Received, type Sink } from './support/sink.js';

const run = promisify(execFile);
const USER = 'alice';
const PASSWORD = 'S3cret-pass';
const CLIENT_TIMEOUT_MS = 15_000;

let app: App;
let sink: Sink;
let tmp: string;

beforeAll(async () => {
  sink = await startSink();
  app = await startTestApp({ delivery: { routes: [{ match: '*', host: '127.0.0.1', port: sink.port, tls: 'none' }] } });
  await createUserStore(app.redis, app.keys).add(USER, PASSWORD, ['shop.example']);
  tmp = mkdtempSync(join(tmpdir(), 'sokutatsu-interop-'));
});

afterAll(async () => {
  await app?.stop();
  await sink?.close();
});

/** A marker unique to one test, put in the Subject so the sink copy can be found. */
const marker = (what: string) => `${what}-${randomBytes(4).toString('hex')}`;

function queuedId(transcript: string): string {
  const id = /queued as (\S+)/.exec(transcript)?.[1];
  expect(id, `no "queued as <ID>" in:\n${transcript}`).toBeTruthy();
  return id!;
}

async function arrived(subjectMarker: string): Promise<Received> {
  return eventually(async () => sink.messages.find((m) => m.text.includes(subjectMarker)), 15_000, `a message with ${subjectMarker} at the sink`);
}

async function delivered(id: string): Promise<void> {
  const recipient = await eventually(async () => {
    const { status, body } = await apiGet(app, `/api/v1/messages/${id}`);
    return status === 200 && body?.recipients?.[0]?.status === 'delivered' ? body.recipients[0] : null;
  }, 15_000, `message ${id} delivered`);
  expect(recipient.address).toBe('x@dest.example');
}

/** Our Received header on top, naming the client, this host, the protocol and the queue id. */
function expectReceived(message: Received, id: string): void {
  const re = new RegExp(
    String.raw`^Received: from \S+ \(\[127\.0\.0\.1\]\)\r\n\tby mta\.test\.example \(Sokutatsu\) with ESMTPSA\r\n\tid ${id}\r\n\tfor <x@dest\.example>;\r\n\t\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000\r\n`,
  );
  expect(message.text).toMatch(re);
  expect(message.text.match(/^Received: /gm)).toHaveLength(1);
}

function headerSection(message: Received): string {
  return message.text.slice(0, message.text.indexOf('\r\n\r\n') + 2);
}

function bodyAfterHeaders(buf: Buffer): Buffer {
  const i = buf.indexOf('\r\n\r\n');
  expect(i).toBeGreaterThan(0);
  return buf.subarray(i + 4);
}

describe('interop: real clients on submission (STARTTLS) and submissions (implicit TLS)', () => {
  it('swaks: STARTTLS + AUTH LOGIN on submission', async () => {
    const subject = marker('swaks');
    const { stdout } = await run(
      'swaks',
      [
        '--server', `127.0.0.1:${app.ports.submission}`,
        '--tls',
        '--auth', 'LOGIN', '--auth-user', USER, '--auth-password', PASSWORD,
        '--from', 'a@shop.example', '--to', 'x@dest.example',
        '--header', `Subject: ${subject}`,
        '--header', 'X-Interop: swaks',
        '--body', 'Hello from swaks.\nSecond line.',
      ],
      { timeout: CLIENT_TIMEOUT_MS },
    );
    // swaks prints the session: TLS was negotiated before AUTH, and AUTH succeeded.
    expect(stdout).toMatch(/-> STARTTLS[\s\S]*<-  220[\s\S]*=== TLS started[\s\S]*~> AUTH LOGIN[\s\S]*<~  235/);
    const id = queuedId(stdout);
    const message = await arrived(subject);
    expect(message.from).toMatch(new RegExp(`^b\\+${id}-0-[a-z2-7]{16}@mta\\.test\\.example$`)); // VERP: bounces name message and recipient
    expect(message.to).toEqual(['x@dest.example']);
    expectReceived(message, id);
    const headers = headerSection(message);
    expect(headers).toContain(`\r\nSubject: ${subject}\r\n`);
    expect(headers).toContain('\r\nX-Interop: swaks\r\n');
    expect(headers).toContain('\r\nFrom: a@shop.example\r\n');
    // swaks turns \n into CRLF and ends the body with blank lines of its own
    expect(bodyAfterHeaders(message.body).toString('latin1')).toMatch(/^Hello from swaks\.\r\nSecond line\.\r\n(\r\n)*$/);
    await delivered(id);
  });

  it('curl: smtps:// (implicit TLS) + AUTH on submissions, file uploaded byte for byte', async () => {
    const subject = marker('curl');
    const raw =
      `From: Shop <a@shop.example>\r\nTo: <x@dest.example>\r\nSubject: ${subject}\r\n` +
      `Date: Mon, 01 Jun 2026 09:00:00 +0900\r\nMessage-ID: <${subject}@shop.example>\r\nX-Interop: curl\r\n` +
      `MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nHello from curl.\r\n.leading dot stays\r\n`;
    const file = join(tmp, `${subject}.eml`);
    writeFileSync(file, raw, 'latin1');
    const { stderr } = await run(
      'curl',
      [
        '-sS', '-v', '--ssl-reqd', '-k',
        '--user', `${USER}:${PASSWORD}`,
        '--mail-from', 'a@shop.example', '--mail-rcpt', 'x@dest.example',
        '--upload-file', file,
        `smtps://127.0.0.1:${app.ports.submissions}`,
      ],
      { timeout: CLIENT_TIMEOUT_MS },
    );
    expect(stderr).toMatch(/SSL connection using TLSv1\.[23]/);
    expect(stderr).toMatch(/< 235 /);
    const id = queuedId(stderr);
    const message = await arrived(subject);
    expectReceived(message, id);
    // Date and Message-ID were given, so only Received is added; everything else unchanged.
    expect(message.text.endsWith(raw)).toBe(true);
    expect(message.body.length - Buffer.byteLength(raw, 'latin1')).toBe(message.text.indexOf('From: Shop'));
    await delivered(id);
  });

  it('Python smtplib: STARTTLS + login on submission', async () => {
    const subject = marker('python');
    const script = `
import smtplib, ssl, sys
port = int(sys.argv[1]); subject = sys.argv[2]
msg = ("From: a@shop.example\\r\\nTo: x@dest.example\\r\\nSubject: %s\\r\\nX-Interop: python\\r\\n\\r\\nHello from Python.\\r\\n" % subject).encode()
s = smtplib.SMTP("127.0.0.1", port, timeout=10)
s.ehlo("py.client.test")
if not s.has_extn("starttls"): raise SystemExit("no STARTTLS advertised")
s.starttls(context=ssl._create_unverified_context())
s.ehlo("py.client.test")
print("AUTH", s.esmtp_features.get("auth", ""))
code, resp = s.login(sys.argv[3], sys.argv[4])
print("LOGIN", code)
code, resp = s.mail("a@shop.example"); assert code == 250, resp
code, resp = s.rcpt("x@dest.example"); assert code == 250, resp
code, resp = s.data(msg)
print("DATA", code, resp.decode())
s.quit()
`;
    const { stdout } = await run('python3', ['-c', script, String(app.ports.submission), subject, USER, PASSWORD], { timeout: CLIENT_TIMEOUT_MS });
    expect(stdout).toMatch(/^AUTH .*PLAIN/m);
    expect(stdout).toMatch(/^AUTH .*LOGIN/m);
    expect(stdout).toMatch(/^LOGIN 235$/m);
    expect(stdout).toMatch(/^DATA 250 /m);
    const id = queuedId(stdout);
    const message = await arrived(subject);
    expectReceived(message, id);
    expect(message.text).toMatch(/^Received: from py\.client\.test /);
    expect(headerSection(message)).toContain(`\r\nSubject: ${subject}\r\nX-Interop: python\r\n`);
    expect(bodyAfterHeaders(message.body).toString('latin1')).toBe('Hello from Python.\r\n');
    await delivered(id);
  });

  it('nodemailer: secure:true on submissions', async () => {
    const subject = marker('nm-secure');
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: app.ports.submissions, secure: true, auth: { user: USER, pass: PASSWORD }, tls: { rejectUnauthorized: false } });
    const info = await transport.sendMail({ from: 'Shop <a@shop.example>', to: 'x@dest.example', subject, text: 'Hello from nodemailer over implicit TLS.', headers: { 'X-Interop': 'nodemailer-secure' } });
    transport.close();
    expect(info.accepted).toEqual(['x@dest.example']);
    const id = queuedId(info.response);
    const message = await arrived(subject);
    expectReceived(message, id);
    expect(headerSection(message)).toContain('\r\nX-Interop: nodemailer-secure\r\n');
    expect(headerSection(message)).toContain(`\r\nMessage-ID: ${info.messageId}\r\n`);
    expect(message.text).toContain('Hello from nodemailer over implicit TLS.');
    await delivered(id);
  });

  it('nodemailer: STARTTLS required (requireTLS) on submission', async () => {
    const subject = marker('nm-starttls');
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: app.ports.submission, secure: false, requireTLS: true, auth: { user: USER, pass: PASSWORD }, tls: { rejectUnauthorized: false } });
    const info = await transport.sendMail({ from: 'a@shop.example', to: 'x@dest.example', subject, text: 'Hello from nodemailer after STARTTLS.', headers: { 'X-Interop': 'nodemailer-starttls' } });
    transport.close();
    const id = queuedId(info.response);
    const message = await arrived(subject);
    expectReceived(message, id);
    expect(headerSection(message)).toContain('\r\nX-Interop: nodemailer-starttls\r\n');
    expect(message.text).toContain('Hello from nodemailer after STARTTLS.');
    await delivered(id);
  });
});

describe('interop: Japanese mail passes untouched', () => {
  const JIS_NIHONGO = Buffer.from('1b2442467c4b5c386c1b2842', 'hex'); // 日本語 in ISO-2022-JP
  const SJIS_NIHONGO = Buffer.from('93fa967b8cea', 'hex'); // 日本語 in Shift_JIS

  async function sendRaw(raw: Buffer, port: number, secure: boolean): Promise<string> {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure, requireTLS: !secure, auth: { user: USER, pass: PASSWORD }, tls: { rejectUnauthorized: false } });
    const info = await transport.sendMail({ envelope: { from: 'a@shop.example', to: ['x@dest.example'] }, raw });
    transport.close();
    return queuedId(info.response);
  }

  function rawMessage(subject: string, headers: string, body: Buffer): Buffer {
    return Buffer.concat([
      Buffer.from(
        `From: a@shop.example\r\nTo: x@dest.example\r\nSubject: =?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?= ${subject}\r\n` +
          `Date: Mon, 01 Jun 2026 09:00:00 +0900\r\nMessage-ID: <${subject}@shop.example>\r\nMIME-Version: 1.0\r\n${headers}\r\n`,
        'latin1',
      ),
      body,
    ]);
  }

  it('ISO-2022-JP (7bit, ESC $ B … ESC ( B) arrives byte for byte', async () => {
    const subject = marker('jis');
    const body = Buffer.concat([JIS_NIHONGO, Buffer.from('\r\n', 'latin1'), Buffer.from('ABC ', 'latin1'), JIS_NIHONGO, Buffer.from('\r\n', 'latin1')]);
    const raw = rawMessage(subject, 'Content-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n', body);
    const id = await sendRaw(raw, app.ports.submission!, false);
    const message = await arrived(subject);
    expectReceived(message, id);
    expect(bodyAfterHeaders(message.body).equals(body)).toBe(true);
    // the whole submitted message, headers included, is the tail of what arrived
    expect(message.body.subarray(message.body.length - raw.length).equals(raw)).toBe(true);
    await delivered(id);
  });

  it('Shift_JIS 8bit body arrives byte for byte', async () => {
    const subject = marker('sjis');
    const body = Buffer.concat([SJIS_NIHONGO, Buffer.from('\r\n', 'latin1'), SJIS_NIHONGO, SJIS_NIHONGO, Buffer.from('\r\n', 'latin1')]);
    const raw = rawMessage(subject, 'Content-Type: text/plain; charset=Shift_JIS\r\nContent-Transfer-Encoding: 8bit\r\n', body);
    const id = await sendRaw(raw, app.ports.submissions!, true);
    const message = await arrived(subject);
    expectReceived(message, id);
    expect(bodyAfterHeaders(message.body).equals(body)).toBe(true);
    expect(message.body.subarray(message.body.length - raw.length).equals(raw)).toBe(true);
    const { body: view } = await apiGet(app, `/api/v1/messages/${id}`);
    expect(view.subject).toBe(`日本語 ${subject}`);
    await delivered(id);
  });
});

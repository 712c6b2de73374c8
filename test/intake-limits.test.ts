/**
 * Bad input at intake: each case gets its documented reply (code, enhanced code, a sentence
 * naming what to change), nothing is stored for it, and the server then serves the next
 * client normally (one good message is sent and delivered after each case).
 * Also: bad config values are refused naming the key and the value, by `validate()` and by
 * `sokutatsu config check`.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import nodemailer from 'nodemailer';
import type { App } from '../src/app.js';
import { ConfigError, validate } from '../src/config/load.js';
import { createUserStore } from '../src/intake/users.js';
import { eventually, startTestApp } from './support/app.js';
import { startSink, type Sink } from './support/sink.js';
import { RawSmtp, type SmtpReply } from './support/raw-smtp.js';

const USER = 'alice';
const PASSWORD = 'S3cret-pass';

let sink: Sink;
/** apps started by one test; stopped after it */
const extraApps: App[] = [];
/** raw clients opened by one test; closed after it */
const clients: RawSmtp[] = [];

beforeAll(async () => {
  sink = await startSink();
});

afterAll(async () => {
  await sink?.close();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(extraApps.splice(0).map((a) => a.stop()));
});

const marker = (what: string) => `${what}-${randomBytes(4).toString('hex')}`;

/** An app routed to the sink with alice (shop.example) in its user store; overrides merged in. */
async function appWith(overrides: Record<string, any> = {}): Promise<App> {
  const app = await startTestApp({
    ...overrides,
    delivery: { routes: [{ match: '*', host: '127.0.0.1', port: sink.port, tls: 'none' }] },
  });
  extraApps.push(app);
  await createUserStore(app.redis, app.keys).add(USER, PASSWORD, ['shop.example']);
  return app;
}

async function connect(port: number, tls = false): Promise<{ client: RawSmtp; greeting: SmtpReply }> {
  const r = await RawSmtp.connect(port, { tls });
  clients.push(r.client);
  return r;
}

/** Connects to submission, EHLO, AUTH PLAIN (plain text: allowed from loopback). */
async function loggedIn(app: App): Promise<RawSmtp> {
  const { client, greeting } = await connect(app.ports.submission!);
  expect(greeting.code).toBe(220);
  expect((await client.ehlo()).code).toBe(250);
  const auth = await client.authPlain(USER, PASSWORD);
  expect(auth.text).toMatch(/^235 /);
  return client;
}

function expectReply(reply: SmtpReply, code: number, enhanced: string, ...words: (string | RegExp)[]): void {
  expect(reply.text, reply.text).toMatch(new RegExp(`^${code} ${enhanced.replace(/\./g, '\\.')} `));
  for (const w of words) expect(reply.text).toMatch(w);
}

/** Messages stored in this app's namespace. */
async function storedCount(app: App): Promise<number> {
  return (await app.redis.keys(`{${app.config.redis.namespace}}:msg:*`)).length;
}

/** The proof that the server still works: a normal client sends a message and it is delivered. */
async function sendGood(app: App, options: { auth?: boolean } = {}): Promise<void> {
  const subject = marker('good');
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port: app.ports.submission,
    secure: false,
    requireTLS: true,
    tls: { rejectUnauthorized: false },
    ...(options.auth === false ? {} : { auth: { user: USER, pass: PASSWORD } }),
  });
  try {
    const info = await transport.sendMail({ from: 'a@shop.example', to: 'x@dest.example', subject, text: 'All is well.' });
    expect(info.response).toMatch(/^250 .*queued as \S+/);
  } finally {
    transport.close();
  }
  await eventually(async () => sink.messages.find((m) => m.text.includes(subject)), 10_000, `good message ${subject} at the sink`);
}

function message(headers: Record<string, string>, body = 'Hello.\r\n'): string {
  const h = { From: 'a@shop.example', To: 'x@dest.example', Subject: marker('msg'), ...headers };
  return Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n' + body;
}

describe('intake limits: AUTH', () => {
  it('wrong password gets 535 5.7.8; the connection is closed with 421 after authFailuresPerConnection', async () => {
    const app = await appWith({ smtp: { limits: { authFailuresPerConnection: 2, authFailuresPerIp: 10, authLockoutSeconds: 60 } } });
    const { client } = await connect(app.ports.submission!);
    await client.ehlo();
    expectReply(await client.authPlain(USER, 'wrong'), 535, '5.7.8', /credentials invalid/i);
    expect(client.closed).toBe(false);
    expectReply(await client.authPlain(USER, 'also-wrong'), 535, '5.7.8');
    expectReply(await client.read(), 421, '4.7.0', /too many failed authentication/i);
    await client.waitClosed(2000);
    // failures per IP are counted in Redis with the lockout window as TTL
    const key = app.keys.authFailures('127.0.0.1');
    expect(await app.redis.get(key)).toBe('2');
    const ttl = await app.redis.ttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60);
    await sendGood(app);
  });

  it('AUTH LOGIN with an unknown user also gets 535 5.7.8 (no hint which part was wrong)', async () => {
    const app = await appWith();
    const { client } = await connect(app.ports.submission!);
    await client.ehlo();
    expect((await client.send('AUTH LOGIN')).code).toBe(334);
    expect((await client.send(Buffer.from('mallory').toString('base64'))).code).toBe(334);
    expectReply(await client.send(Buffer.from(PASSWORD).toString('base64')), 535, '5.7.8', /credentials invalid/i);
    await sendGood(app);
  });

  it('after authFailuresPerIp failures the IP gets 454 4.7.0 even with the right password, on every listener, until the window passes', async () => {
    const app = await appWith({ smtp: { limits: { authFailuresPerConnection: 2, authFailuresPerIp: 4, authLockoutSeconds: 60 } } });
    for (let round = 0; round < 2; round++) {
      const { client } = await connect(app.ports.submission!);
      await client.ehlo();
      expectReply(await client.authPlain(USER, 'nope'), 535, '5.7.8');
      expectReply(await client.authPlain(USER, 'nope'), 535, '5.7.8');
      expect((await client.read()).code).toBe(421);
      await client.waitClosed(2000);
    }
    // locked out: the right password is refused, naming the address and the wait
    const { client } = await connect(app.ports.submission!);
    await client.ehlo();
    expectReply(await client.authPlain(USER, PASSWORD), 454, '4.7.0', /Too many failed logins from 127\.0\.0\.1/, /try again in 1 minutes?/);
    expectReply(await client.read(), 421, '4.7.0');
    await client.waitClosed(2000);

    // the same on the implicit-TLS listener (the count lives in Redis, not in one listener)
    const { client: tlsClient } = await connect(app.ports.submissions!, true);
    await tlsClient.ehlo();
    expectReply(await tlsClient.authPlain(USER, PASSWORD), 454, '4.7.0');

    // a nodemailer client is refused too
    await expect(sendGood(app)).rejects.toThrow(/454/);
    expect(await storedCount(app)).toBe(0);

    // when the window has passed (the counter expires) the right password works again
    const key = app.keys.authFailures('127.0.0.1');
    expect(Number(await app.redis.get(key))).toBeGreaterThanOrEqual(4);
    expect(await app.redis.ttl(key)).toBeLessThanOrEqual(60);
    await app.redis.del(key);
    await sendGood(app);
  });

  it('AUTH over plain text is allowed from loopback (the 538 refusal for other addresses cannot be reached from a test on loopback)', async () => {
    const app = await appWith();
    const { client } = await connect(app.ports.submission!);
    const ehlo = await client.ehlo();
    expect(ehlo.lines).toContain('STARTTLS');
    expect(ehlo.lines.some((l) => /^AUTH( |=).*PLAIN/.test(l) && /LOGIN/.test(l))).toBe(true);
    expect((await client.authPlain(USER, PASSWORD)).text).toMatch(/^235 /);
    expect((await client.send('MAIL FROM:<a@shop.example>')).code).toBe(250);
    expect((await client.send('RCPT TO:<x@dest.example>')).code).toBe(250);
    const subject = marker('plain-auth');
    const reply = await client.data(message({ Subject: subject }));
    expect(reply.text).toMatch(/^250 .*queued as \S+/);
    const arrived = await eventually(async () => sink.messages.find((m) => m.text.includes(subject)), 10_000, 'plain-text AUTH message');
    expect(arrived.text).toMatch(/by mta\.test\.example \(Sokutatsu\) with ESMTPA\r\n/);
  });
});

describe('intake limits: one shared app (maxMessageSize 2048, maxRecipients 3)', () => {
  let app: App;

  beforeAll(async () => {
    app = await startTestApp({
      smtp: { maxMessageSize: 2048, limits: { maxRecipients: 3 } },
      delivery: { routes: [{ match: '*', host: '127.0.0.1', port: sink.port, tls: 'none' }] },
    });
    await createUserStore(app.redis, app.keys).add(USER, PASSWORD, ['shop.example']);
  });

  afterAll(async () => {
    await app?.stop();
  });

  it('unauthenticated MAIL FROM on submission from an untrusted client gets 530 5.7.0', async () => {
    const { client } = await connect(app.ports.submission!);
    await client.ehlo();
    expectReply(await client.send('MAIL FROM:<a@shop.example>'), 530, '5.7.0', /Authentication required/);
    // TLS alone is not enough: the same after STARTTLS
    expect((await client.starttls()).code).toBe(220);
    expect((await client.ehlo()).code).toBe(250);
    expectReply(await client.send('MAIL FROM:<a@shop.example>'), 530, '5.7.0');
    // and on submissions (implicit TLS)
    const { client: tlsClient } = await connect(app.ports.submissions!, true);
    await tlsClient.ehlo();
    expectReply(await tlsClient.send('MAIL FROM:<a@shop.example>'), 530, '5.7.0');
    // and a nodemailer client without credentials
    await expect(sendGood(app, { auth: false })).rejects.toThrow(/530/);
    await sendGood(app);
  });

  it('MAIL FROM a domain the user may not use gets 550 5.7.1 naming the domain and the user', async () => {
    const client = await loggedIn(app);
    expectReply(await client.send('MAIL FROM:<ceo@bank.example>'), 550, '5.7.1', /bank\.example/, /alice/, /shop\.example/);
    // a subdomain of an allowed domain is fine, a look-alike is not
    expect((await client.send('MAIL FROM:<news@mail.shop.example>')).code).toBe(250);
    expect((await client.send('RSET')).code).toBe(250);
    expectReply(await client.send('MAIL FROM:<a@evilshop.example>'), 550, '5.7.1', /evilshop\.example/);
    await sendGood(app);
  });

  it('header From: of a disallowed domain (envelope allowed) gets 550 5.7.1 at the end of DATA', async () => {
    const before = await storedCount(app);
    const client = await loggedIn(app);
    expect((await client.send('MAIL FROM:<a@shop.example>')).code).toBe(250);
    expect((await client.send('RCPT TO:<x@dest.example>')).code).toBe(250);
    const reply = await client.data(message({ From: 'Bank <ceo@bank.example>' }));
    expectReply(reply, 550, '5.7.1', /From: header domain bank\.example/, /alice/);
    expect(await storedCount(app)).toBe(before);
    // the session goes on: the next transaction on the same connection works
    expect((await client.send('MAIL FROM:<a@shop.example>')).code).toBe(250);
    expect((await client.send('RCPT TO:<x@dest.example>')).code).toBe(250);
    expect((await client.data(message({}))).text).toMatch(/^250 .*queued as/);
    await sendGood(app);
  });

  async function headerFromReply(fromLines: string): Promise<SmtpReply> {
    const client = await loggedIn(app);
    expect((await client.send('MAIL FROM:<a@shop.example>')).code).toBe(250);
    expect((await client.send('RCPT TO:<x@dest.example>')).code).toBe(250);
    return client.data(`${fromLines}\r\nTo: x@dest.example\r\nSubject: ${marker('from')}\r\n\r\nHello.\r\n`);
  }

  it('header From: is checked on the address, not the display name or a comment', async () => {
    expectReply(await headerFromReply('From: "a@shop.example" <ceo@bank.example>'), 550, '5.7.1', /bank\.example/);
    expectReply(await headerFromReply('From: ceo@bank.example (a@shop.example)'), 550, '5.7.1', /bank\.example/);
    expectReply(await headerFromReply('From: =?UTF-8?B?5pel5pys?= <ceo@bank.example>'), 550, '5.7.1', /bank\.example/);
    expect((await headerFromReply('From: =?UTF-8?B?5pel5pys?= <news@mail.shop.example>')).code).toBe(250);
    await sendGood(app);
  });

  it('refuses a free-mail From: domain with 550 5.7.1 explaining DMARC, whoever sends it', async () => {
    expectReply(await headerFromReply('From: Taro <taro@gmail.com>'), 550, '5.7.1', /gmail\.com/, /DMARC/);
    expectReply(await headerFromReply('From: a@shop.example, x@yahoo.co.jp'), 550, '5.7.1', /yahoo\.co\.jp/);
    await sendGood(app);
  });

  // RFC 5322 allows one From: field: checking only one of two would let any author stand beside an allowed one.
  it('a second From: header field is refused with 550 5.6.0', async () => {
    expectReply(await headerFromReply('From: a@shop.example\r\nFrom: ceo@bank.example'), 550, '5.6.0', /exactly one/);
    await sendGood(app);
  });

  it('every mailbox of From: is checked, and a malformed one is refused', async () => {
    expectReply(await headerFromReply('From: a@shop.example, ceo@bank.example'), 550, '5.7.1', /bank\.example/);
    expectReply(await headerFromReply('From: <a@shop.example> <ceo@bank.example>'), 550, '5.6.0', /malformed/);
    expectReply(await headerFromReply('From: ceo@bank.example@shop.example'), 550, '5.1.7', /not a valid mailbox/);
    await sendGood(app);
  });

  it('an oversize message gets 552 5.3.4 after DATA and is not stored', async () => {
    const before = await storedCount(app);
    const { client } = await connect(app.ports.submission!);
    expect((await client.ehlo()).lines).toContain('SIZE 2048');
    expect((await client.authPlain(USER, PASSWORD)).code).toBe(235);
    expect((await client.send('MAIL FROM:<a@shop.example>')).code).toBe(250);
    expect((await client.send('RCPT TO:<x@dest.example>')).code).toBe(250);
    const big = message({}, ('x'.repeat(99) + '\r\n').repeat(100)); // ~10 KB
    expectReply(await client.data(big), 552, '5.3.4', /limit is 2048 bytes/);
    expect(await storedCount(app)).toBe(before);
    await sendGood(app);
  });

  // Clients that announce their size (RFC 1870: nodemailer, Postfix) are refused before DATA.
  it('an oversize message announced with MAIL FROM SIZE= gets 552 5.3.4 at once', async () => {
    const client = await loggedIn(app);
    expectReply(await client.send('MAIL FROM:<a@shop.example> SIZE=10000'), 552, '5.3.4');
  });

  it('the 4th RCPT with maxRecipients 3 gets 452 4.5.3; the first three are kept', async () => {
    const client = await loggedIn(app);
    expect((await client.send('MAIL FROM:<a@shop.example>')).code).toBe(250);
    for (const n of [1, 2, 3]) expect((await client.send(`RCPT TO:<r${n}@dest.example>`)).code).toBe(250);
    expectReply(await client.send('RCPT TO:<r4@dest.example>'), 452, '4.5.3', /at most 3/);
    const subject = marker('three');
    expect((await client.data(message({ Subject: subject }))).text).toMatch(/^250 .*queued as/);
    await eventually(async () => sink.messages.filter((m) => m.text.includes(subject)).length === 3, 10_000, 'three deliveries');
    const to = sink.messages.filter((m) => m.text.includes(subject)).flatMap((m) => m.to).sort();
    expect(to).toEqual(['r1@dest.example', 'r2@dest.example', 'r3@dest.example']);
    await sendGood(app);
  });

  async function refusedData(body: string | Buffer): Promise<SmtpReply> {
    const client = await loggedIn(app);
    expect((await client.send('MAIL FROM:<a@shop.example>')).code).toBe(250);
    expect((await client.send('RCPT TO:<x@dest.example>')).code).toBe(250);
    expect((await client.send('DATA')).code).toBe(354);
    client.write(body);
    return client.read();
  }

  it('a bare LF in DATA gets 550 5.6.0; nothing is stored or delivered', async () => {
    const before = await storedCount(app);
    const subject = marker('bare-lf');
    const reply = await refusedData(`From: a@shop.example\nTo: x@dest.example\nSubject: ${subject}\n\nsmuggled?\n\r\n.\r\n`);
    expectReply(reply, 550, '5.6.0', /bare LF/, /CRLF/);
    expect(await storedCount(app)).toBe(before);
    await sendGood(app);
    expect(sink.messages.some((m) => m.text.includes(subject))).toBe(false);
  });

  it('a bare LF only in the body (headers CRLF) is refused too', async () => {
    const subject = marker('bare-lf-body');
    const reply = await refusedData(`From: a@shop.example\r\nSubject: ${subject}\r\n\r\nline one\nline two\r\n.\r\n`);
    expectReply(reply, 550, '5.6.0', /bare LF/);
    await sendGood(app);
    expect(sink.messages.some((m) => m.text.includes(subject))).toBe(false);
  });

  it('a bare CR in DATA gets 550 5.6.0', async () => {
    const subject = marker('bare-cr');
    const reply = await refusedData(`From: a@shop.example\r\nSubject: ${subject}\r\n\r\nline one\rline two\r\n.\r\n`);
    expectReply(reply, 550, '5.6.0', /bare CR/);
    await sendGood(app);
    expect(sink.messages.some((m) => m.text.includes(subject))).toBe(false);
  });

  it('SMTP smuggling: <LF>.<CRLF> does not end DATA, so a second message hidden after it is never run', async () => {
    const before = await storedCount(app);
    const outer = marker('outer');
    const hidden = marker('smuggled');
    const client = await loggedIn(app);
    expect((await client.send('MAIL FROM:<a@shop.example>')).code).toBe(250);
    expect((await client.send('RCPT TO:<x@dest.example>')).code).toBe(250);
    expect((await client.send('DATA')).code).toBe(354);
    client.write(
      `From: a@shop.example\r\nSubject: ${outer}\r\n\r\nhello\n.\r\n` +
        `MAIL FROM:<a@shop.example>\r\nRCPT TO:<victim@dest.example>\r\nDATA\r\nFrom: a@shop.example\r\nSubject: ${hidden}\r\n\r\nsmuggled\r\n.\r\n`,
    );
    // one reply for the whole thing: the message is refused for its bare LF, nothing else ran
    expectReply(await client.read(), 550, '5.6.0', /bare LF/);
    expect((await client.send('NOOP')).code).toBe(250);
    expect(await storedCount(app)).toBe(before);
    await sendGood(app);
    expect(sink.messages.some((m) => m.text.includes(hidden) || m.text.includes(outer) || m.to.includes('victim@dest.example'))).toBe(false);
  });

  it('a NUL byte in DATA gets 550 5.6.0; nothing is stored or delivered', async () => {
    const before = await storedCount(app);
    const subject = marker('nul');
    const reply = await refusedData(Buffer.from(`From: a@shop.example\r\nSubject: ${subject}\r\n\r\nzero \0 here\r\n.\r\n`, 'latin1'));
    expectReply(reply, 550, '5.6.0', /NUL/);
    expect(await storedCount(app)).toBe(before);
    await sendGood(app);
    expect(sink.messages.some((m) => m.text.includes(subject))).toBe(false);
  });

  it('X-Sokutatsu-Send-At: tomorrow gets 550 5.6.0 naming the header', async () => {
    const before = await storedCount(app);
    const client = await loggedIn(app);
    expect((await client.send('MAIL FROM:<a@shop.example>')).code).toBe(250);
    expect((await client.send('RCPT TO:<x@dest.example>')).code).toBe(250);
    const reply = await client.data(message({ 'X-Sokutatsu-Send-At': 'tomorrow' }));
    expectReply(reply, 550, '5.6.0', /X-Sokutatsu-Send-At/, /"tomorrow"/, /RFC 3339/);
    expect(await storedCount(app)).toBe(before);
    await sendGood(app);
  });

  it('inbound: EHLO does not advertise AUTH, AUTH is refused, and every RCPT gets 550 5.7.1', async () => {
    const { client, greeting } = await connect(app.ports.inbound!);
    expect(greeting.code).toBe(220);
    const ehlo = await client.ehlo('mx.sender.example');
    expect(ehlo.code).toBe(250);
    expect(ehlo.lines.some((l) => /^AUTH\b/i.test(l))).toBe(false);
    expect((await client.authPlain(USER, PASSWORD)).code).toBeGreaterThanOrEqual(500);
    expect((await client.send('MAIL FROM:<bounce@sender.example>')).code).toBe(250);
    for (const rcpt of ['x@dest.example', 'a@shop.example', 'postmaster@mta.test.example']) {
      expectReply(await client.send(`RCPT TO:<${rcpt}>`), 550, '5.7.1', /Relay access denied/, rcpt);
    }
    expect((await client.send('DATA')).code).toBeGreaterThanOrEqual(500);
    await sendGood(app);
  });
});

describe('intake limits: connections and time', () => {
  it('the 3rd concurrent connection from one IP with maxConnectionsPerIp 2 gets 421 4.7.0; closed ones are freed', async () => {
    const app = await appWith({ smtp: { limits: { maxConnectionsPerIp: 2 } } });
    const a = await connect(app.ports.submission!);
    const b = await connect(app.ports.submissions!, true); // counted across listeners
    expect(a.greeting.code).toBe(220);
    expect(b.greeting.code).toBe(220);
    const c = await connect(app.ports.submission!);
    expectReply(c.greeting, 421, '4.7.0', /Too many connections from 127\.0\.0\.1 \(limit 2\)/);
    await c.client.waitClosed(2000);
    await a.client.close();
    await b.client.close();
    await a.client.waitClosed(2000);
    await b.client.waitClosed(2000);
    // nothing leaked from the refused one: two at once are fine again
    await eventually(async () => {
      const x = await RawSmtp.connect(app.ports.submission!);
      const y = await RawSmtp.connect(app.ports.submission!);
      const ok = x.greeting.code === 220 && y.greeting.code === 220;
      await Promise.all([x.client.close(), y.client.close()]);
      return ok;
    }, 3000, 'two connections accepted after the others closed');
    await new Promise((r) => setTimeout(r, 100));
    await sendGood(app);
  });

  it('DATA trickled one byte every 300 ms is cut off with 421 4.4.2 after dataTimeoutSeconds (2 s)', async () => {
    const app = await appWith({ smtp: { limits: { dataTimeoutSeconds: 2 } } });
    const client = await loggedIn(app);
    expect((await client.send('MAIL FROM:<a@shop.example>')).code).toBe(250);
    expect((await client.send('RCPT TO:<x@dest.example>')).code).toBe(250);
    expect((await client.send('DATA')).code).toBe(354);
    const started = Date.now();
    const bytes = Buffer.from(message({}, 'slow '.repeat(100)), 'latin1');
    let i = 0;
    const trickle = setInterval(() => {
      if (client.closed || i >= bytes.length) return clearInterval(trickle);
      client.write(bytes.subarray(i, ++i));
    }, 300);
    try {
      const reply = await client.read(5000);
      expectReply(reply, 421, '4.4.2', /DATA not completed within 2 s/);
      await client.waitClosed(2000);
    } finally {
      clearInterval(trickle);
    }
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(1900);
    expect(took).toBeLessThan(4000);
    expect(await storedCount(app)).toBe(0);
    await sendGood(app);
  });
});

describe('bad config values', () => {
  function configError(value: unknown): string {
    try {
      validate(value);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error('validate() accepted a bad config');
  }

  it('validate() names the key and the value found', () => {
    expect(configError({ smtp: { submission: { port: 70000 } } })).toMatch(/smtp\.submission\.port: .*\(found 70000\)/);
    expect(configError({ smtp: { submision: { port: 587 } } })).toMatch(/smtp\.submision: unknown key/);
    expect(configError({ smtp: { trustedNetworks: ['10.0.0.0/8', '300.1.1.1/8'] } })).toMatch(/smtp\.trustedNetworks\.1: expected an IP address or CIDR.*\(found "300\.1\.1\.1\/8"\)/);
    expect(configError({ smtp: { limits: { dataTimeoutSeconds: 0 } } })).toMatch(/smtp\.limits\.dataTimeoutSeconds: .*\(found 0\)/);
    expect(configError({ smtp: { maxMessageSize: '10MB' } })).toMatch(/smtp\.maxMessageSize: .*\(found "10MB"\)/);
  });

  it('`sokutatsu config check` exits 1 naming the bad key on stderr, 0 for a good file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sokutatsu-config-'));
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'hostname: mta.example.com\nsmtp:\n  submission: { port: 70000 }\n  trustedNetworks: ["300.1.1.1/8"]\n');
    const good = join(dir, 'good.yaml');
    writeFileSync(good, `hostname: mta.example.com\ndataDir: ${dir}\nsmtp:\n  submission: { port: 2587 }\n`);
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('SOKUTATSU_')) delete env[k];
    const cli = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(join('node_modules', '.bin', 'tsx'), ['src/cli.ts', ...args], { env, timeout: 20_000 }, (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
        );
      });
    const [badRun, goodRun] = await Promise.all([cli(['config', 'check', '--config', bad]), cli(['--config', good, 'config', 'check'])]);
    expect(badRun.code).toBe(1);
    expect(badRun.stderr).toMatch(/smtp\.submission\.port/);
    expect(badRun.stderr).toMatch(/70000/);
    expect(badRun.stderr).toMatch(/smtp\.trustedNetworks\.0/);
    expect(badRun.stderr).toContain(bad);
    expect(badRun.stdout).toBe('');
    expect(goodRun.code, goodRun.stderr).toBe(0);
    expect(JSON.parse(goodRun.stdout).smtp.submission.port).toBe(2587);
  });
});

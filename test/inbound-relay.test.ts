/**
 * Port 25 is never a relay (issue 5). The 16 MAIL FROM / RCPT TO combinations of nmap's
 * smtp-open-relay script — source routes, the percent hack, quoted local parts, bang paths,
 * foreign domains — plus a VERP-looking address without a valid mac, each refused at RCPT with
 * 550 5.7.1 and no DATA ever accepted. AUTH is not offered there, and VRFY / EXPN tell nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { startTestApp } from './support/app.js';
import { RawSmtp, type SmtpReply } from './support/raw-smtp.js';

let app: App;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app?.stop());

/** nmap's defaults: the test domain, the from / to local parts; srvname and ip are the target's. */
const DOMAIN = 'nmap.scanme.org';
const FROM = 'antispam';
const TO = 'relaytest';
const SRV = 'mta.test.example';
const IP = '127.0.0.1';

/** The combinations in smtp-open-relay.nse's order. */
const COMBINATIONS: Array<[from: string, to: string]> = [
  ['', `${TO}@${DOMAIN}`],
  [`${FROM}@${DOMAIN}`, `${TO}@${DOMAIN}`],
  [`${FROM}@${SRV}`, `${TO}@${DOMAIN}`],
  [`${FROM}@[${IP}]`, `${TO}@${DOMAIN}`],
  [`${FROM}@[${IP}]`, `${TO}%${DOMAIN}@[${IP}]`],
  [`${FROM}@[${IP}]`, `${TO}%${DOMAIN}@${SRV}`],
  [`${FROM}@[${IP}]`, `"${TO}@${DOMAIN}"`],
  [`${FROM}@[${IP}]`, `"${TO}%${DOMAIN}"`],
  [`${FROM}@[${IP}]`, `${TO}@${DOMAIN}@[${IP}]`],
  [`${FROM}@[${IP}]`, `"${TO}@${DOMAIN}"@[${IP}]`],
  [`${FROM}@[${IP}]`, `${TO}@${DOMAIN}@${SRV}`],
  [`${FROM}@[${IP}]`, `@[${IP}]:${TO}@${DOMAIN}`],
  [`${FROM}@[${IP}]`, `@${SRV}:${TO}@${DOMAIN}`],
  [`${FROM}@[${IP}]`, `${DOMAIN}!${TO}`],
  [`${FROM}@[${IP}]`, `${DOMAIN}!${TO}@[${IP}]`],
  [`${FROM}@[${IP}]`, `${DOMAIN}!${TO}@${SRV}`],
];

/** Addresses that look like ours but are not: VERP shape with a made-up mac, postmaster, a bare local part. */
const LOOKALIKES = [
  `b+0mwxc390e15b5404c887dcb2f-0-aaaaaaaaaaaaaaaa@${SRV}`,
  `b+0mwxc390e15b5404c887dcb2f-0-aaaaaaaaaaaaaaaa@${DOMAIN}`,
  `b+@${SRV}`,
  `postmaster@${SRV}`,
  `${TO}@[${IP}]`,
  TO,
];

async function session(): Promise<RawSmtp> {
  const { client, greeting } = await RawSmtp.connect(app.ports.inbound!);
  expect(greeting.code).toBe(220);
  expect((await client.ehlo(DOMAIN)).code).toBe(250);
  return client;
}

const refusedAsRelay = (r: SmtpReply, what: string) => {
  expect(r.code, `${what}: ${r.text}`).toBe(550);
  expect(r.text, what).toMatch(/^550[ -]5\.7\.1 /);
};

describe('port 25 is not a relay', () => {
  it('refuses all 16 of nmap smtp-open-relay\'s combinations at RCPT with 550 5.7.1 and never accepts DATA', async () => {
    const client = await session();
    try {
      for (const [from, to] of COMBINATIONS) {
        expect((await client.send('RSET')).code).toBe(250);
        const mail = await client.send(`MAIL FROM:<${from}>`);
        // Bounces come from anyone (null sender included): MAIL is accepted, the relay decision is at RCPT.
        expect(mail.code, `MAIL FROM:<${from}>: ${mail.text}`).toBe(250);
        refusedAsRelay(await client.send(`RCPT TO:<${to}>`), `MAIL FROM:<${from}> -> RCPT TO:<${to}>`);
        const data = await client.send('DATA');
        expect(data.code, `DATA after <${to}>: ${data.text}`).not.toBe(354);
        expect(data.code).toBeGreaterThanOrEqual(500);
      }
    } finally {
      await client.close();
    }
  });

  it('refuses every combination on a fresh connection too (no state carried over from RSET)', async () => {
    for (const [from, to] of COMBINATIONS) {
      const client = await session();
      try {
        expect((await client.send(`MAIL FROM:<${from}>`)).code).toBe(250);
        refusedAsRelay(await client.send(`RCPT TO:<${to}>`), `fresh: <${from}> -> <${to}>`);
        expect((await client.send('DATA')).code).not.toBe(354);
      } finally {
        await client.close();
      }
    }
  });

  it('refuses VERP look-alikes without a valid mac, postmaster and address literals', async () => {
    const client = await session();
    try {
      expect((await client.send('MAIL FROM:<>')).code).toBe(250);
      for (const to of LOOKALIKES) refusedAsRelay(await client.send(`RCPT TO:<${to}>`), `RCPT TO:<${to}>`);
      // Refused recipients add up to no transaction: DATA is not started, even sent blindly.
      const data = await client.send('DATA');
      expect(data.code).not.toBe(354);
      expect(data.code).toBeGreaterThanOrEqual(500);
    } finally {
      await client.close();
    }
  });

  it('does not offer AUTH and refuses it when tried', async () => {
    const { client } = await RawSmtp.connect(app.ports.inbound!);
    try {
      const ehlo = await client.ehlo(DOMAIN);
      expect(ehlo.lines.some((l) => /^AUTH\b/i.test(l)), ehlo.text).toBe(false);
      const auth = await client.authPlain('alice', 'secret-password');
      expect(auth.code, auth.text).toBeGreaterThanOrEqual(500);
      expect(auth.code).not.toBe(235);
      const login = await client.send('AUTH LOGIN');
      expect(login.code, login.text).toBeGreaterThanOrEqual(500);
    } finally {
      await client.close();
    }
  });

  it('VRFY and EXPN disclose nothing about users', async () => {
    const client = await session();
    try {
      const replies: SmtpReply[] = [];
      for (const cmd of ['VRFY postmaster', `VRFY postmaster@${SRV}`, 'VRFY root', `VRFY nobody-${Date.now()}@${SRV}`, 'EXPN postmaster', 'EXPN all', 'VRFY', 'EXPN']) {
        const r = await client.send(cmd);
        replies.push(r);
        // 252 "cannot verify", 502 not implemented or 5xx syntax: never 250/251 with a mailbox.
        expect([252, 500, 501, 502, 550], `${cmd}: ${r.text}`).toContain(r.code);
        expect(r.text, cmd).not.toMatch(/<[^>]+@[^>]+>/);
      }
      // The same answer for an address that might exist and one that cannot: nothing to tell them apart.
      expect(replies[1]!.text).toBe(replies[3]!.text.replace(/nobody-\d+/, 'postmaster'));
    } finally {
      await client.close();
    }
  });
});

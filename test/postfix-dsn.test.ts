/**
 * Bounces end to end with a real MTA writing the DSN: Sokutatsu delivers to a private Postfix
 * instance (test/support/postfix.ts), which accepts every recipient at RCPT and fails the delivery
 * afterwards, then sends its own DSN (MAIL FROM:<>) to the VERP envelope sender, which its
 * transport_maps route to Sokutatsu's port 25 listener. Two ways Postfix gives up:
 *   - nosuchuser@dest.test.example: a local domain, no such user: local(8) "unknown user" (5.1.1);
 *   - gone@relay.test.example: relayed to a next hop (a sink here) that answers 550 5.1.1 at RCPT.
 * Each recipient goes `delivered` (Postfix said 250) then `bounced` userunknown, hard, from the DSN;
 * the hard bounce suppresses the address, so the next message to it is `suppressed`.
 *
 * Needs Postfix installed and root (its master); skipped with the reason otherwise.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import nodemailer from 'nodemailer';
import type { App } from '../src/app.js';
import { apiGet, eventually, startTestApp } from './support/app.js';
import { startSink, type Sink } from './support/sink.js';
import { freePort, postfixUnavailable, startPostfix, type Postfix } from './support/postfix.js';

const unavailable = postfixUnavailable();
if (unavailable) console.warn(`test/postfix-dsn.test.ts skipped: ${unavailable}`);

const DEST = 'dest.test.example'; // Postfix's own (local) domain
const RELAYED = 'relay.test.example'; // a domain Postfix relays to a next hop that refuses
const LOCAL_UNKNOWN = `nosuchuser@${DEST}`;
const RELAYED_UNKNOWN = `gone@${RELAYED}`;

let app: App | undefined;
let postfix: Postfix | undefined;
let nextHop: Sink | undefined;

const recipient = async (id: string, address: string) => {
  const { body } = await apiGet(app!, `/api/v1/messages/${id}`);
  return body.recipients.find((r: { address: string }) => r.address === address);
};

const send = async (from: string, to: string[]) => {
  const info = await nodemailer.createTransport({ host: '127.0.0.1', port: app!.ports.submission!, ignoreTLS: true })
    .sendMail({ from, to, subject: 'Campaign', text: 'Hello' });
  return /queued as (\S+)/.exec(info.response)![1]!;
};

/** What Postfix logged, for a failed expectation's message. */
const postfixLog = () => `\n--- Postfix maillog ---\n${postfix?.log().split('\n').slice(-40).join('\n') ?? ''}`;

describe.skipIf(unavailable !== null)(`a local Postfix as the destination writes the DSN itself${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  beforeAll(async () => {
    nextHop = await startSink({ onRcpt: () => ({ code: 550, message: '5.1.1 <gone@relay.test.example>: Recipient address rejected: User unknown in virtual mailbox table' }) });
    // Postfix's port must be in Sokutatsu's route before either starts; Sokutatsu's port 25 must be
    // in Postfix's transport map: choose Postfix's port first, start Sokutatsu, then Postfix.
    const postfixPort = await freePort();
    app = await startTestApp({
      smtp: { trustedNetworks: ['127.0.0.1/32'] },
      delivery: { routes: [{ match: '*', host: '127.0.0.1', port: postfixPort, tls: 'none' }] },
    });
    postfix = await startPostfix({
      hostname: DEST,
      port: postfixPort,
      transports: {
        // The DSN goes to the VERP domain: Sokutatsu's hostname (no return-path domain here).
        'mta.test.example': `smtp:[127.0.0.1]:${app.ports.inbound!}`,
        [RELAYED]: `smtp:[127.0.0.1]:${nextHop.port}`,
      },
    });
  });

  afterAll(async () => {
    await app?.stop();
    await postfix?.stop();
    await nextHop?.close();
  });

  it('Postfix accepts, gives up, and its DSN turns each recipient bounced userunknown (hard); the address is then suppressed', async () => {
    const id = await send('news@shop.example', [LOCAL_UNKNOWN, RELAYED_UNKNOWN]);

    const bounced = async (address: string) => {
      try {
        return await eventually(async () => {
          const r = await recipient(id, address);
          return r?.status === 'bounced' ? r : null;
        }, 20_000, `${address} bounced`);
      } catch (err) {
        throw new Error(`${(err as Error).message}; now ${JSON.stringify(await recipient(id, address))}${postfixLog()}`);
      }
    };
    for (const address of [LOCAL_UNKNOWN, RELAYED_UNKNOWN]) {
      const r = await bounced(address);
      expect(r, address).toMatchObject({ status: 'bounced', hard: true, failure: { reason: 'userunknown', group: 'permanent', label: 'address does not exist' } });
      // Postfix said 250 to Sokutatsu first: the bounce came later, from the DSN, not from the SMTP reply.
      const types: string[] = r.events.map((e: { type: string }) => e.type);
      expect(types.indexOf('delivered'), `${address}: ${types.join(', ')}`).toBeGreaterThanOrEqual(0);
      expect(types.indexOf('delivered'), `${address}: ${types.join(', ')}`).toBeLessThan(types.lastIndexOf('bounced'));
      expect(r.events.at(-1), address).toMatchObject({ type: 'bounced', source: 'dsn', hard: true, enhancedCode: '5.1.1', failure: { reason: 'userunknown' } });
    }

    // Postfix really wrote those DSNs and handed them to Sokutatsu's port 25 (MAIL FROM:<>).
    // (postlogd writes the log a moment after the fact: wait for both DSNs' delivery lines.)
    const sentToVerp = /to=<b\+[0-9a-z]+-[01]-[a-z2-7]{16}@mta\.test\.example>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+.*status=sent/g;
    const log = await eventually(async () => (postfix!.log().match(sentToVerp)?.length === 2 && postfix!.queued() === 0 ? postfix!.log() : null), 10_000, 'both DSNs sent to Sokutatsu and Postfix\'s queue empty')
      .catch((err: Error) => { throw new Error(`${err.message}${postfixLog()}`); });
    expect(log).toMatch(new RegExp(`to=<${LOCAL_UNKNOWN}>.*status=bounced \\(unknown user: "nosuchuser"\\)`));
    expect(log).toMatch(new RegExp(`to=<${RELAYED_UNKNOWN}>.*status=bounced \\(host 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\] said: 550 5\\.1\\.1`));
    // Each DSN is a message of Postfix's own (bounce(8)), with the null sender.
    const dsnIds = [...log.matchAll(/sender non-delivery notification: ([0-9A-F]+)/g)].map((m) => m[1]!);
    expect(dsnIds).toHaveLength(2);
    for (const dsnId of dsnIds) expect(log).toContain(`${dsnId}: from=<>,`);

    // Hard bounces suppress the addresses for every sender: the next message is not delivered.
    const nextId = await send('other@another.example', [LOCAL_UNKNOWN, RELAYED_UNKNOWN]);
    for (const address of [LOCAL_UNKNOWN, RELAYED_UNKNOWN]) {
      const r = await eventually(async () => {
        const s = await recipient(nextId, address);
        return s?.status === 'suppressed' ? s : null;
      }, 10_000, `${address} suppressed`);
      expect(r.reason, address).toBe('hard bounce: address does not exist (userunknown)');
      expect(r.events.at(-1), address).toMatchObject({ type: 'suppressed' });
    }
    // Nothing more reached Postfix: only the first message's two transactions.
    expect(postfix!.log().match(/: client=/g)).toHaveLength(2);
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseBounce, preferStatus } from './dsn.js';
import { classifyBounce } from './bounce.js';

const corpus = new URL('../../../shared/corpus/bounces/eml/', import.meta.url);
const sample = (name: string): Buffer => readFileSync(new URL(name, corpus));
const crlf = (b: Buffer): Buffer => Buffer.from(b.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');

describe('parseBounce', () => {
  it('reads an RFC 3464 delivery-status report (LF and CRLF alike)', async () => {
    for (const raw of [sample('rfc3464-01.eml'), crlf(sample('rfc3464-01.eml'))]) {
      const parsed = await parseBounce(raw);
      expect(parsed.kind).toBe('dsn');
      expect(parsed.recipients).toHaveLength(1);
      expect(parsed.recipients[0]).toMatchObject({ recipient: 'userunknown@bouncehammer.jp', action: 'failed', status: '5.1.1', replyCode: 550, final: true });
    }
  });

  it('reads a non-standard (qmail) bounce from its text', async () => {
    const { results } = await classifyBounce(sample('lhost-qmail-01.eml'));
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ recipient: 'kijitora@example.ne.jp', reason: 'userunknown', hard: true });
  });

  it('an ARF report is feedback, not a bounce', async () => {
    const parsed = await parseBounce(sample('arf-02.eml'));
    expect(parsed.kind).toBe('feedback');
    const { results } = await classifyBounce(sample('arf-02.eml'));
    expect(results[0]).toMatchObject({ reason: 'feedback', hard: false });
    // no Original-Rcpt-To: the reported message's To:
    expect((await classifyBounce(sample('arf-01.eml'))).results[0]).toMatchObject({ recipient: 'redacted@example.net', reason: 'feedback' });
  });

  it('an auto-reply is vacation, not final', async () => {
    const { kind, results } = await classifyBounce(sample('rfc3834-01.eml'));
    expect(kind).toBe('autoreply');
    expect(results[0]).toMatchObject({ reason: 'vacation', hard: false, final: false });
  });

  it('a delayed DSN is recorded as not final', async () => {
    const { results } = await classifyBounce(sample('rfc3464-34.eml'));
    expect(results[0]).toMatchObject({ recipient: 'kijitora@example.com', action: 'delayed', final: false, hard: false });
  });

  it('reads Amazon SES JSON notifications (bounce, complaint, delivery)', async () => {
    expect((await classifyBounce(sample('lhost-amazonses-10.eml'))).results[0]).toMatchObject({ recipient: 'bounce@simulator.amazonses.com', reason: 'userunknown', hard: true, status: '5.1.1' });
    expect((await classifyBounce(sample('lhost-amazonses-11.eml'))).results[0]).toMatchObject({ reason: 'feedback' });
    expect((await classifyBounce(sample('lhost-amazonses-12.eml'))).results[0]).toMatchObject({ reason: 'delivered', hard: false });
  });

  it('the status that says more: the diagnostic\'s code over a generic Status: field', () => {
    expect(preferStatus('5.0.0', '5.7.1', 550)).toBe('5.7.1');
    expect(preferStatus('5.1.1', '5.0.0', 550)).toBe('5.1.1');
    expect(preferStatus('4.4.7', '4.4.1', 451)).toBe('4.4.1');
    expect(preferStatus('5.2.2', '4.2.2', 552)).toBe('5.2.2');
    expect(preferStatus(null, '5.1.1', null)).toBe('5.1.1');
  });

  it('a mailer program\'s exit (X-Unix) is a mailer error unless its status says more', async () => {
    expect((await classifyBounce(sample('lhost-postfix-43.eml'))).results[0]).toMatchObject({ reason: 'mailererror', hard: false });
    expect((await classifyBounce(sample('lhost-sendmail-13.eml'))).results[0]).toMatchObject({ reason: 'systemerror' });
  });

  it('reads the verdict heading an address list, a carrier\'s filter sign, a transcript\'s reply', async () => {
    // "The user(s) account is disabled." above "<a@ezweb.ne.jp>: 550 user unknown"
    expect((await classifyBounce(sample('lhost-ezweb-02.eml'))).results[0]).toMatchObject({ reason: 'suspend', hard: false });
    // X-SPASIGN: NG: au's spam filter refused it
    expect((await classifyBounce(sample('lhost-ezweb-01.eml'))).results[0]).toMatchObject({ reason: 'filtered', hard: false });
    // sendmail: "<<< 550 Insecure Mail Relay" comes before "554 <a@b>... Remote protocol error"
    expect((await classifyBounce(sample('lhost-v5sendmail-06.eml'))).results[0]).toMatchObject({ reason: 'norelaying' });
  });

  it('an Amazon SES bounce subtype is SES\'s own verdict', async () => {
    const json = JSON.stringify({ notificationType: 'Bounce', bounce: { bounceType: 'Transient', bounceSubType: 'MailboxFull', bouncedRecipients: [{ emailAddress: 'a@example.com', action: 'failed', status: '5.0.0', diagnosticCode: 'smtp; 550 5.0.0 rejected' }] } });
    const { results } = await classifyBounce(Buffer.from(`Subject: AWS Notification Message\nContent-Type: text/plain\n\n${json}\n`));
    expect(results[0]).toMatchObject({ recipient: 'a@example.com', reason: 'mailboxfull', hard: false });
  });

  it('the stage a failure answered sharpens it: au/KDDI, greeting refusals, Gmail states', async () => {
    // au/KDDI: "550 <addr>: User unknown" is an unknown address, "550 : User unknown" the recipient's filter
    expect((await classifyBounce(sample('lhost-messagingserver-09.eml'))).results[0]).toMatchObject({ reason: 'userunknown', hard: true });
    expect((await classifyBounce(sample('lhost-messagingserver-08.eml'))).results[0]).toMatchObject({ reason: 'filtered', hard: false });
    // sendmail transcript: the server's 554 came before any command of ours
    expect((await classifyBounce(sample('lhost-sendmail-16.eml'))).results[0]).toMatchObject({ reason: 'blocked' });
    // Exim: refused after EHLO
    expect((await classifyBounce(sample('lhost-exim-49.eml'))).results[0]).toMatchObject({ reason: 'blocked' });
  });

  it('never throws on broken input and stays bounded', async () => {
    const broken = Buffer.from('Content-Type: multipart/report; boundary="x"\n\n--x\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; a@example.com\nAction: failed\nStatus: 5.1.1\n--x');
    const parsed = await parseBounce(broken);
    expect(parsed.recipients[0]?.recipient).toBe('a@example.com');
    expect((await parseBounce(Buffer.alloc(0))).recipients).toEqual([]);
    const huge = Buffer.concat([Buffer.from('Subject: x\n\n'), Buffer.alloc(3_000_000, 'a')]);
    await expect(parseBounce(huge, { maxBytes: 100_000 })).resolves.toBeDefined();
  });
});

import { describe, expect, it } from 'vitest';
import { classifyReply, groupOf } from './classify.js';
import { compileRules } from './config-rules.js';

describe('classifyReply (synchronous SMTP failures)', () => {
  const cases: Array<[number, string | null, string, string, boolean]> = [
    [550, '5.1.1', '<a@example.com>: Recipient address rejected: User unknown in local recipient table', 'userunknown', true],
    [550, null, 'No such user here', 'userunknown', true],
    [552, '5.2.2', 'Mailbox full', 'mailboxfull', false],
    [452, '4.2.2', 'The email account that you tried to reach is over quota', 'mailboxfull', false],
    [550, '5.7.1', 'Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org', 'blocked', false],
    [550, '5.7.1', 'Message rejected as spam by Content Filtering', 'spamdetected', false],
    [550, '5.7.26', 'Unauthenticated email from example.com is not accepted due to domain\'s DMARC policy', 'authfailure', false],
    [550, '5.1.2', 'Host or domain name not found', 'hostunknown', true],
    [552, '5.3.4', 'Message size exceeds fixed maximum message size', 'mesgtoobig', false],
    [550, '5.1.6', 'Recipient has moved', 'hasmoved', true],
    [550, '5.2.1', 'The email account that you tried to reach is disabled', 'suspend', false],
    [554, '5.7.1', 'Relay access denied', 'norelaying', false],
    [550, '5.7.25', 'The IP address sending this message does not have a PTR record setup', 'requireptr', false],
    [421, '4.7.0', 'Too many concurrent SMTP connections from this IP address', 'toomanyconn', false],
    [550, null, 'このメールアドレスは存在しません', 'userunknown', true],
    [552, null, 'メールボックスの容量を超過しています', 'mailboxfull', false],
    [550, null, '迷惑メールと判断されたため受信を拒否しました', 'spamdetected', false],
    [550, null, '送信先のメールアドレスが見つかりません', 'userunknown', true],
    [550, null, '受信拒否設定により配信できませんでした', 'filtered', false],
    [451, null, 'サーバーに接続できませんでした', 'networkerror', false],
    // 5.7.1 says "not authorized" and no more: a security refusal, not an IP block (4.7.1 is the block)
    [550, '5.7.1', '<a@example.com>... Access denied', 'securityerror', false],
    [451, '4.7.1', 'Try again later', 'blocked', false],
    [554, '5.7.0', 'Header error', 'policyviolation', false],
    [550, '5.7.0', '<a@example.jp>... Please use the smtp server of your ISP.', 'blocked', false],
    // providers' own numbering (Orange), Yahoo's complaint deferral
    [550, '5.2.0', 'Mail rejete. Mail rejected. OFR_506 [506]', 'spamdetected', false],
    [421, '4.2.0', 'Service refuse. Veuillez essayer plus tard. Service refused, please try later. OFR005_505 [505]', 'systemerror', false],
    [421, '4.7.0', '[TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user complaints', 'badreputation', false],
    [554, null, 'Message rejected: Email address is not verified.', 'norelaying', false],
    [554, null, 'Too many hops', 'networkerror', false],
    [550, null, 'unable to connect to remote server: Operation timed\nout\nI\'m not going to try again; this message has been in the queue too long.', 'expired', false],
    // known MTA wordings
    [550, null, 'Sorry, your envelope recipient is in my badrcptto list', 'userunknown', true],
    [550, null, 'Utilisateur inconnu !', 'userunknown', true],
    [553, null, 'sorry, that domain isn\'t in my list of allowed rcpthosts', 'norelaying', false],
    [550, null, 'Your message has been rejected because the sender is in my black list', 'rejected', false],
    [554, null, 'Sorry, your remotehost looks suspiciously like spammer', 'blocked', false],
    [550, null, 'Recipient is only accepting mail from specific email addresses', 'filtered', false],
    [550, null, 'Boite du destinataire archivee. Archived recipient.', 'suspend', false],
    [452, null, 'Mailbox would exceed maximum allowed storage', 'mailboxfull', false],
    [421, null, 'Service not available, closing transmission channel', 'blocked', false],
    [554, '5.7.1', 'Message rejected because of unacceptable content', 'spamdetected', false],
    [552, null, 'Message too large', 'exceedlimit', false],
    [552, '5.3.4', 'Message too large', 'mesgtoobig', false],
    [550, '5.7.13', 'Account disabled', 'suspend', false],
    [554, '5.7.9', 'Authentication mechanism is too weak', 'securityerror', false],
    [501, null, 'Bad address', 'syntaxerror', false],
  ];
  it.each(cases)('%i %s %s → %s (hard %s)', (code, enhancedCode, text, reason, hard) => {
    const c = classifyReply({ code, enhancedCode, text });
    expect(c.reason).toBe(reason);
    expect(c.hard).toBe(hard);
  });

  it('a 5.7.1 reputation block is permanent but not hard, and groups as refused', () => {
    const c = classifyReply({ code: 554, enhancedCode: '5.7.1', text: 'rejected because 192.0.2.1 is listed on a blocklist' });
    expect(c).toMatchObject({ reason: 'blocked', hard: false, permanent: true, group: 'temporary', label: 'refused (spam settings etc.)' });
  });

  it('expiry after retries is expired whatever the last reply said', () => {
    const c = classifyReply({ code: 451, enhancedCode: '4.4.1', text: 'connection timed out' }, { expired: true });
    expect(c).toMatchObject({ reason: 'expired', hard: false, permanent: true });
  });

  it('the command answered sharpens the reason', () => {
    expect(classifyReply({ code: 550, text: 'User unknown', command: 'DATA' })).toMatchObject({ reason: 'filtered', hard: false });
    expect(classifyReply({ code: 553, enhancedCode: '5.1.0', text: 'sender.example does not exist', command: 'MAIL' }).reason).toBe('rejected');
    expect(classifyReply({ code: 554, text: 'go away', command: 'CONN' }).reason).toBe('blocked');
    expect(classifyReply({ code: 550, text: 'Rejected', command: 'EHLO' }).reason).toBe('blocked');
  });

  it('notaccept is hard only with a 5xx', () => {
    expect(classifyReply({ code: 556, enhancedCode: '5.1.10', text: 'Recipient address has null MX' }).hard).toBe(true);
    expect(classifyReply({ code: 450, enhancedCode: '4.3.2', text: 'System not accepting network messages' }).hard).toBe(false);
  });

  it('a recipient rejection with a reason we do not know stays undecided', () => {
    expect(classifyReply({ code: 550, text: '<a@example.net>: Recipient address rejected.' }).reason).toBe('userunknown');
    expect(classifyReply({ code: 550, enhancedCode: '5.0.0', text: '<a@example.net>: Recipient address rejected: On hold.' }).reason).toBe('onhold');
  });

  it('a reply with no code and no known text cannot be determined', () => {
    expect(classifyReply({ text: 'something odd' })).toMatchObject({ reason: 'undefined', group: 'unknown', label: 'cause cannot be determined' });
  });

  it('operator rules come before the built-in table', () => {
    const extraRules = compileRules([{ reason: 'blocked', pattern: 'user unknown at our gateway' }]);
    expect(classifyReply({ code: 550, enhancedCode: '5.1.1', text: 'user unknown at our gateway' }, { extraRules }).reason).toBe('blocked');
  });

  it('groups for operators', () => {
    expect(groupOf('userunknown', true).label).toBe('address does not exist');
    expect(groupOf('hostunknown', true).label).toBe('domain does not exist');
    expect(groupOf('networkerror', false).label).toBe('cannot connect');
    expect(groupOf('mesgtoobig', true).label).toBe('message too large');
    expect(groupOf('systemerror', true)).toEqual({ group: 'permanent', label: 'unknown permanent' });
    expect(groupOf('systemerror', false)).toEqual({ group: 'temporary', label: 'unknown temporary' });
  });
});

/**
 * The ONE bounce classifier: every failure — a 4xx/5xx reply at RCPT/DATA, a temporary failure that
 * expired, an asynchronous DSN recipient — goes through `classify()`.
 *
 * For the delivery worker (synchronous failures):
 *   classifyReply({ code: 550, enhancedCode: '5.1.1', text: 'user unknown' })      // 5xx at RCPT/DATA
 *   classifyReply({ code: 451, text: '...' }, { expired: true })                    // gave up after retries → expired
 *   `command` ('MAIL' | 'RCPT' | 'DATA' | 'CONN') sharpens it: "user unknown" after DATA is a filter
 *   (filtered), "does not exist" after MAIL FROM is about our sender (rejected).
 * For DSNs: `classifyRecipient(parsed, recipient)` with parse output from dsn.ts.
 * Operators' extra rules (config `bounce.rules`) go in `extraRules`, checked before the table.
 *
 * Output: Sisimai's reason name, `hard` with Sisimai's meaning (true only for userunknown,
 * hostunknown, hasmoved, and notaccept with a 5xx), permanent/temporary, the operators' group and
 * label, the status code and the diagnostic text.
 */
import { REASONS, RULES, type Reason, type Rule } from './rules.js';
import { replyCode as findReplyCode, statusCode as findStatus, type BounceRecipient, type ParsedBounce } from './dsn.js';

export type Group = 'permanent' | 'temporary' | 'unknown';

export interface SmtpReply {
  code?: number | null;
  enhancedCode?: string | null;
  text?: string | null;
  /** the command the reply answered, when the caller knows it (the delivery worker does) */
  command?: 'CONN' | 'EHLO' | 'MAIL' | 'RCPT' | 'DATA' | null;
}

export interface Classification {
  reason: Reason;
  hard: boolean;
  permanent: boolean;
  group: Group;
  label: string;
  status: string | null;
  replyCode: number | null;
  diagnostic: string;
  /** false for delayed DSNs and other not-final reports */
  final: boolean;
}

export interface ClassifyOptions {
  /** config `bounce.rules`, compiled; checked before the built-in table */
  extraRules?: readonly Rule[];
  /** the message stayed queued until its retries ran out */
  expired?: boolean;
}

const HARD: ReadonlySet<Reason> = new Set(['userunknown', 'hostunknown', 'hasmoved']);
const NOT_BOUNCES: ReadonlySet<Reason> = new Set(['delivered', 'vacation', 'feedback']);

/** Classify an SMTP reply from a delivery attempt. */
export function classifyReply(reply: SmtpReply, options: ClassifyOptions = {}): Classification {
  const text = (reply.text ?? '').trim();
  const status = reply.enhancedCode ?? findStatus(text);
  const code = reply.code ?? findReplyCode(text);
  let reason = options.expired ? 'expired' : match(text, status, code, options.extraRules);
  if (reply.command === 'MAIL' && (reason === 'userunknown' || reason === 'hostunknown')) reason = 'rejected';
  if (reply.command === 'DATA' && reason === 'userunknown' && !/^5\.1\.[13]$/.test(status ?? '')) reason = 'filtered';
  if (!reason && (reply.command === 'CONN' || reply.command === 'EHLO') && (code ?? 0) >= 500) reason = 'blocked';
  if (!reason) reason = fallback(status, code);
  return result(reason, status, code, text, true);
}

/** Classify one recipient of a parsed bounce. */
export function classifyRecipient(bounce: ParsedBounce, r: BounceRecipient, options: ClassifyOptions = {}): Classification {
  const diagnostic = r.diagnostic.trim();
  if (bounce.kind === 'feedback') return result('feedback', null, null, diagnostic, true);
  if (bounce.kind === 'autoreply') return result('vacation', null, null, diagnostic, false);
  const status = r.status;
  const code = r.replyCode;
  if (r.action === 'delivered' || r.action === 'relayed' || r.action === 'expanded' || status?.startsWith('2.')) return result('delivered', status, code, diagnostic, true);
  let reason: Reason | null = null;
  if (options.expired) reason = 'expired';
  if (bounce.carrierFiltered) reason = 'filtered';
  // the reporting system's own stated verdict (Amazon SES bounce subtypes)
  if (!reason && r.statedReason && (REASONS as readonly string[]).includes(r.statedReason)) reason = r.statedReason as Reason;
  // a local mailer program's exit (Diagnostic-Code: X-Unix; 75): what it printed, else what the
  // status code says, else a mailer error
  if (!reason && r.diagnosticType?.startsWith('x-unix')) reason = matchText(diagnostic, options.extraRules) ?? match('', status, null, options.extraRules) ?? 'mailererror';
  if (!reason) reason = match(diagnostic, status, code, options.extraRules);
  const command = smtpCommand(diagnostic) ?? smtpCommand(nearby(bounce.text, r.recipient)) ?? (bounce.recipients.length === 1 ? smtpCommand(bounce.text.slice(0, 3000)) : null);
  // refused when we connected or greeted it (no command of ours answered), with nothing more specific: our host or IP is refused
  if (!reason && (command === 'CONN' || command === 'EHLO')) reason = 'blocked';
  // a DSN with no diagnostic of its own: the explanation around it
  if (!reason && bounce.text && bounce.text !== diagnostic && (!diagnostic || bounce.recipients.length === 1)) reason = matchText(bounce.text, options.extraRules);
  // "user unknown" answered to DATA is a per-recipient content filter (the Japanese carriers' habit)
  // "does not exist" answered to MAIL FROM is about our sender address
  if (command === 'MAIL' && (reason === 'userunknown' || reason === 'hostunknown')) reason = 'rejected';
  if (reason === 'userunknown' && !/^[45]\.1\.[13]$/.test(status ?? '') && !/^[45]\.1\.[13]$/.test(findStatus(diagnostic) ?? '')) {
    // with no command named, a bare generic "no such user" (no x.1.x status) may as well be the
    // recipient's filter speaking: Sisimai counts it filtered; MTA-specific directory texts stay userunknown
    if (command === 'DATA' || (command === null && !/^[45]\.1\./.test(status ?? '') && GENERIC_UNKNOWN.test(diagnostic))) reason = 'filtered';
  }
  // au/KDDI (ezweb.ne.jp, au.com) says which it is: "550 : User unknown" is the recipient's filter,
  // "550 <a@b>: User unknown" an address that does not exist, whatever command it answered
  if ((reason === 'userunknown' || reason === 'filtered') && KDDI.test(`${r.recipient ?? ''} ${r.remoteMta ?? ''}`)) {
    if (/\b550 : user unknown/i.test(diagnostic)) reason = 'filtered';
    else if (/>: user unknown/i.test(diagnostic)) reason = 'userunknown';
  }
  if (r.action === 'expired') reason = 'expired';
  // Google Groups refuses posts it does not accept from this sender, in the sender's language
  if (/@googlegroups\.com$/i.test(r.recipient ?? '') && bounce.kind === 'bounce' && (!reason || reason === 'userunknown' || reason === 'filtered')) reason = 'rejected';
  if (!r.final && status?.startsWith('4.') && (!reason || (reason === 'networkerror' && /timed out/i.test(diagnostic)))) reason = 'expired';
  // a temporary "domain not found" is a DNS problem, not a verdict on the domain
  if (reason === 'hostunknown' && status?.startsWith('4.')) reason = 'networkerror';
  // a failed DSN with a 4.x.x status after timeouts: the sender gave up (with no reason at all it stays onhold)
  if (r.action === 'failed' && status?.startsWith('4.') && reason === 'networkerror' && /timed out/i.test(diagnostic)) reason = 'expired';
  if (!reason) reason = fallback(status, code);
  return result(reason, status, code, diagnostic || bounce.text.slice(0, 500), r.final);
}

const KDDI = /(?:[@.]|^)(?:ezweb\.ne\.jp|au\.com)\b/i;
const GENERIC_UNKNOWN = /user unknown|unknown user|no such user|recipient not found|invalid address|email account that you tried to reach does not exist/i;

/** The SMTP command a failure answered, when the bounce says so. */
export function smtpCommand(text: string): 'RCPT' | 'DATA' | 'MAIL' | 'EHLO' | 'CONN' | 'LOCAL' | null {
  if (/end of data|DATA command|after DATA|>>> DATA|in reply to DATA|SMTP command DATA|for TEXT command/i.test(text)) return 'DATA';
  // Gmail's legacy "(state N)" tells the stage: 13 greeting, 14 RCPT, 15/17/18 DATA
  if (/\(state 1[578]\)/.test(text)) return 'DATA';
  if (/\(state 14\)/.test(text)) return 'RCPT';
  if (/\(state 13\)/.test(text)) return 'EHLO';
  if (/(?:after|in reply to|>>>) (?:EHLO|HELO)\b|\b(?:EHLO|HELO) command/i.test(text)) return 'EHLO';
  // a sendmail transcript where the server's reply comes before any command of ours: the greeting
  if (/while talking to [^\n]*:[ \t]*\r?\n<<< [45]\d\d/i.test(text) && !/^>>> /m.test(text)) return 'CONN';
  if (/\bRCPT\b|does not like recipient/i.test(text)) return 'RCPT';
  if (/MAIL FROM|in reply to MAIL|>>> MAIL/i.test(text)) return 'MAIL';
  // the local delivery agent itself looked the user up: no SMTP command, no content filter
  if (/\bmail\.local\b|local delivery|\bprocmail\b|\bdovecot\b/i.test(text)) return 'LOCAL';
  return null;
}

function nearby(text: string, address: string | null): string {
  if (!address) return text.slice(0, 1500);
  const i = text.toLowerCase().indexOf(address.toLowerCase());
  return i < 0 ? text.slice(0, 1500) : text.slice(Math.max(0, i - 200), i + 1000);
}

function match(raw: string, status: string | null, code: number | null, extra: readonly Rule[] = []): Reason | null {
  // lines wrapped by the MTA ("Operation timed\nout") read as one line
  const text = raw.replace(/\s+/g, ' ');
  for (const table of [extra, RULES]) {
    for (const rule of table) {
      if (!rule.status && !rule.code && !rule.pattern) continue;
      if (rule.status && !(status && rule.status.test(status))) continue;
      if (rule.code && !(code !== null && rule.code.test(String(code)))) continue;
      if (rule.pattern && !rule.pattern.test(text)) continue;
      return rule.reason;
    }
  }
  return null;
}

/** Text-only rules (no status/code) over a longer explanation. */
function matchText(raw: string, extra: readonly Rule[] = []): Reason | null {
  const text = raw.replace(/\s+/g, ' ');
  for (const table of [extra, RULES]) {
    for (const rule of table) {
      if (rule.status || rule.code || !rule.pattern) continue;
      if (rule.pattern.test(text)) return rule.reason;
    }
  }
  return null;
}

function fallback(status: string | null, code: number | null): Reason {
  if (status === null && code === null) return 'undefined';
  return 'onhold';
}

function result(reason: Reason, status: string | null, code: number | null, diagnostic: string, final: boolean): Classification {
  const permanent = NOT_BOUNCES.has(reason) ? false : isPermanent(reason, status, code);
  const hard = HARD.has(reason) || (reason === 'notaccept' && !(code ? code < 500 : status?.startsWith('4.') ?? false));
  const { group, label } = groupOf(reason, permanent);
  return { reason, hard, permanent, group, label, status, replyCode: code, diagnostic: diagnostic.replace(/\s+/g, ' ').slice(0, 1000), final };
}

function isPermanent(reason: Reason, status: string | null, code: number | null): boolean {
  if (reason === 'expired') return true;
  if (status) return status.startsWith('5.');
  if (code) return code >= 500;
  return HARD.has(reason);
}

/** The operators' report groups (issue 5). */
export function groupOf(reason: Reason, permanent: boolean): { group: Group; label: string } {
  switch (reason) {
    case 'userunknown':
    case 'hasmoved':
      return { group: 'permanent', label: 'address does not exist' };
    case 'hostunknown':
    case 'notaccept':
      return { group: 'permanent', label: 'domain does not exist' };
    case 'networkerror':
    case 'expired':
    case 'toomanyconn':
    case 'failedstarttls':
      return { group: 'temporary', label: 'cannot connect' };
    case 'mailboxfull':
    case 'exceedlimit':
      return { group: 'temporary', label: 'mailbox full' };
    case 'blocked':
    case 'spamdetected':
    case 'policyviolation':
    case 'authfailure':
    case 'requireptr':
    case 'badreputation':
    case 'rejected':
    case 'filtered':
    case 'virusdetected':
    case 'securityerror':
    case 'speeding':
      return { group: 'temporary', label: 'refused (spam settings etc.)' };
    case 'mesgtoobig':
      return { group: 'temporary', label: 'message too large' };
    case 'undefined':
    case 'onhold':
      return { group: 'unknown', label: 'cause cannot be determined' };
    case 'delivered':
    case 'vacation':
    case 'feedback':
      return { group: 'unknown', label: reason };
    default:
      return permanent ? { group: 'permanent', label: 'unknown permanent' } : { group: 'temporary', label: 'unknown temporary' };
  }
}

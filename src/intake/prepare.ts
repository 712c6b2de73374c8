/**
 * From the bytes a client sent after DATA to the message the store keeps.
 *
 * Receives: the raw message (dot-unstuffed by smtp-server), the envelope and who sent it.
 * Promises: either an IncomingMessage whose body is valid CRLF with our Received header on top
 * (and Date / Message-ID added when the client left them out, RFC 6409 §8.2–8.3), or an
 * SmtpReplyError that says what is wrong. Control headers stay in the stored copy (the stored
 * message is what the client sent); delivery strips them.
 */
import addressparser from 'nodemailer/lib/addressparser';
import libmime from 'libmime';
import { fieldValue, lineEndingProblem, readHeaderFields, type HeaderField } from '../mime/header-section.js';
import { ControlHeaderError, readControlHeaders } from '../mime/control-headers.js';
import type { IncomingMessage } from '../store/types.js';
import { smtpError } from './reply.js';
import { domainAllowed, mailboxDomain } from './users.js';

export interface IntakePolicy {
  hostname: string;
  freeMailDomains: string[];
}

export interface Submitter {
  /** authenticated user name and allowed domains, or null for a trusted network */
  user: { name: string; domains: string[] } | null;
  clientIp: string;
  helo: string;
  protocol: string;
  source: string;
}

export interface Envelope {
  mailFrom: string;
  recipients: string[];
}

export function prepareMessage(id: string, raw: Buffer, envelope: Envelope, submitter: Submitter, policy: IntakePolicy, now = new Date()): IncomingMessage {
  const { hostname } = policy;
  const problem = lineEndingProblem(raw);
  if (problem) {
    throw smtpError(550, '5.6.0', `Message refused: it contains ${problem}; SMTP requires CRLF line endings and no NUL bytes`);
  }
  const fields = readHeaderFields(raw);
  const fromMailboxes = authorMailboxes(fields);
  fromMailboxes.forEach((address) => refuseFreeMail(address, policy.freeMailDomains));
  if (submitter.user) fromMailboxes.forEach((address) => checkFromDomain(address, submitter.user!));
  const headerFrom = fromMailboxes[0] ?? null;

  let control;
  try {
    control = readControlHeaders(fields);
  } catch (err) {
    if (err instanceof ControlHeaderError) throw smtpError(550, '5.6.0', err.message);
    throw err;
  }

  const messageIdHeader = fieldValue(fields, 'message-id');
  const added = [receivedHeader(id, envelope, submitter, hostname, now)];
  if (!fieldValue(fields, 'date')) added.push(`Date: ${rfc5322Date(now)}\r\n`);
  if (!messageIdHeader) added.push(`Message-ID: <${id}@${hostname}>\r\n`);

  return {
    id,
    mailFrom: envelope.mailFrom,
    recipients: envelope.recipients,
    body: Buffer.concat([Buffer.from(added.join(''), 'latin1'), raw]),
    headerFrom,
    subject: decodeSubject(fieldValue(fields, 'subject')),
    messageIdHeader: messageIdHeader ?? `<${id}@${hostname}>`,
    tag: control.tag,
    sendAt: control.sendAt,
    track: control.track,
    meta: control.meta,
    user: submitter.user?.name ?? null,
    clientIp: submitter.clientIp,
    source: submitter.source,
  };
}

/**
 * Every mailbox of the From: field. RFC 5322 allows one From: field (with one or more
 * mailboxes); a second field is refused, since checking only one of them would let a user put
 * any author beside an allowed one.
 */
function authorMailboxes(fields: HeaderField[]): string[] {
  const from = fields.filter((f) => f.name === 'from');
  if (from.length > 1) throw smtpError(550, '5.6.0', `Message has ${from.length} From: header fields; exactly one is allowed (RFC 5322 §3.6)`);
  if (from.length === 0) return [];
  const value = from[0]!.value;
  const mailboxes = addressparser(value, { flatten: true }).map((a) => ('address' in a && a.address ? a.address : ''));
  // "<a@ok.example> <b@other.example>" parses as one mailbox named "b@other.example"; a reader
  // may see the other one, so more <addr> parts than mailboxes is refused as malformed.
  const angled = value.match(/<[^<>]*>/g)?.length ?? 0;
  if (angled > mailboxes.length) throw smtpError(550, '5.6.0', 'From: header is malformed: it has more <address> parts than mailboxes; separate mailboxes with commas');
  return mailboxes;
}

function checkFromDomain(address: string, user: { name: string; domains: string[] }): void {
  const domain = mailboxDomain(address);
  if (domain === null) throw smtpError(550, '5.1.7', `From: header address "${address.slice(0, 100)}" is not a valid mailbox (local-part@domain)`);
  if (!domainAllowed(domain, user.domains)) {
    throw smtpError(550, '5.7.1', `From: header domain ${domain} is not allowed for user ${user.name} (allowed: ${user.domains.join(', ') || 'none'})`);
  }
}

function refuseFreeMail(address: string, freeMail: string[]): void {
  const domain = mailboxDomain(address);
  if (domain && domainAllowed(domain, freeMail)) {
    throw smtpError(550, '5.7.1', `From: ${domain} addresses cannot be sent through this server: ${domain} publishes a DMARC policy that makes receivers reject its mail from any other server; use an address on your own sending domain`);
  }
}

/** `Received:` per RFC 5321 §4.4, so the path of a message can be traced in its headers. */
function receivedHeader(id: string, envelope: Envelope, s: Submitter, hostname: string, now: Date): string {
  const helo = s.helo.replace(/[^\x21-\x7e]/g, '').slice(0, 100) || 'unknown';
  const forPart = envelope.recipients.length === 1 ? `\r\n\tfor <${envelope.recipients[0]}>` : '';
  return `Received: from ${helo} ([${s.clientIp}])\r\n\tby ${hostname} (Sokutatsu) with ${s.protocol}\r\n\tid ${id}${forPart};\r\n\t${rfc5322Date(now)}\r\n`;
}

function rfc5322Date(d: Date): string {
  return d.toUTCString().replace('GMT', '+0000');
}

function decodeSubject(value: string | null): string | null {
  if (!value) return null;
  try {
    return libmime.decodeWords(value).slice(0, 998);
  } catch {
    return value.slice(0, 998);
  }
}

/**
 * Bounce message parser: a received bounce, DSN, ARF complaint or auto-reply (raw bytes, LF or
 * CRLF) → what it says about each recipient. No classification here (that is classify.ts).
 *
 * Receives: a Buffer of any size and shape. Promises: never throws (broken MIME gives what could
 * be read, at worst the raw text); bounded (input cut at `maxBytes`, at most `maxParts` parts
 * looked at, texts cut at a few KB).
 *
 * Kinds: `dsn` (RFC 3464 message/delivery-status or message/global-delivery-status, or the same
 * fields in a text part), `bounce` (a non-standard bounce of a real MTA: recipient and diagnostic
 * found in the text), `feedback` (RFC 5965 ARF), `autoreply` (RFC 3834 / vacation), `unknown`.
 */
import { simpleParser, type Attachment, type ParsedMail } from 'mailparser';

export type BounceKind = 'dsn' | 'bounce' | 'feedback' | 'autoreply' | 'unknown';

export interface BounceRecipient {
  /** the failed address (Final-Recipient, else Original-Recipient, else found in the text); null if none */
  recipient: string | null;
  /** DSN Action (failed, delayed, delivered, relayed, expanded) lower-cased; null when not given */
  action: string | null;
  /** enhanced status code (x.y.z) from Status: or the diagnostic text; null when none */
  status: string | null;
  /** SMTP reply code found in the diagnostic, e.g. 550 */
  replyCode: number | null;
  /** Diagnostic-Code text (type prefix removed) or the bounce's explanatory text */
  diagnostic: string;
  remoteMta: string | null;
  /** a reason the reporting system states itself (Amazon SES bounceSubType MailboxFull → mailboxfull) */
  statedReason?: string;
  /** the Diagnostic-Code's type ("smtp", "x-unix", ...) lower-cased, when given */
  diagnosticType?: string;
  /** false for Action: delayed (the sender keeps trying): record it, do not act on it */
  final: boolean;
}

export interface ParsedBounce {
  kind: BounceKind;
  subject: string;
  from: string;
  recipients: BounceRecipient[];
  /** the human-readable explanation of the bounce (bounded), used when a DSN gives no diagnostic */
  text: string;
  /** ARF Feedback-Type when kind is feedback */
  feedbackType?: string;
  /** the carrier's spam filter refused the message (au/EZweb "X-SPASIGN: NG" on the bounce) */
  carrierFiltered?: boolean;
  /** set when MIME parsing failed and only raw text was read */
  parseError?: string;
}

export interface ParseLimits {
  maxBytes?: number;
  maxParts?: number;
  /** set when parsing a message attached to a bounce (one level only) */
  nested?: boolean;
}

const MAX_TEXT = 8000;
const ADDR = /[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+/;
const ADDR_G = new RegExp(ADDR.source, 'g');

/** Parse a bounce. Never throws. */
export async function parseBounce(raw: Buffer, limits: ParseLimits = {}): Promise<ParsedBounce> {
  const maxBytes = limits.maxBytes ?? 4 * 1024 * 1024;
  const maxParts = limits.maxParts ?? 64;
  const input = raw.length > maxBytes ? raw.subarray(0, maxBytes) : raw;
  let mail: ParsedMail | null = null;
  let parseError: string | undefined;
  try {
    mail = await simpleParser(input, { skipImageLinks: true, skipTextToHtml: true, skipTextLinks: true, maxHtmlLengthToParse: 200_000 });
  } catch (err) {
    parseError = (err as Error).message;
  }
  const rawText = input.toString('utf8');
  const headerText = rawText.slice(0, headerEnd(rawText));
  const subject = mail?.subject ?? headerField(headerText, 'subject') ?? '';
  const from = mail?.from?.value?.[0]?.address || headerField(headerText, 'from') || '';
  const attachments = (mail?.attachments ?? []).slice(0, maxParts);
  const bodyText = cleanText(mail ? mail.text ?? htmlToText(typeof mail.html === 'string' ? mail.html : '') : rawText.slice(headerText.length));
  const carrierFiltered = /^NG\b/i.test(headerField(headerText, 'x-spasign') ?? '');
  const base = { subject, from, ...(parseError ? { parseError } : {}), ...(carrierFiltered ? { carrierFiltered } : {}) };

  // Amazon SES notifications (JSON, often inside an SNS envelope) mailed instead of DSNs
  const ses = /"notificationType"|\\"notificationType\\"/.test(bodyText) ? sesNotification(bodyText) : null;
  if (ses) return { ...base, ...ses, text: '' };

  // RFC 5965 feedback report
  const feedback = attachments.find((a) => ctype(a) === 'message/feedback-report');
  const contentType = (mail?.headers.get('content-type') as { params?: Record<string, string> } | undefined)?.params?.['report-type'];
  if (feedback || /feedback-report/i.test(contentType ?? '') || /^Feedback-Type:/im.test(bodyText.slice(0, 4000))) {
    return { ...base, ...feedbackReport(feedback ? feedback.content.toString('utf8') : bodyText, attachments, rawText), text: bodyText.slice(0, MAX_TEXT) };
  }

  // RFC 3464 delivery status (a part of its own, or its fields in a text part)
  const statusParts = attachments.filter((a) => /^message\/(global-)?delivery-status$/.test(ctype(a)) || /^text\/(global-)?delivery-status$/.test(ctype(a)));
  const explanation = explanatoryText(bodyText.trim().length > 20 ? bodyText : cleanText(rawText.slice(headerText.length)));
  let recipients: BounceRecipient[] = [];
  for (const part of statusParts) recipients.push(...dsnFields(part.content.toString('utf8')));
  if (recipients.length === 0 && /^(Final|Original)-Recipient:/im.test(bodyText)) recipients = dsnFields(bodyText);
  if (recipients.length === 0) {
    // DSN fields outside any MIME part mailparser could read; from the start of the paragraph
    // holding the first recipient field (Action/Status may come before it)
    const clean = cleanText(rawText);
    const m = /^(Final|Original)-Recipient:/im.exec(clean);
    if (m) recipients = dsnFields(clean.slice(Math.max(0, clean.lastIndexOf('\n\n', m.index))));
  }
  // a bounce forwarded as an attachment (or wrapped by a gateway): read the inner message once
  if (recipients.length === 0 && !limits.nested) {
    for (const part of attachments.filter((a) => ctype(a) === 'message/rfc822').slice(0, 2)) {
      const inner = await parseBounce(part.content, { ...limits, nested: true });
      if (inner.kind === 'dsn' && inner.recipients.some((r) => r.recipient)) return { ...inner, subject, from };
    }
  }
  if (recipients.length > 0) {
    for (const r of recipients) {
      if (!r.diagnostic) r.diagnostic = withHeading(explanation, r.recipient, nearText(explanation, r.recipient));
      if (!r.recipient) r.recipient = firstAddress(explanation, [from]);
    }
    return { ...base, kind: 'dsn', recipients, text: explanation };
  }

  // auto-replies: not bounces
  if (isAutoReply(mail, headerText, subject, from, explanation)) {
    const to = mail?.to && !Array.isArray(mail.to) ? mail.to.value[0]?.address : undefined;
    return { ...base, kind: 'autoreply', recipients: [{ recipient: from || null, action: null, status: null, replyCode: null, diagnostic: subject, remoteMta: null, final: false }], text: explanation, ...(to ? {} : {}) };
  }

  // non-standard bounce: recipients and diagnostics from the text (X-Failed-Recipients names them when present)
  const failed = (headerField(headerText, 'x-failed-recipients') ?? '').match(ADDR_G) ?? [];
  if (failed.length > 0) {
    return { ...base, kind: 'bounce', recipients: dedupe(failed.slice(0, 20).map((a) => textRecipient(a, nearText(explanation, a) ?? explanation))), text: explanation };
  }
  const found = textBounce(explanation, [from, mail?.to && !Array.isArray(mail.to) ? mail.to.value[0]?.address ?? '' : '']);
  if (found.length > 0 || looksLikeBounce(subject, from)) {
    return { ...base, kind: 'bounce', recipients: found.length > 0 ? found : [textRecipient(null, explanation)], text: explanation };
  }
  return { ...base, kind: 'unknown', recipients: [], text: explanation };
}

interface SesRecipient {
  emailAddress?: string;
  action?: string;
  status?: string;
  diagnosticCode?: string;
}

/** An Amazon SES bounce / complaint / delivery notification → recipients. */
function sesNotification(text: string): Pick<ParsedBounce, 'kind' | 'recipients'> | null {
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  if (start < 0 || end <= start) return null;
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(text.slice(start, end + 1).replace(/\n /g, '')) as Record<string, unknown>;
    if (typeof data.Message === 'string') data = JSON.parse(data.Message) as Record<string, unknown>;
  } catch {
    return null;
  }
  const type = String(data.notificationType ?? '');
  const bounce = (data.bounce ?? {}) as { bouncedRecipients?: SesRecipient[]; bounceType?: string; bounceSubType?: string };
  // SES's own verdict (docs.aws.amazon.com/ses/latest/dg/notification-contents.html#bounce-types)
  const statedReason = ({ MailboxFull: 'mailboxfull', MessageTooLarge: 'mesgtoobig', ContentRejected: 'contenterror', AttachmentRejected: 'securityerror' } as Record<string, string>)[bounce.bounceSubType ?? ''];
  const complaint = (data.complaint ?? {}) as { complainedRecipients?: SesRecipient[] };
  const delivery = (data.delivery ?? {}) as { recipients?: string[]; smtpResponse?: string };
  if (type === 'Bounce') {
    return {
      kind: 'dsn',
      recipients: (bounce.bouncedRecipients ?? []).slice(0, 50).map((r) => {
        const diagnostic = stripType(r.diagnosticCode ?? '');
        const action = r.action?.toLowerCase() ?? (bounce.bounceType === 'Transient' ? 'delayed' : 'failed');
        return { recipient: r.emailAddress ?? null, action, status: statusCode(r.status ?? '') ?? statusCode(diagnostic), replyCode: replyCode(diagnostic), diagnostic, remoteMta: null, final: action !== 'delayed', ...(statedReason ? { statedReason } : {}) };
      }),
    };
  }
  if (type === 'Complaint') {
    return { kind: 'feedback', recipients: (complaint.complainedRecipients ?? []).slice(0, 50).map((r) => ({ recipient: r.emailAddress ?? null, action: null, status: null, replyCode: null, diagnostic: 'complaint', remoteMta: null, final: true })) };
  }
  if (type === 'Delivery') {
    const response = delivery.smtpResponse ?? '';
    return { kind: 'dsn', recipients: (delivery.recipients ?? []).slice(0, 50).map((r) => ({ recipient: r, action: 'delivered', status: statusCode(response) ?? '2.0.0', replyCode: replyCode(response), diagnostic: response, remoteMta: null, final: true })) };
  }
  return null;
}

function ctype(a: Attachment): string {
  return (a.contentType ?? '').toLowerCase();
}

function headerEnd(text: string): number {
  const m = /\r?\n\r?\n/.exec(text);
  return m ? m.index : text.length;
}

function headerField(headers: string, name: string): string | undefined {
  const m = new RegExp(`^${name}:[ \\t]*(.*(?:\\r?\\n[ \\t].*)*)`, 'im').exec(headers);
  return m ? (m[1] ?? '').replace(/\r?\n[ \t]+/g, ' ').trim() : undefined;
}

function cleanText(text: string): string {
  return text.replace(/\r\n?/g, '\n').replace(/\u00a0/g, ' ');
}

function htmlToText(html: string): string {
  return html.replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ').replace(/<br\s*\/?>|<\/p>|<\/div>|<\/tr>/gi, '\n').replace(/<[^>]+>/g, ' ').replace(/&nbsp;/g, ' ').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** The explanation of a bounce: its text up to where the returned message starts, bounded. */
export function explanatoryText(body: string): string {
  const stop = /^(?:-+ ?(?:This is a copy of|Below this line is a copy|Original message|Original Message|The original message|Returned message|Undelivered Message|Received: from)|Content-Type: message\/rfc822|------ This is a copy|[-=]+\s*(?:Original|Returned) (?:message|mail)|Return-Path: <[^>]*>$)/im.exec(body);
  const text = stop && stop.index > 40 ? body.slice(0, stop.index) : body;
  return text.slice(0, MAX_TEXT);
}

/** RFC 3464 fields: unfolded, grouped per recipient (blank-line separated blocks). */
export function dsnFields(text: string): BounceRecipient[] {
  const lines = cleanText(text).split('\n');
  const blocks: Map<string, string>[] = [];
  let current = new Map<string, string>();
  let last: string | null = null;
  for (const line of lines) {
    if (line.trim() === '') {
      if (current.size > 0) blocks.push(current);
      current = new Map();
      last = null;
      continue;
    }
    if (/^[ \t]/.test(line) && last) {
      current.set(last, `${current.get(last)} ${line.trim()}`);
      continue;
    }
    const m = /^([A-Za-z][A-Za-z0-9-]*):\s*(.*)$/.exec(line);
    if (!m) {
      last = null;
      continue;
    }
    const key = (m[1] ?? '').toLowerCase();
    // a second Final-Recipient without a blank line starts a new recipient
    if ((key === 'final-recipient' || (key === 'original-recipient' && !current.has('final-recipient'))) && (current.has('final-recipient'))) {
      blocks.push(current);
      current = new Map();
    }
    if (!current.has(key)) current.set(key, (m[2] ?? '').trim());
    last = key;
  }
  if (current.size > 0) blocks.push(current);
  let messageMta: string | null = null;
  const out: BounceRecipient[] = [];
  for (const b of blocks) {
    if (b.has('reporting-mta') && !b.has('final-recipient')) messageMta = stripType(b.get('reporting-mta')!);
    const rcpt = b.get('final-recipient') ?? b.get('original-recipient');
    if (rcpt === undefined && !b.has('status') && !b.has('action')) continue;
    if (rcpt === undefined && !b.has('diagnostic-code')) continue;
    const address = rcpt ? (ADDR.exec(stripType(rcpt))?.[0] ?? null) : null;
    // no Diagnostic-Code: some MTAs explain in a comment after the status, "4.0.0 (host name lookup failure)"
    const diagnostic = remoteReply(stripType(b.get('diagnostic-code') ?? '')) || (/\((.+)\)/.exec(b.get('status') ?? '')?.[1] ?? '');
    const status = preferStatus(statusCode(b.get('status') ?? ''), statusCode(diagnostic), replyCode(diagnostic));
    const action = b.get('action')?.toLowerCase().split(/[\s(]/)[0] ?? null;
    const diagnosticType = /^\s*([A-Za-z0-9-]+)\s*;/.exec(b.get('diagnostic-code') ?? '')?.[1]?.toLowerCase();
    out.push({
      ...(diagnosticType ? { diagnosticType } : {}),
      recipient: address,
      action,
      status,
      replyCode: replyCode(diagnostic),
      diagnostic: diagnostic.slice(0, MAX_TEXT),
      remoteMta: b.get('remote-mta') ? stripType(b.get('remote-mta')!) : messageMta,
      final: action !== 'delayed' && action !== 'relayed' && action !== 'expanded',
    });
  }
  return dedupe(out);
}

/**
 * A relay's own summary wrapping the remote server's reply, "5.1.0 - Unknown address error
 * 550-'5.7.1 ... Access denied' (delivery attempts: 0)" (Amazon SES): the remote reply is the
 * diagnostic; the summary is the relay's guess at it.
 */
function remoteReply(diagnostic: string): string {
  const m = /^[245]\.\d{1,3}\.\d{1,3} - [^']{0,80}?\b([245]\d\d)[- ]'(.+)'/.exec(diagnostic);
  return m ? `${m[1]} ${m[2]}` : diagnostic;
}

/**
 * The Status: field or the code in the diagnostic text, whichever says more (RFC 3463 detail
 * codes; the same preferences as Sisimai): the one in the reply code's class when they differ in
 * class; the diagnostic's when the field is a generic X.0.0 / X.Y.0 or a vague code (4.4.7 expired,
 * 4.7.0, 5.3.x system, x.5.x protocol); the field's otherwise.
 */
export function preferStatus(field: string | null, inText: string | null, reply: number | null): string | null {
  if (!field) return inText;
  if (!inText || field === inText) return field;
  if (reply && field[0] !== inText[0]) {
    if (String(reply)[0] === field[0]) return field;
    if (String(reply)[0] === inText[0]) return inText;
  }
  if (/^\d\.0\.0$/.test(field)) return /^\d\.0\.0$/.test(inText) ? field : inText;
  if (/\.0(?:\.|$)/.test(field.slice(1)) && !/\.0(?:\.|$)/.test(inText.slice(1))) return inText;
  if (/^\d\.0\.0$/.test(inText)) return field;
  if (field === '4.4.7' || field === '4.7.0' || field.startsWith('5.3.') || /^\d\.5\.[1245]$/.test(field)) return inText;
  if (field === '5.1.1') return /\.0(?:\.|$)/.test(inText.slice(1)) || inText.startsWith('5.5.') ? field : inText;
  if (field === '5.1.3' && inText.startsWith('5.7.')) return inText;
  return field;
}

function dedupe(list: BounceRecipient[]): BounceRecipient[] {
  const seen = new Set<string>();
  return list.filter((r) => {
    const key = (r.recipient ?? '').toLowerCase();
    if (key && seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** "rfc822; a@b" → "a@b"; "smtp; 550 ..." → "550 ..." */
function stripType(value: string): string {
  return value.replace(/^\s*[A-Za-z0-9-]+\s*;\s*/, '').trim();
}

/** The first enhanced status code in a text (2.x.x, 4.x.x, 5.x.x). */
export function statusCode(text: string): string | null {
  const m = /(?:^|[^\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)/.exec(text);
  return m ? `${m[1]}.${m[2]}.${m[3]}` : null;
}

/** The first SMTP reply code in a text: at the start, or after "said:", "host … :", "<<<" etc. */
export function replyCode(text: string): number | null {
  const m = /(?:^|[\s:;<>(])([245][0-5]\d)(?:[ -]|$)(?![.\d]*\d{3,})/m.exec(text);
  return m ? Number(m[1]) : null;
}

function feedbackReport(report: string, attachments: Attachment[], rawText: string): Pick<ParsedBounce, 'kind' | 'recipients' | 'feedbackType'> {
  const fields = new Map<string, string[]>();
  for (const line of cleanText(report).split('\n')) {
    const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
    if (m) fields.set((m[1] ?? '').toLowerCase(), [...(fields.get((m[1] ?? '').toLowerCase()) ?? []), (m[2] ?? '').trim()]);
  }
  const original = attachments.find((a) => /^(message\/rfc822|text\/rfc822-headers)$/.test(ctype(a)));
  // the reported message's To: from its part (mailparser inlines message/rfc822, so also from the raw text)
  const embedded = /^Content-Type:\s*(?:message\/rfc822|text\/rfc822-headers)[\s\S]*?^To:[ \t]*(.+)$/im.exec(rawText)?.[1];
  const originalTo = original ? headerField(original.content.toString('utf8').slice(0, headerEnd(original.content.toString('utf8'))), 'to') : embedded;
  const rcpts = (fields.get('original-rcpt-to') ?? []).map((v) => ADDR.exec(v)?.[0]).filter((v): v is string => !!v);
  if (rcpts.length === 0 && originalTo) {
    const a = ADDR.exec(originalTo)?.[0];
    if (a) rcpts.push(a);
  }
  const feedbackType = fields.get('feedback-type')?.[0];
  const list = (rcpts.length > 0 ? rcpts : [null]).map((recipient) => ({ recipient, action: null, status: null, replyCode: null, diagnostic: feedbackType ?? 'feedback', remoteMta: null, final: true }));
  return { kind: 'feedback', recipients: list, ...(feedbackType ? { feedbackType } : {}) };
}

const VACATION_SUBJECT = /out of (the )?office|auto(matic)?[- ]?(reply|response|antwort)|vacation|away from|abwesen|absence|不在|休暇|自動(返信|応答)|留守/i;

function isAutoReply(mail: ParsedMail | null, headers: string, subject: string, from: string, text: string): boolean {
  if (looksLikeBounce(subject, from)) return false;
  const auto = headerField(headers, 'auto-submitted') ?? '';
  if (/auto-replied/i.test(auto) && !/failure|undeliver|delivery/i.test(subject)) return true;
  if (headerField(headers, 'x-autoreply') || headerField(headers, 'x-autorespond') || /^auto_reply$/i.test(headerField(headers, 'precedence') ?? '')) return true;
  if (VACATION_SUBJECT.test(subject)) return true;
  return mail !== null && /\b(out of (the )?office|on vacation|I am away)\b/i.test(text.slice(0, 500)) && !/deliver/i.test(text.slice(0, 500));
}

function looksLikeBounce(subject: string, from: string): boolean {
  return /mailer-daemon|postmaster|mail delivery|mdaemon|bounce/i.test(from) || /undeliver|deliver(y|ed)? (status|fail|notification|report)|returned mail|failure notice|could not be delivered|non[- ]?delivery|delivery (has )?failed|mail delivery|returned to sender|error (?:sending|delivering)|could not be sent|rejected|warning|nicht zustellbar|不達|エラー|送信できません|未達/i.test(subject);
}

/** Recipients of a non-standard bounce: each failed address with the text that follows it. */
function textBounce(text: string, exclude: string[]): BounceRecipient[] {
  const skip = new Set(exclude.filter(Boolean).map((a) => a.toLowerCase()));
  const found: BounceRecipient[] = [];
  const seen = new Set<string>();
  for (const m of text.matchAll(ADDR_G)) {
    const address = m[0].replace(/\.$/, '');
    const lower = address.toLowerCase();
    if (skip.has(lower) || seen.has(lower) || /^(mailer-daemon|noreply|no-reply)@/i.test(address)) continue;
    // the address must stand as a recipient: at a line start, in <>, or followed by ":" / a reason
    const before = text.slice(Math.max(0, (m.index ?? 0) - 2), m.index);
    const after = text.slice((m.index ?? 0) + m[0].length, (m.index ?? 0) + m[0].length + 2);
    const lineStart = /(^|\n)[ \t]*<?$/.test(text.slice(Math.max(0, (m.index ?? 0) - 20), m.index));
    if (!lineStart && !/<$/.test(before) && !/^>?:/.test(after) && !/^[>\s]/.test(after)) continue;
    seen.add(lower);
    found.push(textRecipient(address, nearText(text, address) ?? text));
    if (found.length >= 20) break;
  }
  // a bounce naming one address repeatedly is the common case; many addresses in prose are noise
  if (found.length <= 1) return found;
  const withReason = found.filter((r) => hasDiagnostic(r.diagnostic.split('\n').slice(0, 4).join('\n')));
  return withReason.length > 0 ? withReason.slice(0, 10) : found.slice(0, 1);
}

function hasDiagnostic(text: string): boolean {
  return /\b[45]\d\d\b|\b[45]\.\d+\.\d+|unknown|not exist|no such|not (?:be )?(?:recogni[sz]ed|found)|full|quota|reject|denied|refused|invalid|disabled|expired|blocked/i.test(text);
}

function textRecipient(recipient: string | null, diagnostic: string): BounceRecipient {
  const d = diagnostic.slice(0, 2000);
  return { recipient, action: 'failed', status: statusCode(d), replyCode: replyCode(d), diagnostic: d, remoteMta: null, final: true };
}

/** The text from an address's first mention: its line and the few that follow. */
function nearText(text: string, address: string | null): string | null {
  if (!address) return null;
  const i = text.toLowerCase().indexOf(address.toLowerCase());
  if (i < 0) return null;
  let start = text.lastIndexOf('\n', i) + 1;
  // a session transcript gives the server's reply (<<<) before the line naming the address
  // (sendmail: ">>> RCPT To:<a@b>", "<<< 550 ...", then "554 <a@b>... summary"): keep it
  for (let k = 0; k < 6 && start > 0; k++) {
    const prev = text.lastIndexOf('\n', start - 2) + 1;
    if (!/^(?:<<<|>>>|While talking to)/.test(text.slice(prev, start))) break;
    start = prev;
  }
  const chunk = text.slice(start, start + 1200);
  // stop where the next recipient's paragraph starts
  const next = new RegExp(`\\n[ \\t]*<?(?!${escape(address)})${ADDR.source}`, 'i').exec(chunk);
  return (next ? chunk.slice(0, next.index) : chunk).trim();
}

/**
 * A DSN without a Diagnostic-Code: the human-readable part's line about the address, with the short
 * statement heading the address list when there is one ("The user(s) account is disabled.", then
 * "<a@b>: 550 user unknown ...": the heading is the receiving system's verdict).
 */
function withHeading(text: string, address: string | null, near: string | null): string {
  if (!near || !address) return near ?? '';
  const i = text.toLowerCase().indexOf(address.toLowerCase());
  const before = text.slice(0, text.lastIndexOf('\n', i) + 1).replace(/\s+$/, '');
  const paragraph = before.slice(before.lastIndexOf('\n\n') + 2).trim();
  if (!paragraph || paragraph.length > 160 || paragraph.split('\n').length > 2 || ADDR.test(paragraph)) return near;
  return `${paragraph}\n${near}`;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function firstAddress(text: string, exclude: string[]): string | null {
  const skip = new Set(exclude.filter(Boolean).map((a) => a.toLowerCase()));
  for (const m of text.matchAll(ADDR_G)) if (!skip.has(m[0].toLowerCase()) && !/^(mailer-daemon|postmaster)@/i.test(m[0])) return m[0];
  return null;
}

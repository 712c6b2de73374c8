/**
 * What an inbound route's URL receives: one received mail as JSON.
 *
 * Receives: the raw mail as port 25 took it (bounded by smtp.maxMessageSize), its envelope, the
 * route. Promises: never throws — mailparser can throw on deep or huge MIME, and then the payload
 * still goes out with the header fields read from the raw header section, empty bodies and
 * `parseError` saying why (a parse failure is a recorded outcome, never a retry loop); texts are
 * UTF-8 whatever the mail's charsets (ISO-2022-JP, Shift_JIS, …: mailparser's iconv); attachments
 * carry their content (base64) while it fits in what is left of `attachmentContentBytes` (all of
 * the mail's, in order), one that does not fit is listed without it and `contentOmitted: true`; the shape
 * is stable: every key is present, null / [] when the mail has nothing for it.
 */
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import libmime from 'libmime';
import type { InboundRoute } from './routes.js';

export interface InboundAddress {
  name: string;
  address: string;
}

export interface InboundAttachment {
  filename: string | null;
  contentType: string;
  /** decoded bytes */
  size: number;
  /** Content-ID without <> (inline images referenced by cid: in the html) */
  contentId: string | null;
  /** base64 of the decoded bytes; absent when contentOmitted */
  content?: string;
  /** true when the content was left out (it did not fit in what was left of inbound.attachmentContentBytes) */
  contentOmitted: boolean;
}

export interface InboundPayload {
  /** the received mail's id (one id per mail; a mail for two routes is POSTed to each with the same id) */
  id: string;
  type: 'inbound';
  route: { id: string; pattern: string };
  /** ISO time port 25 accepted the mail */
  receivedAt: string;
  /** SMTP's MAIL FROM ('' for <>) and the RCPT TO addresses this route took */
  envelope: { from: string; to: string[] };
  /** every header field in order, unfolded, encoded-words decoded */
  headers: { name: string; value: string }[];
  from: InboundAddress[];
  to: InboundAddress[];
  cc: InboundAddress[];
  replyTo: InboundAddress[];
  subject: string | null;
  /** ISO time of the Date: field */
  date: string | null;
  messageId: string | null;
  inReplyTo: string | null;
  references: string[];
  text: string | null;
  html: string | null;
  attachments: InboundAttachment[];
  /** set when the MIME structure could not be parsed: only `headers` (and the envelope) are then filled */
  parseError: string | null;
}

export interface PayloadInput {
  id: string;
  route: Pick<InboundRoute, 'id' | 'pattern'>;
  receivedAt: string;
  envelope: { from: string; to: string[] };
  raw: Buffer;
}

export interface PayloadLimits {
  attachmentContentBytes: number;
}

/** Header fields kept at most (a mail of 10,000 Received lines is still POSTed, shorter). */
const MAX_HEADERS = 500;
const MAX_HEADER_VALUE = 8192;

export async function inboundPayload(input: PayloadInput, limits: PayloadLimits): Promise<InboundPayload> {
  const base = {
    id: input.id, type: 'inbound' as const, route: { id: input.route.id, pattern: input.route.pattern },
    receivedAt: input.receivedAt, envelope: input.envelope, headers: rawHeaders(input.raw),
  };
  let mail: ParsedMail;
  try {
    mail = await simpleParser(input.raw, { skipImageLinks: true, skipTextToHtml: true, skipTextLinks: true, maxHtmlLengthToParse: 4 * 1024 * 1024 });
  } catch (err) {
    return { ...base, ...empty(), parseError: `the MIME structure could not be parsed: ${(err as Error).message}`.slice(0, 500) };
  }
  let budget = limits.attachmentContentBytes;
  const attachments = mail.attachments.map((a): InboundAttachment => {
    const size = a.size ?? a.content.length;
    const fits = size <= budget;
    if (fits) budget -= size;
    return {
      filename: a.filename ?? null,
      contentType: a.contentType,
      size,
      contentId: a.contentId ? a.contentId.replace(/^<|>$/g, '') : null,
      ...(fits ? { content: a.content.toString('base64') } : {}),
      contentOmitted: !fits,
    };
  });
  return {
    ...base,
    from: addresses(mail.from),
    to: addresses(mail.to),
    cc: addresses(mail.cc),
    replyTo: addresses(mail.replyTo),
    subject: mail.subject ?? null,
    date: mail.date && !Number.isNaN(mail.date.getTime()) ? mail.date.toISOString() : null,
    messageId: mail.messageId ?? null,
    inReplyTo: mail.inReplyTo ?? null,
    references: typeof mail.references === 'string' ? [mail.references] : (mail.references ?? []),
    text: mail.text ?? null,
    html: typeof mail.html === 'string' ? mail.html : null,
    attachments,
    parseError: null,
  };
}

function empty(): Omit<InboundPayload, 'id' | 'type' | 'route' | 'receivedAt' | 'envelope' | 'headers' | 'parseError'> {
  return { from: [], to: [], cc: [], replyTo: [], subject: null, date: null, messageId: null, inReplyTo: null, references: [], text: null, html: null, attachments: [] };
}

function addresses(field: AddressObject | AddressObject[] | undefined): InboundAddress[] {
  const out: InboundAddress[] = [];
  const walk = (list: AddressObject['value']) => {
    for (const a of list) {
      if (a.group) walk(a.group);
      else if (a.address !== undefined || a.name) out.push({ name: a.name ?? '', address: a.address ?? '' });
    }
  };
  for (const f of Array.isArray(field) ? field : field ? [field] : []) walk(f.value);
  return out;
}

/**
 * The header section read by hand (the part before the first empty line), unfolded, encoded
 * words decoded — the same with or without a parse, so a broken mail still shows its headers.
 * Bytes outside encoded words are read as UTF-8 (RFC 6532), a wrong guess costs only U+FFFD.
 */
export function rawHeaders(raw: Buffer): { name: string; value: string }[] {
  let end = raw.indexOf('\r\n\r\n');
  if (end < 0) end = raw.indexOf('\n\n');
  const text = raw.subarray(0, end < 0 ? raw.length : end).toString('utf8');
  const out: { name: string; value: string }[] = [];
  for (const line of text.split(/\r?\n(?![ \t])/)) {
    if (out.length >= MAX_HEADERS) break;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    if (!/^[\x21-\x39\x3b-\x7e]+$/.test(name)) continue;
    const value = line.slice(colon + 1).replace(/\r?\n[ \t]+/g, ' ').trim().slice(0, MAX_HEADER_VALUE);
    out.push({ name, value: decodeWords(value) });
  }
  return out;
}

function decodeWords(value: string): string {
  try {
    return libmime.decodeWords(value);
  } catch {
    return value;
  }
}

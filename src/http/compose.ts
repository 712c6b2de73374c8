/**
 * From the send API's JSON to the raw message an SMTP client would have sent: nodemailer's
 * MailComposer builds the MIME (text, html, attachments, headers); our control headers carry
 * tag, sendAt, metadata and track, so the message then takes the SMTP intake path unchanged.
 *
 * Promises: CRLF line endings; only in-memory content (never a path or URL for the composer to
 * read); Bcc not written into the message (envelope only); the envelope recipients are to, cc
 * and bcc, each address once.
 */
import MailComposer from 'nodemailer/lib/mail-composer';
import addressparser from 'nodemailer/lib/addressparser';
import { mailboxDomain } from '../mime/address.js';
import type { SendBody } from './send-body.js';

export class ComposeError extends Error {
  override name = 'ComposeError';
}

type Mailbox = SendBody['from'];

export interface Composed {
  raw: Buffer;
  mailFrom: string;
  recipients: string[];
}

export async function composeMessage(body: SendBody, messageId: string): Promise<Composed> {
  const from = address(body.from, 'from');
  const seen = new Set<string>();
  const recipients: string[] = [];
  for (const [field, list] of [['to', body.to], ['cc', body.cc], ['bcc', body.bcc]] as const) {
    list.forEach((m, i) => {
      const a = address(m, `${field}.${i}`);
      if (!seen.has(a.toLowerCase())) recipients.push(a);
      seen.add(a.toLowerCase());
    });
  }
  // `prepared`: written as given (UTF-8 included); intake reads these fields raw, and delivery
  // removes them before the message leaves, so they never go out as 8-bit headers.
  const control: Record<string, { prepared: true; value: string }> = {};
  const prepared = (value: string) => ({ prepared: true as const, value });
  if (body.tag) control['X-Sokutatsu-Tag'] = prepared(body.tag);
  if (body.sendAt) control['X-Sokutatsu-Send-At'] = prepared(body.sendAt);
  if (body.track) control['X-Sokutatsu-Track'] = prepared(body.track);
  for (const [name, value] of Object.entries(body.metadata ?? {})) control[`X-Sokutatsu-Meta-${name}`] = prepared(value);

  const composer = new MailComposer({
    from: asComposerAddress(body.from),
    to: body.to.map(asComposerAddress),
    cc: body.cc.map(asComposerAddress),
    subject: body.subject,
    ...(body.text !== undefined ? { text: body.text } : {}),
    ...(body.html !== undefined ? { html: body.html } : {}),
    attachments: body.attachments.map((a) => ({ filename: a.filename, content: Buffer.from(a.content, 'base64'), ...(a.contentType ? { contentType: a.contentType } : {}) })),
    headers: { ...body.headers, ...control },
    messageId: `<${messageId}>`,
    newline: '\r\n',
  });
  const raw = await composer.compile().build();
  return { raw, mailFrom: from, recipients };
}

/** The bare address of a mailbox of the body; refuses anything but one local-part@domain. */
function address(m: Mailbox, field: string): string {
  const parsed = typeof m === 'string' ? addressparser(m, { flatten: true }) : [{ address: m.address }];
  const first = parsed[0];
  const value = parsed.length === 1 && first && 'address' in first ? (first.address ?? '') : '';
  if (!value || mailboxDomain(value) === null) throw new ComposeError(`${field}: ${JSON.stringify(typeof m === 'string' ? m.slice(0, 100) : m.address.slice(0, 100))} is not one mail address (local-part@domain)`);
  return value;
}

function asComposerAddress(m: Mailbox): string | { name: string; address: string } {
  return typeof m === 'string' ? m : { name: m.name ?? '', address: m.address };
}

/**
 * The JSON body of `POST /api/v1/messages` (CONTRACT: from, to, cc, bcc, subject, text, html,
 * attachments, headers, tag, sendAt, metadata, track), as one zod schema: the route validates
 * with it and the OpenAPI document is generated from it.
 *
 * Promises: structural bounds only (lengths, counts, header names that cannot break the header
 * section or override what the composer writes); the configured limits (message size,
 * recipients) are checked by the route, which knows the config.
 */
import { z } from 'zod';
import { TRACK_CHOICES } from '../config/schema.js';

/** No CR, LF or NUL: a value with them could start a header field of its own. */
const oneLine = (max: number) => z.string().max(max).regex(/^[^\r\n\0]*$/, 'must not contain line breaks');

export const mailbox = z.union([
  oneLine(998).min(3).describe('"address@example.com" or "Name <address@example.com>"'),
  z.strictObject({ name: oneLine(200).optional(), address: oneLine(254).min(3) }),
]);

/** Fields the composer writes itself, the trace fields, and our own control headers (given as fields of the body). */
const RESERVED_HEADER = /^(from|to|cc|bcc|subject|date|mime-version|content-.*|received|return-path|dkim-signature|x-sokutatsu-.*)$/i;
const headerName = z
  .string()
  .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,76}$/, 'not a header field name')
  .refine((n) => !RESERVED_HEADER.test(n), { message: 'set by its own field of the body (from, to, subject, tag, …) or by Sokutatsu; not allowed in headers' });

export const attachment = z.strictObject({
  filename: oneLine(255).min(1),
  contentType: z.string().max(127).regex(/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/i, 'a media type such as application/pdf').optional(),
  /** the file's bytes, base64 */
  content: z.base64(),
});

export const sendBody = z
  .strictObject({
    from: mailbox,
    to: z.array(mailbox).max(10_000).default([]),
    cc: z.array(mailbox).max(10_000).default([]),
    /** envelope recipients only: not written into the message */
    bcc: z.array(mailbox).max(10_000).default([]),
    subject: oneLine(998).default(''),
    text: z.string().optional(),
    html: z.string().optional(),
    attachments: z.array(attachment).max(100).default([]),
    /** further header fields (Reply-To, List-Id, …) */
    headers: z.record(headerName, oneLine(998)).default({}),
    /** X-Sokutatsu-Tag: the campaign or stream, for stats and tracking settings */
    tag: oneLine(200).min(1).optional(),
    /** X-Sokutatsu-Send-At: deliver at this time (RFC 3339) */
    sendAt: z.iso.datetime({ offset: true }).optional(),
    /** X-Sokutatsu-Meta-<name>: echoed in webhooks */
    metadata: z
      .record(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - (1-64)'), oneLine(1000))
      .refine((m) => Object.keys(m).length <= 50, { message: 'at most 50 entries' })
      .optional(),
    /** X-Sokutatsu-Track: what copies of this message track (default: config tracking.*) */
    track: z.enum(TRACK_CHOICES).optional(),
  })
  .refine((b) => b.to.length + b.cc.length + b.bcc.length > 0, { message: 'at least one recipient in to, cc or bcc', path: ['to'] })
  .refine((b) => b.text !== undefined || b.html !== undefined || b.attachments.length > 0, { message: 'text, html or an attachment is required', path: ['text'] });

export type SendBody = z.infer<typeof sendBody>;

/** 202's body. */
export const sendResponse = z.strictObject({ id: z.string() });

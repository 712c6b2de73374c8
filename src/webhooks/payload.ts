/**
 * What a webhook receives: the JSON body of one event and its signature header.
 *
 * Receives: a PublishedEvent (src/events/types.ts). Promises: a stable shape — the keys of
 * WebhookPayload's first block are always present (null when they do not apply), the rest only
 * when the event carries them — and CONTRACT's signature:
 * `X-Sokutatsu-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, the key
 * being the endpoint's secret as text (UTF-8), the body the exact bytes POSTed.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { PublishedEvent } from '../events/types.js';

export interface WebhookPayload {
  /** the event's id (unique, increasing); a retry of the same event carries the same id */
  id: string;
  type: string;
  /** ISO time of the event */
  at: string;
  messageId: string | null;
  recipient: string | null;
  tag: string | null;
  /** the sending domain (From: domain) */
  domain: string | null;
  /** X-Sokutatsu-Meta-* values of the message */
  metadata: Record<string, string>;
  /** Sisimai reason name of a failure (userunknown, mailboxfull, …) */
  reason: string | null;
  /** permanent | temporary | unknown */
  group: string | null;
  /** true when the address itself is bad */
  hard: boolean | null;
  /** the remote server's reply, verbatim */
  reply: string | null;
  /** our explanation */
  detail: string | null;
  /** clicked: the URL */
  url: string | null;
  /** opened/clicked: likely not a person */
  machine: boolean | null;
  // Present when the event carries them:
  rcpt?: number;
  label?: string;
  attempt?: number;
  code?: number;
  enhancedCode?: string;
  remoteHost?: string;
  tls?: string;
  source?: string;
  remoteMta?: string;
  feedbackType?: string;
  link?: number;
  count?: number;
  ip?: string;
  userAgent?: string;
  firstHuman?: boolean;
  /** ping only: the endpoint pinged */
  webhookId?: string;
}

const OPTIONAL = ['attempt', 'code', 'enhancedCode', 'remoteHost', 'tls', 'source', 'remoteMta', 'feedbackType', 'link', 'count', 'ip', 'userAgent', 'firstHuman'] as const;

export function eventPayload(event: PublishedEvent): WebhookPayload {
  const payload: WebhookPayload = {
    id: event.id,
    type: event.type,
    at: event.at,
    messageId: event.messageId,
    recipient: event.address,
    tag: event.tag,
    domain: event.domain,
    metadata: event.metadata,
    reason: event.failure?.reason ?? null,
    group: event.failure?.group ?? null,
    hard: event.hard ?? null,
    reply: event.reply ?? null,
    detail: event.detail ?? null,
    url: event.url ?? null,
    machine: event.machine ?? null,
    rcpt: event.rcpt,
  };
  if (event.failure?.label) payload.label = event.failure.label;
  // Copied by name (not spread): fields added to events later do not leak into the payload unreviewed.
  const target = payload as unknown as Record<string, unknown>;
  for (const key of OPTIONAL) if (event[key] !== undefined) target[key] = event[key];
  return payload;
}

/** The test ping of POST /api/v1/webhooks/:id/test. */
export function pingPayload(webhookId: string, now = new Date()): WebhookPayload {
  return {
    id: `ping-${randomBytes(8).toString('hex')}`, type: 'ping', at: now.toISOString(),
    messageId: null, recipient: null, tag: null, domain: null, metadata: {},
    reason: null, group: null, hard: null, reply: null, detail: null, url: null, machine: null,
    webhookId,
  };
}

/** The X-Sokutatsu-Signature value for `body` sent at `unixSeconds`. */
export function signature(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/**
 * The shapes of what the store keeps: a message, its recipients' states and its timeline.
 * Recipient statuses and event types are those of CONTRACT.md.
 */
export const RECIPIENT_STATUSES = ['queued', 'deferred', 'delivered', 'bounced', 'expired', 'suppressed', 'cancelled'] as const;
export type RecipientStatus = (typeof RECIPIENT_STATUSES)[number];

/** A recipient in one of these states gets no further delivery attempts. */
export const FINAL_STATUSES: ReadonlySet<RecipientStatus> = new Set(['delivered', 'bounced', 'expired', 'suppressed', 'cancelled']);

export type EventType = 'queued' | 'delivered' | 'deferred' | 'bounced' | 'expired' | 'suppressed' | 'cancelled';

export interface RecipientState {
  address: string;
  status: RecipientStatus;
  /** why it bounced/deferred/expired: the remote reply or our own explanation */
  reason: string | null;
  /** true when the address itself is bad (refined by the bounce classifier later) */
  hard: boolean | null;
  attempts: number;
  updatedAt: number;
}

export interface MessageEvent {
  type: EventType;
  /** ISO time */
  at: string;
  /** recipient index in the message */
  rcpt: number;
  address: string;
  attempt?: number;
  remoteHost?: string;
  /** the remote server's reply, verbatim */
  reply?: string;
  code?: number;
  enhancedCode?: string;
  /** our explanation, e.g. "connection refused by 127.0.0.1:25" or "scheduled for …" */
  detail?: string;
  /** TLS protocol used for the delivery, when any */
  tls?: string;
  /** how the delivered copy was signed ("d=… s=…") or why it was not */
  dkim?: string;
}

/** What is known about a message besides its bytes: envelope, headers we index, control values. */
export interface MessageFacts {
  id: string;
  mailFrom: string;
  recipients: string[];
  headerFrom: string | null;
  subject: string | null;
  messageIdHeader: string | null;
  tag: string | null;
  /** epoch ms; delivery waits until then */
  sendAt: number | null;
  track: string | null;
  meta: Record<string, string>;
  /** authenticated user, or null for a trusted network */
  user: string | null;
  clientIp: string;
  /** which listener took it: submission, submissions, api */
  source: string;
}

/** What intake hands to the store; `id` is chosen by intake (it is in Received and the 250 reply). */
export interface IncomingMessage extends MessageFacts {
  body: Buffer;
}

/** What the store keeps about a message (its body and recipient states are kept apart). */
export interface StoredMessage extends MessageFacts {
  size: number;
  createdAt: number;
}

/**
 * The shapes of what the store keeps: a message, its recipients' states and its timeline.
 * Recipient statuses and event types are those of CONTRACT.md.
 */
export const RECIPIENT_STATUSES = ['queued', 'deferred', 'delivered', 'bounced', 'expired', 'suppressed', 'cancelled'] as const;
export type RecipientStatus = (typeof RECIPIENT_STATUSES)[number];

/** A recipient in one of these states gets no further delivery attempts. */
export const FINAL_STATUSES: ReadonlySet<RecipientStatus> = new Set(['delivered', 'bounced', 'expired', 'suppressed', 'cancelled']);

/** CONTRACT's types (`inbound` included), plus `delayed` (a DSN saying the remote still tries) and `auto_replied` (vacation) */
export type EventType =
  | 'queued' | 'delivered' | 'deferred' | 'bounced' | 'expired' | 'suppressed' | 'cancelled' | 'complained' | 'delayed' | 'auto_replied'
  | 'opened' | 'clicked' | 'unsubscribed'
  // a mail received on port 25 for an inbound route (src/inbound/): not on a message's timeline, only in the event stream
  | 'inbound';

/** What the bounce classifier made of a failure (src/bounce/classify.ts). */
export interface FailureClass {
  /** Sisimai's reason name: userunknown, mailboxfull, blocked, … */
  reason: string;
  /** permanent | temporary | unknown */
  group: string;
  /** what operators read: "address does not exist", "mailbox full", … */
  label: string;
}

export interface RecipientState {
  address: string;
  status: RecipientStatus;
  /** why it bounced/deferred/expired: the remote reply or our own explanation */
  reason: string | null;
  /** true when the address itself is bad (the classifier's `hard`: userunknown, hostunknown, hasmoved, notaccept 5xx) */
  hard: boolean | null;
  /** the classified cause of a bounce, deferral or expiry */
  failure?: FailureClass;
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
  /** the classified cause of a failure */
  failure?: FailureClass;
  hard?: boolean;
  /** where a later report came from: a DSN, an ARF complaint, an auto-reply; an unsubscribe by link (page or RFC 8058 POST) or by mail */
  source?: 'dsn' | 'arf' | 'autoreply' | 'link' | 'mail';
  /** the remote MTA a DSN names */
  remoteMta?: string;
  /** ARF Feedback-Type (abuse, fraud, …) */
  feedbackType?: string;
  /** opened: the recipient's nth open (machine ones included); clicked: the nth click on any link */
  count?: number;
  /** clicked: the link's index in the message (absent for the honeypot link) and its URL */
  link?: number;
  url?: string;
  /** opened/clicked/unsubscribed: the client, as the HTTP request showed it */
  ip?: string;
  userAgent?: string;
  /** opened/clicked: likely not a person (privacy proxy prefetch, link scanner), and why it was judged so either way */
  machine?: boolean;
  why?: string;
  /** opened/clicked: the recipient's first open (click) taken for a person — what unique human counts count */
  firstHuman?: boolean;
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

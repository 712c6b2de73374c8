/**
 * The API's view of a message (CONTRACT: GET /api/v1/messages/:id): envelope summary and, per
 * recipient, status, reason, hard, failure (the classified cause), attempts and that recipient's
 * events in order.
 */
import type { MessageStore } from '../store/messages.js';
import type { FailureClass, RecipientStatus } from '../store/types.js';

export interface MessageView {
  id: string;
  from: string;
  subject: string | null;
  tag: string | null;
  createdAt: string;
  sendAt: string | null;
  size: number;
  metadata: Record<string, string>;
  recipients: {
    address: string;
    status: RecipientStatus;
    reason: string | null;
    hard: boolean | null;
    /** the classified cause of a failure: Sisimai reason, group, the operators' label */
    failure: FailureClass | null;
    attempts: number;
    events: Record<string, unknown>[];
  }[];
}

export async function messageView(store: MessageStore, id: string): Promise<MessageView | null> {
  const [message, recipients, events] = await Promise.all([store.get(id), store.recipients(id), store.events(id)]);
  if (!message) return null;
  return {
    id: message.id,
    from: message.headerFrom ?? message.mailFrom,
    subject: message.subject,
    tag: message.tag,
    createdAt: new Date(message.createdAt).toISOString(),
    sendAt: message.sendAt ? new Date(message.sendAt).toISOString() : null,
    size: message.size,
    metadata: message.meta,
    recipients: recipients.map((r, i) => ({
      address: r.address,
      status: r.status,
      reason: r.reason,
      hard: r.hard,
      failure: r.failure ?? null,
      attempts: r.attempts,
      events: events.filter((e) => e.rcpt === i).map(({ rcpt: _rcpt, address: _address, ...rest }) => rest),
    })),
  };
}

/**
 * An event as it leaves a message's timeline: one event of one recipient, with the message's
 * context — the shape of the event stream, of webhook payloads, and of what statistics count.
 * (The timeline itself keeps the shorter MessageEvent: its message is known.)
 */
import type { MessageEvent } from '../store/types.js';

export interface PublishedEvent extends MessageEvent {
  /** unique and increasing (the event stream's entry id) */
  id: string;
  messageId: string;
  /** X-Sokutatsu-Tag of the message */
  tag: string | null;
  /** the sending domain: the From: domain of the message */
  domain: string | null;
  /** X-Sokutatsu-Meta-* values of the message */
  metadata: Record<string, string>;
}

/** What gets every published event after it is recorded (webhooks; anything else that follows events). */
export interface EventSubscriber {
  publish(events: readonly PublishedEvent[]): Promise<void>;
}

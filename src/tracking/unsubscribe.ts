/**
 * Unsubscribing: an unsubscribe token (by an HTTP POST — the confirmation page's button or an
 * RFC 8058 one-click POST — or by mail to `u+TOKEN@…`) stops mail from that sender to that address.
 *
 * Receives: a token (tokens.ts), where it came from, and the client when it came by HTTP.
 * Promises: the address goes on the suppression list as `stopped` for the message's sending domain
 * (its From domain; a message without From: for every sender, since delivery checks only the From
 * domain and the global scope); an entry the address already has for that scope is kept (a
 * `prohibited` one is not weakened); `unsubscribed` is recorded once on the timeline. Repeating it
 * changes nothing. The suppression is written before the event, so a crash between the two is
 * repaired by the next attempt. Only known, unexpired messages can be unsubscribed from: the token
 * names a message, and the address is read from it.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import { domainOf } from '../mime/address.js';
import { GLOBAL, type SuppressionList } from '../store/suppressions.js';
import type { RecipientState } from '../store/types.js';
import type { ClientInfo, EngagementTracker } from './engagement.js';
import type { TrackingTokens } from './tokens.js';

/** Who an unsubscribe token stands for: what the confirmation page names. */
export interface UnsubscribeSubject {
  messageId: string;
  rcpt: number;
  address: string;
  /** the scope of the suppression: the From domain, or GLOBAL for a message without From */
  scope: string;
}

export type UnsubscribeOutcome = 'unsubscribed' | 'already' | 'unknown';

export interface UnsubscribeDeps {
  redis: Redis;
  keys: Keys;
  tokens: TrackingTokens;
  suppressions: SuppressionList;
  engagement: EngagementTracker;
}

export class Unsubscriber {
  constructor(private readonly deps: UnsubscribeDeps) {}

  /** The subject of a valid unsubscribe token of a known message, or null. Changes nothing. */
  async subject(token: string): Promise<UnsubscribeSubject | null> {
    const target = this.deps.tokens.parse(token);
    if (!target || target.kind !== 'unsubscribe') return null;
    const { redis, keys } = this.deps;
    const [headerFrom, rawState] = await Promise.all([
      redis.hget(keys.message(target.messageId), 'headerFrom'),
      redis.hget(keys.recipients(target.messageId), String(target.rcpt)),
    ]);
    if (headerFrom === null || !rawState) return null;
    const state = JSON.parse(rawState) as RecipientState;
    return { messageId: target.messageId, rcpt: target.rcpt, address: state.address, scope: headerFrom ? domainOf(headerFrom) : GLOBAL };
  }

  /**
   * Unsubscribes the recipient a token names. The inbound SMTP listener calls it with the token of
   * a `u+TOKEN@…` recipient (see unsubscribeTokenOf) and source 'mail'.
   */
  async unsubscribeByToken(token: string, source: 'link' | 'mail', client: ClientInfo | null = null): Promise<{ outcome: UnsubscribeOutcome; subject: UnsubscribeSubject | null }> {
    const subject = await this.subject(token);
    if (!subject) return { outcome: 'unknown', subject: null };
    const added = await this.suppress(subject, source);
    const detail = added ? `suppressed for ${scopeName(subject.scope)}` : `already suppressed for ${scopeName(subject.scope)}`;
    const recorded = await this.deps.engagement.unsubscribed(subject, subject.address, source, client, detail);
    // The message may expire between the two calls: the suppression still counts.
    const outcome: UnsubscribeOutcome = recorded === 'already' ? 'already' : 'unsubscribed';
    return { outcome, subject };
  }

  /** Adds the `stopped` entry unless the address has one for the scope; true when added. */
  private async suppress(subject: UnsubscribeSubject, source: 'link' | 'mail'): Promise<boolean> {
    const entries = await this.deps.suppressions.entries(subject.address);
    if (entries.some((e) => e.scope === subject.scope)) return false;
    await this.deps.suppressions.add({
      address: subject.address,
      scope: subject.scope,
      state: 'stopped',
      reason: source === 'mail' ? 'unsubscribed by mail' : 'unsubscribed by link',
      source: `unsubscribe ${subject.messageId}/${subject.rcpt}`,
    });
    return true;
  }
}

function scopeName(scope: string): string {
  return scope === GLOBAL ? 'every sender (the message had no From domain)' : scope;
}

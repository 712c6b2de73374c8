/**
 * Message search for `GET /api/v1/messages`: newest first, by recipient, tag, status and time
 * range, a page at a time.
 *
 * Reads the indexes store.accept writes (keys.messageIndex / tagIndex / recipientIndex: sorted
 * sets scored by acceptance time) — the narrowest one the query allows — and checks the other
 * conditions on each candidate's envelope and recipient states.
 *
 * Promises: at most `limit` messages, newest first; `nextCursor` continues after the last one
 * looked at (null at the end), so pages neither repeat nor skip a message, even among messages
 * of the same millisecond; a page looks at no more than SCAN_BUDGET index entries, so a query
 * matching little may return a short (even empty) page with a cursor — follow it. Index entries
 * whose message has passed its retention are skipped.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Keys } from '../redis/keys.js';
import { RECIPIENT_STATUSES, type RecipientState, type RecipientStatus } from '../store/types.js';

const time = z.union([z.iso.datetime({ offset: true }), z.string().regex(/^\d{1,15}$/, 'an RFC 3339 time or epoch ms')]);

export const searchQuery = z.strictObject({
  /** a recipient address (any of to, cc, bcc), exact, case-insensitive */
  recipient: z.string().min(3).max(254).optional(),
  tag: z.string().min(1).max(200).optional(),
  /** messages with at least one recipient (that recipient, when given) in this status */
  status: z.enum(RECIPIENT_STATUSES).optional(),
  /** accepted at or after (RFC 3339 or epoch ms) */
  from: time.optional(),
  /** accepted before */
  to: time.optional(),
  cursor: z.string().regex(/^\d{1,15}:[0-9a-z]{1,40}$/, 'a cursor from nextCursor').optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
});
export type SearchQuery = z.infer<typeof searchQuery>;

export interface MessageSummary {
  id: string;
  from: string;
  subject: string | null;
  tag: string | null;
  createdAt: string;
  recipients: { address: string; status: RecipientStatus }[];
}

/** Index entries one request may look at: bounds the work of a query that matches little. */
const SCAN_BUDGET = 5000;
const BATCH = 200;

export async function searchMessages(redis: Redis, keys: Keys, q: SearchQuery): Promise<{ messages: MessageSummary[]; nextCursor: string | null }> {
  const limit = q.limit ?? 50;
  const recipient = q.recipient?.toLowerCase();
  const index = recipient ? keys.recipientIndex(recipient) : q.tag ? keys.tagIndex(q.tag) : keys.messageIndex;
  const min = q.from ? String(toMs(q.from)) : '-inf';
  // The last entry looked at: the next page starts below it (lower score, or same score and lower id).
  let last = q.cursor ? { score: Number(q.cursor.split(':')[0]), id: q.cursor.split(':')[1]! } : null;
  let offset = 0;
  const out: MessageSummary[] = [];
  let scanned = 0;
  for (;;) {
    if (out.length >= limit || scanned >= SCAN_BUDGET) return { messages: out, nextCursor: last ? `${last.score}:${last.id}` : null };
    const max = last ? String(last.score) : q.to ? `(${toMs(q.to)}` : '+inf';
    const raw = await redis.zrevrangebyscore(index, max, min, 'WITHSCORES', 'LIMIT', offset, BATCH);
    if (raw.length === 0) return { messages: out, nextCursor: null };
    const entries: { id: string; score: number }[] = [];
    for (let i = 0; i < raw.length; i += 2) entries.push({ id: raw[i]!, score: Number(raw[i + 1]) });
    // Members of one score come in descending order: those not below the last one were seen.
    const cut = last;
    const fresh = cut ? entries.filter((e) => e.score < cut.score || e.id < cut.id) : entries;
    if (fresh.length === 0) {
      offset += entries.length; // a batch all of the last one's millisecond, all seen: look further
      continue;
    }
    offset = 0;
    for (const e of fresh) {
      scanned++;
      last = e;
      const summary = await candidate(redis, keys, e.id, q, recipient);
      if (summary) out.push(summary);
      if (out.length >= limit || scanned >= SCAN_BUDGET) break;
    }
  }
}

async function candidate(redis: Redis, keys: Keys, id: string, q: SearchQuery, recipient: string | undefined): Promise<MessageSummary | null> {
  const [[, envelope], [, states]] = (await redis.multi().hgetall(keys.message(id)).hgetall(keys.recipients(id)).exec()) as [[unknown, Record<string, string>], [unknown, Record<string, string>]];
  if (!envelope?.id) return null; // past its retention
  const tag = envelope.tag || null;
  if (q.tag !== undefined && tag !== q.tag) return null;
  const recipients = Object.entries(states ?? {})
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([, json]) => JSON.parse(json) as RecipientState)
    .map((r) => ({ address: r.address, status: r.status }));
  if (recipient !== undefined && !recipients.some((r) => r.address.toLowerCase() === recipient)) return null;
  if (q.status !== undefined && !recipients.some((r) => r.status === q.status && (recipient === undefined || r.address.toLowerCase() === recipient))) return null;
  return {
    id,
    from: envelope.headerFrom || envelope.mailFrom || '',
    subject: envelope.subject || null,
    tag,
    createdAt: new Date(Number(envelope.createdAt)).toISOString(),
    recipients,
  };
}

function toMs(value: string): number {
  return /^\d+$/.test(value) ? Number(value) : Date.parse(value);
}

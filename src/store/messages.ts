/**
 * The message store: bodies, envelopes, per-recipient state and timelines in Redis.
 *
 * Receives: accepted messages from intake, outcomes from delivery.
 * Promises: `accept` writes body, envelope, recipient states, the "queued" events and one
 * delivery job per recipient in ONE MULTI/EXEC — when it resolves the message is durable and
 * queued (with AOF fsync always). A recipient reaches a final state once; when the last one
 * does, every key of the message expires after the retention period. Every event (the "queued"
 * ones in the same MULTI, outcomes in the same Lua run) goes to the event log (events/event-log.ts):
 * stream and statistics with the state change, then metrics and subscribers.
 */
import { randomBytes } from 'node:crypto';
import type { ChainableCommander, Redis } from 'ioredis';
import type { Queue } from 'bullmq';
import type { Keys } from '../redis/keys.js';
import { addJobToTransaction, type DeliveryJob } from '../queue/delivery-queue.js';
import { FINAL_STATUSES, type IncomingMessage, type MessageEvent, type RecipientState, type StoredMessage } from './types.js';
import { RECORD_RECIPIENT_EVENT } from './scripts.js';
import { BodyCache } from './body-cache.js';
import { domainOf, EventLog, type ScriptReply } from '../events/event-log.js';

export interface MessageStore {
  accept(message: IncomingMessage, options?: AcceptOptions): Promise<string>;
  get(id: string): Promise<StoredMessage | null>;
  body(id: string): Promise<Buffer | null>;
  recipient(id: string, rcpt: number): Promise<RecipientState | null>;
  recipients(id: string): Promise<RecipientState[]>;
  events(id: string): Promise<MessageEvent[]>;
  /** Records an attempt's outcome; returns false when the recipient was already final. */
  record(id: string, state: RecipientState, event: MessageEvent): Promise<boolean>;
}

/** Sortable by time (base36 ms), unique by 64 random bits; safe in URLs and BullMQ job ids. */
export function newMessageId(now = Date.now()): string {
  return now.toString(36).padStart(9, '0') + randomBytes(8).toString('hex');
}

export interface Retention {
  retentionSeconds: number;
  bodyRetentionSeconds: number;
  /**
   * how long a message stays findable by search (keys.messageIndex, tagIndex, recipientIndex):
   * it lives at most delivery.retry.maxAgeSeconds before its last recipient is final, then
   * retentionSeconds. Default: retentionSeconds + 5 days (the default maxAge).
   */
  indexSeconds?: number;
}

/** What the send API adds to the transaction of an accept. */
export interface AcceptOptions {
  /** an Idempotency-Key's Redis key: set to `value` (the message id and the request's fingerprint) in the same MULTI, so a stored message always answers its key */
  idempotencyKey?: { key: string; value: string; ttlSeconds: number };
}

/**
 * The body cache of each process (see body-cache.ts): how many bytes, and for how long a body is
 * kept unread. In `npm run bench` with 5 KB messages every body read in the process that accepted
 * it came within 5 s (most within 1-5 s: the queue runs a little behind intake); with 100 KB the
 * queue fell 10-30 s behind and the cache hit 5-9% even at 64 MB. A body unread after 5 s waits
 * (a paused or rate-limited site, a retry, Send-At) and is read from Redis when its turn comes.
 * At 5 KB and ~700 messages/s per process, 5 s is ~18 MB; 32 MB bounds larger messages.
 */
const BODY_CACHE_BYTES = 32 * 1024 * 1024;
const BODY_CACHE_MAX_AGE_MS = 5_000;

export function createMessageStore(redis: Redis, queue: Queue<DeliveryJob>, keys: Keys, retention: Retention, eventLog: EventLog = new EventLog(redis, keys)): MessageStore {
  redis.defineCommand('recordRecipientEvent', { numberOfKeys: 4, lua: RECORD_RECIPIENT_EVENT });
  const cache = new BodyCache(BODY_CACHE_BYTES, BODY_CACHE_MAX_AGE_MS);
  const indexMs = (retention.indexSeconds ?? retention.retentionSeconds + 432_000) * 1000;

  return {
    async accept(message, options = {}) {
      const id = message.id;
      const now = Date.now();
      const client = await queue.backend.client;
      // BullMQ wraps an ioredis client: its MULTI takes every ioredis command.
      const multi = client.multi() as ReturnType<typeof client.multi> & ChainableCommander;
      multi.hset(keys.message(id), envelopeFields(id, message, now));
      multi.set(keys.body(id), message.body);
      multi.hset(keys.recipients(id), initialStates(message.recipients, now));
      const queued = message.recipients.map((address, rcpt) => queuedEvent(address, rcpt, now, message.sendAt));
      const queuedJson = queued.map((e) => JSON.stringify(e));
      multi.rpush(keys.events(id), ...queuedJson);
      const context = { messageId: id, tag: message.tag, domain: domainOf(message.headerFrom), metadata: message.meta };
      eventLog.queueInTransaction(multi, context, queuedJson, now);
      const delay = message.sendAt ? Math.max(0, message.sendAt - now) : 0;
      message.recipients.forEach((to, rcpt) => addJobToTransaction(queue, multi, { messageId: id, rcpt, to }, delay));
      indexMessage(multi, keys, message, now, indexMs);
      if (options.idempotencyKey) multi.set(options.idempotencyKey.key, options.idempotencyKey.value, 'EX', options.idempotencyKey.ttlSeconds);
      const results = await multi.exec();
      const failed = results?.find(([err]) => err);
      if (!results || failed) throw new Error(`could not store message: ${failed?.[0]?.message ?? 'transaction aborted'}`);
      cache.set(id, message.body);
      // The stream entries are the transaction's commands after HSET, SET, HSET, RPUSH.
      const streamIds = results.slice(4, 4 + queued.length).map(([, streamId]) => String(streamId));
      await eventLog.publishedMany(streamIds, queued, context);
      return id;
    },

    async get(id) {
      const fields = await redis.hgetall(keys.message(id));
      return fields.id ? parseEnvelope(fields) : null;
    },

    async body(id) {
      return cache.get(id) ?? redis.getBuffer(keys.body(id));
    },

    async recipient(id, rcpt) {
      const raw = await redis.hget(keys.recipients(id), String(rcpt));
      return raw ? (JSON.parse(raw) as RecipientState) : null;
    },

    async recipients(id) {
      const all = await redis.hgetall(keys.recipients(id));
      return Object.entries(all)
        .sort(([a], [b]) => Number(a) - Number(b))
        .map(([, raw]) => JSON.parse(raw) as RecipientState);
    },

    async events(id) {
      const raw = await redis.lrange(keys.events(id), 0, -1);
      return raw.map((e) => JSON.parse(e) as MessageEvent);
    },

    async record(id, state, event) {
      const final = FINAL_STATUSES.has(state.status) ? '1' : '0';
      // ioredis adds defined commands at run time; the typed client does not know them.
      const run = (redis as unknown as Record<string, (...args: unknown[]) => Promise<ScriptReply>>).recordRecipientEvent!;
      const reply = await run.call(
        redis,
        keys.message(id), keys.body(id), keys.recipients(id), keys.events(id),
        String(event.rcpt), JSON.stringify(state), JSON.stringify(event), final, String(retention.retentionSeconds), String(retention.bodyRetentionSeconds),
        eventLog.scriptArg(),
      );
      const result = reply[0];
      if (result === 2) cache.delete(id);
      if (result >= 1) await eventLog.published(reply, id);
      return result >= 1;
    },
  };
}

let lastIndexTrim = 0;

/**
 * The search indexes (GET /api/v1/messages): by time, by tag and by recipient, scored by the
 * acceptance time. The global index is trimmed here (amortized: each accept drops what fell out
 * of the window); a tag's or recipient's set expires with its newest entry, and search skips
 * entries whose message is gone.
 */
function indexMessage(multi: ChainableCommander, keys: Keys, m: IncomingMessage, now: number, indexMs: number): void {
  multi.zadd(keys.messageIndex, now, m.id);
  // At most once a second per process: what falls out of a days-long window can wait that long.
  if (now - lastIndexTrim >= 1000) {
    lastIndexTrim = now;
    multi.zremrangebyscore(keys.messageIndex, '-inf', now - indexMs);
  }
  if (m.tag) {
    multi.zadd(keys.tagIndex(m.tag), now, m.id);
    multi.zremrangebyscore(keys.tagIndex(m.tag), '-inf', now - indexMs);
    multi.pexpire(keys.tagIndex(m.tag), indexMs);
  }
  for (const address of new Set(m.recipients.map((r) => r.toLowerCase()))) {
    multi.zadd(keys.recipientIndex(address), now, m.id);
    multi.pexpire(keys.recipientIndex(address), indexMs);
  }
}

function envelopeFields(id: string, m: IncomingMessage, now: number): Record<string, string> {
  return {
    id,
    mailFrom: m.mailFrom,
    recipients: JSON.stringify(m.recipients),
    headerFrom: m.headerFrom ?? '',
    subject: m.subject ?? '',
    messageIdHeader: m.messageIdHeader ?? '',
    tag: m.tag ?? '',
    sendAt: m.sendAt ? String(m.sendAt) : '',
    track: m.track ?? '',
    meta: JSON.stringify(m.meta),
    user: m.user ?? '',
    clientIp: m.clientIp,
    source: m.source,
    size: String(m.body.length),
    createdAt: String(now),
    pending: String(m.recipients.length),
  };
}

function parseEnvelope(f: Record<string, string>): StoredMessage {
  const orNull = (v: string | undefined) => (v ? v : null);
  return {
    id: f.id!,
    mailFrom: f.mailFrom ?? '',
    recipients: JSON.parse(f.recipients ?? '[]') as string[],
    headerFrom: orNull(f.headerFrom),
    subject: orNull(f.subject),
    messageIdHeader: orNull(f.messageIdHeader),
    tag: orNull(f.tag),
    sendAt: f.sendAt ? Number(f.sendAt) : null,
    track: orNull(f.track),
    meta: JSON.parse(f.meta ?? '{}') as Record<string, string>,
    user: orNull(f.user),
    clientIp: f.clientIp ?? '',
    source: f.source ?? '',
    size: Number(f.size ?? 0),
    createdAt: Number(f.createdAt ?? 0),
  };
}

function initialStates(recipients: string[], now: number): Record<string, string> {
  const out: Record<string, string> = {};
  recipients.forEach((address, i) => {
    const state: RecipientState = { address, status: 'queued', reason: null, hard: null, attempts: 0, updatedAt: now };
    out[String(i)] = JSON.stringify(state);
  });
  return out;
}

function queuedEvent(address: string, rcpt: number, now: number, sendAt: number | null): MessageEvent {
  const event: MessageEvent = { type: 'queued', at: new Date(now).toISOString(), rcpt, address };
  if (sendAt && sendAt > now) event.detail = `scheduled for ${new Date(sendAt).toISOString()}`;
  return event;
}

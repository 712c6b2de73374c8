/**
 * The message store: bodies, envelopes, per-recipient state and timelines in Redis.
 *
 * Receives: accepted messages from intake, outcomes from delivery.
 * Promises: `accept` writes body, envelope, recipient states, the "queued" events and one
 * delivery job per recipient in ONE MULTI/EXEC (body SET, the acceptMessage script, BullMQ's job
 * adds) — when it resolves the message is durable and queued (with AOF fsync always). A
 * recipient reaches a final state once; when the last one does, every key of the message expires
 * after the retention period. Every event (the "queued" ones in acceptMessage, outcomes in their
 * recording script) goes to the event log (events/event-log.ts): stream and statistics with the
 * state change, then metrics and subscribers.
 */
import { randomFillSync } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Queue } from 'bullmq';
import type { Keys } from '../redis/keys.js';
import { addJobToTransaction, type DeliveryJob } from '../queue/delivery-queue.js';
import { withJobScripts } from '../queue/job-transaction.js';
import { FINAL_STATUSES, type IncomingMessage, type MessageEvent, type RecipientState, type StoredMessage } from './types.js';
import { ACCEPT_MESSAGE, RECORD_RECIPIENT_EVENT } from './scripts.js';
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

/** Random bytes for ids, filled 4 KB at a time: a randomBytes(8) per message cost ~15 us (a call into OpenSSL each). */
const idRandom = { pool: Buffer.alloc(4096), used: 4096 };

/** Sortable by time (base36 ms), unique by 64 random bits; safe in URLs and BullMQ job ids. */
export function newMessageId(now = Date.now()): string {
  if (idRandom.used + 8 > idRandom.pool.length) {
    randomFillSync(idRandom.pool);
    idRandom.used = 0;
  }
  const random = idRandom.pool.toString('hex', idRandom.used, idRandom.used + 8);
  idRandom.used += 8;
  return now.toString(36).padStart(9, '0') + random;
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
  redis.defineCommand('acceptMessage', { numberOfKeys: 4, lua: ACCEPT_MESSAGE });
  // Made once the queue's client has loaded BullMQ's scripts; made again after a failure.
  let intake: ReturnType<typeof withJobScripts> | null = null;
  const intakeClient = () => (intake ??= withJobScripts(redis, queue).catch((err: unknown) => {
    intake = null;
    throw err;
  }));
  const cache = new BodyCache(BODY_CACHE_BYTES, BODY_CACHE_MAX_AGE_MS);
  const indexMs = (retention.indexSeconds ?? retention.retentionSeconds + 432_000) * 1000;

  return {
    async accept(message, options = {}) {
      const id = message.id;
      const now = Date.now();
      // Our own client, not BullMQ's: a MULTI copies every script its client defines (BullMQ's
      // ~50) into the new object, which cost ~4% of a worker's CPU per message.
      const client = await intakeClient();
      const multi = client.multi();
      multi.set(keys.body(id), message.body);
      const queued = message.recipients.map((address, rcpt) => queuedEvent(address, rcpt, now, message.sendAt));
      // ioredis adds defined commands at run time; the typed MULTI does not know them.
      (multi as unknown as Record<string, (...args: unknown[]) => unknown>).acceptMessage!(
        keys.message(id), keys.recipients(id), keys.events(id), keys.messageIndex,
        eventLog.scriptArg(now), JSON.stringify(acceptArg(keys, message, now, indexMs)),
        String(queued.length), ...queued.map((e) => JSON.stringify(e)), ...initialStates(message.recipients, now),
      );
      const delay = message.sendAt ? Math.max(0, message.sendAt - now) : 0;
      message.recipients.forEach((to, rcpt) => addJobToTransaction(queue, multi, { messageId: id, rcpt, to }, delay));
      if (options.idempotencyKey) multi.set(options.idempotencyKey.key, options.idempotencyKey.value, 'EX', options.idempotencyKey.ttlSeconds);
      const results = await multi.exec();
      const failed = results?.find(([err]) => err);
      if (!results || failed) throw new Error(`could not store message: ${failed?.[0]?.message ?? 'transaction aborted'}`);
      cache.set(id, message.body);
      const streamIds = (results[1]![1] as unknown[]).map(String);
      const context = { messageId: id, tag: message.tag, domain: domainOf(message.headerFrom), metadata: message.meta };
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
 * acceptMessage's ARGV[2]: the envelope and the search indexes (GET /api/v1/messages) — by time,
 * by tag and by recipient, scored by the acceptance time. A tag's or recipient's set expires with
 * its newest entry (search skips entries whose message is gone); the global index is trimmed of
 * what fell out of its window at most once a second per process: that can wait a second.
 */
function acceptArg(keys: Keys, m: IncomingMessage, now: number, indexMs: number): object {
  const trimIndex = now - lastIndexTrim >= 1000;
  if (trimIndex) lastIndexTrim = now;
  return {
    id: m.id,
    env: Object.entries(envelopeFields(m.id, m, now)).flat(),
    now,
    indexMs,
    trimIndex,
    tagIndex: m.tag ? keys.tagIndex(m.tag) : '',
    rcptIndex: [...new Set(m.recipients.map((r) => keys.recipientIndex(r.toLowerCase())))],
  };
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

/** The recipients' first states (JSON), in recipient order. */
function initialStates(recipients: string[], now: number): string[] {
  return recipients.map((address) => JSON.stringify({ address, status: 'queued', reason: null, hard: null, attempts: 0, updatedAt: now } satisfies RecipientState));
}

function queuedEvent(address: string, rcpt: number, now: number, sendAt: number | null): MessageEvent {
  const event: MessageEvent = { type: 'queued', at: new Date(now).toISOString(), rcpt, address };
  if (sendAt && sendAt > now) event.detail = `scheduled for ${new Date(sendAt).toISOString()}`;
  return event;
}

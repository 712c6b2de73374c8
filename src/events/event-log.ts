/**
 * The event log: where every recipient state change and engagement goes after it is recorded.
 *
 * Receives: from the recording scripts (store/scripts.ts, acceptMessage's "queued" events too)
 * their replies — each script has already, atomically with the state change and the timeline
 * append, added the event to the event stream and counted it in the statistics (publish-lua.ts;
 * nothing else writes statistics). The publish context those scripts need is `scriptArg()`.
 * Promises: `published()` turns the replies into PublishedEvents (the message's context with
 * each), counts them in Prometheus (`sokutatsu_events_total{type, machine}`) and hands them to
 * every subscriber (webhooks). A subscriber's failure is logged and never undoes or fails the
 * recording: the event stays in the stream. Without subscribers the log still records everything.
 */
import type { ChainableCommander, Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Keys } from '../redis/keys.js';
import type { Metrics } from '../metrics.js';
import type { MessageEvent } from '../store/types.js';
import type { EventSubscriber, PublishedEvent } from './types.js';
import { asciiLower } from './stats-scope.js';

export interface EventLogOptions {
  /** seconds an event stays in the stream; 0: no time limit */
  retentionSeconds: number;
  /** entries the stream keeps at most (approximately); 0: no length limit */
  maxLength: number;
  /** days the hourly statistics counters are kept */
  statsRetentionDays: number;
}

export const DEFAULT_EVENT_LOG_OPTIONS: EventLogOptions = { retentionSeconds: 604_800, maxLength: 1_000_000, statsRetentionDays: 400 };

/** What a recording script returned: `[result]`, or `[result, streamId, eventJson, tag, domain, metaJson]` when it recorded. */
export type ScriptReply = [number, ...string[]];

/** The message context known to the caller (accept): what the stream entries of its events carry. */
export interface MessageContext {
  messageId: string;
  tag: string | null;
  domain: string | null;
  metadata: Record<string, string>;
}

export interface EventLogHooks {
  metrics?: Pick<Metrics, 'events' | 'bounces'>;
  subscribers?: EventSubscriber[];
  log?: Logger;
}

/**
 * Trimming the stream by age (XTRIM MINID) is asked at most this often per process: asked with
 * every event it was ~6 more Redis commands per delivered message (MAXLEN ~ still bounds the
 * length with every XADD); an entry then outlives its retention by at most about this much.
 */
const AGE_TRIM_EVERY_MS = 1000;

export class EventLog {
  private readonly subscribers: EventSubscriber[];
  private lastAgeTrim = 0;

  constructor(private readonly redis: Redis, private readonly keys: Keys, private readonly options: EventLogOptions = DEFAULT_EVENT_LOG_OPTIONS, private readonly hooks: EventLogHooks = {}) {
    this.subscribers = [...(hooks.subscribers ?? [])];
  }

  /** Adds a follower of every event from now on (webhooks are started after the store). */
  subscribe(subscriber: EventSubscriber): void {
    this.subscribers.push(subscriber);
  }

  /** The recording scripts' last ARGV: where the stream and the counters are, how they are bounded, and now. */
  scriptArg(now = Date.now()): string {
    const { counters, links } = this.keys.statsPrefixes;
    return JSON.stringify({
      stream: this.keys.eventStream,
      maxLen: this.options.maxLength,
      retentionMs: this.ageTrimDue(now) ? this.options.retentionSeconds * 1000 : 0,
      counters,
      links,
      statsTtl: this.statsTtl(),
      now,
    });
  }

  /**
   * Only the stream entries of events (answers: the stream ids, in order — the first
   * `eventsJson.length` commands added), trimmed as always, no statistics counters: for events
   * outside a sent message's statistics, e.g. `inbound` (a mail received for an inbound route,
   * src/inbound/intake.ts; `context.messageId` is the inbound mail's id). Publish them with
   * `publishedMany` after `exec`.
   */
  streamInTransaction(multi: ChainableCommander, context: MessageContext, eventsJson: readonly string[], now: number): void {
    const stream = this.keys.eventStream;
    const trim = this.options.maxLength > 0 ? ['MAXLEN', '~', String(this.options.maxLength)] : [];
    const meta = JSON.stringify(context.metadata);
    for (const json of eventsJson) {
      multi.call('XADD', stream, ...trim, '*', 'message', context.messageId, 'tag', context.tag ?? '', 'domain', context.domain ?? '', 'meta', meta, 'event', json);
    }
    if (this.ageTrimDue(now)) multi.call('XTRIM', stream, 'MINID', '~', String(now - this.options.retentionSeconds * 1000));
  }

  /** Whether this caller should trim the stream by age now (see AGE_TRIM_EVERY_MS). */
  private ageTrimDue(now: number): boolean {
    if (this.options.retentionSeconds <= 0 || now - this.lastAgeTrim < AGE_TRIM_EVERY_MS) return false;
    this.lastAgeTrim = now;
    return true;
  }

  /** A script's reply → the event it published (null when it recorded nothing), after metrics and subscribers. */
  async published(reply: ScriptReply, messageId: string): Promise<PublishedEvent | null> {
    if (reply.length < 6) return null;
    const [, id, json, tag, domain, meta] = reply as [number, string, string, string, string, string];
    const event = JSON.parse(json) as MessageEvent;
    this.count(event);
    if (!id) return null; // counted, but kept off the stream (see RECORD_ENGAGEMENT)
    const out = { ...event, id, messageId, tag: tag || null, domain: domain || null, metadata: parseMeta(meta) };
    await this.deliver([out]);
    return out;
  }

  /** Events published together by one script (acceptMessage's "queued" ones) or MULTI: their stream ids and the context. */
  async publishedMany(ids: readonly string[], events: readonly MessageEvent[], context: MessageContext): Promise<PublishedEvent[]> {
    const out = events.map((event, i) => ({ ...event, id: ids[i] ?? '', ...context }));
    for (const event of events) this.count(event);
    await this.deliver(out);
    return out;
  }

  /** Stream entries after `after` (exclusive; '-' for the oldest), oldest first — for followers and tests. */
  async read(after = '-', count = 1000): Promise<PublishedEvent[]> {
    const start = after === '-' ? '-' : `(${after}`;
    const entries = await this.redis.xrange(this.keys.eventStream, start, '+', 'COUNT', count);
    return entries.map(([id, fields]) => fromEntry(id, fields));
  }

  /** Counted in the last moment of an hour bucket still have the full retention. */
  private statsTtl(): number {
    return this.options.statsRetentionDays * 86_400 + 3600;
  }

  private count(event: MessageEvent): void {
    const machine = event.machine === undefined ? '' : String(event.machine);
    this.hooks.metrics?.events.inc({ type: event.type, machine });
    if (event.type === 'bounced' && event.failure) this.hooks.metrics?.bounces.inc({ group: event.failure.group, reason: event.failure.reason });
  }

  private async deliver(events: PublishedEvent[]): Promise<void> {
    for (const subscriber of this.subscribers) {
      try {
        await subscriber.publish(events);
      } catch (err) {
        this.hooks.log?.warn({ err: (err as Error).message, events: events.length }, 'an event subscriber failed; the events stay in the event stream');
      }
    }
  }
}

/** A stream entry's fields (message, tag, domain, meta, event) → PublishedEvent. */
export function fromEntry(id: string, fields: string[]): PublishedEvent {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  const event = JSON.parse(f.event ?? '{}') as MessageEvent;
  return { ...event, id, messageId: f.message ?? '', tag: f.tag || null, domain: f.domain || null, metadata: parseMeta(f.meta) };
}

function parseMeta(raw: string | undefined): Record<string, string> {
  if (!raw) return {};
  try {
    const value: unknown = JSON.parse(raw);
    // Lua's cjson writes an empty table as {} but could write [] for one decoded from []: both mean none.
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, string>) : {};
  } catch {
    return {};
  }
}

/** The domain of a From address, as the scripts take it (after the last '@', lower case). */
export function domainOf(address: string | null): string | null {
  const at = address?.lastIndexOf('@') ?? -1;
  return address && at >= 0 && at < address.length - 1 ? asciiLower(address.slice(at + 1)) : null;
}

/**
 * Engagement: opens, clicks and unsubscribes of a recipient, on the message's timeline.
 *
 * Receives: a verified token's target and what the request showed (IP, user agent, method).
 * Promises: every open and click becomes an `opened` / `clicked` event with its count, time, IP,
 * user agent and a machine verdict (machine.ts) taken on the recipient's delivery state (past the
 * 100th of a recipient, only its counts grow — see RECORD_ENGAGEMENT); the
 * recipient's engagement keeps totals and human counts apart, and the first human open / click is
 * marked (`firstHuman`) — what unique counts count. An unsubscribe is recorded once. Recording is
 * one Lua call (store/scripts.ts RECORD_ENGAGEMENT) that never touches the delivery state; a
 * message whose history expired records nothing. A click resolves to its stored URL only. The
 * same Lua run publishes the event (stream and statistics, events/publish-lua.ts); the event log
 * then counts it in metrics and hands it to its subscribers.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import { RECORD_ENGAGEMENT } from '../store/scripts.js';
import { EventLog, type ScriptReply } from '../events/event-log.js';
import type { MessageEvent, RecipientState } from '../store/types.js';
import type { LinkStore } from './links.js';
import { classifyRequest, DEFAULT_MACHINE_OPTIONS, type MachineOptions, type RequestFacts, type Verdict } from './machine.js';

export interface ClientInfo {
  ip: string;
  userAgent: string;
  method: string;
}

/** What the recipient's engagement hash keeps (epoch ms times; absent until it happens). */
export interface RecipientEngagement {
  opens?: number;
  humanOpens?: number;
  firstOpenAt?: number;
  firstHumanOpenAt?: number;
  clicks?: number;
  humanClicks?: number;
  firstClickAt?: number;
  firstHumanClickAt?: number;
  lastClickAt?: number;
  lastClickIp?: string;
  lastClickLink?: number;
  honeypotAt?: number;
  honeypotIp?: string;
  unsubscribedAt?: number;
}

export interface Recorded {
  /** the recipient's nth open / click (0 for a honeypot hit) */
  count: number;
  verdict: Verdict;
}

/** Per link of a message: its URL and how often, and by how many recipients, it was clicked. */
export interface LinkClicks {
  link: number;
  url: string;
  clicks: number;
  humanClicks: number;
  uniqueClickers: number;
  uniqueHumanClickers: number;
}

export interface EngagementOptions {
  /** how long engagement keys live while the message has no expiry yet (it gets one when every recipient is final) */
  ttlSeconds: number;
  machine?: MachineOptions;
  now?: () => number;
  /** where recorded events go (stream, statistics, metrics, webhooks); default: a log without metrics or subscribers */
  events?: EventLog;
}

type RecordEngagement = (...args: string[]) => Promise<ScriptReply>;
type Target = { messageId: string; rcpt: number };

/** Stored user agents are cut here: the long ones are padding, not information. */
const MAX_AGENT_CHARS = 512;

export class EngagementTracker {
  private readonly run: RecordEngagement;
  private readonly machine: MachineOptions;
  private readonly now: () => number;
  private readonly events: EventLog;

  constructor(private readonly redis: Redis, private readonly keys: Keys, private readonly links: LinkStore, private readonly options: EngagementOptions) {
    if (!(options.ttlSeconds >= 1)) throw new Error(`engagement retention must be at least 1 s, not ${options.ttlSeconds}`);
    redis.defineCommand('recordEngagement', { numberOfKeys: 5, lua: RECORD_ENGAGEMENT });
    // ioredis adds defined commands at run time; the typed client does not know them.
    this.run = (redis as unknown as { recordEngagement: RecordEngagement }).recordEngagement.bind(redis);
    this.machine = options.machine ?? DEFAULT_MACHINE_OPTIONS;
    this.now = options.now ?? Date.now;
    this.events = options.events ?? new EventLog(redis, keys);
  }

  /** An open pixel was fetched; null when the message or recipient is unknown (nothing recorded). */
  async open(target: Target, client: ClientInfo): Promise<Recorded | null> {
    const [state, engagement] = await this.read(target);
    if (!state) return null;
    return this.record(target, state, engagement, { kind: 'open' }, client);
  }

  /**
   * A tracked link (or the honeypot) was fetched. `url` is the stored URL to redirect to, null
   * for an unknown link and for the honeypot; the click is recorded whenever the recipient is known.
   */
  async click(target: Target & ({ link: number } | { honeypot: true }), client: ClientInfo): Promise<{ url: string | null; recorded: Recorded | null }> {
    const link = 'link' in target ? target.link : null;
    const [[state, engagement], url] = await Promise.all([this.read(target), link === null ? null : this.links.url(target.messageId, link)]);
    if (link !== null && url === null) return { url: null, recorded: null };
    if (!state) return { url, recorded: null };
    const hit = link === null ? ({ kind: 'honeypot' } as const) : ({ kind: 'click', link, url: url! } as const);
    return { url, recorded: await this.record(target, state, engagement, hit, client) };
  }

  /** Records the recipient's unsubscribe once: 'already' when it was, 'unknown' when the message is gone. */
  async unsubscribed(target: Target, address: string, source: 'link' | 'mail', client: ClientInfo | null, detail: string): Promise<'recorded' | 'already' | 'unknown'> {
    const at = this.now();
    const event: MessageEvent = { type: 'unsubscribed', at: new Date(at).toISOString(), rcpt: target.rcpt, address, source, ...clientFields(client), detail };
    const result = await this.exec(target, 'unsubscribe', event, false, '', at, client?.ip ?? '');
    return result === -1 ? 'already' : result === 0 ? 'unknown' : 'recorded';
  }

  async recipient(messageId: string, rcpt: number): Promise<RecipientEngagement | null> {
    const raw = await this.redis.hget(this.keys.engagement(messageId), String(rcpt));
    return raw ? (JSON.parse(raw) as RecipientEngagement) : null;
  }

  /** Every stored link of the message with its clicks; what the stats API reports per URL. */
  async linkClicks(messageId: string): Promise<LinkClicks[]> {
    const [urls, counts] = await Promise.all([this.links.all(messageId), this.redis.hgetall(this.keys.clicks(messageId))]);
    const out: LinkClicks[] = urls.map((url, link) => ({ link, url, clicks: 0, humanClicks: 0, uniqueClickers: 0, uniqueHumanClickers: 0 }));
    for (const [field, value] of Object.entries(counts)) {
      const [link, , human] = field.split(':');
      const row = out[Number(link)];
      if (!row) continue;
      if (human) {
        row.humanClicks += Number(value);
        row.uniqueHumanClickers++;
      } else {
        row.clicks += Number(value);
        row.uniqueClickers++;
      }
    }
    return out;
  }

  private async read(target: Target): Promise<[RecipientState | null, RecipientEngagement]> {
    const [state, engagement] = await Promise.all([
      this.redis.hget(this.keys.recipients(target.messageId), String(target.rcpt)),
      this.redis.hget(this.keys.engagement(target.messageId), String(target.rcpt)),
    ]);
    return [state ? (JSON.parse(state) as RecipientState) : null, engagement ? (JSON.parse(engagement) as RecipientEngagement) : {}];
  }

  private async record(
    target: Target,
    state: RecipientState,
    engagement: RecipientEngagement,
    hit: { kind: 'open' } | { kind: 'honeypot' } | { kind: 'click'; link: number; url: string },
    client: ClientInfo,
  ): Promise<Recorded | null> {
    const at = this.now();
    const verdict = classifyRequest(requestFacts(hit, state, engagement, client, at), this.machine);
    const event: MessageEvent = {
      type: hit.kind === 'open' ? 'opened' : 'clicked',
      at: new Date(at).toISOString(),
      rcpt: target.rcpt,
      address: state.address,
      ...(hit.kind === 'click' ? { link: hit.link, url: hit.url } : {}),
      ...clientFields(client),
      machine: verdict.machine,
      why: verdict.why,
    };
    const link = hit.kind === 'click' ? String(hit.link) : '';
    const result = await this.exec(target, hit.kind, event, verdict.machine, link, at, client.ip);
    if (result === 0) return null;
    return { count: hit.kind === 'honeypot' ? 0 : result, verdict };
  }

  private async exec(target: Target, what: string, event: MessageEvent, machine: boolean, link: string, at: number, ip: string): Promise<number> {
    const { messageId, rcpt } = target;
    const reply = await this.run(
      this.keys.recipients(messageId), this.keys.events(messageId), this.keys.engagement(messageId), this.keys.clicks(messageId), this.keys.message(messageId),
      String(rcpt), what, JSON.stringify(event), machine ? '1' : '0', link, String(at), ip, String(this.options.ttlSeconds), this.events.scriptArg(at),
    );
    const result = reply[0];
    if (result > 0) await this.events.published(reply, messageId);
    return result;
  }
}

function requestFacts(hit: { kind: 'open' | 'honeypot' | 'click'; link?: number }, state: RecipientState, e: RecipientEngagement, client: ClientInfo, at: number): RequestFacts {
  return {
    kind: hit.kind,
    method: client.method,
    userAgent: client.userAgent,
    ip: client.ip,
    at,
    deliveredAt: state.status === 'delivered' ? state.updatedAt : null,
    // A bounced copy may have been delivered first (a later DSN): only these never reached anyone.
    undelivered: state.status !== 'delivered' && state.status !== 'bounced',
    ...(hit.link !== undefined ? { link: hit.link } : {}),
    previousClick: e.lastClickAt !== undefined ? { at: e.lastClickAt, ip: e.lastClickIp ?? '', link: e.lastClickLink ?? -1 } : null,
    honeypotHit: e.honeypotAt !== undefined ? { at: e.honeypotAt, ip: e.honeypotIp ?? '' } : null,
  };
}

function clientFields(client: ClientInfo | null): Pick<MessageEvent, 'ip' | 'userAgent'> {
  if (!client) return {};
  return { ...(client.ip ? { ip: client.ip } : {}), ...(client.userAgent ? { userAgent: client.userAgent.slice(0, MAX_AGENT_CHARS) } : {}) };
}

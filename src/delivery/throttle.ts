/**
 * Per-site limits that hold across every process and node sharing the Redis: connection leases,
 * a smooth message rate, and adaptive backoff when a site pushes back.
 *
 * Promises: at most `connections` leases per site are live at once (a lease expires unless its
 * holder renews it, so a crashed node's connections free themselves); messages are admitted one
 * per 60/perMinute s (GCRA, no bursts; a caller that must wait gets the next free slot reserved,
 * so waiting callers line up instead of racing for one slot); a run of "try later"
 * answers (421, 4.7.x, refused connections) halves the site's connection ceiling and pauses it for
 * a growing window, and successes earn the connections back one at a time (AIMD). Every denial
 * says how long to wait, so callers re-schedule instead of polling. Redis's clock is the clock.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import type { SiteLimits } from './sites.js';

/** A lease lives this long unless renewed (holders renew every third of it): a crashed node's connections are free again within it. */
export const LEASE_TTL_MS = 15_000;
/** `queue sites` lists sites used within this window (routed mail makes every recipient domain a site). */
const SITES_KEPT_MS = 7 * 24 * 3600_000;
/** Backoff state is forgotten after a day without trouble. */
const STATE_TTL_MS = 24 * 3600_000;

const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** How long a refused connection request stays visible to the processes holding the site's connections. */
const WANTED_MS = 2000;

/**
 * KEYS[1] leases (zset), KEYS[2] state (hash), KEYS[3] sites (zset), KEYS[4] wanted (string)
 * ARGV[1] configured connections, ARGV[2] lease id, ARGV[3] lease ttl ms, ARGV[4] site name
 * Returns {1, 0, state?} when leased; {0, wait ms, 1} when paused; {0, -1, state?} when every
 * connection is taken. state? is 1 when the site has backoff state.
 */
const OPEN_CONNECTION = `${NOW}
redis.call('ZADD', KEYS[3], now, ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - ${SITES_KEPT_MS})
local hasState = redis.call('EXISTS', KEYS[2])
local paused = tonumber(redis.call('HGET', KEYS[2], 'pausedUntil') or '0')
if paused > now then return {0, paused - now, 1} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local limit = tonumber(ARGV[1])
local ceiling = tonumber(redis.call('HGET', KEYS[2], 'ceiling') or ARGV[1])
if ceiling < limit then limit = ceiling end
if redis.call('ZCARD', KEYS[1]) >= limit then
  redis.call('SET', KEYS[4], '1', 'PX', ${WANTED_MS})
  return {0, -1, hasState}
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) * 2)
return {1, 0, hasState}`;

/** KEYS[1] leases; ARGV[1] lease id, ARGV[2] ttl ms. Returns 1 when renewed, 0 when the lease had expired (re-added). */
const RENEW_CONNECTION = `${NOW}
local existed = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
if existed then return 1 end
return 0`;

/**
 * One message may go to the site now: it is not paused, and (GCRA) the rate allows it. When the
 * rate says wait, the next free slot is reserved for the caller, so waiting jobs line up one slot
 * apart instead of all coming back for the same one.
 * KEYS[1] state (hash), KEYS[2] theoretical arrival time (string); ARGV[1] interval ms (0: no rate limit).
 * Returns {0} when admitted, {ms, 1} while paused, {ms, 0} when a slot ms from now is reserved.
 */
const ADMIT = `${NOW}
local paused = tonumber(redis.call('HGET', KEYS[1], 'pausedUntil') or '0')
if paused > now then return {paused - now, 1} end
local interval = tonumber(ARGV[1])
if interval <= 0 then return {0} end
local tat = tonumber(redis.call('GET', KEYS[2]) or '0')
if tat < now then tat = now end
redis.call('SET', KEYS[2], tat + interval, 'PX', math.floor(tat + interval - now) + 1000)
if tat > now then return {tat - now, 0} end
return {0}`;

/**
 * KEYS[1] state, KEYS[2] troubled sites (set); ARGV[1] configured connections, ARGV[2] reason, ARGV[3] threshold,
 * ARGV[4] first pause ms, ARGV[5] max pause ms, ARGV[6] state ttl ms, ARGV[7] connections in use now, ARGV[8] site
 * Returns {paused until ms (0: not paused), ceiling}.
 */
const RECORD_TROUBLE = `${NOW}
redis.call('SADD', KEYS[2], ARGV[8])
local troubles = redis.call('HINCRBY', KEYS[1], 'troubles', 1)
redis.call('HSET', KEYS[1], 'successes', 0, 'lastTrouble', ARGV[2], 'lastTroubleAt', now)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[6]))
if troubles < tonumber(ARGV[3]) then return {0, tonumber(redis.call('HGET', KEYS[1], 'ceiling') or ARGV[1])} end
local ceiling = tonumber(redis.call('HGET', KEYS[1], 'ceiling') or ARGV[1])
local inUse = tonumber(ARGV[7])
if inUse > 0 and inUse < ceiling then ceiling = inUse end
ceiling = math.max(1, math.floor(ceiling / 2))
local level = tonumber(redis.call('HGET', KEYS[1], 'level') or '0')
local pause = math.min(tonumber(ARGV[4]) * (2 ^ level), tonumber(ARGV[5]))
redis.call('HSET', KEYS[1], 'ceiling', ceiling, 'level', level + 1, 'troubles', 0, 'pausedUntil', now + pause, 'reason', ARGV[2])
return {now + pause, ceiling}`;

/**
 * KEYS[1] state, KEYS[2] troubled sites (set); ARGV[1] configured connections, ARGV[2] successes per step, ARGV[3] site.
 * Nothing to do while the site has no state. Returns the ceiling (0: state cleared, back to configured).
 */
const RECORD_SUCCESS = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[2], ARGV[3])
  return 0
end
redis.call('HSET', KEYS[1], 'troubles', 0)
local ceiling = tonumber(redis.call('HGET', KEYS[1], 'ceiling') or ARGV[1])
local successes = redis.call('HINCRBY', KEYS[1], 'successes', 1)
if successes < tonumber(ARGV[2]) then return ceiling end
ceiling = ceiling + 1
local level = tonumber(redis.call('HGET', KEYS[1], 'level') or '0')
if level > 0 then level = level - 1 end
if ceiling >= tonumber(ARGV[1]) and level == 0 and not redis.call('HGET', KEYS[1], 'manual') then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[3])
  return 0
end
redis.call('HSET', KEYS[1], 'ceiling', ceiling, 'successes', 0, 'level', level)
return ceiling`;

/** `reserved`: a rate slot `waitMs` from now is the caller's; it sends then without asking again (see `admit`'s `holdsSlot`). */
export type Admission = { ok: true } | { ok: false; waitMs: number; paused: boolean; reserved: boolean; reason: string };

export interface SiteState {
  site: string;
  /** live leases (connections open across all nodes) */
  connections: number;
  ceiling: number | null;
  pausedUntil: string | null;
  reason: string | null;
  lastTrouble: string | null;
  manual: boolean;
  lastUsed: string;
}

interface ThrottleCommands {
  siteOpenConnection(leases: string, state: string, sites: string, wanted: string, limit: number, leaseId: string, ttl: number, site: string): Promise<[number, number, number]>;
  siteRenewConnection(leases: string, leaseId: string, ttl: number): Promise<number>;
  siteAdmit(state: string, rate: string, intervalMs: number): Promise<[number, number?]>;
  siteRecordTrouble(state: string, troubled: string, limit: number, reason: string, threshold: number, firstPause: number, maxPause: number, ttl: number, inUse: number, site: string): Promise<[number, number]>;
  siteRecordSuccess(state: string, troubled: string, limit: number, successesPerStep: number, site: string): Promise<number>;
}

export interface BackoffSettings {
  threshold: number;
  firstPauseSeconds: number;
  maxPauseSeconds: number;
  successesPerStep: number;
}

export class SiteThrottle {
  private readonly redis: Redis & ThrottleCommands;
  /** sites known (to this process) to be under backoff or paused: only for them do admissions and successes cost a Redis call */
  private readonly troubled = new Set<string>();

  constructor(redis: Redis, private readonly keys: Keys, private readonly backoff: BackoffSettings, readonly leaseTtlMs = LEASE_TTL_MS) {
    redis.defineCommand('siteOpenConnection', { numberOfKeys: 4, lua: OPEN_CONNECTION });
    redis.defineCommand('siteRenewConnection', { numberOfKeys: 1, lua: RENEW_CONNECTION });
    redis.defineCommand('siteAdmit', { numberOfKeys: 2, lua: ADMIT });
    redis.defineCommand('siteRecordTrouble', { numberOfKeys: 2, lua: RECORD_TROUBLE });
    redis.defineCommand('siteRecordSuccess', { numberOfKeys: 2, lua: RECORD_SUCCESS });
    this.redis = redis as Redis & ThrottleCommands;
  }

  /**
   * A message to the site may go now, or after waitMs (paused, or the rate: then that slot is
   * reserved for it). `holdsSlot`: the caller comes back for a slot reserved earlier, so only a
   * pause can stop it. Costs a Redis call only for sites with a rate limit or under backoff
   * (reused connections must respect a pause too).
   */
  async admit(site: string, limits: SiteLimits, holdsSlot = false): Promise<Admission> {
    const rated = limits.perMinute > 0 && !holdsSlot;
    if (!rated && !this.troubled.has(site)) return { ok: true };
    const [waitMs, paused] = await this.redis.siteAdmit(this.keys.siteState(site), this.keys.siteRate(site), rated ? 60_000 / limits.perMinute : 0);
    if (waitMs === 0) return { ok: true };
    return { ok: false, waitMs, paused: paused === 1, reserved: paused !== 1, reason: paused ? `site ${site} is paused (backoff or operator)` : `site ${site}: rate limit ${limits.perMinute}/min` };
  }

  /** Learns which sites other processes put under backoff (one SMEMBERS a second). */
  watch(intervalMs = 1000): () => void {
    const timer = setInterval(() => {
      this.redis.smembers(this.keys.troubledSites).then((sites) => {
        for (const s of sites) this.troubled.add(s);
      }, () => undefined);
    }, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** A lease for one more connection to the site, or how long to wait (-1: until one is released). */
  async openConnection(site: string, limits: SiteLimits): Promise<{ ok: true; leaseId: string } | { ok: false; waitMs: number; paused: boolean }> {
    const leaseId = randomBytes(8).toString('hex');
    const [granted, waitMs, hasState] = await this.redis.siteOpenConnection(this.keys.siteConnections(site), this.keys.siteState(site), this.keys.sites, this.keys.siteWanted(site), limits.connections, leaseId, this.leaseTtlMs, site);
    if (hasState) this.troubled.add(site);
    return granted === 1 ? { ok: true, leaseId } : { ok: false, waitMs, paused: waitMs > 0 };
  }

  /** Of these sites, those where another caller was just refused a connection (all leases taken). */
  async wanted(sites: string[]): Promise<string[]> {
    if (sites.length === 0) return [];
    const flags = await this.redis.mget(sites.map((s) => this.keys.siteWanted(s)));
    return sites.filter((_, i) => flags[i] !== null);
  }

  async renewConnection(site: string, leaseId: string): Promise<void> {
    await this.redis.siteRenewConnection(this.keys.siteConnections(site), leaseId, this.leaseTtlMs);
  }

  async closeConnection(site: string, leaseId: string): Promise<void> {
    await this.redis.zrem(this.keys.siteConnections(site), leaseId);
  }

  /** A "try later" answer from the site; returns the pause when this one tipped it into backoff. */
  async recordTrouble(site: string, limits: SiteLimits, reason: string, inUse: number): Promise<{ pausedUntil: number; ceiling: number } | null> {
    const b = this.backoff;
    this.troubled.add(site);
    const [pausedUntil, ceiling] = await this.redis.siteRecordTrouble(this.keys.siteState(site), this.keys.troubledSites, limits.connections, reason.slice(0, 300), b.threshold, b.firstPauseSeconds * 1000, b.maxPauseSeconds * 1000, STATE_TTL_MS, inUse, site);
    return pausedUntil > 0 ? { pausedUntil, ceiling } : null;
  }

  /** A delivery went through; a site under backoff earns connections back. */
  async recordSuccess(site: string, limits: SiteLimits): Promise<void> {
    if (!this.troubled.has(site)) return;
    const ceiling = await this.redis.siteRecordSuccess(this.keys.siteState(site), this.keys.troubledSites, limits.connections, this.backoff.successesPerStep, site);
    if (ceiling === 0) this.troubled.delete(site);
  }

  /** Operator pause (until resumed or `untilMs`). */
  async pause(site: string, untilMs: number, reason: string): Promise<void> {
    this.troubled.add(site);
    await this.redis.multi().hset(this.keys.siteState(site), 'pausedUntil', untilMs, 'reason', reason, 'manual', '1').pexpireat(this.keys.siteState(site), untilMs + STATE_TTL_MS)
      .zadd(this.keys.sites, Date.now(), site).sadd(this.keys.troubledSites, site).exec();
  }

  /** Ends a pause and any backoff: the site gets its configured limits back. */
  async resume(site: string): Promise<boolean> {
    this.troubled.delete(site);
    const [[, deleted] = []] = ((await this.redis.multi().del(this.keys.siteState(site)).srem(this.keys.troubledSites, site).exec()) ?? []) as [unknown, unknown][];
    return deleted === 1;
  }

  /**
   * For the metrics gauges, read at every scrape: connections open to any site (live leases) and
   * sites paused now — in three round trips however many sites there are (states() takes one
   * per site).
   */
  async gauges(now = Date.now()): Promise<{ connections: number; paused: number }> {
    const [sites, troubled] = await Promise.all([this.redis.zrange(this.keys.sites, '0', '-1'), this.redis.smembers(this.keys.troubledSites)]);
    const pipeline = this.redis.pipeline();
    for (const site of sites) pipeline.zcount(this.keys.siteConnections(site), String(now), '+inf');
    for (const site of troubled) pipeline.hget(this.keys.siteState(site), 'pausedUntil');
    const replies = ((await pipeline.exec()) ?? []).map(([, value]) => value);
    const connections = replies.slice(0, sites.length).reduce((n: number, v) => n + Number(v ?? 0), 0);
    const paused = replies.slice(sites.length).filter((v) => Number(v ?? 0) > now).length;
    return { connections, paused };
  }

  async states(): Promise<SiteState[]> {
    const sites = await this.redis.zrange(this.keys.sites, '0', '-1', 'WITHSCORES');
    const now = Date.now();
    const out: SiteState[] = [];
    for (let i = 0; i < sites.length; i += 2) {
      const site = sites[i]!;
      const [[, conns] = [], [, state] = []] = ((await this.redis.multi().zcount(this.keys.siteConnections(site), now, '+inf').hgetall(this.keys.siteState(site)).exec()) ?? []) as [unknown, unknown][];
      const s = (state ?? {}) as Record<string, string>;
      const paused = Number(s.pausedUntil ?? 0);
      out.push({
        site, connections: Number(conns ?? 0), ceiling: s.ceiling ? Number(s.ceiling) : null,
        pausedUntil: paused > now ? new Date(paused).toISOString() : null, reason: s.reason ?? null,
        lastTrouble: s.lastTrouble ?? null, manual: s.manual === '1', lastUsed: new Date(Number(sites[i + 1])).toISOString(),
      });
    }
    return out;
  }
}

/** Answers that mean "you are sending too much / too fast, try later", rather than a problem with the message. */
export function isPushback(outcome: { code?: number; enhancedCode?: string; reply?: string; detail: string }): boolean {
  if (outcome.code === 421) return true;
  if (outcome.code && outcome.code >= 400 && outcome.code < 500 && outcome.enhancedCode?.startsWith('4.7.')) return true;
  if (outcome.code && outcome.code >= 400 && outcome.code < 500 && /too many|rate limit|try (again )?later|throttl|deferred due to/i.test(outcome.reply ?? '')) return true;
  return !outcome.code && /ECONNREFUSED|connection refused/i.test(outcome.detail);
}

/**
 * The suppression list: addresses that must not get mail, for every sending domain ("global") or
 * for one (an unsubscribe from that sender's mail). Each entry says why and where it came from.
 *
 * Promises: one entry per address and scope (adding again replaces it, atomically in Redis); `check` answers for an
 * address and sending domain in one Redis read (it runs before every delivery); addresses are
 * compared in lower case; soft-bounce runs are counted atomically across processes.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';

/** What our users call the states: prohibited (bounced or complained), stopped (unsubscribed). */
export type SuppressionState = 'prohibited' | 'stopped';

export interface SuppressionEntry {
  address: string;
  /** "global", or the sending domain the entry is for */
  scope: string;
  state: SuppressionState;
  /** why, for operators: "hard bounce: address does not exist (userunknown)", "complaint", … */
  reason: string;
  /** what caused it: "dsn <message id>/<rcpt>", "delivery <message id>/<rcpt>", "manual", "import", … */
  source: string;
  createdAt: string;
}

export const GLOBAL = 'global';
/** A soft-bounce run that saw nothing for this long starts again. */
const SOFT_RUN_TTL_S = 30 * 24 * 3600;

/** KEYS[1] run (string); ARGV[1] now ms, ARGV[2] ttl s. Returns {count, first ms}. */
const NOTE_SOFT_BOUNCE = `
local run = redis.call('GET', KEYS[1])
local count, first = 0, tonumber(ARGV[1])
if run then
  local r = cjson.decode(run)
  count, first = r['count'], r['first']
end
count = count + 1
redis.call('SET', KEYS[1], cjson.encode({count = count, first = first, last = tonumber(ARGV[1])}), 'EX', tonumber(ARGV[2]))
return {count, first}`;

/**
 * KEYS[1] suppressions hash; ARGV is (address, scope, entry JSON) triples. For each: drops the
 * address's entries of that scope ('' = every scope), adds the entry ('' = none). Returns, per
 * triple, how many entries were dropped. One script for add, remove and bulk import.
 */
const REPLACE_ENTRIES = `
local out = {}
for i = 1, #ARGV, 3 do
  local raw = redis.call('HGET', KEYS[1], ARGV[i])
  local kept, dropped = {}, 0
  if raw then
    for _, e in ipairs(cjson.decode(raw)) do
      if ARGV[i + 1] == '' or e['scope'] == ARGV[i + 1] then dropped = dropped + 1 else table.insert(kept, e) end
    end
  end
  if ARGV[i + 2] ~= '' then table.insert(kept, cjson.decode(ARGV[i + 2])) end
  if #kept == 0 then redis.call('HDEL', KEYS[1], ARGV[i]) else redis.call('HSET', KEYS[1], ARGV[i], cjson.encode(kept)) end
  table.insert(out, dropped)
end
return out`;

type NewEntry = Omit<SuppressionEntry, 'createdAt'> & { createdAt?: string };

/** An entry as stored: address and scope in lower case, a creation time. */
function normalized(entry: NewEntry, now: string): SuppressionEntry {
  return { ...entry, address: entry.address.toLowerCase(), scope: entry.scope.toLowerCase(), createdAt: entry.createdAt ?? now };
}

interface SuppressionCommands {
  replaceSuppressions(key: string, ...args: string[]): Promise<number[]>;
  noteSoftBounce(key: string, now: number, ttl: number): Promise<[number, number]>;
}

/** Of an address's entries, the one that stops mail from `sendingDomain` (global first), or null. */
export function stopping(entries: SuppressionEntry[], sendingDomain: string | null): SuppressionEntry | null {
  return entries.find((e) => e.scope === GLOBAL) ?? (sendingDomain ? entries.find((e) => e.scope === sendingDomain.toLowerCase()) : undefined) ?? null;
}

export class SuppressionList {
  private readonly redis: Redis & SuppressionCommands;

  constructor(redis: Redis, private readonly keys: Keys) {
    redis.defineCommand('noteSoftBounce', { numberOfKeys: 1, lua: NOTE_SOFT_BOUNCE });
    redis.defineCommand('replaceSuppressions', { numberOfKeys: 1, lua: REPLACE_ENTRIES });
    this.redis = redis as Redis & SuppressionCommands;
  }

  /** The entry that stops mail to `address` from `sendingDomain` (global first), or null. */
  async check(address: string, sendingDomain: string | null): Promise<SuppressionEntry | null> {
    return stopping(await this.entries(address), sendingDomain);
  }

  async entries(address: string): Promise<SuppressionEntry[]> {
    const raw = await this.redis.hget(this.keys.suppressions, address.toLowerCase());
    return raw ? (JSON.parse(raw) as SuppressionEntry[]) : [];
  }

  /** Adds (or replaces) the entry for its address and scope. */
  async add(entry: NewEntry): Promise<SuppressionEntry> {
    const full = normalized(entry, new Date().toISOString());
    await this.redis.replaceSuppressions(this.keys.suppressions, full.address, full.scope, JSON.stringify(full));
    return full;
  }

  /** Removes the address's entry for `scope` (or every entry when scope is undefined); false when there was none. */
  async remove(address: string, scope?: string): Promise<boolean> {
    const [dropped] = await this.redis.replaceSuppressions(this.keys.suppressions, address.toLowerCase(), scope?.toLowerCase() ?? '', '');
    return dropped! > 0;
  }

  /** Every entry, a page at a time (HSCAN: the list may hold millions). */
  async *all(): AsyncGenerator<SuppressionEntry> {
    let cursor = '0';
    do {
      const [next, fields] = await this.redis.hscan(this.keys.suppressions, cursor, 'COUNT', 500);
      cursor = next;
      for (let i = 1; i < fields.length; i += 2) for (const e of JSON.parse(fields[i]!) as SuppressionEntry[]) yield e;
    } while (cursor !== '0');
  }

  /**
   * One page of the list for an API: entries of about `limit` addresses from HSCAN `cursor`
   * ('0' to start), those of `scope` only when given; `next` is '0' at the end. HSCAN's COUNT is a
   * hint, so a page can hold a few more or fewer (small lists come whole).
   */
  async page(cursor: string, limit: number, scope?: string): Promise<{ entries: SuppressionEntry[]; next: string }> {
    const entries: SuppressionEntry[] = [];
    const wanted = scope?.toLowerCase();
    let addresses = 0;
    do {
      const [next, fields] = await this.redis.hscan(this.keys.suppressions, cursor, 'COUNT', Math.max(10, limit - addresses));
      cursor = next;
      for (let i = 1; i < fields.length; i += 2) {
        addresses++;
        for (const e of JSON.parse(fields[i]!) as SuppressionEntry[]) if (wanted === undefined || e.scope === wanted) entries.push(e);
      }
    } while (cursor !== '0' && addresses < limit);
    return { entries, next: cursor };
  }

  /**
   * Adds (or replaces) many entries: one script run per 500 entries, the same replacement as `add`
   * for each (an entry in the batch replaces an earlier one of its address and scope). Returns, per
   * entry, whether it replaced an existing one.
   */
  async addMany(entries: NewEntry[]): Promise<boolean[]> {
    const now = new Date().toISOString();
    const replaced: boolean[] = [];
    for (let i = 0; i < entries.length; i += 500) {
      const args: string[] = [];
      for (const entry of entries.slice(i, i + 500)) {
        const full = normalized(entry, now);
        args.push(full.address, full.scope, JSON.stringify(full));
      }
      for (const dropped of await this.redis.replaceSuppressions(this.keys.suppressions, ...args)) replaced.push(dropped > 0);
    }
    return replaced;
  }

  async count(): Promise<number> {
    return this.redis.hlen(this.keys.suppressions);
  }

  /** One more soft bounce of the address in a row; returns the run so far. */
  async noteSoftBounce(address: string, now = Date.now()): Promise<{ count: number; firstAt: number }> {
    const [count, firstAt] = await this.redis.noteSoftBounce(this.keys.softBounces(address.toLowerCase()), now, SOFT_RUN_TTL_S);
    return { count, firstAt };
  }

  /** A delivery went through: the run of soft bounces is over. */
  async clearSoftBounces(address: string): Promise<void> {
    await this.redis.unlink(this.keys.softBounces(address.toLowerCase()));
  }
}

/**
 * The tracked links of a message: the URLs a click token's link index stands for.
 *
 * Receives: the rewriter's `links` (index order; the same list for every recipient of a message,
 * since they all get the same body).
 * Promises: the first list saved for a message is kept (a later save only renews its expiry), so
 * an index always means the URL the first recipient's copy was made with; only absolute http(s)
 * URLs without control characters are stored (`storableUrl`) — a refused one is stored as '' and
 * a click on it is an unknown link — so a redirect can never carry a header injection or a
 * javascript:/data: target. Links expire `ttlSeconds` after the last save.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';

/** More would make one message's list a large Redis value; the rewriter leaves links past it alone. */
export const MAX_LINKS = 5_000;
/** Longer URLs exist only in abuse; browsers and proxies cut them anyway. */
export const MAX_URL_CHARS = 8_192;

/**
 * KEYS[1] links list; ARGV[1] ttl seconds, ARGV[2..] URLs in index order.
 * The first list stays; every call renews the expiry. Returns the stored list's length.
 */
const SAVE_LINKS = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  for i = 2, #ARGV, 500 do
    redis.call('RPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 499, #ARGV)))
  end
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
return redis.call('LLEN', KEYS[1])`;

/** No control characters (CR, LF, NUL, TAB, DEL, C1) anywhere: they have no place in a Location header. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;

/**
 * What to store for a URL an author wrote (entities already decoded), or null when it must not be
 * tracked: not absolute http(s), control characters, too long. Printable ASCII is kept exactly as
 * written (`&` and `#fragment` included); anything else (spaces, Japanese paths) is kept as the URL
 * parser's percent-encoded form, which a Location header can carry.
 */
export function storableUrl(raw: string): string | null {
  if (raw.length === 0 || raw.length > MAX_URL_CHARS || CONTROL.test(raw)) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) return null;
  if (PRINTABLE_ASCII.test(raw) && /^https?:\/\/[^/\\]/i.test(raw)) return raw;
  return url.href.length <= MAX_URL_CHARS ? url.href : null;
}

interface LinkCommands {
  saveLinks(key: string, ttl: number, ...urls: string[]): Promise<number>;
}

export class LinkStore {
  private readonly redis: Redis & LinkCommands;

  /** `ttlSeconds`: how long links outlive their last save (see the config note in the module's report). */
  constructor(redis: Redis, private readonly keys: Keys, private readonly ttlSeconds: number) {
    if (!(ttlSeconds >= 1)) throw new Error(`link retention must be at least 1 s, not ${ttlSeconds}`);
    redis.defineCommand('saveLinks', { numberOfKeys: 1, lua: SAVE_LINKS });
    this.redis = redis as Redis & LinkCommands;
  }

  /**
   * Stores the message's links unless stored already (before the first copy is sent: a scanner
   * may click while the message is still being taken). Returns the indexes refused by
   * `storableUrl` and those past MAX_LINKS; links at those indexes must not be rewritten.
   */
  async save(messageId: string, links: readonly string[]): Promise<{ refused: number[] }> {
    const refused: number[] = [];
    const stored = links.slice(0, MAX_LINKS).map((url, i) => storableUrl(url) ?? (refused.push(i), ''));
    for (let i = MAX_LINKS; i < links.length; i++) refused.push(i);
    if (stored.length > 0) await this.redis.saveLinks(this.keys.links(messageId), this.ttlSeconds, ...stored);
    return { refused };
  }

  /** The URL of a link index, or null when unknown (never stored, refused, expired). */
  async url(messageId: string, link: number): Promise<string | null> {
    return (await this.redis.lindex(this.keys.links(messageId), link)) || null;
  }

  async all(messageId: string): Promise<string[]> {
    return this.redis.lrange(this.keys.links(messageId), 0, -1);
  }
}

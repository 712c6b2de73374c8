/**
 * Statistics: the counters the recording scripts keep per scope and hour (publish-lua.ts), read
 * back over a time range and turned into the report marketers and operators know.
 *
 * Receives: a scope (tag and/or sending domain, or all mail), a range [from, to) and a bucket size.
 * Promises: counts summed over the UTC hours the range touches (an event counts in the hour it was
 * recorded: a message sent Monday and opened Tuesday is sent in Monday's bucket, opened in
 * Tuesday's); rates by the formulas of issue 7 on unique HUMAN opens and clicks (machine ones —
 * privacy proxies, link scanners — are counted apart and never in a rate); a division by zero is
 * null, never NaN or Infinity. Reads only (one pipelined HGETALL per hour and hash).
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import { HOUR_SECONDS, hourStart } from './stats-scope.js';

export type Bucket = 'hour' | 'day';

export interface EngagementCounts {
  /** every open (click), machine ones included */
  total: number;
  /** recipients who opened (clicked) at all, machine ones included */
  unique: number;
  /** opens (clicks) taken for a person */
  human: number;
  /** recipients with an open (click) taken for a person: what the rates use */
  uniqueHuman: number;
  /** opens (clicks) taken for a machine: privacy proxies, link scanners, prefetch */
  machine: number;
}

export interface Counts {
  /** accepted recipients */
  sent: number;
  delivered: number;
  /** deferral events (one per failed attempt) */
  deferred: number;
  /** recipients bounced (synchronously or by a later DSN) */
  bounced: number;
  /** of those, hard bounces (the address itself is bad) */
  hardBounced: number;
  expired: number;
  suppressed: number;
  cancelled: number;
  complained: number;
  unsubscribed: number;
  /** delayed DSNs received */
  delayed: number;
  autoReplied: number;
  opened: EngagementCounts;
  clicked: EngagementCounts;
}

export interface Rates {
  /** bounced / sent */
  bounce: number | null;
  /** delivered / sent */
  delivery: number | null;
  /** unique human opens / delivered */
  open: number | null;
  /** unique human clicks / delivered */
  click: number | null;
  /** unique human clicks / unique human opens */
  clickToOpen: number | null;
  /** unsubscribed / delivered */
  unsubscribe: number | null;
  /** complained / delivered */
  complaint: number | null;
}

export interface LinkStats {
  link: number;
  url: string;
  clicks: number;
  humanClicks: number;
  /** recipients who clicked this link */
  uniqueClicks: number;
  /** recipients who clicked this link, taken for persons */
  uniqueHumanClicks: number;
}

export interface StatsReport {
  counts: Counts;
  rates: Rates;
  /** mean seconds (ms precision) from delivery to a recipient's first human open, over first opens in the range (null: none) */
  meanSecondsToFirstOpen: number | null;
  /** human opens by hour of day (index 0-23) at the query's UTC offset */
  opensByHour: number[];
  bounces: { byReason: Array<{ reason: string; count: number }>; byGroup: Array<{ group: string; count: number }> };
  links: LinkStats[];
  buckets: Array<{ start: string; counts: Counts; rates: Rates }>;
}

export interface StatsQuery {
  scope: string;
  /** epoch ms, inclusive */
  from: number;
  /** epoch ms, exclusive */
  to: number;
  bucket: Bucket;
  /** seconds east of UTC (whole hours) for days and hours of day: 32400 for Japan; default 0 */
  utcOffsetSeconds?: number;
}

/** One hash per hour: what a range of ~400 days reads at most. */
export const MAX_HOURS = 24 * 410;

type Fields = Record<string, string>;

export async function readStats(redis: Redis, keys: Keys, q: StatsQuery): Promise<StatsReport> {
  const hours: number[] = [];
  for (let h = hourStart(q.from); h * 1000 < q.to; h += HOUR_SECONDS) hours.push(h);
  if (hours.length > MAX_HOURS) throw new RangeError(`a range of at most ${MAX_HOURS / 24} days`);
  const pipeline = redis.pipeline();
  for (const h of hours) pipeline.hgetall(keys.statsCounters(q.scope, h)).hgetall(keys.statsLinks(q.scope, h));
  const replies = (await pipeline.exec()) ?? [];
  const counters: Fields[] = [];
  const links: Fields[] = [];
  replies.forEach(([err, value], i) => {
    if (err) throw err;
    (i % 2 === 0 ? counters : links).push(value as Fields);
  });

  const offset = q.utcOffsetSeconds ?? 0;
  const total: Fields = {};
  const opensByHour = new Array<number>(24).fill(0);
  const buckets = new Map<number, Fields>();
  hours.forEach((h, i) => {
    const c = counters[i]!;
    add(total, c);
    opensByHour[((h + offset) / HOUR_SECONDS) % 24]! += num(c['opened:human']);
    // A day starts at local midnight: the hour bucket's local time, less its time of day.
    const start = q.bucket === 'hour' ? h : h - (h + offset) % 86_400;
    if (Object.keys(c).length > 0) add(buckets.get(start) ?? buckets.set(start, {}).get(start)!, c);
  });
  const counts = countsOf(total);
  const firstOpens = num(total['opened:first:n']);
  return {
    counts,
    rates: ratesOf(counts),
    meanSecondsToFirstOpen: firstOpens > 0 ? Math.round(num(total['opened:first:ms']) / firstOpens) / 1000 : null,
    opensByHour,
    bounces: {
      byReason: prefixed(total, 'bounced:reason:').map(([reason, count]) => ({ reason, count })),
      byGroup: prefixed(total, 'bounced:group:').map(([group, count]) => ({ group, count })),
    },
    links: linkStats(links),
    buckets: [...buckets.entries()]
      .sort(([a], [b]) => a - b)
      .map(([start, f]) => {
        const c = countsOf(f);
        return { start: new Date(start * 1000).toISOString(), counts: c, rates: ratesOf(c) };
      }),
  };
}

function num(v: string | undefined): number {
  return v ? Number(v) : 0;
}

function add(into: Fields, from: Fields): void {
  for (const [k, v] of Object.entries(from)) into[k] = String(num(into[k]) + Number(v));
}

function engagement(f: Fields, type: 'opened' | 'clicked'): EngagementCounts {
  return { total: num(f[type]), unique: num(f[`${type}:unique`]), human: num(f[`${type}:human`]), uniqueHuman: num(f[`${type}:human:unique`]), machine: num(f[`${type}:machine`]) };
}

function countsOf(f: Fields): Counts {
  return {
    sent: num(f.queued),
    delivered: num(f.delivered),
    deferred: num(f.deferred),
    bounced: num(f.bounced),
    hardBounced: num(f['bounced:hard']),
    expired: num(f.expired),
    suppressed: num(f.suppressed),
    cancelled: num(f.cancelled),
    complained: num(f.complained),
    unsubscribed: num(f.unsubscribed),
    delayed: num(f.delayed),
    autoReplied: num(f.auto_replied),
    opened: engagement(f, 'opened'),
    clicked: engagement(f, 'clicked'),
  };
}

/** a / b, or null when b is 0 (no mail: no rate, rather than 0 % or NaN) */
export function ratio(a: number, b: number): number | null {
  return b > 0 ? a / b : null;
}

export function ratesOf(c: Counts): Rates {
  return {
    bounce: ratio(c.bounced, c.sent),
    delivery: ratio(c.delivered, c.sent),
    open: ratio(c.opened.uniqueHuman, c.delivered),
    click: ratio(c.clicked.uniqueHuman, c.delivered),
    clickToOpen: ratio(c.clicked.uniqueHuman, c.opened.uniqueHuman),
    unsubscribe: ratio(c.unsubscribed, c.delivered),
    complaint: ratio(c.complained, c.delivered),
  };
}

/** Counters named `<prefix><name>`, largest first. */
function prefixed(f: Fields, prefix: string): Array<[string, number]> {
  return Object.entries(f)
    .filter(([k]) => k.startsWith(prefix))
    .map(([k, v]): [string, number] => [k.slice(prefix.length), Number(v)])
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

/** "<link>\t<url>\t<kind>" fields of every hour → one row per (link, URL), most clicked first. */
function linkStats(hours: Fields[]): LinkStats[] {
  const rows = new Map<string, LinkStats>();
  const kinds: Record<string, keyof Pick<LinkStats, 'clicks' | 'humanClicks' | 'uniqueClicks' | 'uniqueHumanClicks'>> = {
    clicks: 'clicks', human: 'humanClicks', unique: 'uniqueClicks', 'human:unique': 'uniqueHumanClicks',
  };
  for (const fields of hours) {
    for (const [field, value] of Object.entries(fields)) {
      const [link, url, kind] = field.split('\t');
      const column = kinds[kind ?? ''];
      if (link === undefined || url === undefined || !column) continue;
      const id = `${link}\t${url}`;
      const row = rows.get(id) ?? rows.set(id, { link: Number(link), url, clicks: 0, humanClicks: 0, uniqueClicks: 0, uniqueHumanClicks: 0 }).get(id)!;
      row[column] += Number(value);
    }
  }
  return [...rows.values()].sort((a, b) => b.clicks - a.clicks || a.link - b.link);
}

/**
 * Destination sites: which receiving infrastructure a recipient domain's mail goes to, and the
 * limits that apply to it.
 *
 * A site is named by the registered domain of the most preferred MX host (gmail.com and every
 * Google-hosted domain → google.com; Microsoft 365 tenants and outlook.com → outlook.com), so
 * one provider's limits hold however many customer domains point at it. A domain reached
 * through a route is its own site.
 *
 * Limits, first match wins: `delivery.throttle.sites` by site name or recipient domain (or a
 * well-known alias: gmail.com → google.com), then the shipped presets, then
 * `delivery.throttle.default`.
 */
import { getDomain } from 'tldts';
import type { Config } from '../config/schema.js';
import type { Resolution } from './routes.js';

export interface SiteLimits {
  /** simultaneous connections to the site, across every process and node */
  connections: number;
  /** messages per minute to the site, spread evenly; 0: unlimited */
  perMinute: number;
  /** messages over one connection before it is closed */
  messagesPerConnection: number;
  /** idle seconds before a connection to the site is closed */
  idleSeconds: number;
}

/** A destination site as delivery sees it: its name and the limits that apply. */
export interface Site {
  name: string;
  limits: SiteLimits;
}

/**
 * What the big receivers tolerate from a sender without a long reputation. Each is a ceiling a
 * well-behaved sender stays under; adaptive backoff lowers it further when the site pushes back.
 */
export const SITE_PRESETS: Record<string, Partial<SiteLimits> & { why: string }> = {
  'google.com': { connections: 10, perMinute: 600, messagesPerConnection: 100, why: 'Gmail and Google Workspace: 421 4.7.28 rate-limits new or bursty senders; steady rate over few connections' },
  'outlook.com': { connections: 5, perMinute: 300, messagesPerConnection: 50, why: 'Microsoft (outlook.com, hotmail, Microsoft 365): 451 4.7.650 throttles new IPs; few connections' },
  'yahoodns.net': { connections: 5, perMinute: 300, messagesPerConnection: 20, why: 'Yahoo and AOL: 421 4.7.0 [TSS04] deferrals for too many messages per connection or too fast' },
  'yahoo.co.jp': { connections: 5, perMinute: 300, messagesPerConnection: 20, why: 'Yahoo! JAPAN: its own infrastructure, defers bursts' },
  'icloud.com': { connections: 5, perMinute: 300, messagesPerConnection: 20, why: 'Apple iCloud (icloud.com, me.com, mac.com): unpublished limits, defers aggressive senders' },
  'docomo.ne.jp': { connections: 3, perMinute: 120, messagesPerConnection: 20, why: 'NTT docomo: strict per-sender connection limits; excess is refused (421) or silently dropped' },
  'ezweb.ne.jp': { connections: 3, perMinute: 120, messagesPerConnection: 20, why: 'au (KDDI) ezweb.ne.jp / au.com: strict per-sender limits like the other carriers' },
  'au.com': { connections: 3, perMinute: 120, messagesPerConnection: 20, why: 'au (KDDI) au.com addresses' },
  'softbank.jp': { connections: 3, perMinute: 120, messagesPerConnection: 20, why: 'SoftBank softbank.ne.jp / i.softbank.jp: strict per-sender limits' },
  'softbank.ne.jp': { connections: 3, perMinute: 120, messagesPerConnection: 20, why: 'SoftBank softbank.ne.jp addresses' },
};

/** Recipient domains whose site is known without asking DNS (config keys may name either). */
const ALIASES: Record<string, string> = {
  'gmail.com': 'google.com', 'googlemail.com': 'google.com',
  'hotmail.com': 'outlook.com', 'live.com': 'outlook.com', 'msn.com': 'outlook.com', 'hotmail.co.jp': 'outlook.com', 'outlook.jp': 'outlook.com',
  'yahoo.com': 'yahoodns.net', 'aol.com': 'yahoodns.net', 'ymail.com': 'yahoodns.net',
  'me.com': 'icloud.com', 'mac.com': 'icloud.com',
  'i.softbank.jp': 'softbank.jp',
};

/** The site of a resolved destination: the registered domain of its first MX host, or the domain itself for a route. */
export function siteOf(domain: string, resolution: Extract<Resolution, { kind: 'targets' }>): string {
  const first = resolution.targets[0];
  if (!first || first.via.startsWith('route ')) return domain.toLowerCase();
  return getDomain(first.host) ?? first.host.toLowerCase();
}

export function limitsFor(site: string, recipientDomain: string, throttle: Config['delivery']['throttle'], fallback: Pick<Config['delivery'], 'maxMessagesPerConnection' | 'idleConnectionSeconds'>): SiteLimits {
  const base: SiteLimits = {
    connections: throttle.default.connections,
    perMinute: throttle.default.perMinute,
    messagesPerConnection: throttle.default.messagesPerConnection ?? fallback.maxMessagesPerConnection,
    idleSeconds: throttle.default.idleSeconds ?? fallback.idleConnectionSeconds,
  };
  const configured = Object.entries(throttle.sites).find(([key]) => {
    const k = key.toLowerCase();
    return k === site || k === recipientDomain || ALIASES[k] === site;
  })?.[1];
  const preset = SITE_PRESETS[site] ?? SITE_PRESETS[recipientDomain];
  const { why: _why, ...presetLimits } = preset ?? { why: '' };
  return { ...base, ...presetLimits, ...stripUndefined(configured ?? {}) };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Each site's state with the limits configured for it, as `queue sites` and `GET /api/v1/sites` show them. */
export function withLimits<S extends { site: string }>(states: S[], delivery: Config['delivery']): (S & { limits: SiteLimits })[] {
  return states.map((s) => ({ ...s, limits: limitsFor(s.site, s.site, delivery.throttle, delivery) }));
}

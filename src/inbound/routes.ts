/**
 * Inbound routes: which addresses on port 25 are mail for an application, and where it goes.
 *
 * Receives: checked input (the HTTP routes validate shapes and check URLs for SSRF before they are
 * stored). Promises: a pattern is `local@domain` where the local part may hold `*` (any run of
 * characters, also none) and the domain is a literal name or `*.` + a name (its subdomains);
 * matching is case-insensitive over the whole address (RFC 5321 lets a host treat local parts
 * case-sensitively, but no mail system an operator meets does, and a route that misses
 * `Support@` would silently refuse mail); an exact pattern beats a wildcard one, then the one
 * with more literal characters, then the older one, so the answer never depends on hash order;
 * `match()` answers from a copy at most 1 s old (this process's own changes at once), so RCPT
 * costs no Redis call per address; a secret is made here (32 random bytes) and leaves only in
 * `create`'s answer.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import { RecordHash } from '../redis/record-hash.js';
import { newSigningSecret } from '../webhooks/endpoints.js';

export interface InboundRoute {
  id: string;
  /** `support@in.shop.example`, `*@in.shop.example`, `reply+*@shop.example`, `*@*.in.shop.example` */
  pattern: string;
  url: string;
  /** signs every POST (X-Sokutatsu-Signature, as webhooks); the HMAC key, so stored as is */
  secret: string;
  enabled: boolean;
  /** ISO time */
  createdAt: string;
}

export type InboundRouteView = Omit<InboundRoute, 'secret'>;

/** Bounds RCPT's matching work (each recipient is tried against every route). */
export const MAX_ROUTES = 500;
export const MAX_PATTERN_LENGTH = 320;

const CACHE_MS = 1000;

export class RouteLimitError extends Error {}
export class PatternError extends Error {}

/** Checks a pattern's shape and gives its canonical (lower case) spelling; throws PatternError. */
export function normalizePattern(text: string): string {
  const pattern = text.trim().toLowerCase();
  if (pattern.length === 0 || pattern.length > MAX_PATTERN_LENGTH) throw new PatternError(`a pattern is 1 to ${MAX_PATTERN_LENGTH} characters`);
  const at = pattern.lastIndexOf('@');
  if (at <= 0 || at === pattern.length - 1) throw new PatternError(`"${text.slice(0, 80)}" is not local@domain (use *@domain for every address of a domain)`);
  const local = pattern.slice(0, at);
  const domain = pattern.slice(at + 1);
  // Quoted local parts, source routes and the like are not mail an application wants (and are what relay probes send).
  if (!/^[a-z0-9!#$%&'*+/=?^_`{|}~.-]+$/.test(local)) throw new PatternError(`the local part "${local.slice(0, 80)}" may hold letters, digits, !#$%&'*+/=?^_\`{|}~.- and * (a wildcard)`);
  const name = domain.startsWith('*.') ? domain.slice(2) : domain;
  if (!/^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/.test(name)) {
    throw new PatternError(`the domain "${domain.slice(0, 80)}" must be a domain name with a dot (or *. and one, for its subdomains)`);
  }
  return pattern;
}

/** A pattern taken apart once: local-part glob and domain (exact, or a suffix for `*.`). */
interface Compiled {
  route: InboundRoute;
  exact: boolean;
  local: string;
  /** the domain, or (for `*.name`) `.name` that the address's domain must end with */
  domain: string;
  subdomains: boolean;
  /** literal characters: the more, the more specific */
  weight: number;
}

function compile(route: InboundRoute): Compiled {
  const p = route.pattern;
  const at = p.lastIndexOf('@');
  const domain = p.slice(at + 1);
  const subdomains = domain.startsWith('*.');
  return { route, exact: !p.includes('*'), local: p.slice(0, at), domain: subdomains ? domain.slice(1) : domain, subdomains, weight: p.replaceAll('*', '').length };
}

/**
 * `*` glob over a local part: the two-pointer walk that backtracks only to the last star —
 * O(length × pattern), never a regular expression an operator's pattern could make exponential.
 */
export function globMatch(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let mark = 0;
  while (t < text.length) {
    if (p < pattern.length && pattern[p] !== '*' && pattern[p] === text[t]) {
      p++;
      t++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      mark = t;
    } else if (star >= 0) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

export class InboundRouteStore {
  private cache: { at: number; compiled: Compiled[] } | null = null;
  private readonly records: RecordHash<InboundRoute>;

  constructor(redis: Redis, private readonly keys: Keys) {
    this.records = new RecordHash<InboundRoute>(redis, keys.inboundRoutes);
  }

  async create(input: { pattern: string; url: string; enabled?: boolean }): Promise<InboundRoute> {
    if ((await this.records.count()) >= MAX_ROUTES) throw new RouteLimitError(`at most ${MAX_ROUTES} inbound routes`);
    const route: InboundRoute = {
      id: `ir_${randomBytes(8).toString('hex')}`,
      pattern: normalizePattern(input.pattern),
      url: input.url,
      secret: newSigningSecret(),
      enabled: input.enabled ?? true,
      createdAt: new Date().toISOString(),
    };
    await this.records.put(route);
    this.cache = null;
    return route;
  }

  get(id: string): Promise<InboundRoute | null> {
    return this.records.get(id);
  }

  list(): Promise<InboundRoute[]> {
    return this.records.list();
  }

  /** Changes the given fields; null when there is no such route. */
  async update(id: string, change: { pattern?: string; url?: string; enabled?: boolean }): Promise<InboundRoute | null> {
    const pattern = change.pattern !== undefined ? normalizePattern(change.pattern) : undefined;
    const next = await this.records.update(id, (current) => ({
      ...current,
      ...(pattern !== undefined ? { pattern } : {}),
      ...(change.url !== undefined ? { url: change.url } : {}),
      ...(change.enabled !== undefined ? { enabled: change.enabled } : {}),
    }));
    this.cache = null;
    return next;
  }

  async remove(id: string): Promise<boolean> {
    const removed = await this.records.remove(id, [this.keys.inboundRouteLog(id)]);
    this.cache = null;
    return removed;
  }

  /** The enabled route for a recipient address, or null (then port 25 refuses it). */
  async match(address: string): Promise<InboundRoute | null> {
    if (!this.cache || Date.now() - this.cache.at > CACHE_MS) {
      const compiled = (await this.list()).filter((r) => r.enabled).map(compile);
      // Most specific first (see the header); list() is already oldest first, and sort is stable.
      compiled.sort((a, b) => Number(b.exact) - Number(a.exact) || b.weight - a.weight);
      this.cache = { at: Date.now(), compiled };
    }
    return matchCompiled(this.cache.compiled, address);
  }
}

function matchCompiled(compiled: Compiled[], address: string): InboundRoute | null {
  const a = address.toLowerCase();
  if (a.length > 320 || a.lastIndexOf('@') <= 0) return null;
  const at = a.lastIndexOf('@');
  const local = a.slice(0, at);
  const domain = a.slice(at + 1);
  for (const c of compiled) {
    const domainOk = c.subdomains ? domain.endsWith(c.domain) && domain.length > c.domain.length : domain === c.domain;
    if (domainOk && (c.exact ? c.local === local : globMatch(c.local, local))) return c.route;
  }
  return null;
}

/** Which of `routes` takes `address` (the store's rule, without Redis) — for tests and tools. */
export function matchRoute(routes: InboundRoute[], address: string): InboundRoute | null {
  const compiled = routes.filter((r) => r.enabled).map(compile);
  compiled.sort((a, b) => Number(b.exact) - Number(a.exact) || b.weight - a.weight);
  return matchCompiled(compiled, address);
}

export function view(route: InboundRoute): InboundRouteView {
  const { secret: _secret, ...rest } = route;
  return rest;
}

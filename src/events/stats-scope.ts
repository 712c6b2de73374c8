/**
 * What statistics are counted under: scopes (all mail, a tag, a sending domain, both) and hour
 * buckets. The recording scripts (events/publish-lua.ts) build the same names in Lua; this module
 * is what the statistics reader uses, and its tests hold the two together.
 *
 * Promises: a scope name is unambiguous (a domain has no ':', so `td:<domain>:<tag>` splits at the
 * first ':' after the prefix); an hour bucket is the epoch second its UTC hour starts at.
 */

export const ALL_MAIL = 'all';

/** Lower case as Lua's string.lower does it (ASCII letters only), so a domain is one scope in both. */
export function asciiLower(value: string): string {
  return value.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}

/** The scope one query reads: every message, or those of a tag, of a sending domain, or of both. */
export function statsScope(tag: string | null, domain: string | null): string {
  const d = domain ? asciiLower(domain) : '';
  if (tag && d) return `td:${d}:${tag}`;
  if (tag) return `t:${tag}`;
  if (d) return `d:${d}`;
  return ALL_MAIL;
}

/** Every scope an event of this message counts in (publish-lua.ts's ev_scopes does the same in Lua). */
export function statsScopes(tag: string | null, domain: string | null): string[] {
  const d = domain ? asciiLower(domain) : '';
  return [ALL_MAIL, ...(tag ? [`t:${tag}`] : []), ...(d ? [`d:${d}`] : []), ...(tag && d ? [`td:${d}:${tag}`] : [])];
}

export const HOUR_SECONDS = 3600;

/** The bucket an epoch-ms time falls in: the epoch second its UTC hour started. */
export function hourStart(ms: number): number {
  return Math.floor(ms / 1000 / HOUR_SECONDS) * HOUR_SECONDS;
}

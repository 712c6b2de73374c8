/**
 * The address of the HTTP client, for the tracking routes (machine heuristics) and the send
 * API (the Received: field of a message sent by HTTP).
 *
 * Promises: with `hops` trusted proxies (config http.trustProxyHops), the X-Forwarded-For entry
 * the outermost of them appended (entries left of it are whatever the client sent); else the
 * socket's. '' when unknown (tests calling app.request() have no socket).
 */
import type { Context } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import { isIP } from 'node:net';

export function clientIp(c: Context, hops: number): string {
  if (hops > 0) {
    const entries = (c.req.header('x-forwarded-for') ?? '').split(',').map((s) => s.trim());
    const entry = entries.length >= hops ? entries[entries.length - hops] : undefined;
    if (entry && isIP(entry)) return entry;
  }
  try {
    const address = getConnInfo(c).remote.address ?? '';
    return isIP(address) ? address : '';
  } catch {
    return '';
  }
}

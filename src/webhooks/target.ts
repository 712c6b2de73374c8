/**
 * Where a webhook URL may be POSTed: the URL checked and its host resolved to the one address
 * the request will connect to.
 *
 * Receives: a URL, the process's DNS resolver (src/dns.ts, injectable) and whether private
 * targets are allowed (config `webhooks.allowPrivateTargets`). Promises: only http/https URLs
 * without credentials; every address the host resolves to is checked (one private answer among
 * public ones refuses the URL: an attacker controls which one a client would pick), and the
 * caller connects to the returned address instead of resolving again — so a name that resolves
 * to a public address when checked cannot point the request at a private one (DNS rebinding).
 * Run at creation and again before every delivery. Failures are TargetErrors saying why.
 */
import { isIP } from 'node:net';
import type { DnsResolver } from '../dns.js';
import { isPublicAddress } from './private-addresses.js';

export class TargetError extends Error {}

export interface Target {
  url: URL;
  /** the host as the URL names it (no IPv6 brackets): Host header and TLS server name */
  host: string;
  /** the checked IP address to connect to */
  address: string;
  family: 4 | 6;
}

export type TargetResolver = Pick<DnsResolver, 'resolve4' | 'resolve6'>;

export const MAX_URL_LENGTH = 2048;

/** The URL's syntax alone (no DNS): what the API can refuse before storing. */
export function parseWebhookUrl(text: string): URL {
  if (text.length > MAX_URL_LENGTH) throw new TargetError(`the URL is longer than ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TargetError(`not a valid URL: ${text.slice(0, 100)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TargetError(`only http and https URLs are allowed, not ${url.protocol.slice(0, -1)}`);
  // Credentials in the URL would be sent with every event and shown in every listing.
  if (url.username || url.password) throw new TargetError('the URL must not contain a user name or password');
  if (!url.hostname) throw new TargetError('the URL has no host');
  return url;
}

export async function resolveTarget(text: string, resolver: TargetResolver, allowPrivate: boolean): Promise<Target> {
  const url = parseWebhookUrl(text);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const addresses = await lookup(host, resolver);
  if (!allowPrivate) {
    const bad = addresses.find((a) => !isPublicAddress(a));
    if (bad !== undefined) {
      const via = bad === host ? '' : ` (${host} resolves to it)`;
      throw new TargetError(`${bad}${via} is a private, loopback, link-local or reserved address: webhooks may not call it (config webhooks.allowPrivateTargets)`);
    }
  }
  // IPv4 first: many hosts publish AAAA records they do not answer on.
  const address = addresses.find((a) => isIP(a) === 4) ?? addresses[0]!;
  return { url, host, address, family: isIP(address) === 4 ? 4 : 6 };
}

async function lookup(host: string, resolver: TargetResolver): Promise<string[]> {
  if (isIP(host)) return [host];
  // RFC 6761: these names are loopback whatever a resolver says.
  if (host === 'localhost' || host.endsWith('.localhost')) return ['127.0.0.1'];
  const [v4, v6] = await Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]);
  const addresses = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
  if (addresses.length > 0) return addresses;
  const reason = [v4, v6].map((r) => (r.status === 'rejected' ? errorCode(r.reason) : 'no records')).join(', ');
  throw new TargetError(`cannot resolve ${host} (${reason})`);
}

function errorCode(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | null;
  return typeof e?.code === 'string' ? e.code : typeof e?.message === 'string' ? e.message : 'lookup failed';
}

/**
 * One delivery attempt of one message to one recipient over the hosts a domain resolved to.
 *
 * Promises: an outcome the caller can record as-is — delivered (2xx after DATA), bounced (5xx:
 * the remote server's reply and enhanced code kept), or deferred (4xx, timeouts, refused or
 * dropped connections, with the reason), or waiting (the site has no connection to spare:
 * nothing was attempted). Hosts are tried in order until one answers; a host that answers decides.
 */
import { SiteBusyError, type ConnectionPool, type Lease } from './pool.js';
import type { SmtpStage } from './smtp-client.js';
import type { Site } from './sites.js';
import type { Target } from './routes.js';
import type { Admission } from './throttle.js';

export type AttemptOutcome =
  | { kind: 'delivered'; remoteHost: string; reply: string; tls: string | null; dkim?: string }
  | { kind: 'bounced' | 'deferred'; remoteHost?: string; code?: number; enhancedCode?: string; reply?: string; detail: string; stage?: SmtpStage }
  /** not attempted: the site's limits say wait (no attempt is used up) */
  | { kind: 'waiting'; waitMs: number; paused: boolean; reserved?: boolean; detail: string };

export interface Envelope {
  from: string;
  to: string;
}

interface SmtpFailure extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  stage?: SmtpStage;
}

/**
 * `admit` is asked once a connection is in hand, just before sending: a pause that began while
 * the caller waited for a connection still holds.
 */
export async function attemptDelivery(pool: ConnectionPool, targets: Target[], site: Site, envelope: Envelope, message: Buffer, admit: () => Promise<Admission>): Promise<AttemptOutcome> {
  const failures: string[] = [];
  let admitted = false;
  for (const target of targets) {
    const where = `${target.host}:${target.port}`;
    let lease: Lease;
    try {
      lease = await pool.acquire(target, site);
    } catch (err) {
      if (err instanceof SiteBusyError) return { kind: 'waiting', waitMs: err.waitMs, paused: err.paused, detail: err.message };
      const e = err as SmtpFailure;
      // Our credentials, not the recipient, are wrong: defer (as Postfix's smtp_sasl_auth_soft_bounce) until an operator fixes the route.
      if (e.code === 'EAUTH') return failed('deferred', where, e, `authentication to ${where} (${target.via}) was refused: check the route's auth in delivery.routes`);
      failures.push(`${where} (${target.via}): ${describe(e)}`);
      continue;
    }
    if (!admitted) {
      const admission = await admit().catch((err: Error) => ({ ok: false as const, waitMs: 1000, paused: false, reserved: false, reason: `site throttle unavailable: ${err.message}` }));
      if (!admission.ok) {
        lease.release(true);
        return { kind: 'waiting', waitMs: admission.waitMs, paused: admission.paused, reserved: admission.reserved, detail: admission.reason };
      }
      admitted = true;
    }
    let outcome = await sendOn(lease, where, envelope, message);
    if (outcome === 'stale') {
      // A pooled connection the server closed while idle: one fresh try is not a new attempt.
      outcome = await pool.acquire(target, site).then((fresh) => sendOn(fresh, where, envelope, message), (err: SmtpFailure) => failed('deferred', where, err, 'reconnect failed'));
    }
    if (outcome !== 'stale') return outcome;
    failures.push(`${where}: connection lost`);
  }
  return { kind: 'deferred', detail: `could not connect to any mail host: ${failures.join('; ') || 'no hosts'}` };
}

async function sendOn(lease: Lease, where: string, envelope: Envelope, message: Buffer): Promise<AttemptOutcome | 'stale'> {
  try {
    const reply = await lease.connection.send(envelope.from, envelope.to, message);
    lease.release(true);
    return { kind: 'delivered', remoteHost: where, reply: reply.text, tls: lease.tlsProtocol };
  } catch (err) {
    const e = err as SmtpFailure;
    if (!e.responseCode) {
      lease.release(false);
      return lease.reused ? 'stale' : failed('deferred', where, e, 'connection failed during the transaction');
    }
    resetAndRelease(lease);
    return failed(e.responseCode >= 500 ? 'bounced' : 'deferred', where, e, `${where} replied ${e.responseCode}`);
  }
}

/** After a refusal the server is mid-transaction: RSET before the connection carries more mail. */
function resetAndRelease(lease: Lease): void {
  lease.connection.reset().then(() => lease.release(true), () => lease.release(false));
}

function failed(kind: 'bounced' | 'deferred', where: string, e: SmtpFailure, detail: string): AttemptOutcome {
  const reply = e.response?.trim();
  const enhancedCode = reply?.match(/^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\b/)?.[1];
  return {
    kind,
    remoteHost: where,
    ...(e.responseCode ? { code: e.responseCode } : {}),
    ...(enhancedCode ? { enhancedCode } : {}),
    ...(reply ? { reply } : {}),
    ...(e.stage ? { stage: e.stage } : {}),
    detail: reply ? detail : `${detail}: ${describe(e)}`,
  };
}

function describe(e: SmtpFailure): string {
  return e.response?.trim() || e.message;
}

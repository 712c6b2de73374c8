/**
 * The retry schedule for temporary failures.
 *
 * Promises: the n-th retry waits firstDelay·2^(n-1), capped at maxDelay, ±10% jitter (so a
 * burst of deferrals does not come back as a burst), and never past the message's maxAge;
 * a failure at or after maxAge means the recipient expires.
 */
import type { RetryPolicy } from '../config/schema.js';

export type RetryDecision = { kind: 'retry'; delayMs: number } | { kind: 'expire' };

export function nextRetry(policy: RetryPolicy, attempts: number, createdAt: number, now: number, random = Math.random): RetryDecision {
  const deadline = createdAt + policy.maxAgeSeconds * 1000;
  if (now >= deadline) return { kind: 'expire' };
  const exponent = Math.max(0, attempts - 1);
  const base = Math.min(policy.firstDelaySeconds * 1000 * 2 ** Math.min(exponent, 30), policy.maxDelaySeconds * 1000);
  const jittered = base * (0.9 + 0.2 * random());
  return { kind: 'retry', delayMs: Math.max(0, Math.round(Math.min(jittered, deadline - now))) };
}

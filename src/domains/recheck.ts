/**
 * The periodic DNS re-check of every sending domain (`domains.recheckIntervalSeconds`).
 *
 * Promises: each interval, one process among all those sharing the Redis (a lock with the
 * interval as its lifetime) re-verifies every domain; what changed is recorded as domain events
 * by the service (verified / unverified / key activated / check failed). A failing check of one
 * domain never stops the others, and runs never overlap.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Keys } from '../redis/keys.js';
import type { DomainService } from './domain-service.js';

export interface DomainRecheck {
  /** one pass now, if this process gets the lock (tests, and the timer) */
  runOnce(): Promise<{ checked: number } | null>;
  stop(): void;
}

export function startDomainRecheck(deps: { service: DomainService; redis: Redis; keys: Keys; intervalSeconds: number; log: Logger }): DomainRecheck {
  const owner = randomBytes(8).toString('hex');
  let running: Promise<{ checked: number } | null> | null = null;

  async function pass(): Promise<{ checked: number } | null> {
    const lockMs = Math.max(1000, deps.intervalSeconds * 1000 - 1000);
    if ((await deps.redis.set(deps.keys.domainRecheckLock, owner, 'PX', lockMs, 'NX')) !== 'OK') return null;
    let checked = 0;
    for (const d of await deps.service.list()) {
      try {
        await deps.service.verify(d.domain, 'recheck');
        checked++;
      } catch (err) {
        deps.log.warn({ domain: d.domain, err: (err as Error).message }, `DNS re-check of ${d.domain} failed`);
      }
    }
    return { checked };
  }

  function runOnce() {
    running ??= pass().finally(() => (running = null));
    return running;
  }

  const timer = deps.intervalSeconds > 0
    ? setInterval(() => void runOnce().catch((err: Error) => deps.log.warn({ err: err.message }, 'DNS re-check of sending domains could not run')), deps.intervalSeconds * 1000)
    : null;
  timer?.unref();
  return { runOnce, stop: () => timer && clearInterval(timer) };
}

/**
 * Per-endpoint concurrency: at most N webhook POSTs in flight to one endpoint, across every
 * process and node (BullMQ's per-group limits are a paid feature; this is ours).
 *
 * Receives: an endpoint id, a lease id (the job's), the limit and how long a lease may live.
 * Promises: `acquire` takes a slot only while fewer than `limit` unexpired leases exist (one Lua
 * call, atomic); a lease of a process that died expires by itself after `ttlMs`; `release` frees
 * the slot at once.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';

/**
 * KEYS[1] the endpoint's lease set (member: lease id, score: expiry ms)
 * ARGV now ms, lease id, limit, ttl ms
 * returns 1 when the lease was taken (or already held), 0 when all slots are in use
 */
const ACQUIRE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[2]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[4]), ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return 1
end
return 0
`;

export class InFlightLimit {
  constructor(private readonly redis: Redis, private readonly keys: Keys, private readonly limit: number, private readonly ttlMs: number) {}

  async acquire(endpointId: string, lease: string): Promise<boolean> {
    const taken = await this.redis.eval(ACQUIRE, 1, this.keys.webhookInFlight(endpointId), Date.now(), lease, this.limit, this.ttlMs);
    return taken === 1;
  }

  async release(endpointId: string, lease: string): Promise<void> {
    await this.redis.zrem(this.keys.webhookInFlight(endpointId), lease);
  }
}

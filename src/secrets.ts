/**
 * Secrets Sokutatsu makes for itself: random, created once on first use and kept in Redis, so
 * every process and node sharing the Redis signs and checks with the same key, and nothing has
 * to be configured. Never logged. Losing the Redis loses them, and with it only tokens of mail
 * that is gone too.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Keys } from './redis/keys.js';

export async function sharedSecret(redis: Redis, keys: Keys, name: string): Promise<Buffer> {
  const key = keys.secret(name);
  // SET NX: when two nodes start at once, both end up with the one that was stored first.
  await redis.set(key, randomBytes(32).toString('base64'), 'NX');
  const stored = await redis.get(key);
  if (!stored) throw new Error(`secret ${name} could not be stored in Redis`);
  return Buffer.from(stored, 'base64');
}

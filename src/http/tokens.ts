/**
 * Admin API bearer tokens.
 *
 * Promises: a token is shown once at creation and stored only as its SHA-256 (a token is 256
 * random bits, so a plain hash is enough — no need for a slow password hash); checks are
 * constant-time against the bootstrap `admin.token`.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';

export interface TokenStore {
  create(name: string): Promise<string>;
  /** the token's name when valid, else null */
  verify(token: string): Promise<string | null>;
  list(): Promise<{ name: string; createdAt: string }[]>;
}

export function createTokenStore(redis: Redis, keys: Keys, bootstrapToken: string): TokenStore {
  const bootstrap = bootstrapToken ? digest(bootstrapToken) : null;
  return {
    async create(name) {
      const token = 'sk_' + randomBytes(32).toString('base64url');
      await redis.hset(keys.apiTokens, digest(token).toString('hex'), JSON.stringify({ name, createdAt: new Date().toISOString() }));
      return token;
    },
    async verify(token) {
      if (!token) return null;
      const hash = digest(token);
      if (bootstrap && timingSafeEqual(hash, bootstrap)) return 'admin.token';
      const raw = await redis.hget(keys.apiTokens, hash.toString('hex'));
      return raw ? (JSON.parse(raw) as { name: string }).name : null;
    },
    async list() {
      return Object.values(await redis.hgetall(keys.apiTokens)).map((raw) => JSON.parse(raw) as { name: string; createdAt: string });
    },
  };
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

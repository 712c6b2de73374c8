/**
 * Admin API bearer tokens.
 *
 * Promises: a token is shown once at creation and stored only as its SHA-256 (a token is 256
 * random bits, so a plain hash is enough — no need for a slow password hash); checks are
 * constant-time against the bootstrap `admin.token`. A token is named in lists by its id — the
 * first 64 bits of that hash, in hex — which tells nothing about the token itself; revoking by
 * id takes effect with the next request (every request reads Redis). The bootstrap token is
 * config, never listed or revoked here.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';

export interface TokenStore {
  create(name: string): Promise<string>;
  /** the token's name when valid, else null */
  verify(token: string): Promise<string | null>;
  list(): Promise<{ id: string; name: string; createdAt: string }[]>;
  /** false when no token has this id */
  revoke(id: string): Promise<boolean>;
}

/** A token's id in lists and revoke: the first 16 hex digits of its SHA-256. */
export function tokenId(token: string): string {
  return digest(token).toString('hex').slice(0, ID_LENGTH);
}

const ID_LENGTH = 16;
export const TOKEN_ID = /^[0-9a-f]{16}$/;

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
      const all = await redis.hgetall(keys.apiTokens);
      return Object.entries(all)
        .map(([hash, raw]) => {
          const { name, createdAt } = JSON.parse(raw) as { name: string; createdAt: string };
          return { id: hash.slice(0, ID_LENGTH), name, createdAt };
        })
        .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
    },
    async revoke(id) {
      if (!TOKEN_ID.test(id)) return false;
      const matching = (await redis.hkeys(keys.apiTokens)).filter((hash) => hash.startsWith(id));
      // Two tokens sharing 64 bits of hash would be a 2^-64 accident; refuse rather than guess.
      if (matching.length !== 1) return false;
      return (await redis.hdel(keys.apiTokens, matching[0]!)) === 1;
    },
  };
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

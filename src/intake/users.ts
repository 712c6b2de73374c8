/**
 * SMTP/API credentials: users, the sending domains each may use, and their password hashes.
 *
 * Promises: passwords are stored only as scrypt hashes (random salt), verified in constant time;
 * a user record never leaves this module with its hash.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
export { mailboxDomain } from '../mime/address.js';

const scrypt = promisify(scryptCb) as (password: string, salt: Buffer, keylen: number, options: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;

const SCRYPT = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const KEY_LENGTH = 32;

export interface User {
  name: string;
  domains: string[];
  createdAt: string;
}

interface StoredUser extends User {
  /** `scrypt$N$r$p$salt$hash`, base64 parts */
  password: string;
}

export const USER_NAME = /^[A-Za-z0-9._@+-]{1,128}$/;

export interface UserStore {
  add(name: string, password: string, domains: string[]): Promise<void>;
  remove(name: string): Promise<boolean>;
  list(): Promise<User[]>;
  get(name: string): Promise<User | null>;
  /** the user when name and password match, else null */
  verify(name: string, password: string): Promise<User | null>;
}

export function createUserStore(redis: Redis, keys: Keys): UserStore {
  return {
    async add(name, password, domains) {
      const record: StoredUser = { name, domains: domains.map(normalizeDomain), createdAt: new Date().toISOString(), password: await hashPassword(password) };
      await redis.hset(keys.users, name, JSON.stringify(record));
    },
    async remove(name) {
      return (await redis.hdel(keys.users, name)) === 1;
    },
    async list() {
      const all = await redis.hgetall(keys.users);
      return Object.values(all).map((raw) => withoutHash(JSON.parse(raw) as StoredUser)).sort((a, b) => a.name.localeCompare(b.name));
    },
    async get(name) {
      const raw = await redis.hget(keys.users, name);
      return raw ? withoutHash(JSON.parse(raw) as StoredUser) : null;
    },
    async verify(name, password) {
      const raw = await redis.hget(keys.users, name);
      if (!raw) {
        // Same work as a real check, so response time does not reveal which names exist.
        await hashPassword(password);
        return null;
      }
      const record = JSON.parse(raw) as StoredUser;
      return (await checkPassword(password, record.password)) ? withoutHash(record) : null;
    },
  };
}

export function normalizeDomain(domain: string): string {
  return domain.trim().toLowerCase().replace(/\.$/, '');
}

/** True when `domain` is one of `allowed` or a subdomain of one. */
export function domainAllowed(domain: string, allowed: string[]): boolean {
  const d = normalizeDomain(domain);
  return allowed.some((a) => d === a || d.endsWith('.' + a));
}

export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}

async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, KEY_LENGTH, SCRYPT);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64'), hash.toString('base64')].join('$');
}

async function checkPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = await scrypt(password, Buffer.from(salt, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: SCRYPT.maxmem });
  return timingSafeEqual(actual, expected);
}

function withoutHash(record: StoredUser): User {
  return { name: record.name, domains: record.domains, createdAt: record.createdAt };
}

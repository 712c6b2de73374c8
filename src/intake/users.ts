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
  /** creates or replaces (the CLI's `user add`) */
  add(name: string, password: string, domains: string[]): Promise<void>;
  /** creates only: false when the name is taken (the API's POST, 409) */
  create(name: string, password: string, domains: string[]): Promise<User | null>;
  /** replaces the allowed sending domains, keeping the password; null when no such user */
  setDomains(name: string, domains: string[]): Promise<User | null>;
  /** replaces the password (a new hash), keeping the domains; false when no such user */
  setPassword(name: string, password: string): Promise<boolean>;
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
    async create(name, password, domains) {
      const record: StoredUser = { name, domains: domains.map(normalizeDomain), createdAt: new Date().toISOString(), password: await hashPassword(password) };
      return (await redis.hsetnx(keys.users, name, JSON.stringify(record))) === 1 ? withoutHash(record) : null;
    },
    async setDomains(name, domains) {
      const raw = await updateField(redis, keys.users, name, 'domains', JSON.stringify(domains.map(normalizeDomain)));
      return raw ? withoutHash(JSON.parse(raw) as StoredUser) : null;
    },
    async setPassword(name, password) {
      return (await updateField(redis, keys.users, name, 'password', JSON.stringify(await hashPassword(password)))) !== null;
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

/**
 * Changes one field of a stored user in one Lua run, so a domain change and a password rotation
 * at the same moment cannot undo each other (read-modify-write in the client could). Callers
 * never pass an empty domain list (cjson would write it as {}).
 * Returns the new record's JSON, or null when the user does not exist.
 */
const UPDATE_FIELD = `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local record = cjson.decode(raw)
record[ARGV[2]] = cjson.decode(ARGV[3])
local encoded = cjson.encode(record)
redis.call('HSET', KEYS[1], ARGV[1], encoded)
return encoded
`;

async function updateField(redis: Redis, key: string, name: string, field: 'domains' | 'password', json: string): Promise<string | null> {
  return (await redis.eval(UPDATE_FIELD, 1, key, name, field, json)) as string | null;
}

/**
 * Why a password chosen by a person is too weak for credentials reachable from the network, or
 * null. Generated passwords (generatePassword: 144 random bits) always pass.
 */
export function passwordWeakness(password: string): string | null {
  if (password.length < 12) return 'the password must have at least 12 characters (or leave it out and one is generated)';
  if (password.length > 256) return 'the password must have at most 256 characters';
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(password)) return 'the password must not contain control characters';
  const kinds = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((r) => r.test(password)).length;
  if (kinds < 2) return 'the password must mix at least two of: lower case, upper case, digits, symbols';
  if (new Set(password).size < 6) return 'the password repeats too few different characters';
  return null;
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

/**
 * `Idempotency-Key` of the send API: a repeat of a request within 24 h gets the first
 * request's message id instead of sending again.
 *
 * Redis key (keys.idempotency): "p:<id>:<fingerprint>" while the first request is being sent
 * (SET NX, short TTL), then "<id>:<fingerprint>", written by store.accept in the same MULTI as
 * the message (AcceptOptions), so a stored message always answers its key, and a key never
 * names a message that was not stored. The fingerprint is a hash of the validated request: a
 * key reused for a different message is refused rather than answered with the first one's id
 * (the client would believe its second message sent). Keys are per token name: two CRMs using
 * the same key do not meet.
 *
 * Promises: of two concurrent requests with one key, one sends and the other waits for its
 * outcome (the same id; or, when the first was refused or failed, a fresh attempt of its own);
 * a first request that crashed before storing frees its key after PENDING_SECONDS.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';

export const IDEMPOTENCY_SECONDS = 24 * 3600;
/** Longer than a send can take (composing + the store's bounded wait, smtp.limits.storeTimeoutSeconds default 30). */
const PENDING_SECONDS = 120;
const POLL_MS = 50;

export type Claim =
  | { kind: 'owner'; key: string; value: string; release(): Promise<void> }
  | { kind: 'done'; id: string }
  /** the key answers another request (a different body) */
  | { kind: 'reused'; id: string }
  | { kind: 'busy' };

/** Compare-and-delete: frees the key only while it still holds our pending claim. */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export function idempotencyKey(keys: Keys, tokenName: string, key: string): string {
  return keys.idempotency(createHash('sha256').update(tokenName).update('\0').update(key).digest('hex'));
}

/** What identifies a request: a hash of its validated body. */
export function fingerprint(body: unknown): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('base64url').slice(0, 22);
}

/**
 * Claims `key` for a send of message `id`, or says what a request with the same key did.
 * `waitMs`: how long to wait for a concurrent request with the same key before answering busy.
 */
export async function claim(redis: Redis, key: string, id: string, print: string, waitMs: number): Promise<Claim> {
  const deadline = Date.now() + waitMs;
  const pending = `p:${id}:${print}`;
  for (;;) {
    if ((await redis.set(key, pending, 'EX', PENDING_SECONDS, 'NX')) === 'OK') {
      return { kind: 'owner', key, value: `${id}:${print}`, release: async () => void (await redis.eval(RELEASE, 1, key, pending)) };
    }
    const value = await redis.get(key);
    // null: the other request just failed and freed it — try to claim it again at once.
    if (value === null) continue;
    const [otherId = '', otherPrint = ''] = value.replace(/^p:/, '').split(':');
    if (otherPrint !== print) return { kind: 'reused', id: otherId };
    if (!value.startsWith('p:')) return { kind: 'done', id: otherId };
    if (Date.now() >= deadline) return { kind: 'busy' };
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

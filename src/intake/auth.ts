/**
 * SMTP AUTH: checks credentials and keeps password guessing expensive.
 *
 * Promises: AUTH only over TLS, except from loopback; a connection that fails
 * `authFailuresPerConnection` times is told so and closed; an IP that fails
 * `authFailuresPerIp` times within `authLockoutSeconds` is refused until the window passes
 * (kept in Redis, so every node sees it). Passwords are never logged.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Keys } from '../redis/keys.js';
import type { Config } from '../config/schema.js';
import type { User, UserStore } from './users.js';
import { isLoopback, normalizeIp } from './networks.js';
import { smtpError } from './reply.js';

export interface AuthAttempt {
  username: string;
  password: string;
  sessionId: string;
  remoteAddress: string;
  secure: boolean;
}

export type AuthResult = { ok: true; user: User } | { ok: false; error: Error; disconnect: boolean };

export interface AuthGuard {
  authenticate(attempt: AuthAttempt): Promise<AuthResult>;
  /** forget a connection's failure count */
  closed(sessionId: string): void;
}

export function createAuthGuard(users: UserStore, redis: Redis, keys: Keys, limits: Config['smtp']['limits'], log: Logger): AuthGuard {
  const failuresByConnection = new Map<string, number>();

  async function fail(attempt: AuthAttempt, ip: string, why: string): Promise<AuthResult> {
    const key = keys.authFailures(ip);
    const [[, count]] = (await redis.multi().incr(key).expire(key, limits.authLockoutSeconds, 'NX').exec()) as [[Error | null, number]];
    const onConnection = (failuresByConnection.get(attempt.sessionId) ?? 0) + 1;
    failuresByConnection.set(attempt.sessionId, onConnection);
    log.warn({ session: attempt.sessionId, ip, username: attempt.username.slice(0, 128), why, failuresFromIp: count }, 'smtp auth failed');
    const disconnect = onConnection >= limits.authFailuresPerConnection || count >= limits.authFailuresPerIp;
    return { ok: false, disconnect, error: smtpError(535, '5.7.8', 'Authentication credentials invalid') };
  }

  return {
    async authenticate(attempt) {
      const ip = normalizeIp(attempt.remoteAddress);
      if (!attempt.secure && !isLoopback(ip)) {
        return { ok: false, disconnect: false, error: smtpError(538, '5.7.11', 'Encryption required: use STARTTLS before AUTH') };
      }
      const recent = Number((await redis.get(keys.authFailures(ip))) ?? 0);
      if (recent >= limits.authFailuresPerIp) {
        log.warn({ session: attempt.sessionId, ip }, 'smtp auth refused: address locked out after repeated failures');
        return {
          ok: false,
          disconnect: true,
          error: smtpError(454, '4.7.0', `Too many failed logins from ${ip}; try again in ${minutes(limits.authLockoutSeconds)}`),
        };
      }
      const user = await users.verify(attempt.username, attempt.password);
      if (!user) return fail(attempt, ip, 'bad username or password');
      failuresByConnection.delete(attempt.sessionId);
      return { ok: true, user };
    },
    closed(sessionId) {
      failuresByConnection.delete(sessionId);
    },
  };
}

function minutes(seconds: number): string {
  const m = Math.ceil(seconds / 60);
  return m === 1 ? '1 minute' : `${m} minutes`;
}

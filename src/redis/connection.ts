/**
 * Redis connections: where to connect (configured URL or the embedded server) and the client
 * options every connection shares.
 *
 * Promises: clients that retry forever on connection loss (a Redis restart must not kill the
 * process or drop in-flight work; callers see commands wait, then resume).
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';

export type RedisTarget = { url: string } | { socketPath: string };

export function describeTarget(target: RedisTarget): string {
  return 'url' in target ? redactUrl(target.url) : `unix:${target.socketPath}`;
}

/** Options for ioredis, shared by our clients and BullMQ's. */
export function redisOptions(target: RedisTarget): RedisOptions {
  const base: RedisOptions = {
    // BullMQ requires null here for its blocking connections; for ours it means commands queue
    // while Redis restarts instead of failing after a few retries.
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
  };
  if ('socketPath' in target) return { ...base, path: target.socketPath };
  const url = new URL(target.url);
  return {
    ...base,
    host: url.hostname,
    port: url.port ? Number(url.port) : 6379,
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    db: url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0,
    tls: url.protocol === 'rediss:' ? {} : undefined,
  };
}

/**
 * `autoPipelining` sends the commands issued in one tick in one write: many deliveries reading
 * and recording at once then cost one syscall per batch, not per command. Not for BullMQ's own
 * connections (its blocking commands must not wait behind others).
 */
export function createRedis(target: RedisTarget, log: Logger, name: string, autoPipelining = false): Redis {
  const client = new Redis({ ...redisOptions(target), enableAutoPipelining: autoPipelining });
  let lastError = '';
  client.on('error', (err: Error) => {
    // One line per distinct error: a Redis restart would otherwise log every retry.
    if (err.message !== lastError) log.warn({ redis: describeTarget(target), client: name, err: err.message }, 'redis connection error');
    lastError = err.message;
  });
  client.on('ready', () => {
    if (lastError) log.info({ client: name }, 'redis connection restored');
    lastError = '';
  });
  return client;
}

/** Never log a Redis password. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable redis url)';
  }
}

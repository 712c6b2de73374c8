/**
 * What every CLI subcommand shares: the config it names, and a Redis connection that works
 * whether Sokutatsu is running or not (the embedded server is started for the command and
 * stopped after it, unless a running Sokutatsu owns it).
 */
import type { Command } from 'commander';
import type { Redis } from 'ioredis';
import pino from 'pino';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { openRedis } from '../app.js';
import { dataDirOwner } from '../datadir.js';
import { createRedis } from '../redis/connection.js';
import { createKeys, type Keys } from '../redis/keys.js';

export class UsageError extends Error {
  override name = 'UsageError';
}

/** `--config` may come before or after the subcommand. */
export function configFor(command: Command): Config {
  const file = (command.optsWithGlobals() as { config?: string }).config;
  return loadConfig({ file });
}

export interface RedisContext {
  config: Config;
  redis: Redis;
  keys: Keys;
}

export async function withRedis<T>(command: Command, work: (ctx: RedisContext) => Promise<T>): Promise<T> {
  const config = configFor(command);
  // CLI output is for people; Redis start-up chatter goes to stderr only when it is a warning.
  const log = pino({ level: 'warn' }, pino.destination(2));
  const { target, embedded } = await openRedis(config, log);
  const redis = createRedis(target, log, 'cli');
  try {
    return await work({ config, redis, keys: createKeys(config.redis.namespace) });
  } finally {
    await redis.quit().catch(() => redis.disconnect());
    // A `sokutatsu start` may have adopted the Redis this command started: then it is not ours.
    if (embedded && !embedded.adopted && !dataDirOwner(config.dataDir)) await embedded.stop();
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

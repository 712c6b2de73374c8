/**
 * `sokutatsu token create|list`: admin API bearer tokens.
 */
import type { Command } from 'commander';
import { createTokenStore } from '../http/tokens.js';
import { printJson, withRedis } from './context.js';

export function registerToken(program: Command): void {
  const token = program.command('token').description('manage admin API bearer tokens');
  token
    .command('create <name>')
    .description('create an admin API token; printed once (only its hash is stored)')
    .option('--json', 'print {"name","token"} as JSON')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (name: string, opts: { json?: boolean }, command: Command) => {
      const value = await withRedis(command, async ({ redis, keys, config }) => createTokenStore(redis, keys, config.admin.token).create(name));
      if (opts.json) return printJson({ name, token: value });
      process.stdout.write(`${value}\n`);
      process.stderr.write(`token ${name} created; use it as "Authorization: Bearer <token>". It is shown only once.\n`);
    });
  token
    .command('list')
    .description('list token names (never the tokens)')
    .option('--json', 'print JSON')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (opts: { json?: boolean }, command: Command) => {
      const tokens = await withRedis(command, async ({ redis, keys, config }) => createTokenStore(redis, keys, config.admin.token).list());
      if (opts.json) return printJson(tokens);
      for (const t of tokens) process.stdout.write(`${t.name}\tcreated ${t.createdAt}\n`);
    });
}

/**
 * `sokutatsu token create|list|revoke`: admin API bearer tokens (also /api/v1/tokens).
 */
import type { Command } from 'commander';
import { createTokenStore, TOKEN_ID } from '../http/tokens.js';
import { printJson, UsageError, withRedis } from './context.js';

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
      for (const t of tokens) process.stdout.write(`${t.id}\t${t.name}\tcreated ${t.createdAt}\n`);
    });
  token
    .command('revoke <id>')
    .description('revoke a token by the id `token list` shows; it stops working with the next request')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (id: string, _opts, command: Command) => {
      if (!TOKEN_ID.test(id.toLowerCase())) throw new UsageError(`not a token id: ${id} (16 hex digits, as \`token list\` shows them)`);
      const revoked = await withRedis(command, async ({ redis, keys, config }) => createTokenStore(redis, keys, config.admin.token).revoke(id.toLowerCase()));
      if (!revoked) throw new Error(`no token with id ${id} (admin.token is config and cannot be revoked here)`);
      process.stdout.write(`token ${id} revoked\n`);
    });
}

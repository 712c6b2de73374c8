/**
 * `sokutatsu config check`: validate a config file and show the effective values.
 */
import type { Command } from 'commander';
import { configFor, printJson } from './context.js';

export function registerConfig(program: Command): void {
  program
    .command('config')
    .description('configuration tools')
    .command('check')
    .description('validate the config (exit 1 with the bad keys named) and print the effective config as JSON, secrets masked')
    .option('-c, --config <file>', 'config file (YAML)')
    .action((_opts, command: Command) => {
      const config = configFor(command);
      const masked = {
        ...config,
        admin: { token: config.admin.token ? '***' : '' },
        redis: { ...config.redis, url: config.redis.url.replace(/\/\/([^@/]*):([^@/]*)@/, '//$1:***@') },
        domains: { ...config.domains, keyEncryptionKey: config.domains.keyEncryptionKey ? '***' : '' },
        delivery: { ...config.delivery, routes: config.delivery.routes.map((r) => (r.auth ? { ...r, auth: { user: r.auth.user, pass: '***' } } : r)) },
      };
      printJson(masked);
    });
}

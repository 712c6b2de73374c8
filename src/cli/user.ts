/**
 * `sokutatsu user add|list|remove`: SMTP/API credentials and the sending domains each may use.
 */
import type { Command } from 'commander';
import { createUserStore, generatePassword, USER_NAME } from '../intake/users.js';
import { printJson, readStdin, UsageError, withRedis } from './context.js';
import { isDomainName } from '../mime/address.js';


export function registerUser(program: Command): void {
  const user = program.command('user').description('manage SMTP/API users (credentials and allowed sending domains)');

  user
    .command('add <name>')
    .description('create or replace a user; prints the generated password once unless --password-stdin')
    .requiredOption('-d, --domain <domain...>', 'sending domain this user may use in From/MAIL FROM (subdomains included); repeatable')
    .option('--password-stdin', 'read the password from standard input instead of generating one')
    .option('--json', 'print {"name","domains","password"} as JSON')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (name: string, opts: { domain: string[]; passwordStdin?: boolean; json?: boolean }, command: Command) => {
      if (!USER_NAME.test(name)) throw new UsageError(`user name "${name}" is not valid: use 1–128 letters, digits and . _ @ + -`);
      const bad = opts.domain.filter((d) => !isDomainName(d) && d.toLowerCase() !== 'localhost');
      if (bad.length) throw new UsageError(`not a domain name: ${bad.join(', ')}`);
      const given = opts.passwordStdin ? (await readStdin()).replace(/\r?\n$/, '') : null;
      if (given !== null && given.length < 8) throw new UsageError('the password read from stdin is shorter than 8 characters');
      const password = given ?? generatePassword();
      await withRedis(command, async ({ redis, keys }) => createUserStore(redis, keys).add(name, password, opts.domain));
      const domains = opts.domain.map((d) => d.toLowerCase());
      if (opts.json) return printJson({ name, domains, ...(given === null ? { password } : {}) });
      process.stdout.write(`user ${name} saved; may send from ${domains.join(', ')} (and subdomains)\n`);
      if (given === null) process.stdout.write(`password: ${password}\n(shown once; store it now)\n`);
    });

  user
    .command('list')
    .description('list users and their sending domains')
    .option('--json', 'print JSON')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (opts: { json?: boolean }, command: Command) => {
      const users = await withRedis(command, async ({ redis, keys }) => createUserStore(redis, keys).list());
      if (opts.json) return printJson(users);
      if (users.length === 0) return void process.stdout.write('no users (add one with: sokutatsu user add NAME --domain example.com)\n');
      for (const u of users) process.stdout.write(`${u.name}\t${u.domains.join(',')}\tcreated ${u.createdAt}\n`);
    });

  user
    .command('remove <name>')
    .description('delete a user; its password stops working at once')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (name: string, _opts, command: Command) => {
      const removed = await withRedis(command, async ({ redis, keys }) => createUserStore(redis, keys).remove(name));
      if (!removed) throw new Error(`no user named ${name}`);
      process.stdout.write(`user ${name} removed\n`);
    });
}

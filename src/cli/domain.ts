/**
 * `sokutatsu domain add|list|records|remove`: sending domains, their DKIM keys, and the DNS
 * records to publish, and the DNS check of those records. (Key rotation is not built yet.)
 */
import type { Command } from 'commander';
import { createDomainStore } from '../domains/domain-store.js';
import { KEY_TYPES, type KeyType } from '../domains/dkim-key.js';
import { recordsFor, type DnsRecord } from '../domains/records.js';
import { systemTxtResolver, verifyRecords } from '../domains/verify.js';
import { printJson, UsageError, withRedis } from './context.js';
import { isDomainName } from '../mime/address.js';

const SELECTOR = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

export function registerDomain(program: Command): void {
  const domain = program.command('domain').description('sending domains: DKIM keys and the DNS records to publish');

  domain
    .command('add <domain>')
    .description('register a sending domain and generate its DKIM key; then publish what `domain records` prints')
    .option('-s, --selector <selector>', 'DKIM selector (the DNS label before ._domainkey)', `sk${new Date().toISOString().slice(0, 7).replace('-', '')}`)
    .option('-k, --key <type>', `key type: ${KEY_TYPES.join(' | ')}`, 'rsa2048')
    .option('--json', 'print the domain as JSON')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (name: string, opts: { selector: string; key: string; json?: boolean }, command: Command) => {
      if (!isDomainName(name)) throw new UsageError(`not a domain name: ${name}`);
      if (!SELECTOR.test(opts.selector)) throw new UsageError(`not a valid selector: ${opts.selector} (letters, digits and -)`);
      if (!(KEY_TYPES as readonly string[]).includes(opts.key)) throw new UsageError(`--key must be one of ${KEY_TYPES.join(', ')}`);
      const { added, records } = await withRedis(command, async ({ redis, keys, config }) => {
        const store = createDomainStore(redis, keys);
        if (await store.get(name.toLowerCase())) throw new Error(`${name} is already a sending domain (see: sokutatsu domain records ${name})`);
        const d = await store.add(name.toLowerCase(), opts.selector, opts.key as KeyType);
        return { added: d, records: recordsFor(d, config.hostname) };
      });
      if (opts.json) return printJson({ ...added, records });
      process.stdout.write(`${added.domain} added with a ${added.keyType} DKIM key (selector ${added.selector}); mail From it is signed from now on.\nPublish these records so receivers can check the signature:\n\n`);
      printRecords(records);
    });

  domain
    .command('records <domain>')
    .description('the DNS records to publish for a sending domain (type, host, value, purpose)')
    .option('--json', 'print JSON')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (name: string, opts: { json?: boolean }, command: Command) => {
      const records = await withRedis(command, async ({ redis, keys, config }) => {
        const found = await createDomainStore(redis, keys).get(name.toLowerCase());
        if (!found) throw new Error(`${name} is not a sending domain (add it with: sokutatsu domain add ${name})`);
        return recordsFor(found, config.hostname);
      });
      if (opts.json) return printJson(records);
      printRecords(records);
    });

  domain
    .command('verify <domain>')
    .description('look up each record in DNS and report ok / missing / mismatch with a fix; stores the result')
    .option('--json', 'print JSON')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (name: string, opts: { json?: boolean }, command: Command) => {
      const { checks, domain: checked } = await withRedis(command, async ({ redis, keys, config }) => {
        const store = createDomainStore(redis, keys);
        const found = await store.get(name.toLowerCase());
        if (!found) throw new Error(`${name} is not a sending domain (add it with: sokutatsu domain add ${name})`);
        const results = await verifyRecords(recordsFor(found, config.hostname), systemTxtResolver);
        return { checks: results, domain: await store.recordVerification(found.domain, results.every((c) => c.status === 'ok')) };
      });
      if (opts.json) return printJson({ domain: checked?.domain, verified: checked?.verified, checkedAt: checked?.checkedAt, records: checks });
      for (const c of checks) {
        process.stdout.write(`${c.status.toUpperCase().padEnd(8)} ${c.type} ${c.host}\n`);
        if (c.status === 'mismatch') process.stdout.write(`         expected: ${c.expected}\n         found:    ${c.found.join(' | ')}\n`);
        if (c.fix) process.stdout.write(`         fix: ${c.fix}\n`);
      }
      process.stdout.write(checked?.verified ? `${name}: verified\n` : `${name}: not verified yet (DNS changes can take a while to appear; run verify again)\n`);
      if (!checked?.verified) process.exitCode = 1;
    });

  domain
    .command('list')
    .description('list sending domains')
    .option('--json', 'print JSON')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (opts: { json?: boolean }, command: Command) => {
      const domains = await withRedis(command, async ({ redis, keys }) => createDomainStore(redis, keys).list());
      if (opts.json) return printJson(domains);
      if (domains.length === 0) return void process.stdout.write('no sending domains (add one with: sokutatsu domain add example.com)\n');
      for (const d of domains) process.stdout.write(`${d.domain}\tselector ${d.selector}\t${d.keyType}\t${d.verified ? `verified ${d.verifiedAt}` : 'not verified'}\tadded ${d.createdAt}\n`);
    });

  domain
    .command('remove <domain>')
    .description('delete a sending domain and its key; its mail is sent unsigned from then on')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (name: string, _opts, command: Command) => {
      const removed = await withRedis(command, async ({ redis, keys }) => createDomainStore(redis, keys).remove(name.toLowerCase()));
      if (!removed) throw new Error(`${name} is not a sending domain`);
      process.stdout.write(`${name} removed\n`);
    });
}

/** One block per record, laid out to copy into a DNS panel (TXT strings quoted as zone files want). */
function printRecords(records: DnsRecord[]): void {
  for (const r of records) {
    process.stdout.write(`${r.type}\t${r.host}\n\t${(r.strings ?? [r.value]).map((v) => `"${v}"`).join(' ')}\n\t# ${r.purpose}\n\n`);
  }
}

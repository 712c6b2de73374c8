/**
 * `sokutatsu domain add|list|records|verify|rotate|remove|events`: sending domains, their DKIM
 * keys, the DNS records to publish, and the DNS check of those records. The work is done by
 * src/domains/domain-service.ts (shared with the admin API); this file parses and prints.
 */
import type { Command } from 'commander';
import { DomainError, openDomains, verifyReport, type DomainService } from '../domains/domain-service.js';
import { KEY_TYPES } from '../domains/dkim-key.js';
import type { DnsRecord } from '../domains/records.js';
import type { RecordCheck } from '../domains/verify.js';
import { createResolver } from '../dns.js';
import { printJson, UsageError, withRedis } from './context.js';

type Opts = { json?: boolean; selector?: string; key?: string };

export function registerDomain(program: Command): void {
  const domain = program.command('domain').description('sending domains: DKIM keys, the DNS records to publish, and their verification');

  domain
    .command('add <domain>')
    .description('register a sending domain and generate its DKIM key; then publish what `domain records` prints')
    .option('-s, --selector <selector>', 'DKIM selector (the DNS label before ._domainkey); default sk<yyyymm>')
    .option('-k, --key <type>', `key type: ${KEY_TYPES.join(' | ')}`, 'rsa2048')
    .option('--json', 'print the domain and its records as JSON')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (name: string, opts: Opts, command: Command) => {
      const { domain: added, records } = await withService(command, (s) => s.add(name, { selector: opts.selector, keyType: opts.key }));
      if (opts.json) return printJson({ ...added, records });
      process.stdout.write(`${added.domain} added with a new DKIM key (${added.keyType}, selector ${added.selector}).\nPublish these records, then run: sokutatsu domain verify ${added.domain}\n\n`);
      printRecords(records);
      if (added.keyType === 'ed25519') process.stdout.write(`note: many receivers cannot check Ed25519 signatures yet; add an RSA key beside it with: sokutatsu domain rotate ${added.domain} --key rsa2048\n`);
    });

  domain
    .command('records <domain>')
    .description('the DNS records to publish for a sending domain (type, host, value, purpose)')
    .option('--json', 'print JSON')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (name: string, opts: Opts, command: Command) => {
      const { records } = await withService(command, (s) => s.records(name));
      if (opts.json) return printJson(records);
      printRecords(records);
    });

  domain
    .command('verify <domain>')
    .description('look up each record in DNS and report ok / missing / mismatch with a fix; stores the result (exit 1 unless verified)')
    .option('--json', 'print JSON')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (name: string, opts: Opts, command: Command) => {
      const outcome = await withService(command, (s) => s.verify(name, 'cli'));
      const d = outcome.domain;
      if (!d.verified) process.exitCode = 1;
      if (opts.json) return printJson(verifyReport(outcome));
      printChecks(outcome.checks);
      for (const e of outcome.events) process.stdout.write(`${e.type}: ${e.detail}\n`);
      if (d.verified) process.stdout.write(`${d.domain}: verified\n`);
      else if (!outcome.conclusive) process.stdout.write(`${d.domain}: not verified (some lookups failed; check again later)\n`);
      else process.stdout.write(`${d.domain}: not verified yet (DNS changes can take a while to appear; run verify again)\n`);
    });

  domain
    .command('rotate <domain>')
    .description('create a new DKIM key under a new selector; it signs once its record verifies (a key of another algorithm is added beside the current one)')
    .option('-s, --selector <selector>', 'selector of the new key; default sk<yyyymm> or a dated variant')
    .option('-k, --key <type>', `key type: ${KEY_TYPES.join(' | ')} (default: that of the current key)`)
    .option('--json', 'print JSON')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (name: string, opts: Opts, command: Command) => {
      const { result: rotated, graceSeconds } = await withService(command, async (s, config) => ({ result: await s.rotate(name, { selector: opts.selector, keyType: opts.key }), graceSeconds: config.domains.rotationGraceSeconds }));
      if (opts.json) return printJson({ domain: rotated.domain.domain, key: rotated.key, records: rotated.records });
      const record = rotated.records.find((r) => r.selector === rotated.key.selector);
      process.stdout.write(`new ${rotated.key.keyType} key for ${rotated.domain.domain}, selector ${rotated.key.selector}. The current key keeps signing until this record verifies.\n\n`);
      if (record) printRecords([record]);
      process.stdout.write(`Then run: sokutatsu domain verify ${rotated.domain.domain}  (the periodic re-check also picks it up)\n`);
      process.stdout.write(`Once it signs, keep the old key's record published for ${formatDuration(graceSeconds)} (verify prints the date), then delete it.\n`);
    });

  domain
    .command('list')
    .description('list sending domains')
    .option('--json', 'print JSON')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (opts: Opts, command: Command) => {
      const domains = await withService(command, (s) => s.list());
      if (opts.json) return printJson(domains);
      if (domains.length === 0) return void process.stdout.write('no sending domains (add one with: sokutatsu domain add example.com)\n');
      for (const d of domains) {
        const keys = d.keys.filter((k) => k.state !== 'retired').map((k) => `${k.selector} ${k.keyType}${k.state === 'pending' ? ' (pending)' : ''}`).join(', ');
        process.stdout.write(`${d.domain}\t${keys}\t${d.verified ? `verified ${d.verifiedAt}` : 'not verified'}\tadded ${d.createdAt}\n`);
      }
    });

  domain
    .command('events <domain>')
    .description('what happened to a sending domain: verification changes, key rotations, failed checks (newest first)')
    .option('--json', 'print JSON')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (name: string, opts: Opts, command: Command) => {
      const events = await withService(command, async (s) => (await s.get(name)) && s.events(name));
      if (opts.json) return printJson(events);
      for (const e of events) process.stdout.write(`${e.at}\t${e.type}\t${e.detail}\n`);
    });

  domain
    .command('remove <domain>')
    .description('delete a sending domain and its keys; mail From it is then unsigned (or refused while policy.requireVerifiedDomains is on)')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (name: string, _opts: Opts, command: Command) => {
      await withService(command, (s) => s.remove(name));
      process.stdout.write(`${name} removed\n`);
    });
}

async function withService<T>(command: Command, work: (service: DomainService, config: Parameters<Parameters<typeof withRedis>[1]>[0]['config']) => Promise<T>): Promise<T> {
  try {
    return await withRedis(command, ({ redis, keys, config }) => {
      return work(openDomains(redis, keys, config, createResolver(config.dns)).service, config);
    });
  } catch (err) {
    if (err instanceof DomainError && err.code === 'invalid') throw new UsageError(err.message);
    throw err;
  }
}

/** One block per record, laid out to copy into a DNS panel (TXT strings quoted as zone files want). */
function printRecords(records: DnsRecord[]): void {
  for (const r of records) {
    const value = r.type === 'TXT' ? (r.strings ?? [r.value]).map((v) => `"${v}"`).join(' ') : r.type === 'MX' ? `${r.priority ?? 10} ${r.value}` : r.value;
    process.stdout.write(`${r.type}\t${r.host}${r.required ? '' : '\t(optional)'}\n\t${value}\n\t# ${r.purpose}\n\n`);
  }
}

function printChecks(checks: RecordCheck[]): void {
  for (const c of checks) {
    process.stdout.write(`${c.status.toUpperCase().padEnd(8)} ${c.type.padEnd(5)} ${c.host}${c.required ? '' : ' (optional)'}\n`);
    if (c.status === 'mismatch') process.stdout.write(`         expected: ${c.expected}\n         found:    ${c.found.join(' | ')}\n`);
    if (c.fix) process.stdout.write(`         fix: ${c.fix}\n`);
  }
}

function formatDuration(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400} days`;
  if (seconds % 3600 === 0) return `${seconds / 3600} hours`;
  return `${seconds} seconds`;
}

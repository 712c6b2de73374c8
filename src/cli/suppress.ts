/**
 * `sokutatsu suppress list|add|remove|import|export`: the suppression list (addresses that get
 * no mail, for every sender or for one sending domain), for operators and scripts.
 *
 * Promises: list and export stream (HSCAN pages), so a list of millions never sits in memory;
 * import checks every row, reports bad ones with their line and skips them, and writes in
 * pipelined batches (the same atomic script per entry as a single add).
 */
import type { Command } from 'commander';
import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { GLOBAL, SuppressionList, type SuppressionState } from '../store/suppressions.js';
import { checkAddress, checkReason, checkScope, checkState, orderedEntry, SuppressionInputError, SUPPRESSION_STATES } from '../store/suppression-input.js';
import { csvHeader, csvRow, CSV_COLUMNS } from '../store/suppression-csv.js';
import { importSuppressions, type ImportSummary } from '../store/suppression-import.js';
import { printJson, UsageError, withRedis } from './context.js';

type Opts = { json?: boolean; domain?: string; global?: boolean; all?: boolean; reason?: string; state?: string; dryRun?: boolean };

/** A progress line on stderr every this many rows. */
const PROGRESS_EVERY = 10_000;
/** Bad rows reported one by one; beyond this only counted. */
const MAX_REPORTED = 100;

export function registerSuppress(program: Command): void {
  const suppress = program
    .command('suppress')
    .description('the suppression list: addresses that get no mail (prohibited: bounced or complained; stopped: unsubscribed), for every sender or one sending domain');

  suppress
    .command('list')
    .description('list entries: address, scope, state, reason, source, since; then a count')
    .option('-d, --domain <domain>', 'only the entries for this sending domain')
    .option('-g, --global', 'only the entries for every sender')
    .option('--json', 'print a JSON array of entries')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (opts: Opts, command: Command) => {
      if (opts.domain && opts.global) throw new UsageError('--domain and --global exclude each other');
      const scope = opts.global ? GLOBAL : opts.domain ? usage(() => checkScope(opts.domain)) : undefined;
      await untilReaderCloses(withList(command, async (list) => {
        const out = process.stdout;
        let n = 0;
        const byState: Record<string, number> = {};
        const byScope = { global: 0, domain: 0 };
        if (opts.json) await write(out, '[');
        else await write(out, `${'ADDRESS'.padEnd(40)} ${'SCOPE'.padEnd(20)} ${'STATE'.padEnd(10)} ${'SINCE'.padEnd(20)} ${'SOURCE'.padEnd(24)} REASON\n`);
        for await (const e of list.all()) {
          if (scope !== undefined && e.scope !== scope) continue;
          n++;
          byState[e.state] = (byState[e.state] ?? 0) + 1;
          byScope[e.scope === GLOBAL ? 'global' : 'domain']++;
          if (opts.json) await write(out, `${n > 1 ? ',' : ''}\n  ${JSON.stringify(orderedEntry(e))}`);
          else await write(out, `${e.address.padEnd(40)} ${e.scope.padEnd(20)} ${e.state.padEnd(10)} ${e.createdAt.slice(0, 19).replace('T', ' ').padEnd(20)} ${e.source.padEnd(24)} ${e.reason}\n`);
        }
        if (opts.json) return write(out, n ? '\n]\n' : ']\n');
        const states = SUPPRESSION_STATES.map((s) => `${byState[s] ?? 0} ${s}`).join(', ');
        await write(out, `${n} ${n === 1 ? 'entry' : 'entries'}${scope === undefined ? ` (${byScope.global} for every sender, ${byScope.domain} for one sending domain)` : ` for ${scope === GLOBAL ? 'every sender' : scope}`}: ${states}\n`);
      }));
    });

  suppress
    .command('add <address>')
    .description('suppress an address (replaces its entry of the same scope); default: for every sender, prohibited, reason "manual"')
    .option('-d, --domain <domain>', 'only for mail from this sending domain (e.g. an unsubscribe from one sender)')
    .option('-r, --reason <text>', 'why (shown in list and on the recipient\'s "suppressed" status)', 'manual')
    .option('-s, --state <state>', `${SUPPRESSION_STATES.join(' | ')} (bounced or complained | unsubscribed)`, 'prohibited')
    .option('--json', 'print the entry as JSON')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (address: string, opts: Opts, command: Command) => {
      const entry = usage(() => ({
        address: checkAddress(address),
        scope: checkScope(opts.domain),
        state: checkState(opts.state) as SuppressionState,
        reason: checkReason(opts.reason, 'manual'),
        source: 'manual',
      }));
      const added = await withList(command, (list) => list.add(entry));
      if (opts.json) return printJson(orderedEntry(added));
      process.stdout.write(`${added.address} suppressed (${added.state}) ${added.scope === GLOBAL ? 'for every sender' : `for mail from ${added.scope}`}: ${added.reason}\n`);
    });

  suppress
    .command('remove <address>')
    .description('take an address off the list so it gets mail again; default: its entry for every sender (exit 1 when there is none)')
    .option('-d, --domain <domain>', 'its entry for this sending domain instead')
    .option('-a, --all', 'every entry of the address (every sender and every sending domain)')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (address: string, opts: Opts, command: Command) => {
      if (opts.domain && opts.all) throw new UsageError('--domain and --all exclude each other');
      const checked = usage(() => checkAddress(address));
      const scope = opts.all ? undefined : usage(() => checkScope(opts.domain));
      const removed = await withList(command, (list) => list.remove(checked, scope));
      const what = scope === undefined ? 'any scope' : scope === GLOBAL ? 'every sender' : scope;
      if (!removed) throw new Error(`${checked} is not suppressed for ${what}${opts.all ? '' : ' (see: sokutatsu suppress list, or use --all)'}`);
      process.stdout.write(`${checked} removed from the suppression list (${what})\n`);
    });

  suppress
    .command('import <file>')
    .description(`add entries from a CSV file with a header line; columns: address (required), ${CSV_COLUMNS.slice(1).join(', ')} (optional; quoted fields allowed). Bad rows are reported with their line number and skipped; exit 1 when there were any`)
    .option('-d, --domain <domain>', 'scope of rows with no scope (default: every sender)')
    .option('-n, --dry-run', 'check every row and report, without changing the list')
    .option('--json', 'print the summary as JSON')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (file: string, opts: Opts, command: Command) => {
      const scope = usage(() => checkScope(opts.domain));
      const input = createReadStream(file, { encoding: 'utf8', highWaterMark: 256 * 1024 });
      const opened = await once(input, 'open').then(() => null, (err: NodeJS.ErrnoException) => err);
      if (opened) throw new Error(`cannot read ${file}: ${opened.code === 'ENOENT' ? 'no such file' : opened.message}`);
      let summary: ImportSummary;
      let reported = 0;
      try {
        const run = (list: SuppressionList | null) => importSuppressions(list, input, {
          ...(scope !== undefined ? { scope } : {}),
          onUnknownColumns: (names) => process.stderr.write(`note: ignoring columns ${names.join(', ')} (known: ${CSV_COLUMNS.join(', ')})\n`),
          onBad: (line, error) => {
            if (++reported <= MAX_REPORTED) process.stderr.write(`${file}:${line}: skipped: ${error}\n`);
          },
          onProgress: (s) => process.stderr.write(`… ${s.rows} rows read, ${s.imported} ${opts.dryRun ? 'valid' : 'imported'}\n`),
          progressEvery: PROGRESS_EVERY,
        });
        summary = opts.dryRun ? await run(null) : await withList(command, run);
      } catch (err) {
        if (err instanceof SuppressionInputError) throw new Error(`${file}: ${err.message}`);
        throw err;
      } finally {
        input.destroy();
      }
      if (summary.bad > MAX_REPORTED) process.stderr.write(`… and ${summary.bad - MAX_REPORTED} more bad rows\n`);
      if (summary.bad) process.exitCode = 1;
      if (opts.json) return printJson(summary);
      const verb = opts.dryRun ? 'would import' : 'imported';
      process.stdout.write(`${summary.rows} rows: ${verb} ${summary.imported}${opts.dryRun ? '' : ` (${summary.imported - summary.replaced} new, ${summary.replaced} replaced an entry)`}, ${summary.bad} bad rows skipped\n`);
    });

  suppress
    .command('export [file]')
    .description(`write the whole list as CSV (${CSV_COLUMNS.join(',')}) to FILE or standard output; \`suppress import\` reads it back`)
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (file: string | undefined, _opts: Opts, command: Command) => {
      const out: Writable = file ? createWriteStream(file) : process.stdout;
      if (file) {
        const err = await once(out, 'open').then(() => null, (e: Error) => e);
        if (err) throw new Error(`cannot write ${file}: ${err.message}`);
      }
      const n = await untilReaderCloses(withList(command, async (list) => {
        let count = 0;
        await write(out, csvHeader());
        for await (const e of list.all()) {
          await write(out, csvRow(e));
          count++;
        }
        return count;
      }));
      if (file) {
        out.end();
        await once(out, 'finish');
        process.stderr.write(`${n} entries written to ${file}\n`);
      }
    });
}

async function withList<T>(command: Command, work: (list: SuppressionList) => Promise<T>): Promise<T> {
  return withRedis(command, ({ redis, keys }) => work(new SuppressionList(redis, keys)));
}

/** Input errors of an argument or option are usage errors (exit 2). */
function usage<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof SuppressionInputError) throw new UsageError(err.message);
    throw err;
  }
}

/** `list | head`: the reader has gone; that ends the output, it is not a failure (Redis is closed by then). */
async function untilReaderCloses<T>(work: Promise<T>): Promise<T | undefined> {
  try {
    return await work;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EPIPE') return undefined;
    throw err;
  }
}

/** Writes with backpressure: a big list must not pile up in memory behind a slow pipe. */
async function write(out: Writable, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}

/**
 * `sokutatsu bounce classify FILE… [--json]`: run the DSN parser and the classifier on bounce
 * messages (.eml) and print one line per failed recipient. Needs no Redis. A file that cannot be
 * read is reported on stderr and the others are still classified (exit 1 at the end).
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { classifyBounce } from '../bounce/bounce.js';
import { compileRules } from '../bounce/config-rules.js';
import { loadConfig } from '../config/load.js';
import { UsageError } from './context.js';

type Opts = { json?: boolean; config?: string };

export function registerBounce(program: Command): void {
  const bounce = program.command('bounce').description('bounce messages: classify DSNs, ARF reports and auto-replies');
  bounce
    .command('classify <files...>')
    .description('classify bounce messages (.eml): one line per failed recipient (reason, hard/soft, status, diagnostic)')
    .option('--json', 'one JSON object per line: {"file","recipient","reason","hard","status","diagnostic",...}')
    .option('-c, --config <file>', 'config file (YAML); its bounce.rules are used before the built-in rules')
    .addHelpText('after', '\nReasons are Sisimai\'s names (userunknown, mailboxfull, blocked, expired, …; feedback, vacation and\ndelivered for reports that are not bounces). hard = the address itself is bad.\nExit: 0 all files read, 1 some file could not be read (others still printed), 2 usage error.')
    .action(async (files: string[], opts: Opts, command: Command) => {
      if (files.length === 0) throw new UsageError('bounce classify needs at least one FILE');
      const configFile = (command.optsWithGlobals() as { config?: string }).config;
      const extraRules = configFile || process.env.SOKUTATSU_CONFIG ? compileRules(loadConfig({ file: configFile }).bounce.rules) : [];
      for (const file of files) {
        let raw: Buffer;
        try {
          raw = await readFile(file);
        } catch (err) {
          process.stderr.write(`sokutatsu: ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}\n`);
          process.exitCode = 1;
          continue;
        }
        const { kind, results } = await classifyBounce(raw, { extraRules });
        for (const r of results) {
          if (opts.json) {
            process.stdout.write(JSON.stringify({ file, recipient: r.recipient, reason: r.reason, hard: r.hard, status: r.status, diagnostic: r.diagnostic, hardbounce: r.hard, replyCode: r.replyCode, action: r.action, final: r.final, permanent: r.permanent, group: r.group, label: r.label, kind }) + '\n');
          } else {
            process.stdout.write(`${file}\t${r.recipient ?? '-'}\t${r.reason}\t${r.hard ? 'hard' : 'soft'}\t${r.status ?? '-'}\t${r.final ? '' : '(not final) '}${r.diagnostic.slice(0, 160)}\n`);
          }
        }
        if (results.length === 0 && !opts.json) process.stdout.write(`${file}\t-\t(no bounce found: ${kind})\n`);
      }
    });
}

#!/usr/bin/env node
/**
 * The `sokutatsu` command. Every subcommand reads the same config (`--config FILE` before or
 * after the subcommand, or SOKUTATSU_CONFIG). Exit codes: 0 success, 1 failure (message on
 * stderr), 2 usage error.
 */
import { Command, CommanderError } from 'commander';
import { ConfigError } from './config/load.js';
import { RedisMissingError } from './redis/embedded.js';
import { DataDirBusyError } from './datadir.js';
import { registerStart } from './cli/start.js';
import { registerUser } from './cli/user.js';
import { registerToken } from './cli/token.js';
import { registerQueue } from './cli/queue.js';
import { registerConfig } from './cli/config.js';
import { registerSink } from './cli/sink.js';
import { registerDomain } from './cli/domain.js';
import { registerBounce } from './cli/bounce.js';
import { registerSuppress } from './cli/suppress.js';

const program = new Command('sokutatsu')
  .description('Sokutatsu: SMTP relay / MTA appliance — submission, durable queue, delivery with retries')
  .option('-c, --config <file>', 'config file (YAML); default: SOKUTATSU_CONFIG or built-in defaults')
  .showHelpAfterError()
  .exitOverride();

registerStart(program);
registerUser(program);
registerToken(program);
registerDomain(program);
registerBounce(program);
registerSuppress(program);
registerQueue(program);
registerConfig(program);
registerSink(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  const known = err instanceof ConfigError || err instanceof RedisMissingError || err instanceof DataDirBusyError || (err as Error).name === 'UsageError';
  process.stderr.write(`sokutatsu: ${(err as Error).message}\n`);
  if (!known && process.env.SOKUTATSU_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
  process.exit((err as Error).name === 'UsageError' ? 2 : 1);
}

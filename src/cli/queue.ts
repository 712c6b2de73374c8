/**
 * `sokutatsu queue stats`: how many recipient deliveries wait, run, or are scheduled.
 */
import type { Command } from 'commander';
import { createDeliveryQueue } from '../queue/delivery-queue.js';
import { printJson, withRedis } from './context.js';

export function registerQueue(program: Command): void {
  const queue = program.command('queue').description('inspect the delivery queue');
  queue
    .command('stats')
    .description('recipient deliveries by state: waiting (due now), active, delayed (retry or scheduled), failed')
    .option('--json', 'print JSON')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (opts: { json?: boolean }, command: Command) => {
      const counts = await withRedis(command, async ({ redis, keys }) => {
        const q = createDeliveryQueue(redis, keys);
        try {
          return await q.getJobCounts('waiting', 'active', 'delayed', 'failed');
        } finally {
          await q.close();
        }
      });
      if (opts.json) return printJson(counts);
      for (const [state, n] of Object.entries(counts)) process.stdout.write(`${state.padEnd(8)} ${n}\n`);
    });
}

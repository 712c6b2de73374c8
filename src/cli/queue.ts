/**
 * `sokutatsu queue stats|sites|pause|resume|retry-now|purge`: the delivery queue and its
 * destination sites — counts by state, each site's connections, limits and backoff, the
 * operator's levers on a site, and cancelling the waiting mail of a domain, tag or site.
 */
import type { Command } from 'commander';
import { createDeliveryQueue, promoteSite } from '../queue/delivery-queue.js';
import { SiteThrottle, type SiteState } from '../delivery/throttle.js';
import { withLimits, type SiteLimits } from '../delivery/sites.js';
import { printJson, UsageError, withRedis, type RedisContext } from './context.js';
import { createMessageStore } from '../store/messages.js';
import { EventLog } from '../events/event-log.js';
import { purgeQueue, type PurgeSelector } from '../queue/purge.js';
import { isDomainName } from '../mime/address.js';

type Opts = { json?: boolean; minutes?: string; reason?: string };
type PurgeOpts = { domain?: string; tag?: string; site?: string; reason?: string; json?: boolean };

export function registerQueue(program: Command): void {
  const queue = program.command('queue').description('inspect the delivery queue and its destination sites');
  queue
    .command('stats')
    .description('recipient deliveries by state: waiting (due now), active, delayed (retry, scheduled or waiting for a site), failed')
    .option('--json', 'print JSON')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (opts: Opts, command: Command) => {
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

  queue
    .command('sites')
    .description('destination sites delivered to recently: connections open (all nodes), limits, backoff and pauses with their reason')
    .option('--json', 'print JSON')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (opts: Opts, command: Command) => {
      const sites = await withRedis(command, async (ctx) => withLimits(await throttleOf(ctx).states(), ctx.config.delivery));
      if (opts.json) return printJson(sites);
      if (sites.length === 0) return void process.stdout.write('no sites yet (a site appears with its first delivery)\n');
      for (const s of sites) process.stdout.write(`${describe(s, s.limits)}\n`);
    });

  queue
    .command('pause <site>')
    .description('stop delivering to a site (e.g. google.com, as `queue sites` names it) until resumed or for --minutes')
    .option('-m, --minutes <n>', 'resume by itself after this many minutes')
    .option('-r, --reason <text>', 'why (shown by `queue sites`)', 'paused by operator')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (site: string, opts: Opts, command: Command) => {
      const minutes = opts.minutes === undefined ? 365 * 24 * 60 : Number(opts.minutes);
      if (!Number.isFinite(minutes) || minutes <= 0) throw new UsageError(`--minutes must be a positive number (got ${opts.minutes})`);
      const until = Date.now() + minutes * 60_000;
      await withRedis(command, (ctx) => throttleOf(ctx).pause(site.toLowerCase(), until, opts.reason ?? 'paused by operator'));
      process.stdout.write(`${site} paused${opts.minutes === undefined ? ' until resumed' : ` until ${new Date(until).toISOString()}`}; its mail waits in the queue (sokutatsu queue resume ${site})\n`);
    });

  queue
    .command('resume <site>')
    .description('end a pause or backoff of a site (its configured limits apply again) and bring its waiting mail forward')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (site: string, _opts: Opts, command: Command) => {
      const { had, promoted } = await withRedis(command, async (ctx) => ({ had: await throttleOf(ctx).resume(site.toLowerCase()), promoted: await promote(ctx, site.toLowerCase()) }));
      process.stdout.write(`${site}: ${had ? 'resumed' : 'was not paused or backing off'}; ${promoted} waiting deliveries brought forward\n`);
    });

  queue
    .command('retry-now <site>')
    .description('attempt the deliveries waiting for a site\'s retry schedule now (scheduled Send-At mail stays scheduled)')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (site: string, _opts: Opts, command: Command) => {
      const promoted = await withRedis(command, (ctx) => promote(ctx, site.toLowerCase()));
      process.stdout.write(`${promoted} deliveries to ${site} brought forward\n`);
    });

  queue
    .command('purge')
    .description('cancel every recipient still waiting for delivery to a recipient domain, of a tag, or waiting for a site (selectors combine); each gets a "cancelled" event with the reason')
    .option('--domain <domain>', 'recipient domain, exactly (subdomains are other domains)')
    .option('--tag <tag>', 'message tag (X-Sokutatsu-Tag)')
    .option('--site <site>', 'destination site, as `queue sites` names it (jobs waiting for its pause or a retry)')
    .requiredOption('-r, --reason <text>', 'why: recorded in each cancelled recipient\'s timeline')
    .option('--json', 'print {"cancelled","matched","scanned"} as JSON')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (opts: PurgeOpts, command: Command) => {
      if (!opts.domain && !opts.tag && !opts.site) throw new UsageError('give --domain, --tag or --site (the queue is never purged whole by accident)');
      if (opts.domain && !isDomainName(opts.domain) && opts.domain.toLowerCase() !== 'localhost') throw new UsageError(`--domain: not a domain name: ${opts.domain}`);
      const reason = opts.reason?.trim() ?? '';
      if (!reason) throw new UsageError('--reason must not be empty');
      const selector: PurgeSelector = { ...(opts.domain ? { domain: opts.domain } : {}), ...(opts.tag ? { tag: opts.tag } : {}), ...(opts.site ? { site: opts.site } : {}) };
      const total = await withRedis(command, async ({ redis, keys, config }) => {
        const q = createDeliveryQueue(redis, keys);
        const store = createMessageStore(redis, q, keys, config.store, new EventLog(redis, keys, config.events));
        const sum = { cancelled: 0, matched: 0, scanned: 0 };
        try {
          // Page by page, as the API does: progress on stderr, and an interrupted run can simply be run again.
          let cursor: string | undefined;
          do {
            const page = await purgeQueue(store, q, selector, reason, { limit: 1000, ...(cursor ? { cursor } : {}) });
            sum.cancelled += page.cancelled;
            sum.matched += page.matched;
            sum.scanned += page.scanned;
            cursor = page.next ?? undefined;
            if (cursor && !opts.json) process.stderr.write(`… ${sum.scanned} jobs looked at, ${sum.cancelled} recipients cancelled\n`);
          } while (cursor);
          return sum;
        } finally {
          await q.close();
        }
      });
      if (opts.json) return printJson(total);
      process.stdout.write(`${total.cancelled} recipients cancelled (${total.matched} jobs matched of ${total.scanned} looked at); reason: ${reason}\n`);
    });
}

function throttleOf({ redis, keys, config }: RedisContext): SiteThrottle {
  return new SiteThrottle(redis, keys, config.delivery.backoff);
}

async function promote({ redis, keys }: RedisContext, site: string): Promise<number> {
  const q = createDeliveryQueue(redis, keys);
  try {
    return await promoteSite(q, site);
  } finally {
    await q.close();
  }
}

function describe(s: SiteState, limits: SiteLimits): string {
  const parts = [
    s.site.padEnd(24),
    `connections ${s.connections}/${s.ceiling !== null ? `${s.ceiling} (backoff; configured ${limits.connections})` : limits.connections}`,
    `rate ${limits.perMinute ? `${limits.perMinute}/min` : 'unlimited'}`,
  ];
  if (s.pausedUntil) parts.push(`PAUSED until ${s.pausedUntil}: ${s.reason ?? ''}`);
  else if (s.lastTrouble) parts.push(`last pushback: ${s.lastTrouble}`);
  parts.push(`last used ${s.lastUsed}`);
  return parts.join('  ');
}

/**
 * `sokutatsu start`: run the appliance until SIGTERM/SIGINT (graceful stop, exit 0);
 * SIGHUP reloads the TLS certificate files. With `processes` > 1 this process becomes the
 * cluster primary and the same command runs again in each worker (node:cluster).
 */
import cluster from 'node:cluster';
import type { Command } from 'commander';
import { createLogger, startApp } from '../app.js';
import { processCount, runWorker, startPrimary } from '../cluster.js';
import type { Config } from '../config/schema.js';
import { configFor } from './context.js';

interface Running {
  stop(): Promise<void>;
  reloadTls(): void | Promise<void>;
}

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run Sokutatsu: SMTP listeners, delivery worker, HTTP API (stop with SIGTERM or Ctrl-C)')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (_opts, command: Command) => {
      const config = configFor(command);
      const log = createLogger(config);
      if (cluster.isWorker) {
        const app = await runWorker(config, log);
        // Ctrl-C reaches the whole process group: the primary turns it into an orderly SIGTERM.
        process.on('SIGINT', () => undefined);
        return handleSignals(app, config, log, false);
      }
      if (processCount(config) > 1) {
        const primary = await startPrimary(config, log);
        log.info({ processes: processCount(config), http: primary.httpPort, hostname: config.hostname }, 'sokutatsu started');
        return handleSignals(primary, config, log, true);
      }
      const app = await startApp({ config, log });
      log.info({ ports: app.ports, hostname: config.hostname }, 'sokutatsu started');
      handleSignals(app, config, log, true);
    });
}

function handleSignals(running: Running, config: Config, log: ReturnType<typeof createLogger>, onInterrupt: boolean): void {
  const stop = (signal: string) => {
    log.info({ signal }, 'signal received');
    const force = setTimeout(() => process.exit(1), (config.shutdown.graceSeconds + 20) * 1000);
    force.unref();
    running.stop().then(() => process.exit(0), (err: Error) => {
      log.error({ err: err.message }, 'error during shutdown');
      process.exit(1);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  if (onInterrupt) process.once('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    Promise.resolve(running.reloadTls()).catch((err: Error) => log.error({ err: err.message }, 'TLS reload failed; keeping the current certificate'));
  });
}

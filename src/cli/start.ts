/**
 * `sokutatsu start`: run the appliance until SIGTERM/SIGINT (graceful stop, exit 0);
 * SIGHUP reloads the TLS certificate files.
 */
import type { Command } from 'commander';
import { startApp } from '../app.js';
import { configFor } from './context.js';

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run Sokutatsu: SMTP listeners, delivery worker, HTTP API (stop with SIGTERM or Ctrl-C)')
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (_opts, command: Command) => {
      const config = configFor(command);
      const app = await startApp({ config });
      const stop = (signal: string) => {
        app.log.info({ signal }, 'signal received');
        const force = setTimeout(() => process.exit(1), (config.shutdown.graceSeconds + 15) * 1000);
        force.unref();
        app.stop().then(() => process.exit(0), (err: Error) => {
          app.log.error({ err: err.message }, 'error during shutdown');
          process.exit(1);
        });
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
      process.on('SIGHUP', () => {
        app.reloadTls().catch((err: Error) => app.log.error({ err: err.message }, 'TLS reload failed; keeping the current certificate'));
      });
      app.log.info({ ports: app.ports, hostname: config.hostname }, 'sokutatsu started');
    });
}

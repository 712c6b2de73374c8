/**
 * `sokutatsu sink`: a local SMTP server that accepts everything and prints what arrives — the
 * destination of config/default.yaml's route, so a newcomer sees a message delivered without
 * sending anything to the internet. Not for production.
 */
import type { Command } from 'commander';
import { SMTPServer } from 'smtp-server';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function registerSink(program: Command): void {
  program
    .command('sink')
    .description('run a local test SMTP sink that accepts all mail and prints each message (development only)')
    .option('-p, --port <port>', 'port to listen on', '2526')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--save <dir>', 'also save each message as an .eml file in this directory')
    .action(async (opts: { port: string; host: string; save?: string }) => {
      if (opts.save) mkdirSync(opts.save, { recursive: true });
      let count = 0;
      const server = new SMTPServer({
        authOptional: true,
        disabledCommands: ['STARTTLS'],
        logger: false,
        onData(stream, session, callback) {
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            const body = Buffer.concat(chunks);
            count++;
            const to = session.envelope.rcptTo.map((r) => r.address).join(', ');
            process.stdout.write(`--- message ${count}: from <${session.envelope.mailFrom ? session.envelope.mailFrom.address : ''}> to ${to} (${body.length} bytes)\n`);
            process.stdout.write(body.toString('utf8').slice(0, 4000) + (body.length > 4000 ? '\n[…]\n' : '\n'));
            if (opts.save) writeFileSync(join(opts.save, `${Date.now()}-${count}.eml`), body);
            callback(null, `sink accepted message ${count}`);
          });
        },
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) =>
          reject(new Error(err.code === 'EADDRINUSE' ? `port ${opts.port} is in use (another sink or MTA?); pick another with --port` : err.message)));
        server.listen(Number(opts.port), opts.host, () => resolve());
      });
      process.stdout.write(`sink listening on ${opts.host}:${opts.port}; Ctrl-C to stop\n`);
      const stop = () => server.close(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}

/**
 * Intake: the enabled SMTP listeners, started and stopped together.
 *
 * Promises: `drain` answers new sessions with 421, lets transactions in flight finish (up to
 * the grace period), then closes what is left with 421 and stops listening.
 */
import type { SMTPServer } from 'smtp-server';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { createListener, type ListenerDeps, type ListenerRole } from './listener.js';
import { connectionCount, idleConnections } from './connections.js';
import type { TlsMaterial } from './tls.js';

export interface Intake {
  /** actual ports, by role (a configured port 0 gets a free one: tests use that) */
  ports: Partial<Record<ListenerRole, number>>;
  reloadTls(tls: TlsMaterial): void;
  drain(): Promise<void>;
}

const ROLES: ListenerRole[] = ['submission', 'submissions', 'inbound'];

export async function startIntake(deps: Omit<ListenerDeps, 'connectionsPerIp' | 'isDraining'>): Promise<Intake> {
  const { config, log } = deps;
  let draining = false;
  const shared: ListenerDeps = { ...deps, connectionsPerIp: new Map(), isDraining: () => draining };
  const servers = new Map<ListenerRole, SMTPServer>();
  const ports: Intake['ports'] = {};

  for (const role of ROLES) {
    const listen = config.smtp[role];
    if (!listen.enabled) continue;
    const server = createListener(role, shared);
    ports[role] = await listenOn(server, config.smtp.host, listen.port, role);
    servers.set(role, server);
    log.info({ listener: role, host: config.smtp.host, port: ports[role] }, `smtp ${role} listening`);
  }

  return {
    ports,
    reloadTls(tls) {
      for (const server of servers.values()) server.updateSecureContext({ key: tls.key, cert: tls.cert });
      log.info('smtp TLS certificate reloaded');
    },
    async drain() {
      draining = true;
      const deadline = Date.now() + config.shutdown.graceSeconds * 1000;
      for (;;) {
        let busy = 0;
        for (const server of servers.values()) {
          for (const c of idleConnections(server)) {
            c.send(421, `4.3.2 ${config.hostname} is shutting down; try again shortly`);
            c.close();
          }
          busy += connectionCount(server) - idleConnections(server).length;
        }
        if (busy === 0 || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      await Promise.all([...servers.values()].map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}

function listenOn(server: SMTPServer, host: string, port: number, role: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const hint = err.code === 'EADDRINUSE' ? 'another program uses it' : err.code === 'EACCES' ? 'ports below 1024 need root or CAP_NET_BIND_SERVICE' : err.message;
      reject(new Error(`smtp.${role}.port: cannot listen on ${host}:${port}: ${hint}`));
    };
    server.server.once('error', onError);
    server.listen(port, host, () => {
      server.server.off('error', onError);
      const address = server.server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

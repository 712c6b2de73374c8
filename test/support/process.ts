/**
 * Sokutatsu as a REAL child process (`node --import tsx src/cli.ts start --config FILE`), for
 * tests that crash it (SIGKILL), stop it (SIGTERM) and start it again on the same data.
 *
 * The child is one node process (tsx is only a loader hook), so its pid is the process that holds
 * the listeners: a signal sent to it hits the app itself. The config is a generated YAML file with
 * the embedded Redis (redis.url ""), so the AOF path is the one under test; dataDir is a short
 * path under /tmp (the redis unix socket path must stay under ~100 bytes).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const PROCESS_ADMIN_TOKEN = 'durability-admin-token';

export interface Instance {
  /** temp directory holding the config file and dataDir */
  dir: string;
  configFile: string;
  dataDir: string;
  ports: { submission: number; submissions: number; inbound: number; http: number };
  /** where delivery goes (127.0.0.1:sinkPort, no TLS); chosen free, nothing listens there until a test starts a sink */
  sinkPort: number;
}

export interface Running {
  pid: number;
  child: ChildProcess;
  /** resolves when the process has exited (code, or the signal that ended it) */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** everything it wrote on stdout and stderr so far */
  output(): string;
}

export interface InstanceOptions {
  /** default: a free port distinct from the instance's own */
  sinkPort?: number;
  graceSeconds?: number;
  /** merged over delivery: (e.g. concurrency) */
  delivery?: Record<string, unknown>;
  /** worker processes (node:cluster); default 1 */
  processes?: number;
  /** the `webhooks` section (e.g. allowPrivateTargets for a receiver on loopback) */
  webhooks?: Record<string, unknown>;
}

const instances = new Set<Instance>();
const running = new Set<Running>();

/** Writes a config for a fresh instance: every port free now, embedded Redis under a short dataDir. */
export async function createInstance(options: InstanceOptions): Promise<Instance> {
  const dir = mkdtempSync('/tmp/skt-');
  const dataDir = join(dir, 'data');
  const [submission, submissions, inbound, http, sinkPort] = await freePorts(5);
  const ports = { submission: submission!, submissions: submissions!, inbound: inbound!, http: http! };
  options = { ...options, sinkPort: options.sinkPort ?? sinkPort! };
  const config = {
    hostname: 'mta.durability.test',
    processes: options.processes ?? 1,
    dataDir,
    log: { level: process.env.TEST_LOG ? 'info' : 'warn' },
    redis: { url: '' },
    smtp: {
      host: '127.0.0.1',
      submission: { port: ports.submission },
      submissions: { port: ports.submissions },
      inbound: { port: ports.inbound },
      trustedNetworks: ['127.0.0.1/32'],
    },
    http: { host: '127.0.0.1', port: ports.http },
    policy: { requireVerifiedDomains: false },
    admin: { token: PROCESS_ADMIN_TOKEN },
    delivery: {
      routes: [{ match: '*', host: '127.0.0.1', port: options.sinkPort, tls: 'none' }],
      retry: { firstDelaySeconds: 1, maxDelaySeconds: 2, maxAgeSeconds: 3600 },
      // The sink is absent on purpose while these tests crash things: refused connections must
      // not pause the site for minutes (site backoff has tests of its own).
      backoff: { threshold: 1_000_000 },
      ...options.delivery,
    },
    shutdown: { graceSeconds: options.graceSeconds ?? 10 },
    ...(options.webhooks ? { webhooks: options.webhooks } : {}),
  };
  const configFile = join(dir, 'sokutatsu.yaml');
  writeFileSync(configFile, stringify(config));
  const instance = { dir, configFile, dataDir, ports, sinkPort: options.sinkPort! };
  instances.add(instance);
  return instance;
}

/**
 * `count` distinct free ports. They are all held open until every one is chosen: the kernel
 * readily hands out a port again as soon as it is closed, so picking them one at a time (bind 0,
 * close, repeat) can return the same port twice.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      });
      servers.push(server);
    }
    return servers.map((s) => (s.address() as AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

/** Starts `sokutatsu start` on the instance's config and waits until /healthz answers. */
export async function startProcess(instance: Instance, timeoutMs = 30_000): Promise<Running> {
  const env = { ...process.env };
  // The config file under test decides; an operator's environment must not redirect Redis.
  for (const k of Object.keys(env)) if (k.startsWith('SOKUTATSU_')) delete env[k];
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start', '--config', instance.configFile], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const proc: Running = { pid: child.pid!, child, exited, output: () => out };
  running.add(proc);
  void exited.then(() => running.delete(proc));

  let gone: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void exited.then((e) => (gone = e));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (gone) throw new Error(`sokutatsu exited during start-up (${gone.code ?? gone.signal}):\n${out}`);
    try {
      const res = await fetch(`http://127.0.0.1:${instance.ports.http}/healthz`);
      if (res.ok) return proc;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`sokutatsu did not answer /healthz within ${timeoutMs} ms:\n${out}`);
    await sleep(50);
  }
}

/** pid of the embedded redis-server, from its pidfile, if that process is a live redis-server. */
export function redisPid(instance: Instance): number | undefined {
  const pidFile = join(instance.dataDir, 'redis', 'redis.pid');
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 && isRedisServer(pid) ? pid : undefined;
}

/** True while `pid` is a running (not zombie) redis-server: guards against killing a reused pid. */
export function isRedisServer(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ...": a zombie (Z) or dead (X) process has already let go of everything.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('redis-server');
  } catch {
    return false;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // kill(0) succeeds on zombies; /proc tells them apart.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** SIGKILLs a pid and waits until it is really gone (not even a zombie holding its sockets). */
export async function killHard(pid: number, timeoutMs = 5_000): Promise<void> {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) throw new Error(`pid ${pid} still alive ${timeoutMs} ms after SIGKILL`);
    await sleep(10);
  }
}

/**
 * Kills every process these helpers started (app children and the embedded redis-servers of
 * every instance, found by pidfile) and removes the temp directories. For afterEach/afterAll.
 */
export async function cleanupProcesses(): Promise<void> {
  for (const proc of [...running]) {
    if (proc.child.exitCode === null && proc.child.signalCode === null) {
      proc.child.kill('SIGKILL');
      await proc.exited;
    }
  }
  for (const instance of [...instances]) {
    const pid = redisPid(instance);
    if (pid) await killHard(pid).catch(() => undefined);
    rmSync(instance.dir, { recursive: true, force: true });
    instances.delete(instance);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

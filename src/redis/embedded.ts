/**
 * The embedded Redis: a redis-server child process with its data under `dataDir/redis`.
 *
 * Receives: the data directory.
 * Promises: a running redis-server that persists every write before replying (appendonly yes,
 * appendfsync always), reachable on a Unix socket; an instance left behind by a killed Sokutatsu
 * is adopted rather than started twice; `stop()` shuts it down cleanly (AOF flushed).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isAlive } from '../pid.js';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';

export class RedisMissingError extends Error {
  override name = 'RedisMissingError';
}

export interface EmbeddedRedis {
  /** where clients connect: a unix socket path */
  readonly socketPath: string;
  /** pid of the redis-server process */
  readonly pid: number;
  /** true when it was already running (left by a killed Sokutatsu, or owned by a running one) */
  readonly adopted: boolean;
  stop(): Promise<void>;
}

/** Unix socket paths are limited to ~107 bytes by the kernel. */
const MAX_SOCKET_PATH = 100;

export async function startEmbeddedRedis(dataDir: string, log: Logger): Promise<EmbeddedRedis> {
  const dir = join(dataDir, 'redis');
  mkdirSync(dir, { recursive: true });
  const socketPath = join(dir, 'redis.sock');
  if (socketPath.length > MAX_SOCKET_PATH) {
    throw new Error(`dataDir is too deep for a Unix socket (${socketPath.length} bytes): choose a shorter dataDir`);
  }
  const pidFile = join(dir, 'redis.pid');
  const launch = async (): Promise<ChildProcess> => {
    assertRedisInstalled();
    const child = spawnRedis(dir, socketPath, pidFile, log);
    await waitUntilReady(socketPath, child);
    return child;
  };

  const adopted = await adoptRunning(socketPath, pidFile);
  if (adopted) {
    log.info({ redisPid: adopted, socketPath }, 'embedded redis-server already running (left by a previous run): using it');
    return supervise(socketPath, { pid: adopted }, true, launch, log);
  }
  const child = await launch();
  log.info({ redisPid: child.pid, socketPath }, 'embedded redis-server started (appendonly yes, appendfsync always)');
  return supervise(socketPath, { pid: child.pid!, child }, false, launch, log);
}

function spawnRedis(dir: string, socketPath: string, pidFile: string, log: Logger): ChildProcess {
  const child = spawn(
    'redis-server',
    [
      '--port', '0',
      '--unixsocket', socketPath,
      '--unixsocketperm', '700',
      '--dir', dir,
      '--pidfile', pidFile,
      '--appendonly', 'yes',
      '--appendfsync', 'always',
      '--save', '',
      '--daemonize', 'no',
      '--loglevel', 'warning',
    ],
    // Own process group: a Ctrl-C in the terminal reaches Sokutatsu, which then shuts Redis down
    // cleanly after the last delivery, instead of Redis dying first.
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
  );
  child.stderr?.on('data', (chunk: Buffer) => log.warn({ redis: chunk.toString().trim() }, 'redis-server'));
  return child;
}

interface Running {
  pid: number;
  child?: ChildProcess;
}

/**
 * Keeps the embedded Redis up: if it dies while Sokutatsu runs (OOM killer, a stray kill), a new
 * one is started on the same AOF; clients reconnect by themselves, and intake answers 451 until
 * then. Our own child is watched by its exit event, an adopted one by polling its pid.
 */
function supervise(socketPath: string, first: Running, adopted: boolean, launch: () => Promise<ChildProcess>, log: Logger): EmbeddedRedis {
  let current = first;
  let stopping = false;
  let poll: NodeJS.Timeout | undefined;

  const restart = async (why: string): Promise<void> => {
    if (stopping) return;
    log.error({ redisPid: current.pid, why }, 'embedded redis-server is gone: starting it again from its AOF');
    for (let attempt = 1; !stopping; attempt++) {
      try {
        const child = await launch();
        current = { pid: child.pid!, child };
        watch();
        log.info({ redisPid: child.pid }, 'embedded redis-server restarted');
        return;
      } catch (err) {
        log.error({ attempt, err: (err as Error).message }, 'embedded redis-server failed to restart; trying again');
        await new Promise((r) => setTimeout(r, Math.min(attempt * 500, 5000)));
      }
    }
  };
  const watch = (): void => {
    if (current.child) {
      current.child.once('exit', (code, signal) => void restart(`exited with ${signal ?? `code ${code}`}`));
      return;
    }
    const pid = current.pid;
    poll = setInterval(() => {
      if (isAlive(pid)) return;
      clearInterval(poll);
      void restart('process no longer exists');
    }, 1000);
    poll.unref();
  };
  watch();

  return {
    socketPath,
    get pid() {
      return current.pid;
    },
    adopted,
    async stop() {
      stopping = true;
      clearInterval(poll);
      await shutdown(socketPath, current.pid, current.child);
    },
  };
}

function assertRedisInstalled(): void {
  const probe = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  if (probe.error) {
    throw new RedisMissingError(
      'redis-server was not found on PATH. Install it (Debian/Ubuntu: sudo apt-get install redis-server; ' +
        'macOS: brew install redis) or set redis.url / SOKUTATSU_REDIS_URL to an existing Redis.',
    );
  }
}

async function adoptRunning(socketPath: string, pidFile: string): Promise<number | undefined> {
  if (!existsSync(socketPath) || !existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || !isAlive(pid)) return undefined;
  return (await ping(socketPath)) ? pid : undefined;
}


async function ping(socketPath: string): Promise<boolean> {
  const client = new Redis({ path: socketPath, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

async function waitUntilReady(socketPath: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  let exited: number | null = null;
  child.once('exit', (code) => (exited = code ?? -1));
  while (Date.now() < deadline) {
    if (exited !== null) throw new Error(`redis-server exited with code ${exited} during start-up (see its messages above)`);
    if (existsSync(socketPath) && (await ping(socketPath))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error('redis-server did not become ready within 30 s');
}

async function shutdown(socketPath: string, pid: number, child: ChildProcess | undefined): Promise<void> {
  const client = new Redis({ path: socketPath, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    // SHUTDOWN flushes the AOF and exits; the connection closes under us, which is expected.
    await client.call('SHUTDOWN').catch(() => undefined);
  } catch {
    if (isAlive(pid)) process.kill(pid, 'SIGTERM');
  } finally {
    client.disconnect();
  }
  await waitForExit(pid, child);
}

async function waitForExit(pid: number, child: ChildProcess | undefined): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child ? child.exitCode !== null || child.signalCode !== null : !isAlive(pid)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  process.kill(pid, 'SIGKILL');
}

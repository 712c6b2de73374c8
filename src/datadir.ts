/**
 * Ownership of `dataDir` by one running Sokutatsu.
 *
 * Promises: a second `sokutatsu start` on the same dataDir is refused with a clear message
 * (instead of adopting, and later stopping, the first one's embedded Redis); a pidfile left by
 * a killed process is taken over. CLI commands ask who owns it before stopping a Redis.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isAlive } from './pid.js';

export class DataDirBusyError extends Error {
  override name = 'DataDirBusyError';
}

const PIDFILE = 'sokutatsu.pid';
/** dataDirs claimed by this process (a pidfile with our own pid may be stale: pid 1 in containers) */
const claimedHere = new Set<string>();

/** pid of the live Sokutatsu that owns dataDir, or null. */
export function dataDirOwner(dataDir: string): number | null {
  let pid: number;
  try {
    pid = Number(readFileSync(join(dataDir, PIDFILE), 'utf8').trim());
  } catch {
    return null;
  }
  return Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid) ? pid : null;
}

export function claimDataDir(dataDir: string): { release(): void } {
  const owner = claimedHere.has(dataDir) ? process.pid : dataDirOwner(dataDir);
  if (owner) {
    throw new DataDirBusyError(`another Sokutatsu (pid ${owner}) is running with dataDir ${dataDir}; stop it first, or give this one its own dataDir`);
  }
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, PIDFILE);
  writeFileSync(file, `${process.pid}\n`);
  claimedHere.add(dataDir);
  return {
    release() {
      claimedHere.delete(dataDir);
      try {
        if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file);
      } catch {
        // already gone
      }
    },
  };
}


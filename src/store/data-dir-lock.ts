// One serving gateway per data directory. `serve` (or, with worker processes, their supervisor) holds
// DATA/gomodgate.pid while it runs. A second `serve` on the same directory (a manual start while the service
// runs, two units with one --data-dir) removed the first one's downloads in progress as "left by an earlier
// run", before it even failed to bind the ports: it is now refused, naming the first one's PID. A file whose
// process is gone (a crash, a SIGKILL) is taken over; so is one whose PID now belongs to a process that is not
// gomodgate. Workers run under their supervisor's lock; `gomodgate cache` and `audit` take none (they are made
// to run beside a serving gateway). Within one process (tests start several gateways) the lock is counted.
import { linkSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GateError } from '../errors.js';

export const LOCK_FILE = 'gomodgate.pid';

/** Locks held by this process, per lock file, with how many gateways hold each. */
const held = new Map<string, number>();

export interface DataDirLock {
  release(): void;
}

/**
 * Takes the lock of a data directory the caller has made ready (ensureDataDirectory); throws
 * GateError(CONFIG_INVALID) when another gomodgate serves it.
 */
export function lockDataDirectory(dataDir: string): DataDirLock {
  const file = join(dataDir, LOCK_FILE);
  const count = held.get(file);
  if (count !== undefined) {
    held.set(file, count + 1);
    return once(file);
  }
  // Bounded: a stale file is removed once, then the exclusive create either wins or names the live holder.
  for (let attempt = 0; attempt < 2; attempt++) {
    if (createExclusive(file)) {
      held.set(file, 1);
      return once(file);
    }
    const holder = holderOf(file);
    if (holder !== null && isGomodgate(holder)) {
      throw new GateError('CONFIG_INVALID', `the data directory ${dataDir} is in use by another gomodgate (pid ${holder}, ${file}); stop it first, or give this one another --data-dir`);
    }
    rmSync(file, { force: true }); // left by a process that is gone
  }
  throw new GateError('CONFIG_INVALID', `cannot lock the data directory ${dataDir} (${file} keeps coming back); is another gomodgate starting?`);
}

/**
 * The PID of the live process that holds the data directory's lock (the serving gateway, or its supervisor),
 * or null when no live process does: no gomodgate serves it (`gomodgate doctor` asks).
 */
export function servingPid(dataDir: string): number | null {
  const pid = holderOf(join(dataDir, LOCK_FILE));
  return pid !== null && isAlive(pid) ? pid : null;
}

/**
 * When the serving gateway (or its supervisor) took the data directory (ms since epoch; the lock file's last
 * write), or null when nobody holds it. Nothing of that gateway's was written before then.
 */
export function lockTakenAt(dataDir: string): number | null {
  try {
    return statSync(join(dataDir, LOCK_FILE)).mtimeMs;
  } catch {
    return null;
  }
}

/** Writes our PID to a temporary file and links it into place: the link fails when the lock file exists. */
function createExclusive(file: string): boolean {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${process.pid}\n`, { mode: 0o644 });
  try {
    linkSync(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new GateError('STORE_IO', `cannot write the data directory's lock ${file}: ${(err as Error).message}`, { cause: err });
  } finally {
    rmSync(tmp, { force: true });
  }
}

function holderOf(file: string): number | null {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** Whether a process `pid` runs (EPERM: it does, as another user's; ESRCH: it is gone). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether `pid` is a live gomodgate process (where /proc cannot tell, any live process counts). */
function isGomodgate(pid: number): boolean {
  if (!isAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('gomodgate');
  } catch {
    return true;
  }
}

function once(file: string): DataDirLock {
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      const n = (held.get(file) ?? 1) - 1;
      if (n > 0) {
        held.set(file, n);
        return;
      }
      held.delete(file);
      try {
        if (holderOf(file) === process.pid) unlinkSync(file);
      } catch {
        // already gone: nothing to release
      }
    },
  };
}

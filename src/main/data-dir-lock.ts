import { closeSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** The lock file inside a data directory; it holds the holder's PID. */
export const LOCK_FILE = 'bridgehead.lock';

/** Another live process holds the data directory. */
export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holderPid: number,
  ) {
    super(`dataDir ${dataDir} is in use by process ${holderPid}; stop that server first, or choose another directory with --data-dir`);
    this.name = 'DataDirLockedError';
  }
}

export interface DataDirLock {
  readonly file: string;
  /** Removes the lock file if it is still ours; idempotent. */
  release(): void;
}

/** Lock files this process holds: a PID file naming us is stale (a previous run, PID 1 in a container) unless listed here. */
const heldHere = new Set<string>();

/** A takeover marker older than this was left by a process that died mid-takeover. */
const TAKEOVER_STALE_MS = 10_000;

function alive(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists under another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Creates `file` only if absent, with our PID; false if it exists. */
function createExclusive(file: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    writeSync(fd, `${process.pid}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Takes a stale lock over. A marker file created with O_EXCL makes the takeover one process's:
 * two servers finding the same dead PID must not both delete-and-create (the second would delete
 * the first one's fresh lock). The lock file is replaced by rename, so readers never see it absent.
 */
function takeOver(file: string, stalePid: number | undefined): boolean {
  const marker = `${file}.takeover`;
  if (!createExclusive(marker)) {
    try {
      if (Date.now() - statSync(marker).mtimeMs > TAKEOVER_STALE_MS) rmSync(marker, { force: true });
    } catch {
      // gone meanwhile: the other takeover finished
    }
    return false;
  }
  try {
    if (readPid(file) !== stalePid) return false;
    const fresh = `${file}.${process.pid}`;
    writeFileSync(fresh, `${process.pid}\n`, { mode: 0o644 });
    renameSync(fresh, file);
    return true;
  } finally {
    rmSync(marker, { force: true });
  }
}

/**
 * An exclusive lock on a data directory: one server (or offline import) per directory. The lock is
 * a PID file created with O_EXCL; a lock whose process is gone (killed, crashed, or a reused PID of
 * our own, as PID 1 in a container) is taken over. Throws DataDirLockedError naming a live holder.
 */
export function acquireDataDirLock(dataDir: string): DataDirLock {
  const file = join(dataDir, LOCK_FILE);
  if (heldHere.has(file)) throw new DataDirLockedError(dataDir, process.pid);
  for (let attempt = 0; attempt < 20; attempt++) {
    if (createExclusive(file)) return held(file);
    const pid = readPid(file);
    if (pid !== undefined && alive(pid)) throw new DataDirLockedError(dataDir, pid);
    if (takeOver(file, pid)) return held(file);
    // Another process is mid-takeover: give it a moment to finish.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  }
  const pid = readPid(file);
  throw new DataDirLockedError(dataDir, pid ?? 0);
}

function held(file: string): DataDirLock {
  heldHere.add(file);
  let released = false;
  return {
    file,
    release() {
      if (released) return;
      released = true;
      heldHere.delete(file);
      try {
        if (readPid(file) === process.pid) rmSync(file, { force: true });
      } catch {
        // the directory went away; nothing left to release
      }
    },
  };
}

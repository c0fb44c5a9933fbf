import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { acquireDataDirLock, DataDirLockedError, LOCK_FILE } from '../../src/main/data-dir-lock.js';

const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'bridgehead-lock-'));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A live process that is not us, and its PID. */
function sleeper(): Promise<{ pid: number; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  return new Promise((resolve) =>
    child.once('spawn', () =>
      resolve({
        pid: child.pid!,
        stop: () =>
          new Promise((r) => {
            child.once('exit', () => r());
            child.kill('SIGKILL');
          }),
      }),
    ),
  );
}

describe('acquireDataDirLock', () => {
  test('writes our PID, refuses a second holder in this process, and release removes the file', () => {
    const dir = tempDir();
    const lock = acquireDataDirLock(dir);
    assert.equal(readFileSync(join(dir, LOCK_FILE), 'utf8').trim(), String(process.pid));
    assert.throws(() => acquireDataDirLock(dir), (e: unknown) => e instanceof DataDirLockedError && e.holderPid === process.pid);
    lock.release();
    lock.release();
    assert.equal(existsSync(join(dir, LOCK_FILE)), false);
    acquireDataDirLock(dir).release();
  });

  test('a live holder is named; once it is dead its lock is taken over', async () => {
    const dir = tempDir();
    const other = await sleeper();
    writeFileSync(join(dir, LOCK_FILE), `${other.pid}\n`);
    assert.throws(() => acquireDataDirLock(dir), (e: unknown) => e instanceof DataDirLockedError && e.holderPid === other.pid && e.message.includes(`process ${other.pid}`));
    await other.stop();
    const lock = acquireDataDirLock(dir);
    assert.equal(readFileSync(join(dir, LOCK_FILE), 'utf8').trim(), String(process.pid));
    lock.release();
  });

  test('a lock file naming our own PID but not held here is a previous run\'s (PID 1 in a container): taken over', () => {
    const dir = tempDir();
    writeFileSync(join(dir, LOCK_FILE), `${process.pid}\n`);
    const lock = acquireDataDirLock(dir);
    lock.release();
    assert.equal(existsSync(join(dir, LOCK_FILE)), false);
  });

  test('an unreadable lock file content (empty, garbage) is stale', () => {
    const dir = tempDir();
    writeFileSync(join(dir, LOCK_FILE), 'garbage');
    acquireDataDirLock(dir).release();
  });
});

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { heapCensus, type HeapCensus } from './heap-snapshot.js';

/** A signal no part of the server uses: Node writes a heap snapshot on it (--heapsnapshot-signal). */
const SNAPSHOT_SIGNAL = 'SIGTTIN';

/** Node flags that make a server write a heap snapshot into `dir` on SNAPSHOT_SIGNAL. */
export const heapSnapshotArgs = (dir: string): string[] => [`--heapsnapshot-signal=${SNAPSHOT_SIGNAL}`, `--diagnostic-dir=${dir}`];

/**
 * Asks a Node process started with heapSnapshotArgs(dir) for a heap snapshot and reads its
 * census; null when none was written within two minutes. A snapshot runs a full GC first, so the
 * census is what is live.
 */
export async function heapSnapshotOf(pid: number, dir: string): Promise<HeapCensus | null> {
  const mine = (): string[] => readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot') && f.includes(`.${pid}.`));
  const had = new Set(mine());
  process.kill(pid, SNAPSHOT_SIGNAL);
  const until = Date.now() + 120_000;
  let size = -1;
  while (Date.now() < until) {
    await new Promise((r) => setTimeout(r, 1_000));
    const file = mine().find((f) => !had.has(f));
    if (file === undefined) continue;
    const now = statSync(join(dir, file)).size;
    // Written in one go by the process's main thread: done once the size stops changing.
    if (now === size && now > 0) return heapCensus(JSON.parse(readFileSync(join(dir, file), 'utf8')) as Parameters<typeof heapCensus>[0]);
    size = now;
  }
  return null;
}

/**
 * Preloaded into the Bridgehead server by the memory phase only
 * (NODE_OPTIONS="--expose-gc --import=<this file>"): SIGUSR2 runs a full garbage collection, so
 * RSS samples are taken with no garbage left over from earlier handshakes, and it reports the heap
 * figures after that GC (<ready file>.stats): the size of the young generation, which is empty
 * after a GC but whose committed size follows past allocation rates, not the live devices, and
 * the live JS heap. It writes the process id to BENCH_GC_HOOK_READY_FILE once the handler is
 * installed; the bench sends SIGUSR2 only after seeing it (Node's default action for SIGUSR2
 * would end the process).
 */
import { renameSync, writeFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';
import { isMainThread } from 'node:worker_threads';

const gc = (globalThis as { gc?: () => void }).gc;
const readyFile = process.env.BENCH_GC_HOOK_READY_FILE;
if (isMainThread && typeof gc === 'function' && readyFile !== undefined && readyFile !== '') {
  process.on('SIGUSR2', () => {
    // Twice: the first pass may leave objects that only become unreachable once finalizers ran.
    gc();
    gc();
    const newSpace = getHeapSpaceStatistics().find((sp) => sp.space_name === 'new_space')?.space_size ?? 0;
    const { heapUsed, heapTotal, external } = process.memoryUsage();
    // Written to a temporary name and renamed, so the bench never reads half a file.
    writeFileSync(`${readyFile}.tmp`, JSON.stringify({ newSpace, heapUsed, heapTotal, external }));
    renameSync(`${readyFile}.tmp`, `${readyFile}.stats`);
  });
  writeFileSync(readyFile, String(process.pid));
}

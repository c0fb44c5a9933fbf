import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** What the helper threads Node starts before the server are given (config `helperThreadPriority`). */
export type HelperThreadPriority = 'idle' | 'low' | 'normal';

/** What was applied: `idle` can fall back to `low` where util-linux's chrt is missing. */
export interface HelperThreadsLowered {
  applied: HelperThreadPriority;
  threads: number;
}

/**
 * Lowers the scheduling priority of the threads Node started before the server: V8's garbage
 * collector helpers (four whatever the core count) and libuv's pool. On a machine with few cores
 * they otherwise take the CPU from the main thread, which serves every device, and from the event
 * log's writer, which every QoS 1 PUBACK waits on (issue 7's flood: PUBACKs waited for whole
 * scheduler slices behind GC helpers).
 *
 * - `idle`: the SCHED_IDLE policy. The kernel runs such a thread only on a core that no other
 *   thread wants, and takes the core back as soon as one does; the main thread does the
 *   collector's work itself meanwhile. A nice value is not enough: on Linux's EEVDF scheduler
 *   (6.6 and later) a nice 19 thread, once running, keeps its core for its whole slice (~3 ms)
 *   while a waking normal thread waits. Node has no call for the policy, so util-linux's `chrt`
 *   sets it (an unprivileged process may move its own threads to SCHED_IDLE); where it is
 *   missing, `low` is applied instead.
 * - `low`: nice 19 (raised by 19, capped there).
 * - `normal`: left alone.
 *
 * Call it before the server starts threads of its own: those are created by the main thread and
 * keep its priority. Linux only, where a nice value or policy belongs to one thread; elsewhere it
 * would apply to the whole process, so nothing is done.
 */
export function lowerHelperThreads(priority: HelperThreadPriority): HelperThreadsLowered {
  if (process.platform !== 'linux' || priority === 'normal') return { applied: 'normal', threads: 0 };
  const tids = helperThreadIds();
  if (tids.length === 0) return { applied: 'normal', threads: 0 };
  if (priority === 'idle' && setIdlePolicy(tids)) return { applied: 'idle', threads: tids.length };
  let threads = 0;
  for (const tid of tids) {
    try {
      setPriority(tid, Math.min(19, getPriority(tid) + 19));
      threads++;
    } catch {
      // The thread ended meanwhile; nothing to lower.
    }
  }
  return { applied: 'low', threads };
}

/** Every thread of this process but the main one. */
function helperThreadIds(): number[] {
  try {
    return readdirSync('/proc/self/task')
      .map(Number)
      .filter((tid) => tid !== process.pid);
  } catch {
    return [];
  }
}

/** SCHED_IDLE for each thread (of any process), through one shell running chrt per thread; false if any failed. */
export function setIdlePolicy(tids: readonly number[]): boolean {
  const r = spawnSync('/bin/sh', ['-c', 'for t in "$@"; do chrt --idle --pid 0 "$t" || exit 1; done', 'sh', ...tids.map(String)], {
    stdio: 'ignore',
    timeout: 5_000,
  });
  return r.status === 0;
}

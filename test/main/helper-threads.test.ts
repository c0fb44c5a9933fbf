import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { after, describe, test } from 'node:test';
import { startServer, type StartedServer } from '../support/server.js';

const servers: StartedServer[] = [];
after(async () => {
  for (const s of servers) await s.cleanup();
});

const SCHED_OTHER = 0;
const SCHED_IDLE = 5;

interface ThreadSched {
  nice: number;
  policy: number;
}

/** A thread's nice value and policy, from /proc (fields 19 and 41 of stat; the name may hold spaces). */
function schedOf(pid: number, tid: number): ThreadSched | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { nice: Number(fields[19 - 3]), policy: Number(fields[41 - 3]) };
  } catch {
    return undefined; // ended between the listing and the read
  }
}

function threadsOf(pid: number): { main: ThreadSched; others: ThreadSched[] } {
  const others: ThreadSched[] = [];
  for (const entry of readdirSync(`/proc/${pid}/task`)) {
    const s = Number(entry) === pid ? undefined : schedOf(pid, Number(entry));
    if (s !== undefined) others.push(s);
  }
  return { main: schedOf(pid, pid)!, others };
}

async function serverWith(priority: string | undefined): Promise<{ main: ThreadSched; others: ThreadSched[] }> {
  const server = await startServer(priority === undefined ? {} : { env: { BRIDGEHEAD_HELPER_THREAD_PRIORITY: priority } });
  servers.push(server);
  return threadsOf(server.process.pid!);
}

describe('helper thread priority (Linux)', { skip: process.platform !== 'linux' && 'a policy or nice value is per thread on Linux only' }, () => {
  const base = getPriority(process.pid);
  const normal: ThreadSched = { nice: base, policy: SCHED_OTHER };
  // V8 starts 4 garbage-collector threads and libuv 4 pool threads, whatever the core count.
  const HELPERS = 4;

  test("by default Node's helper threads get SCHED_IDLE; the main thread and the server's own threads keep their priority", async () => {
    const { main, others } = await serverWith(undefined);
    assert.deepEqual(main, normal, 'the main thread serves the devices');
    assert.ok(others.filter((t) => t.policy === SCHED_IDLE).length >= HELPERS, JSON.stringify(others));
    // The event log's writer is a worker thread the server starts afterwards: PUBACKs wait on it.
    assert.ok(
      others.some((t) => t.policy === SCHED_OTHER && t.nice === base),
      `a thread the server started keeps the main thread's priority: ${JSON.stringify(others)}`,
    );
  });

  test('low: nice 19 instead of the policy', async () => {
    const { main, others } = await serverWith('low');
    assert.deepEqual(main, normal);
    assert.deepEqual(
      others.filter((t) => t.policy !== SCHED_OTHER),
      [],
    );
    assert.ok(others.filter((t) => t.nice === 19).length >= HELPERS, JSON.stringify(others));
    assert.ok(others.some((t) => t.nice === base), JSON.stringify(others));
  });

  test('normal leaves every thread alone', async () => {
    const { main, others } = await serverWith('normal');
    assert.deepEqual(main, normal);
    assert.deepEqual(
      others.filter((t) => t.policy !== SCHED_OTHER || t.nice !== base),
      [],
    );
  });
});

/**
 * Load-generator worker thread: runs jobs from the main thread one at a time and keeps the
 * connections of each group open between jobs. All sockets of the load live on this thread, so
 * the generator uses one core and leaves the other to the server under test.
 */
import { parentPort } from 'node:worker_threads';
import type { JobRequest, JobResult, WorkerMessage } from './jobs.js';
import { runAttach } from './gateway-phases.js';
import { closeGroup, runConfig, runConnect, runTelemetry, type ConnectionGroup } from './phases.js';

const port = parentPort;
if (port === null) throw new Error('bench/loadgen/worker.js must run as a worker thread');

const groups = new Map<string, ConnectionGroup>();
const post = (m: WorkerMessage): void => port.postMessage(m);

function groupNamed(name: string): ConnectionGroup {
  const g = groups.get(name);
  if (g === undefined) throw new Error(`no connection group ${name}`);
  return g;
}

async function run(req: JobRequest): Promise<JobResult> {
  const job = req.job;
  switch (job.kind) {
    case 'connect': {
      if (groups.has(job.group)) throw new Error(`connection group ${job.group} already open`);
      const { group, result } = await runConnect(job);
      groups.set(job.group, group);
      return result;
    }
    case 'telemetry':
      return runTelemetry(job, groupNamed(job.group), (name) => post({ type: 'mark', id: req.id, name }));
    case 'config':
      return runConfig(job, groupNamed(job.group));
    case 'attach': {
      if (job.group !== null && groups.has(job.group)) throw new Error(`connection group ${job.group} already open`);
      const { group, result } = await runAttach(job, (name) => post({ type: 'mark', id: req.id, name }));
      if (job.group !== null) groups.set(job.group, group);
      return result;
    }
    case 'close': {
      const g = groups.get(job.group);
      groups.delete(job.group);
      return { kind: 'close', closed: g === undefined ? 0 : await closeGroup(g, 3_000) };
    }
  }
}

// Jobs run strictly one after another, in arrival order.
let queue: Promise<void> = Promise.resolve();
port.on('message', (req: JobRequest) => {
  queue = queue.then(async () => {
    try {
      post({ type: 'result', id: req.id, result: await run(req) });
    } catch (e) {
      post({ type: 'error', id: req.id, message: e instanceof Error ? e.message : String(e) });
    }
  });
});

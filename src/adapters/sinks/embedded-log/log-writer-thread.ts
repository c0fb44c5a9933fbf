import { parentPort, workerData } from 'node:worker_threads';
import { sqliteCode } from './log-schema.js';
import { LogWriterCore, type PruneStep } from './log-writer.js';
import type { WorkerInit, WorkerReply, WorkerRequest } from './worker-log-writer.js';

/** Entry point of the writer thread: owns the write connection, runs one request at a time. */

const port = parentPort;
if (!port) throw new Error('log-writer-thread.js must run as a worker thread');

const init = workerData as WorkerInit;
const core = new LogWriterCore(init.path, init.synchronous);

port.on('message', (req: WorkerRequest) => {
  let reply: WorkerReply;
  try {
    let value: number | PruneStep | null;
    if (req.op === 'write') value = core.write(req.batch);
    else if (req.op === 'prune') value = core.pruneStep(req.afterSeq, req.cutoffMs, req.chunk);
    else {
      core.close();
      value = null;
    }
    reply = { id: req.id, ok: true, value };
  } catch (e) {
    reply = { id: req.id, ok: false, code: sqliteCode(e), message: e instanceof Error ? e.message : String(e) };
  }
  port.postMessage(reply);
});

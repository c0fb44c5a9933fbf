import { Worker } from 'node:worker_threads';
import { ApiError } from '../../../domain/errors.js';
import type { Synchronous } from './log-schema.js';
import { translateWriteError } from './log-schema.js';
import type { LogWriter, PruneStep, WriteBatch } from './log-writer.js';

/**
 * A LogWriter whose transactions run on a worker thread (log-writer-thread.ts), so the inserts and
 * the COMMIT's fsync take no time from the main event loop, which keeps serving MQTT and HTTP.
 */

export type WorkerRequest =
  | { id: number; op: 'write'; batch: WriteBatch }
  | { id: number; op: 'prune'; afterSeq: number; cutoffMs: number; chunk: number }
  | { id: number; op: 'close' };

export type WorkerReply =
  | { id: number; ok: true; value: number | PruneStep | null }
  | { id: number; ok: false; code: string | undefined; message: string };

export interface WorkerInit {
  path: string;
  synchronous: Synchronous;
}

interface Pending {
  resolve: (value: number | PruneStep | null) => void;
  reject: (e: Error) => void;
}

export class WorkerLogWriter implements LogWriter {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** Set once the worker is gone; every later request fails with it. */
  private broken: Error | undefined;

  constructor(init: WorkerInit) {
    this.worker = new Worker(new URL('./log-writer-thread.js', import.meta.url), { workerData: init });
    // Referenced only while requests are in flight: an idle writer must not keep the process alive.
    this.worker.unref();
    this.worker.on('message', (reply: WorkerReply) => this.settle(reply));
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', (code) => this.fail(new Error(`event log writer thread exited with code ${code}`)));
  }

  async write(batch: WriteBatch): Promise<number> {
    // The segments' buffers move to the worker: only their few strings are cloned.
    return (await this.request({ id: 0, op: 'write', batch }, batch.segments.map((s) => s.buffer))) as number;
  }

  async pruneStep(afterSeq: number, cutoffMs: number, chunk: number): Promise<PruneStep> {
    return (await this.request({ id: 0, op: 'prune', afterSeq, cutoffMs, chunk })) as PruneStep;
  }

  async close(): Promise<void> {
    if (this.broken) return;
    await this.request({ id: 0, op: 'close' });
    await this.worker.terminate();
  }

  private request(req: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<number | PruneStep | null> {
    if (this.broken) return Promise.reject(this.broken);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id }, transfer);
    });
  }

  private settle(reply: WorkerReply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.worker.unref();
    if (reply.ok) p.resolve(reply.value);
    else p.reject(translateWriteError(reply.code, reply.message));
  }

  private fail(cause: Error): void {
    this.broken ??= new ApiError('UNAVAILABLE', 'The event log writer has stopped.', { cause });
    for (const p of this.pending.values()) p.reject(this.broken);
    this.pending.clear();
  }
}

import { ApiError } from '../../../domain/errors.js';
import type { Clock, Sink, SinkMessage } from '../../../services/ports.js';
import { encodeAttributes, openWriterDb, type Synchronous } from './log-schema.js';
import { EmbeddedLogReader, type CommitEvent, type CommitSource } from './log-reader.js';
import { InlineLogWriter, mergeSegments, packRows, type LogWriter, type PackedRows, type WriteBatch } from './log-writer.js';
import type { PackedTelemetry } from '../../../services/telemetry-packer.js';
import { WorkerLogWriter } from './worker-log-writer.js';

export interface EmbeddedLogOptions {
  /** Messages older than this (by publishTime) are deleted. Default 7 days. */
  retentionMs?: number;
  /** Soft bound of queued-but-uncommitted messages: `saturated()` from here. Default 20,000. */
  maxQueuedMessages?: number;
  /** Messages per transaction (whole append calls are never split). Default 2,000. */
  maxBatch?: number;
  /** Default FULL: a resolved append survives power loss, as a QoS 1 PUBACK promises. */
  synchronous?: Synchronous;
  clock?: Clock;
  /** Run transactions on a worker thread (default) or on the main thread. See bench/sink-bench.ts. */
  writerThread?: boolean;
  /** Failures outside any caller's request (retention, commit listeners). Default: ignored. */
  onError?: (error: unknown) => void;
}

export interface SinkDiagnostics {
  /** Transactions committed. */
  commits: number;
  committedMessages: number;
  failedCommits: number;
  /** Accepted but not yet committed (queued + in the transaction under way). */
  pending: number;
  lastBatchSize: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const RETENTION_INTERVAL_MS = 60_000;
/**
 * Payload bytes per transaction, beside maxBatch: keeps one commit (and, with the worker, the one
 * buffer it is packed into) a few MB even when messages are near the 256 KB telemetry limit.
 */
const MAX_BATCH_BYTES = 8 * 1024 * 1024;
/** Rows examined per retention statement: a few ms of work, so writers never wait long. */
const RETENTION_CHUNK = 10_000;

interface QueuedCall {
  rows: PackedRows;
  /** Payload bytes. */
  bytes: number;
  /** The caller wants the message IDs (append; appendPacked does not). */
  wantsIds: boolean;
  resolve: (ids: string[] | undefined) => void;
  reject: (e: Error) => void;
}

const closedError = (): ApiError => new ApiError('UNAVAILABLE', 'The event log is closed.');

/**
 * The default Sink: an append-only log in its own SQLite file (WAL), with group commit.
 *
 * `append` queues and schedules a flush with setImmediate, so every append of the current
 * event-loop turn lands in ONE transaction; while a transaction is under way, new appends queue
 * for the next one. Promises resolve only after COMMIT has returned (with synchronous=FULL that
 * includes the WAL fsync), and a failed commit rejects every call of its batch and writes nothing.
 *
 * Backpressure: the bound is soft. At `maxQueuedMessages` pending messages `saturated()` turns true
 * and callers are expected to stop reading from devices; appends are still accepted (messages
 * already read off a socket have nowhere else to go) until pending would exceed twice the bound,
 * where append rejects with UNAVAILABLE: memory stays bounded even if a caller ignores
 * `saturated()`. `onDrain` listeners fire once pending falls below half the bound.
 */
export class EmbeddedLogSink implements Sink, CommitSource {
  private readonly retentionMs: number;
  private readonly maxQueued: number;
  private readonly maxBatch: number;
  private readonly clock: Clock;
  private readonly onError: (error: unknown) => void;
  private queue: QueuedCall[] = [];
  private pending = 0;
  private writing = false;
  private flushScheduled = false;
  private wasSaturated = false;
  private closed = false;
  private closing: Promise<void> | undefined;
  private pruning: Promise<number> | undefined;
  private idleWaiters: (() => void)[] = [];
  private readonly drainListeners: (() => void)[] = [];
  private readonly commitListeners = new Set<(event: CommitEvent) => void>();
  private readonly timer: NodeJS.Timeout;
  private readonly stats = { commits: 0, committedMessages: 0, failedCommits: 0, lastBatchSize: 0 };

  private constructor(
    readonly path: string,
    private readonly writer: LogWriter,
    opts: EmbeddedLogOptions,
  ) {
    this.retentionMs = opts.retentionMs ?? 7 * DAY_MS;
    this.maxQueued = opts.maxQueuedMessages ?? 20_000;
    this.maxBatch = opts.maxBatch ?? 2_000;
    this.clock = opts.clock ?? { now: () => Date.now() };
    this.onError = opts.onError ?? (() => undefined);
    this.timer = setInterval(() => void this.prune().catch(this.onError), RETENTION_INTERVAL_MS);
    this.timer.unref();
  }

  static open(path: string, opts: EmbeddedLogOptions = {}): EmbeddedLogSink {
    const synchronous = opts.synchronous ?? 'FULL';
    if (opts.writerThread === false) return new EmbeddedLogSink(path, new InlineLogWriter(path, synchronous), opts);
    // Create the file and schema here, synchronously, so a bad path or a newer schema fails open()
    // itself rather than the first append, and readers can open the file right away.
    openWriterDb(path, synchronous).close();
    return new EmbeddedLogSink(path, new WorkerLogWriter({ path, synchronous }), opts);
  }

  append(messages: readonly SinkMessage[]): Promise<string[]> {
    if (this.closed) return Promise.reject(closedError());
    if (messages.length === 0) return Promise.resolve([]);
    if (this.pending + messages.length > 2 * this.maxQueued) {
      return Promise.reject(new ApiError('UNAVAILABLE', 'The event log is overloaded; retry later.'));
    }
    for (const m of messages) {
      // One malformed message must not fail the transaction it would share with everyone else's.
      if (typeof m.topic !== 'string' || !(m.data instanceof Uint8Array) || !Number.isFinite(m.publishTime)) {
        return Promise.reject(new ApiError('INVALID_ARGUMENT', 'A sink message needs a topic, a finite publishTime and Uint8Array data.'));
      }
      if (m.orderingKey !== undefined && typeof m.orderingKey !== 'string') {
        return Promise.reject(new ApiError('INVALID_ARGUMENT', 'A sink message\'s orderingKey must be a string.'));
      }
    }
    let rows: PackedRows;
    try {
      rows = packRows(messages.map((m) => ({ topic: m.topic, publishTime: m.publishTime, attributes: encodeAttributes(m.attributes), data: m.data, orderingKey: m.orderingKey })));
    } catch {
      return Promise.reject(new ApiError('INVALID_ARGUMENT', 'A sink message\'s attributes must be a map of strings.'));
    }
    return this.enqueue(rows, true) as Promise<string[]>;
  }

  /**
   * Device telemetry already packed into one buffer (DeviceIngress): queued as is, and handed to
   * the writer thread without another copy.
   */
  appendPacked(batch: PackedTelemetry): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    const n = batch.count;
    if (!Number.isSafeInteger(n) || n < 0 || !(batch.buffer instanceof ArrayBuffer) || batch.buffer.byteLength < 20 * n) {
      return Promise.reject(new ApiError('INVALID_ARGUMENT', 'A packed batch needs a count and a buffer of its layout.'));
    }
    if (n === 0) return Promise.resolve();
    if (this.pending + n > 2 * this.maxQueued) {
      return Promise.reject(new ApiError('UNAVAILABLE', 'The event log is overloaded; retry later.'));
    }
    const rows: PackedRows = { count: n, topics: [...batch.topics], attributes: batch.attributes.map(encodeAttributes), buffer: batch.buffer, orderingKeys: undefined };
    return this.enqueue(rows, false) as Promise<void>;
  }

  private enqueue(rows: PackedRows, wantsIds: boolean): Promise<string[] | undefined> {
    return new Promise<string[] | undefined>((resolve, reject) => {
      this.queue.push({ rows, bytes: rows.buffer.byteLength - 20 * rows.count, wantsIds, resolve, reject });
      this.pending += rows.count;
      if (this.pending >= this.maxQueued) this.wasSaturated = true;
      this.scheduleFlush();
    });
  }

  saturated(): boolean {
    return this.pending >= this.maxQueued;
  }

  onDrain(listener: () => void): void {
    this.drainListeners.push(listener);
  }

  /** Called after each successful commit with the topics it touched; returns an unsubscribe function. */
  onCommit(listener: (event: CommitEvent) => void): () => void {
    this.commitListeners.add(listener);
    return () => this.commitListeners.delete(listener);
  }

  /** A reader on its own read-only connection, notified by this sink's commits. */
  createReader(): EmbeddedLogReader {
    return EmbeddedLogReader.open(this.path, this);
  }

  diagnostics(): SinkDiagnostics {
    return { ...this.stats, pending: this.pending };
  }

  /**
   * One retention pass (the timer runs one a minute): deletes messages whose publishTime is older
   * than the retention, oldest first, one chunk per statement with a turn of the event loop in
   * between. Stops at the first chunk with nothing to delete, so rows far in the past behind young
   * ones wait for a later pass. Resolves to the number of rows deleted.
   */
  prune(): Promise<number> {
    if (this.closed) return Promise.resolve(0);
    this.pruning ??= this.runPrune().finally(() => {
      this.pruning = undefined;
    });
    return this.pruning;
  }

  /** Commits everything accepted so far, then closes the file. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.idle();
    await this.pruning?.catch(() => undefined);
    await this.writer.close();
  }

  private idle(): Promise<void> {
    if (!this.writing && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.writing) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.writing || this.queue.length === 0) return;
    const calls = this.takeBatch();
    // One segment for the writer thread; its topic table is the batch's topics, each once.
    const rows = mergeSegments(calls.map((c) => c.rows));
    const n = rows.count;
    const topics: ReadonlySet<string> = new Set(rows.topics);
    const batch: WriteBatch = { segments: [rows] };
    this.writing = true;
    this.writer.write(batch).then(
      (firstSeq) => {
        this.finish(n);
        this.stats.commits++;
        this.stats.committedMessages += n;
        this.stats.lastBatchSize = n;
        let seq = firstSeq;
        for (const call of calls) {
          if (!call.wantsIds) {
            seq += call.rows.count;
            call.resolve(undefined);
            continue;
          }
          const ids = new Array<string>(call.rows.count);
          for (let i = 0; i < ids.length; i++) ids[i] = String(seq++);
          call.resolve(ids);
        }
        this.notify({ topics, firstSeq, lastSeq: firstSeq + n - 1 });
        this.afterWrite();
      },
      (e: Error) => {
        this.finish(n);
        this.stats.failedCommits++;
        for (const call of calls) call.reject(e);
        this.afterWrite();
      },
    );
  }

  /** Whole calls, oldest first, up to maxBatch messages and MAX_BATCH_BYTES (at least one call, however large). */
  private takeBatch(): QueuedCall[] {
    let count = 0;
    let bytes = 0;
    let k = 0;
    while (k < this.queue.length) {
      const call = this.queue[k]!;
      if (k > 0 && (count + call.rows.count > this.maxBatch || bytes + call.bytes > MAX_BATCH_BYTES)) break;
      count += call.rows.count;
      bytes += call.bytes;
      k++;
    }
    if (k === this.queue.length) {
      const all = this.queue;
      this.queue = [];
      return all;
    }
    return this.queue.splice(0, k);
  }

  private finish(n: number): void {
    this.writing = false;
    this.pending -= n;
    if (this.wasSaturated && this.pending < this.maxQueued / 2) {
      this.wasSaturated = false;
      for (const listener of this.drainListeners) this.guarded(listener);
    }
  }

  private afterWrite(): void {
    if (this.queue.length > 0) {
      this.scheduleFlush();
      return;
    }
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private notify(event: CommitEvent): void {
    for (const listener of this.commitListeners) this.guarded(() => listener(event));
  }

  /** A throwing listener is reported, never allowed to break the commit loop. */
  private guarded(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.onError(e);
    }
  }

  private async runPrune(): Promise<number> {
    const cutoff = this.clock.now() - this.retentionMs;
    let after = 0;
    let total = 0;
    while (!this.closed) {
      const step = await this.writer.pruneStep(after, cutoff, RETENTION_CHUNK);
      total += step.deleted;
      if (step.done || step.deleted === 0) break;
      after = step.endSeq;
      // Let I/O and group commits run between chunks.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return total;
  }
}

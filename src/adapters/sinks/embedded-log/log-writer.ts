import type Database from 'better-sqlite3';
import {
  CHUNK_END_SQL,
  DELETE_RANGE_SQL,
  INSERT_SQL,
  LAST_SEQ_SQL,
  openWriterDb,
  sqliteCode,
  translateWriteError,
  type Synchronous,
} from './log-schema.js';

/**
 * The write side of the embedded log: one connection, one transaction per batch. The sink talks
 * to it through `LogWriter`, so the same group-commit logic runs whether the transaction executes
 * on the main thread (`InlineLogWriter`) or on a worker thread (`WorkerLogWriter`).
 */

/** One batch, column-wise: cheap to build, and to pack for a worker. */
export interface WriteBatch {
  topics: string[];
  publishTimes: ArrayLike<number>;
  /** Encoded with encodeAttributes. */
  attributes: string[];
  data: Uint8Array[];
  /**
   * Per row, '' for none; undefined when no row of the batch has one (every telemetry batch), so
   * device traffic builds, packs and posts nothing more than before ordering keys existed.
   */
  orderingKeys?: string[] | undefined;
}

export interface PruneStep {
  deleted: number;
  /** The last seq this step examined; the next step starts after it. */
  endSeq: number;
  /** No rows after endSeq: the pass is complete. */
  done: boolean;
}

export interface LogWriter {
  /** Commits every row in one transaction; resolves to the first row's seq (the rest follow by one). */
  write(batch: WriteBatch): Promise<number>;
  /** Deletes rows older than `cutoffMs` among the next `chunk` rows after `afterSeq`. */
  pruneStep(afterSeq: number, cutoffMs: number, chunk: number): Promise<PruneStep>;
  close(): Promise<void>;
}

/** The synchronous core, used directly on the main thread and inside the worker. */
export class LogWriterCore {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement<[string, number, string, Uint8Array, string]>;
  private readonly chunkEnd: Database.Statement<[number, number], { seq: number }>;
  private readonly lastSeq: Database.Statement<[number], { seq: number | null }>;
  private readonly deleteRange: Database.Statement<[number, number, number]>;
  private readonly writeTx: (batch: WriteBatch) => number;

  constructor(path: string, synchronous: Synchronous) {
    this.db = openWriterDb(path, synchronous);
    this.insert = this.db.prepare(INSERT_SQL);
    this.chunkEnd = this.db.prepare(CHUNK_END_SQL);
    this.lastSeq = this.db.prepare(LAST_SEQ_SQL);
    this.deleteRange = this.db.prepare(DELETE_RANGE_SQL);
    // IMMEDIATE: the write lock is taken at BEGIN, so a contending process fails the whole batch
    // up front (after busy_timeout) rather than midway.
    this.writeTx = this.db.transaction((batch: WriteBatch): number => {
      const { topics, publishTimes, attributes, data, orderingKeys } = batch;
      const first = Number(this.insert.run(topics[0]!, publishTimes[0]!, attributes[0]!, data[0]!, orderingKeys?.[0] ?? '').lastInsertRowid);
      let last = first;
      for (let i = 1; i < topics.length; i++) {
        last = Number(this.insert.run(topics[i]!, publishTimes[i]!, attributes[i]!, data[i]!, orderingKeys?.[i] ?? '').lastInsertRowid);
      }
      // One writer holding the write lock gets consecutive AUTOINCREMENT values; if that ever failed
      // to hold, the IDs handed back would be wrong, so abort (and roll back) instead.
      if (last !== first + topics.length - 1) throw new Error(`non-consecutive seqs ${first}..${last} for ${topics.length} rows`);
      return first;
    }).immediate;
  }

  write(batch: WriteBatch): number {
    return this.writeTx(batch);
  }

  pruneStep(afterSeq: number, cutoffMs: number, chunk: number): PruneStep {
    const end = this.chunkEnd.get(afterSeq, chunk - 1)?.seq;
    const endSeq = end ?? this.lastSeq.get(afterSeq)?.seq ?? afterSeq;
    if (endSeq === afterSeq) return { deleted: 0, endSeq, done: true };
    const deleted = this.deleteRange.run(afterSeq, endSeq, cutoffMs).changes;
    return { deleted, endSeq, done: end === undefined };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/** Errors crossing to callers carry the error vocabulary, never driver text alone. */
export function writeError(e: unknown): Error {
  return translateWriteError(sqliteCode(e), e instanceof Error ? e.message : String(e), e);
}

/** Runs each transaction on the calling (main) thread: no hand-off cost, but COMMIT blocks the loop. */
export class InlineLogWriter implements LogWriter {
  private readonly core: LogWriterCore;

  constructor(path: string, synchronous: Synchronous) {
    this.core = new LogWriterCore(path, synchronous);
  }

  async write(batch: WriteBatch): Promise<number> {
    try {
      return this.core.write(batch);
    } catch (e) {
      throw writeError(e);
    }
  }

  async pruneStep(afterSeq: number, cutoffMs: number, chunk: number): Promise<PruneStep> {
    return this.core.pruneStep(afterSeq, cutoffMs, chunk);
  }

  async close(): Promise<void> {
    this.core.close();
  }
}

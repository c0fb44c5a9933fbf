import type Database from 'better-sqlite3';
import { columnsOf, indexIn, TelemetryPacker } from '../../../services/telemetry-packer.js';
import {
  ADD_CODE_SQL,
  CHUNK_END_SQL,
  CODE_COUNT_SQL,
  CODE_PREFIX,
  CODE_TAKEN_SQL,
  DELETE_RANGE_SQL,
  INSERT_SQL,
  insertRowsSql,
  insertTopicRowsSql,
  LAST_SEQ_SQL,
  LEGACY_ROWS_SQL,
  openWriterDb,
  sqliteCode,
  TOPIC_CODE_SQL,
  translateWriteError,
  type Synchronous,
} from './log-schema.js';

/**
 * The write side of the embedded log: one connection, one transaction per batch. The sink talks
 * to it through `LogWriter`, so the same group-commit logic runs whether the transaction executes
 * on the main thread (`InlineLogWriter`) or on a worker thread (`WorkerLogWriter`).
 */

/**
 * The rows of one append call, packed in telemetry-packer.ts's layout (one ArrayBuffer: times,
 * payload ends, topic and attribute indexes, payloads) with its small string tables: posting it
 * to the writer thread transfers the buffer and clones a few strings, however many rows.
 */
export interface PackedRows {
  count: number;
  topics: string[];
  /** Encoded with encodeAttributes; row i's are attributes[attributesIndex[i]]. */
  attributes: string[];
  buffer: ArrayBuffer;
  /**
   * Per row, '' for none; undefined when no row has one (every telemetry batch), so device traffic
   * builds, packs and posts nothing more than before ordering keys existed.
   */
  orderingKeys?: string[] | undefined;
}

/** One transaction: the rows of the append calls it commits, in order. */
export interface WriteBatch {
  segments: PackedRows[];
}

/** One row as the log stores it (attributes encoded). */
export interface Row {
  topic: string;
  publishTime: number;
  attributes: string;
  data: Uint8Array;
  orderingKey?: string | undefined;
}

/** Packs rows given one by one (API publishes, state notifications, tests). */
export function packRows(rows: readonly Row[]): PackedRows {
  const packer = new TelemetryPacker();
  const attributes = new Map<string, Readonly<Record<string, string>>>();
  // The packer keys attribute sets by identity: one stand-in object per distinct encoded string.
  for (const r of rows) {
    let key = attributes.get(r.attributes);
    if (key === undefined) attributes.set(r.attributes, (key = { encoded: r.attributes }));
    packer.add(r.topic, key, r.data, r.publishTime);
  }
  const packed = packer.finish();
  const orderingKeys = rows.some((r) => r.orderingKey) ? rows.map((r) => r.orderingKey ?? '') : undefined;
  return { count: packed.count, topics: [...packed.topics], attributes: packed.attributes.map((a) => a.encoded!), buffer: packed.buffer, orderingKeys };
}

/**
 * The segments of one transaction as one: a single buffer, one table of topics and one of
 * attribute strings. Handing a batch to the writer thread costs per object cloned and per buffer
 * transferred: a transaction of 100 socket reads' segments took about 130 µs of the main thread to
 * post, against under 10 µs for the same rows as one segment, and as much again to receive on
 * the writer's side; copying the rows once here costs far less.
 */
export function mergeSegments(segments: readonly PackedRows[]): PackedRows {
  if (segments.length === 1) return segments[0]!;
  let count = 0;
  let payloadBytes = 0;
  let keyed = false;
  for (const s of segments) {
    count += s.count;
    payloadBytes += s.buffer.byteLength - 20 * s.count;
    if (s.orderingKeys !== undefined) keyed = true;
  }
  const buffer = new ArrayBuffer(20 * count + payloadBytes);
  const out = columnsOf({ count, buffer });
  const topics: string[] = [];
  const topicAt = new Map<string, number>();
  const attributes: string[] = [];
  const attributesAt = new Map<string, number>();
  const orderingKeys: string[] | undefined = keyed ? new Array<string>(count) : undefined;
  let row = 0;
  let at = 0;
  for (const s of segments) {
    const c = columnsOf(s);
    const topicOf = s.topics.map((t) => indexIn(topics, topicAt, t, 0));
    const attributesOf = s.attributes.map((a) => indexIn(attributes, attributesAt, a, 0));
    out.publishTimes.set(c.publishTimes, row);
    out.bytes.set(c.bytes, at);
    for (let i = 0; i < s.count; i++, row++) {
      out.ends[row] = at + c.ends[i]!;
      out.topicIndex[row] = topicOf[c.topicIndex[i]!]!;
      out.attributesIndex[row] = attributesOf[c.attributesIndex[i]!]!;
      if (orderingKeys !== undefined) orderingKeys[row] = s.orderingKeys?.[i] ?? '';
    }
    at += c.bytes.byteLength;
  }
  return { count, topics, attributes, buffer, orderingKeys };
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

/**
 * Rows per multi-row INSERT. Per row, a statement costs a native call, a bind, a VDBE reset and a
 * result object; a chunk pays those once for 64 rows (320 parameters, far under SQLite's limit).
 */
const CHUNK_ROWS = 64;

/** The synchronous core, used directly on the main thread and inside the worker. */
export class LogWriterCore {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement<[string, number, string, Uint8Array, string]>;
  private readonly insertChunk: Database.Statement<unknown[]>;
  private readonly insertTopicChunk: Database.Statement<unknown[]>;
  /** Reused for every chunk: bound values are copied by SQLite, so the arrays are free again after run(). */
  private readonly params: unknown[] = new Array<unknown>(CHUNK_ROWS * 5);
  private readonly topicParams: unknown[] = new Array<unknown>(CHUNK_ROWS * 3);
  private readonly topicName = { topic: '' };
  private readonly chunkEnd: Database.Statement<[number, number], { seq: number }>;
  private readonly lastSeq: Database.Statement<[number], { seq: number | null }>;
  private readonly deleteRange: Database.Statement<[number, number, number]>;
  private readonly topicCode: Database.Statement<[string], string>;
  private readonly codeTaken: Database.Statement<[string], number>;
  private readonly codeCount: Database.Statement<[], number>;
  private readonly legacyRows: Database.Statement<[string], number>;
  private readonly addCode: Database.Statement<[string, string]>;
  /** Topic name to the code its rows carry (log-schema.ts, version 3): committed codes only. */
  private readonly codes = new Map<string, string>();
  /** Codes the running transaction added: kept only once it commits. */
  private readonly added = new Map<string, string>();
  private readonly writeTx: (batch: WriteBatch) => number;

  constructor(path: string, synchronous: Synchronous) {
    this.db = openWriterDb(path, synchronous);
    this.insert = this.db.prepare(INSERT_SQL);
    this.insertChunk = this.db.prepare(insertRowsSql(CHUNK_ROWS));
    this.insertTopicChunk = this.db.prepare(insertTopicRowsSql(CHUNK_ROWS));
    this.chunkEnd = this.db.prepare(CHUNK_END_SQL);
    this.lastSeq = this.db.prepare(LAST_SEQ_SQL);
    this.deleteRange = this.db.prepare(DELETE_RANGE_SQL);
    this.topicCode = this.db.prepare<[string], string>(TOPIC_CODE_SQL).pluck();
    this.codeTaken = this.db.prepare<[string], number>(CODE_TAKEN_SQL).pluck();
    this.codeCount = this.db.prepare<[], number>(CODE_COUNT_SQL).pluck();
    this.legacyRows = this.db.prepare<[string], number>(LEGACY_ROWS_SQL).pluck();
    this.addCode = this.db.prepare(ADD_CODE_SQL);
    // IMMEDIATE: the write lock is taken at BEGIN, so a contending process fails the whole batch
    // up front (after busy_timeout) rather than midway.
    this.writeTx = this.db.transaction((batch: WriteBatch): number => {
      let first = -1;
      let last = -1;
      let rows = 0;
      for (const segment of batch.segments) {
        const { publishTimes, ends, topicIndex, attributesIndex, bytes } = columnsOf(segment);
        const { attributes, orderingKeys } = segment;
        const topics = segment.topics.map((name) => this.codeOf(name));
        let start = 0;
        let i = 0;
        const oneTopic = topics.length === 1 && orderingKeys === undefined;
        if (oneTopic) this.topicName.topic = topics[0]!;
        for (; i + CHUNK_ROWS <= segment.count; i += CHUNK_ROWS) {
          let info: Database.RunResult;
          if (oneTopic) {
            const params = this.topicParams;
            for (let k = 0, p = 0; k < CHUNK_ROWS; k++) {
              const end = ends[i + k]!;
              params[p++] = publishTimes[i + k]!;
              params[p++] = attributes[attributesIndex[i + k]!]!;
              params[p++] = bytes.subarray(start, end);
              start = end;
            }
            info = this.insertTopicChunk.run(params, this.topicName);
          } else {
            const params = this.params;
            for (let k = 0, p = 0; k < CHUNK_ROWS; k++) {
              const end = ends[i + k]!;
              params[p++] = topics[topicIndex[i + k]!]!;
              params[p++] = publishTimes[i + k]!;
              params[p++] = attributes[attributesIndex[i + k]!]!;
              params[p++] = bytes.subarray(start, end);
              params[p++] = orderingKeys?.[i + k] ?? '';
              start = end;
            }
            info = this.insertChunk.run(params);
          }
          if (info.changes !== CHUNK_ROWS) throw new Error(`${info.changes} of ${CHUNK_ROWS} rows inserted`);
          last = Number(info.lastInsertRowid);
          // A multi-row INSERT reports its last rowid; AUTOINCREMENT under the write lock numbers the chunk consecutively.
          if (first < 0) first = last - CHUNK_ROWS + 1;
        }
        for (; i < segment.count; i++) {
          const end = ends[i]!;
          last = Number(this.insert.run(topics[topicIndex[i]!]!, publishTimes[i]!, attributes[attributesIndex[i]!]!, bytes.subarray(start, end), orderingKeys?.[i] ?? '').lastInsertRowid);
          if (first < 0) first = last;
          start = end;
        }
        rows += segment.count;
      }
      if (rows === 0) throw new Error('an empty batch');
      // One writer holding the write lock gets consecutive AUTOINCREMENT values; if that ever failed
      // to hold, the IDs handed back would be wrong, so abort (and roll back) instead.
      if (last !== first + rows - 1) throw new Error(`non-consecutive seqs ${first}..${last} for ${rows} rows`);
      return first;
    }).immediate;
  }

  write(batch: WriteBatch): number {
    try {
      const first = this.writeTx(batch);
      for (const [name, code] of this.added) this.codes.set(name, code);
      return first;
    } finally {
      this.added.clear();
    }
  }

  /** The code of a topic's rows; a topic new to the file gets one inside the running transaction. */
  private codeOf(name: string): string {
    const known = this.codes.get(name) ?? this.added.get(name);
    if (known !== undefined) return known;
    let code = this.topicCode.get(name);
    if (code === undefined) {
      if (this.legacyRows.get(name) !== undefined) code = name;
      else {
        let n = this.codeCount.get()! + 1;
        while (this.codeTaken.get(`${CODE_PREFIX}${n.toString(36)}`) !== undefined) n++;
        code = `${CODE_PREFIX}${n.toString(36)}`;
      }
      this.addCode.run(name, code);
      this.added.set(name, code);
      return code;
    }
    this.codes.set(name, code);
    return code;
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

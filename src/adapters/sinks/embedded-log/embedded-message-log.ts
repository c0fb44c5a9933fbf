import type Database from 'better-sqlite3';
import { ApiError } from '../../../domain/errors.js';
import type { PsMessage } from '../../../domain/pubsub/pubsub-model.js';
import type { MessageLog } from '../../../services/pubsub/pubsub-ports.js';
import { COUNT_AFTER_SQL, decodeAttributes, openReaderDb, SELECT_PS_PAGE_SQL, SEQ_BEFORE_SQL, type PsMessageRow } from './log-schema.js';
import { EmbeddedLogReader, type CommitSource } from './log-reader.js';

const closedError = (): ApiError => new ApiError('UNAVAILABLE', 'The event log reader is closed.');

/**
 * The Pub/Sub read side of the embedded log: what subscriptions consume. Pages and seeks run on
 * its own read-only connection (WAL: beside the writer, never blocking it); the head and commit
 * notifications are the EmbeddedLogReader's, which the REST event-log routes use too.
 *
 * Reads are synchronous SQLite calls behind the async port: each is one bounded page, and a
 * networked log (the port's reason to be async) will answer the same calls later.
 */
export class EmbeddedMessageLog implements MessageLog {
  private readonly page: Database.Statement<[{ topic: string; after: number; limit: number }], PsMessageRow>;
  private readonly before: Database.Statement<[{ topic: string; time: number }], number>;
  private readonly countAfter: Database.Statement<[{ topic: string; after: number }], number>;

  private constructor(
    private readonly db: Database.Database,
    private readonly reader: EmbeddedLogReader,
  ) {
    this.page = db.prepare(SELECT_PS_PAGE_SQL);
    this.before = db.prepare<[{ topic: string; time: number }], number>(SEQ_BEFORE_SQL).pluck();
    this.countAfter = db.prepare<[{ topic: string; after: number }], number>(COUNT_AFTER_SQL).pluck();
  }

  /** `commits` is the EmbeddedLogSink writing the file; without it `watch` listeners are never called. */
  static open(path: string, commits?: CommitSource): EmbeddedMessageLog {
    const reader = EmbeddedLogReader.open(path, commits);
    try {
      return new EmbeddedMessageLog(openReaderDb(path), reader);
    } catch (e) {
      reader.close();
      throw e;
    }
  }

  async read(topic: string, afterSeq: number, limit: number): Promise<PsMessage[]> {
    if (!this.db.open) throw closedError();
    // SQLite reads LIMIT -1 as "no limit": never let a bad caller turn a page into the whole log.
    const rows = this.page.all({ topic, after: afterSeq, limit: Math.max(1, Math.floor(limit)) });
    return rows.map(
      (r): PsMessage => ({
        seq: r.seq,
        messageId: String(r.seq),
        publishTime: r.publish_time,
        attributes: decodeAttributes(r.attributes),
        // A plain view, not the driver's Buffer: consumers compare and encode one type.
        data: new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength),
        orderingKey: r.ordering_key,
      }),
    );
  }

  async seqBefore(topic: string, time: number): Promise<number> {
    if (!this.db.open) throw closedError();
    return this.before.get({ topic, time }) ?? 0;
  }

  async count(topic: string, afterSeq: number): Promise<number> {
    if (!this.db.open) throw closedError();
    return this.countAfter.get({ topic, after: afterSeq }) ?? 0;
  }

  /** One seq space for every topic: the topic does not matter. */
  async headSeq(_topic?: string): Promise<number> {
    return this.reader.headSeq();
  }

  watch(topic: string, listener: (lastSeq: number) => void): () => void {
    return this.reader.watch(topic, listener);
  }

  /** Live watchers over all topics: lets tests and metrics see that subscriptions clean up. */
  watcherCount(): number {
    return this.reader.watcherCount();
  }

  close(): void {
    this.reader.close();
    if (this.db.open) this.db.close();
  }
}

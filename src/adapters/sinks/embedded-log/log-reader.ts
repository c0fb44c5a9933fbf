import type Database from 'better-sqlite3';
import { ApiError } from '../../../domain/errors.js';
import { TopicWatchers } from '../topic-watchers.js';
import { decodeAttributes, HEAD_SQL, openReaderDb, SELECT_PAGE_SQL, type MessageRow } from './log-schema.js';

/** What a commit touched; emitted by the sink after COMMIT has returned. */
export interface CommitEvent {
  topics: ReadonlySet<string>;
  firstSeq: number;
  lastSeq: number;
}

export interface CommitSource {
  /** Returns an unsubscribe function. */
  onCommit(listener: (event: CommitEvent) => void): () => void;
}

export interface LogMessage {
  /** `String(seq)`. */
  messageId: string;
  seq: number;
  /** Epoch ms. */
  publishTime: number;
  attributes: Record<string, string>;
  data: Uint8Array;
}

export interface LogPage {
  messages: LogMessage[];
  /** Pass as `afterSeq` to continue: the last message's seq, or the given afterSeq if none. */
  cursor: number;
}

/** What the REST routes need from a reader (an interface, so tests can wrap it). */
export interface EventLogSource {
  read(topic: string, afterSeq: number, limit: number): LogPage;
  /** The highest seq ever assigned (0 for a new log): "now", for a reader that wants only new messages. */
  headSeq(): number;
  /** Calls `listener` after every commit that touched `topic`; returns an unsubscribe function. */
  watch(topic: string, listener: (lastSeq: number) => void): () => void;
}

/**
 * Reads the embedded log on its own read-only connection: WAL lets it run beside the writer
 * without blocking it, and it sees every transaction that committed before the read began.
 */
export class EmbeddedLogReader implements EventLogSource {
  private readonly page: Database.Statement<[{ topic: string; after: number; limit: number }], MessageRow>;
  private readonly head: Database.Statement<[], { seq: number }>;
  private readonly watchers = new TopicWatchers();
  private readonly unsubscribe: () => void;

  private constructor(
    private readonly db: Database.Database,
    commits: CommitSource | undefined,
  ) {
    this.page = db.prepare(SELECT_PAGE_SQL);
    this.head = db.prepare(HEAD_SQL);
    this.unsubscribe = commits?.onCommit((e) => this.dispatch(e)) ?? (() => undefined);
  }

  /** Without `commits` the reader still reads, but `watch` listeners are never called. */
  static open(path: string, commits?: CommitSource): EmbeddedLogReader {
    return new EmbeddedLogReader(openReaderDb(path), commits);
  }

  read(topic: string, afterSeq: number, limit: number): LogPage {
    if (!this.db.open) throw new ApiError('UNAVAILABLE', 'The event log reader is closed.');
    // SQLite reads LIMIT -1 as "no limit": never let a bad caller turn a page into the whole log.
    const rows = this.page.all({ topic, after: afterSeq, limit: Math.max(1, Math.floor(limit)) });
    const messages = rows.map(
      (r): LogMessage => ({
        messageId: String(r.seq),
        seq: r.seq,
        publishTime: r.publish_time,
        attributes: decodeAttributes(r.attributes),
        data: r.data,
      }),
    );
    return { messages, cursor: rows.length > 0 ? rows[rows.length - 1]!.seq : afterSeq };
  }

  headSeq(): number {
    if (!this.db.open) throw new ApiError('UNAVAILABLE', 'The event log reader is closed.');
    return this.head.get()?.seq ?? 0;
  }

  watch(topic: string, listener: (lastSeq: number) => void): () => void {
    return this.watchers.add(topic, listener);
  }

  /** Number of live watchers (all topics): lets tests and metrics see that streams clean up. */
  watcherCount(): number {
    return this.watchers.count();
  }

  close(): void {
    this.unsubscribe();
    this.watchers.clear();
    if (this.db.open) this.db.close();
  }

  private dispatch(e: CommitEvent): void {
    this.watchers.dispatch(e.topics, e.lastSeq);
  }
}

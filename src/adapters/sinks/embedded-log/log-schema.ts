import Database from 'better-sqlite3';
import { ApiError, isApiError } from '../../../domain/errors.js';

/**
 * The embedded log's file format, shared by the writer (main thread or worker) and the readers.
 *
 * One table, appended to in seq order. `seq` is AUTOINCREMENT rather than a plain rowid so it is
 * never reused, even when retention has emptied the table: a reader's cursor must never point at
 * a number that later names a different message.
 *
 * Version 2 added `ordering_key` (Pub/Sub ordering keys of API Publish; '' for device messages).
 *
 * Version 3 stores a short code in `topic` instead of the topic's name ("~1", "~2", …, from
 * `topic_codes`): the name, some 50 bytes, was written twice per row (the row and the (topic, seq)
 * index), and the log's rows are written twice more by the WAL and its checkpoint. Rows written
 * before version 3 keep their names: a topic that has such rows takes its name as its code, so
 * each topic has one code in every row, and upgrading rewrites nothing. A name without a code has
 * only such rows, so readers look a name up as its code or, lacking one, as itself.
 */

export type Synchronous = 'FULL' | 'NORMAL';

export const SCHEMA_VERSION = 3;

/** Version 1's table; a new file is created as one and brought up to date like an old one. */
const SCHEMA_V1 = `
  CREATE TABLE IF NOT EXISTS messages (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    topic        TEXT    NOT NULL,
    publish_time INTEGER NOT NULL,
    attributes   TEXT    NOT NULL,
    data         BLOB    NOT NULL
  );
  CREATE INDEX IF NOT EXISTS messages_topic_seq ON messages (topic, seq);
`;

/**
 * v1 -> v2. A constant default makes ADD COLUMN a change of the schema text only: no row of a
 * large existing log is rewritten, and the old rows read back with no ordering key.
 */
const ADD_ORDERING_KEY = "ALTER TABLE messages ADD COLUMN ordering_key TEXT NOT NULL DEFAULT ''";

/** v2 -> v3 (and every new file): the codes of the topics written since. */
const TOPIC_CODES = 'CREATE TABLE IF NOT EXISTS topic_codes (name TEXT PRIMARY KEY, code TEXT NOT NULL UNIQUE) WITHOUT ROWID';

/** Prefix of a generated code: topic names are resource names ("projects/…"), so none starts with it. */
export const CODE_PREFIX = '~';
export const TOPIC_CODE_SQL = 'SELECT code FROM topic_codes WHERE name = ?';
export const CODE_TAKEN_SQL = 'SELECT 1 FROM topic_codes WHERE code = ?';
export const CODE_COUNT_SQL = 'SELECT count(*) FROM topic_codes';
/** Whether a name has rows from before version 3 (under the name itself): one index probe. */
export const LEGACY_ROWS_SQL = 'SELECT 1 FROM messages WHERE topic = ? LIMIT 1';
export const ADD_CODE_SQL = 'INSERT INTO topic_codes (name, code) VALUES (?, ?)';

/** The rows of the topic named @topic: its code, or its name for a topic with rows from before version 3 only. */
const OF_TOPIC = 'topic = coalesce((SELECT code FROM topic_codes WHERE name = @topic), @topic)';

export const INSERT_SQL = 'INSERT INTO messages (topic, publish_time, attributes, data, ordering_key) VALUES (?, ?, ?, ?, ?)';

/** One INSERT of `rows` rows (one statement per chunk of a batch: one native call per chunk, not per row). */
export function insertRowsSql(rows: number): string {
  return `INSERT INTO messages (topic, publish_time, attributes, data, ordering_key) VALUES ${Array.from({ length: rows }, () => '(?, ?, ?, ?, ?)').join(', ')}`;
}

/**
 * The same for rows of one topic without ordering keys (every telemetry batch of a registry with
 * one route): the topic is bound once as @topic, and the empty ordering key is part of the text,
 * so a row binds three values instead of five. Binding a string costs two passes over it.
 */
export function insertTopicRowsSql(rows: number): string {
  return `INSERT INTO messages (topic, publish_time, attributes, data, ordering_key) VALUES ${Array.from({ length: rows }, () => "(@topic, ?, ?, ?, '')").join(', ')}`;
}

/** Upper bound of one retention chunk: the seq `chunk` rows after `after` (or the last one). */
export const CHUNK_END_SQL = 'SELECT seq FROM messages WHERE seq > ? ORDER BY seq LIMIT 1 OFFSET ?';
export const LAST_SEQ_SQL = 'SELECT max(seq) AS seq FROM messages WHERE seq > ?';
/** A seq range is a rowid range scan, so one statement never visits more than a chunk of rows. */
export const DELETE_RANGE_SQL = 'DELETE FROM messages WHERE seq > ? AND seq <= ? AND publish_time < ?';

export const SELECT_PAGE_SQL = `SELECT seq, publish_time, attributes, data FROM messages WHERE ${OF_TOPIC} AND seq > @after ORDER BY seq LIMIT @limit`;
/** The Pub/Sub read side's page: SELECT_PAGE_SQL plus the ordering key. */
export const SELECT_PS_PAGE_SQL = `SELECT seq, publish_time, attributes, data, ordering_key FROM messages WHERE ${OF_TOPIC} AND seq > @after ORDER BY seq LIMIT @limit`;
/** Counted on the (topic, seq) index alone: no row is read. */
export const COUNT_AFTER_SQL = `SELECT count(*) FROM messages WHERE ${OF_TOPIC} AND seq > @after`;
/**
 * Walks the topic's index from its newest row back to the first one published before the time:
 * a seek to a recent time (the usual one) reads a few rows, and no publish_time index has to be
 * maintained on the telemetry hot path for this rare call. Log order decides (C-PS-SEEK-TIME).
 */
export const SEQ_BEFORE_SQL = `SELECT seq FROM messages WHERE ${OF_TOPIC} AND publish_time < @time ORDER BY seq DESC LIMIT 1`;
/** The high-water mark survives deletions (sqlite_sequence), unlike max(seq). */
export const HEAD_SQL = "SELECT seq FROM sqlite_sequence WHERE name = 'messages'";

export interface MessageRow {
  seq: number;
  publish_time: number;
  attributes: string;
  data: Buffer;
}

export interface PsMessageRow extends MessageRow {
  ordering_key: string;
}

/** Opens the writer's connection: creates the schema, WAL, the requested durability. */
export function openWriterDb(path: string, synchronous: Synchronous): Database.Database {
  const db = new Database(path);
  try {
    db.pragma('busy_timeout = 5000');
    db.pragma('journal_mode = WAL');
    // FULL: COMMIT returns only after the WAL is fsynced, which is what a QoS 1 PUBACK promises.
    // NORMAL only syncs at checkpoints: faster, but a power cut can lose the latest commits.
    db.pragma(`synchronous = ${synchronous}`);
    // After a burst the WAL is truncated back to this size instead of keeping its peak on disk.
    db.pragma('journal_size_limit = 67108864');
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new Error(`${path} has event log schema version ${version}; this Bridgehead knows up to ${SCHEMA_VERSION}.`);
    }
    db.transaction(() => {
      db.exec(SCHEMA_V1);
      // The column, not user_version, decides: a file is upgraded exactly once whatever its history.
      const columns = db.prepare<[], { name: string }>("SELECT name FROM pragma_table_info('messages')").all();
      if (!columns.some((c) => c.name === 'ordering_key')) db.exec(ADD_ORDERING_KEY);
      db.exec(TOPIC_CODES);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }).immediate();
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

/** A reader's connection: read-only, so a bug in a reader can never write to the log. */
export function openReaderDb(path: string): Database.Database {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  return db;
}

/** Writer failures as the error vocabulary: a full disk is not the caller's bug, nor is a busy file. */
export function translateWriteError(code: string | undefined, message: string, cause?: unknown): ApiError {
  if (isApiError(cause)) return cause;
  if (code === 'SQLITE_FULL') return new ApiError('RESOURCE_EXHAUSTED', 'The event log is out of space.', { cause });
  if (code?.startsWith('SQLITE_BUSY') || code?.startsWith('SQLITE_LOCKED') || code === 'SQLITE_IOERR') {
    return new ApiError('UNAVAILABLE', 'The event log is temporarily unavailable; retry.', { cause });
  }
  return new ApiError('INTERNAL', `Internal error in the event log: ${message}`, { cause });
}

export const sqliteCode = (e: unknown): string | undefined =>
  e instanceof Database.SqliteError ? e.code : undefined;

// --- Attribute encoding --------------------------------------------------------------------------

/**
 * The attribute keys every telemetry message carries (spec §8.1). Stored by position, so a row
 * holds `["dev-1","2794...","reg","us-central1","proj","sub"]` (~50 bytes) instead of the ~150
 * bytes of the keyed JSON object. Positions are part of the file format: append, never reorder.
 */
const KNOWN_KEYS = ['deviceId', 'deviceNumId', 'deviceRegistryId', 'deviceRegistryLocation', 'projectId', 'subFolder'] as const;
const KNOWN_INDEX: ReadonlyMap<string, number> = new Map(KNOWN_KEYS.map((k, i) => [k, i]));

/** `0` marks an absent known key; JSON takes care of any character a value may hold. */
type Slot = string | 0;

/**
 * Attribute objects are shared per device (the port promises they are not mutated), so each is
 * encoded once; the WeakMap lets the entry go with the device's object.
 */
const encoded = new WeakMap<object, string>();

/**
 * `[known0..known5, extraKey, extraValue, ...]`: the known keys by position (trailing absent ones
 * dropped when there are no extras), then any other keys as pairs.
 */
export function encodeAttributes(attributes: Readonly<Record<string, string>>): string {
  const hit = encoded.get(attributes);
  if (hit !== undefined) return hit;
  const known: Slot[] = [0, 0, 0, 0, 0, 0];
  const extra: string[] = [];
  for (const key of Object.keys(attributes)) {
    const value = attributes[key]!;
    const i = KNOWN_INDEX.get(key);
    if (i === undefined) extra.push(key, value);
    else known[i] = value;
  }
  if (extra.length === 0) while (known.length > 0 && known[known.length - 1] === 0) known.pop();
  const text = JSON.stringify(extra.length === 0 ? known : [...known, ...extra]);
  encoded.set(attributes, text);
  return text;
}

export function decodeAttributes(text: string): Record<string, string> {
  const slots = JSON.parse(text) as Slot[];
  const entries: [string, string][] = [];
  const knownEnd = Math.min(slots.length, KNOWN_KEYS.length);
  for (let i = 0; i < knownEnd; i++) {
    const v = slots[i]!;
    if (v !== 0) entries.push([KNOWN_KEYS[i]!, v]);
  }
  for (let i = KNOWN_KEYS.length; i + 1 < slots.length; i += 2) entries.push([String(slots[i]), String(slots[i + 1])]);
  // fromEntries defines own properties, so a key such as "__proto__" stays an ordinary attribute.
  return Object.fromEntries(entries);
}

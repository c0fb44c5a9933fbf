/**
 * The floor of a Node MQTT server that acknowledges QoS 1 telemetry only once it is durably
 * stored, run as its own process by durable-floor.ts (argv: cert file, key file). Per message,
 * only what such a server cannot skip: the PUBLISH framed and its packet ID read (by hand, no
 * parser object), the payload kept, one SQLite transaction (WAL, synchronous=FULL, on a worker
 * thread so that the event loop reads sockets during the fsync) per event-loop turn's messages,
 * and a 4-byte PUBACK after COMMIT returned. Each row holds what the log needs to deliver the
 * message later, as small as it can be: the Pub/Sub topic, the time, the sender's number (not
 * its attributes) and the payload, with a (topic, seq) index for readers. No JWT (CONNECT is
 * answered CONNACK 0), sessions, metrics, limits or checks of the topic. The gap between this
 * and Bridgehead is what Bridgehead adds to a durable message; the gap between this and
 * Mosquitto is what the durable commit costs on this disk. Prints {port, plainPort, pid, dir}
 * as one JSON line; SIGTERM closes everything and removes `dir`. The bench's GC hook may be
 * preloaded.
 */
import { fdatasyncSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

export const FLOOR_TOPIC = 'projects/bench-project/topics/floor-telemetry';
const CHUNK_ROWS = 64;

/** One transaction's rows, as posted to the writer (buffers transferred, not copied). */
interface Batch {
  count: number;
  senders: Int32Array;
  /** Payload i is bytes[ends[i-1] ?? 0, ends[i]). */
  ends: Uint32Array;
  bytes: Uint8Array;
  publishTime: number;
}

if (isMainThread) runServer();
else runWriter(workerData as { path: string });

function openDb(path: string): Database.Database {
  const db = new Database(path);
  db.pragma(process.env.BENCH_FLOOR_STORE === 'rollback' ? 'journal_mode = PERSIST' : 'journal_mode = WAL');
  db.pragma('synchronous = FULL');
  // BENCH_FLOOR_CHECKPOINTS=<pages>, an experiment only: the WAL size (in 4 KiB pages; SQLite's
  // default is 1000) at which a commit copies it back into the database. 0: never (the WAL grows
  // for as long as the bench runs), which shows what the checkpoints' writes and fsyncs add to
  // the commits that wait on them.
  const pages = Number(process.env.BENCH_FLOOR_CHECKPOINTS ?? '');
  if (process.env.BENCH_FLOOR_CHECKPOINTS !== undefined && Number.isInteger(pages) && pages >= 0) db.pragma(`wal_autocheckpoint = ${pages}`);
  db.exec(`
    CREATE TABLE IF NOT EXISTS messages (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      topic TEXT NOT NULL,
      publish_time INTEGER NOT NULL,
      sender INTEGER NOT NULL,
      data BLOB NOT NULL
    );
    CREATE INDEX IF NOT EXISTS messages_topic_seq ON messages (topic, seq);
  `);
  return db;
}

/**
 * BENCH_FLOOR_STORE, an experiment only (the default is the SQLite floor above):
 * - `file`: each batch is appended to a flat file in one write and fdatasync'd, no SQLite. What a
 *   log that writes every message once (no WAL, no checkpoint copying it again) would leave of
 *   the PUBACK tail on this disk; such a log could not serve readers by topic as it is.
 * - `rollback`: SQLite with a rollback journal (PERSIST) instead of the WAL: appended pages are
 *   written once, into the database, and only the pages a commit changes are copied to the journal
 *   first; two fsyncs per commit instead of one, and no checkpoints.
 * - `journal`: the same flat file is the commit (PUBACK after its fdatasync), and the batch then
 *   goes into SQLite with synchronous=OFF, as a log keeping a journal in front of its database
 *   would do. A crash would replay the journal; the floor does not.
 */
function runFileWriter(path: string, then?: (b: Batch) => void): void {
  const fd = openSync(`${path}.seg`, 'a');
  parentPort!.on('message', (b: Batch) => {
    // Per row: payload length, sender, publish time; then the payloads, in one buffer.
    const out = Buffer.allocUnsafe(16 * b.count + b.bytes.length);
    let at = 0;
    let start = 0;
    for (let i = 0; i < b.count; i++) {
      const end = b.ends[i]!;
      out.writeUInt32LE(end - start, at);
      out.writeInt32LE(b.senders[i]!, at + 4);
      out.writeDoubleLE(b.publishTime, at + 8);
      out.set(b.bytes.subarray(start, end), at + 16);
      at += 16 + end - start;
      start = end;
    }
    writeSync(fd, out, 0, at);
    fdatasyncSync(fd);
    parentPort!.postMessage(b.count);
    then?.(b);
  });
}

function runWriter({ path }: { path: string }): void {
  if (process.env.BENCH_FLOOR_STORE === 'file') return runFileWriter(path);
  const db = openDb(path);
  if (process.env.BENCH_FLOOR_STORE === 'journal') db.pragma('synchronous = OFF');
  const rowSql = '(?, ?, ?, ?)';
  const insertChunk = db.prepare(`INSERT INTO messages (topic, publish_time, sender, data) VALUES ${Array.from({ length: CHUNK_ROWS }, () => rowSql).join(', ')}`);
  const insertOne = db.prepare(`INSERT INTO messages (topic, publish_time, sender, data) VALUES ${rowSql}`);
  const params = new Array<unknown>(CHUNK_ROWS * 4);
  const write = db.transaction((b: Batch) => {
    let start = 0;
    let i = 0;
    for (; i + CHUNK_ROWS <= b.count; i += CHUNK_ROWS) {
      for (let k = 0, p = 0; k < CHUNK_ROWS; k++) {
        const end = b.ends[i + k]!;
        params[p++] = FLOOR_TOPIC;
        params[p++] = b.publishTime;
        params[p++] = b.senders[i + k]!;
        params[p++] = b.bytes.subarray(start, end);
        start = end;
      }
      insertChunk.run(params);
    }
    for (; i < b.count; i++) {
      const end = b.ends[i]!;
      insertOne.run(FLOOR_TOPIC, b.publishTime, b.senders[i]!, b.bytes.subarray(start, end));
      start = end;
    }
  }).immediate;
  if (process.env.BENCH_FLOOR_STORE === 'journal') return runFileWriter(path, write);
  parentPort!.on('message', (b: Batch) => {
    write(b);
    parentPort!.postMessage(b.count);
  });
}

function runServer(): void {
  const [certFile, keyFile] = process.argv.slice(2);
  if (certFile === undefined || keyFile === undefined) throw new Error('usage: floor-telemetry-server.js CERT KEY');
  const dir = mkdtempSync(join(tmpdir(), 'bridgehead-bench-floor-telemetry-'));
  const path = join(dir, 'log.db');
  openDb(path).close();
  const writer = new Worker(new URL(import.meta.url), { workerData: { path } });

  const CONNACK_OK = Buffer.from([0x20, 0x02, 0x00, 0x00]);
  const PINGRESP = Buffer.from([0xd0, 0x00]);
  /** Messages read since the last batch went to the writer: who sent them and their packet IDs. */
  let sockets: Socket[] = [];
  let ids: number[] = [];
  let senders: number[] = [];
  let payloads: Buffer[] = [];
  let payloadBytes = 0;
  /** The batch the writer holds: acknowledged when it answers. */
  let inFlight: { sockets: Socket[]; ids: number[] } | undefined;
  let flushScheduled = false;
  let nextSender = 0;

  const flush = (): void => {
    flushScheduled = false;
    if (inFlight !== undefined || ids.length === 0) return;
    const count = ids.length;
    const ends = new Uint32Array(count);
    const bytes = new Uint8Array(payloadBytes);
    for (let i = 0, at = 0; i < count; i++) {
      bytes.set(payloads[i]!, at);
      at += payloads[i]!.length;
      ends[i] = at;
    }
    const senderIds = Int32Array.from(senders);
    const batch: Batch = { count, senders: senderIds, ends, bytes, publishTime: Date.now() };
    inFlight = { sockets, ids };
    sockets = [];
    ids = [];
    senders = [];
    payloads = [];
    payloadBytes = 0;
    writer.postMessage(batch, [senderIds.buffer as ArrayBuffer, ends.buffer as ArrayBuffer, bytes.buffer as ArrayBuffer]);
  };
  writer.on('message', () => {
    const done = inFlight!;
    inFlight = undefined;
    // One write per socket for the whole batch: its PUBACKs, in order.
    const acks = new Map<Socket, number[]>();
    for (let i = 0; i < done.ids.length; i++) {
      const s = done.sockets[i]!;
      let list = acks.get(s);
      if (list === undefined) acks.set(s, (list = []));
      list.push(done.ids[i]!);
    }
    for (const [s, list] of acks) {
      if (s.destroyed) continue;
      const out = Buffer.allocUnsafe(4 * list.length);
      for (let i = 0; i < list.length; i++) {
        out[4 * i] = 0x40;
        out[4 * i + 1] = 0x02;
        out.writeUInt16BE(list[i]!, 4 * i + 2);
      }
      s.write(out);
    }
    if (ids.length > 0) flush();
  });
  writer.on('error', (e) => {
    console.error(e);
    process.exit(1);
  });

  const open = new Set<Socket>();
  const onConnection = (s: Socket): void => {
    open.add(s);
    s.setNoDelay(true);
    s.on('error', () => undefined);
    s.once('close', () => open.delete(s));
    const sender = ++nextSender;
    let rest: Buffer | undefined;
    s.on('data', (chunk: Buffer) => {
      const buf = rest === undefined ? chunk : Buffer.concat([rest, chunk]);
      rest = undefined;
      let at = 0;
      while (at < buf.length) {
        // Fixed header: type and flags, then the remaining length (1-4 bytes, 7 bits each).
        let length = 0;
        let i = at + 1;
        let shift = 0;
        let complete = false;
        for (; i < buf.length && i < at + 5; i++, shift += 7) {
          const b = buf[i]!;
          length += (b & 0x7f) * 2 ** shift;
          if ((b & 0x80) === 0) {
            complete = true;
            i++;
            break;
          }
        }
        if (!complete) {
          if (i >= at + 5) return void s.destroy();
          break;
        }
        const end = i + length;
        if (end > buf.length) break;
        const type = buf[at]! >> 4;
        if (type === 3) {
          const qos = (buf[at]! >> 1) & 3;
          const topicEnd = i + 2 + buf.readUInt16BE(i);
          if (qos === 1) {
            ids.push(buf.readUInt16BE(topicEnd));
            sockets.push(s);
            senders.push(sender);
            const payload = buf.subarray(topicEnd + 2, end);
            payloads.push(payload);
            payloadBytes += payload.length;
            if (!flushScheduled) {
              flushScheduled = true;
              setImmediate(flush);
            }
          }
        } else if (type === 1) s.write(CONNACK_OK);
        else if (type === 12) s.write(PINGRESP);
        else if (type === 14) return void s.end();
        at = end;
      }
      if (at < buf.length) rest = buf.subarray(at);
    });
  };

  const tls = createTlsServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), minVersion: 'TLSv1.2' }, onConnection);
  const plain = createTcpServer(onConnection);
  const listen = (server: TcpServer): Promise<number> =>
    new Promise((resolve) =>
      server.listen(0, '127.0.0.1', () => {
        const a = server.address();
        resolve(typeof a === 'object' && a !== null ? a.port : 0);
      }),
    );
  void Promise.all([listen(tls), listen(plain)]).then(([port, plainPort]) => {
    process.stdout.write(`${JSON.stringify({ port, plainPort, pid: process.pid, dir })}\n`);
  });
  process.on('SIGTERM', () => {
    for (const s of open) s.destroy();
    tls.close();
    plain.close();
    void writer.terminate().then(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    });
  });
}

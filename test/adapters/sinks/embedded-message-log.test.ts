import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { EmbeddedLogSink } from '../../../src/adapters/sinks/embedded-log/embedded-log-sink.js';
import { EmbeddedMessageLog } from '../../../src/adapters/sinks/embedded-log/embedded-message-log.js';
import { SCHEMA_VERSION } from '../../../src/adapters/sinks/embedded-log/log-schema.js';
import { messageLogContract, type MessageLogUnderTest } from '../../contracts/message-log.contract.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bridgehead-message-log-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

let files = 0;
const newFile = (): string => path.join(dir, `log-${++files}.db`);

/** The sink as the server runs it (worker-thread writer, FULL sync) and the message log over its file. */
function openLog(file: string, writerThread = true): MessageLogUnderTest {
  const sink = EmbeddedLogSink.open(file, { writerThread });
  const log = EmbeddedMessageLog.open(file, sink);
  const handle: MessageLogUnderTest = {
    log,
    sink,
    close: async () => {
      log.close();
      await sink.close();
    },
    reopen: async () => {
      await handle.close();
      return openLog(file, writerThread);
    },
  };
  return handle;
}

messageLogContract('EmbeddedMessageLog (worker writer)', async () => openLog(newFile()));
messageLogContract('EmbeddedMessageLog (inline writer)', async () => openLog(newFile(), false));

/** The version 1 file format, as Bridgehead wrote it before ordering keys. */
function writeV1File(file: string, rows: { topic: string; publishTime: number; attributes: string; data: Uint8Array }[]): void {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec(`
    CREATE TABLE messages (
      seq          INTEGER PRIMARY KEY AUTOINCREMENT,
      topic        TEXT    NOT NULL,
      publish_time INTEGER NOT NULL,
      attributes   TEXT    NOT NULL,
      data         BLOB    NOT NULL
    );
    CREATE INDEX messages_topic_seq ON messages (topic, seq);
  `);
  db.pragma('user_version = 1');
  const insert = db.prepare('INSERT INTO messages (topic, publish_time, attributes, data) VALUES (?, ?, ?, ?)');
  for (const r of rows) insert.run(r.topic, r.publishTime, r.attributes, r.data);
  db.close();
}

describe('embedded log ordering keys (schema version 2)', () => {
  const T0 = Date.UTC(2030, 0, 1);
  const topic = 'projects/proj/topics/t';

  it('a version 1 log opens, keeps its messages without a key, and stores keys from then on', async () => {
    const file = newFile();
    writeV1File(file, [
      { topic, publishTime: T0, attributes: '["dev-1"]', data: new Uint8Array([1]) },
      { topic: 'projects/proj/topics/other', publishTime: T0 + 1, attributes: '[]', data: new Uint8Array([2]) },
      { topic, publishTime: T0 + 2, attributes: '[0,0,0,0,0,0,"k","v"]', data: new Uint8Array([3]) },
    ]);
    const h = openLog(file);
    try {
      const old = await h.log.read(topic, 0, 10);
      assert.deepEqual(
        old.map((m) => ({ seq: m.seq, key: m.orderingKey, attributes: m.attributes, data: [...m.data] })),
        [
          { seq: 1, key: '', attributes: { deviceId: 'dev-1' }, data: [1] },
          { seq: 3, key: '', attributes: { k: 'v' }, data: [3] },
        ],
      );
      assert.equal(await h.log.headSeq(topic), 3);
      assert.deepEqual(await h.sink.append([{ topic, attributes: {}, data: new Uint8Array([4]), publishTime: T0 + 3, orderingKey: 'k1' }]), ['4']);
      assert.deepEqual((await h.log.read(topic, 3, 10)).map((m) => m.orderingKey), ['k1']);
      // The REST routes' reader sees old and new rows alike.
      const reader = (h.sink as EmbeddedLogSink).createReader();
      assert.deepEqual(reader.read(topic, 0, 10).messages.map((m) => m.seq), [1, 3, 4]);
      reader.close();
    } finally {
      await h.close();
    }
    const db = new Database(file, { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    assert.deepEqual(
      (db.prepare("SELECT name FROM pragma_table_info('messages')").all() as { name: string }[]).map((c) => c.name),
      ['seq', 'topic', 'publish_time', 'attributes', 'data', 'ordering_key'],
    );
    db.close();
    // Opening again upgrades nothing twice.
    await openLog(file).close();
  });

  it('a batch mixing keyed and unkeyed messages stores each key on its own row', async () => {
    const h = openLog(newFile());
    try {
      const m = (key: string | undefined) => ({ topic, attributes: {}, data: new Uint8Array(0), publishTime: T0, ...(key === undefined ? {} : { orderingKey: key }) });
      // One event-loop turn: one commit holding all of them, keyed ones after unkeyed ones.
      await Promise.all([h.sink.append([m(undefined), m(undefined)]), h.sink.append([m('a'), m(undefined), m('b')]), h.sink.append([m('')])]);
      assert.deepEqual((await h.log.read(topic, 0, 10)).map((x) => x.orderingKey), ['', '', 'a', '', 'b', '']);
    } finally {
      await h.close();
    }
  });

  it('a non-string ordering key is refused before it reaches the batch', async () => {
    const h = openLog(newFile());
    try {
      const bad = { topic, attributes: {}, data: new Uint8Array(0), publishTime: T0, orderingKey: 7 as unknown as string };
      await assert.rejects(h.sink.append([bad]), { kind: 'INVALID_ARGUMENT' });
    } finally {
      await h.close();
    }
  });

  it('a closed message log refuses reads with UNAVAILABLE', async () => {
    const h = openLog(newFile());
    await h.close();
    await assert.rejects(h.log.read(topic, 0, 1), { kind: 'UNAVAILABLE' });
    await assert.rejects(h.log.seqBefore(topic, T0), { kind: 'UNAVAILABLE' });
  });
});

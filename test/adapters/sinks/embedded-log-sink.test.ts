import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { EmbeddedLogSink, type EmbeddedLogOptions } from '../../../src/adapters/sinks/embedded-log/embedded-log-sink.js';
import { decodeAttributes, encodeAttributes } from '../../../src/adapters/sinks/embedded-log/log-schema.js';
import { EmbeddedMessageLog } from '../../../src/adapters/sinks/embedded-log/embedded-message-log.js';
import { EmbeddedLogReader, type LogMessage } from '../../../src/adapters/sinks/embedded-log/log-reader.js';
import { LogWriterCore, mergeSegments, packRows, type PackedRows } from '../../../src/adapters/sinks/embedded-log/log-writer.js';
import { isApiError } from '../../../src/domain/errors.js';
import { columnsOf, TelemetryPacker } from '../../../src/services/telemetry-packer.js';
import { msg, sinkContract } from '../../contracts/sink.contract.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bridgehead-event-log-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let files = 0;
const newFile = (): string => path.join(dir, `events-${++files}.db`);
const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'durability-child.js');
const text = (m: LogMessage): string => new TextDecoder().decode(m.data);
/** Every row as stored, its topic code turned back into the name (log-schema.ts, version 3). */
function storedRows(file: string): Array<{ seq: number; topic: string; t: number; attributes: string; data: Buffer; key: string }> {
  const db = new Database(file, { readonly: true });
  try {
    return db
      .prepare(
        'SELECT seq, coalesce(c.name, m.topic) AS topic, publish_time AS t, attributes, data, ordering_key AS key FROM messages m LEFT JOIN topic_codes c ON c.code = m.topic ORDER BY seq',
      )
      .all() as ReturnType<typeof storedRows>;
  } finally {
    db.close();
  }
}

function readAll(reader: EmbeddedLogReader, topic: string): LogMessage[] {
  const out: LogMessage[] = [];
  for (let cursor = 0; ; ) {
    const page = reader.read(topic, cursor, 1000);
    out.push(...page.messages);
    if (page.messages.length < 1000) return out;
    cursor = page.cursor;
  }
}

/** A sink and its reader, closed together. */
function openBoth(file: string, opts: EmbeddedLogOptions): { sink: EmbeddedLogSink; reader: EmbeddedLogReader; close(): Promise<void> } {
  const sink = EmbeddedLogSink.open(file, opts);
  const reader = sink.createReader();
  return {
    sink,
    reader,
    async close() {
      await sink.close();
      reader.close();
    },
  };
}

for (const writerThread of [false, true]) {
  const mode = writerThread ? 'worker' : 'inline';

  sinkContract(`EmbeddedLogSink (${mode} writer)`, async (opts) => {
    const { sink, reader } = openBoth(newFile(), { ...opts, writerThread });
    return {
      sink,
      readTopic: async (topic) => readAll(reader, topic),
      commits: () => sink.diagnostics().commits,
      dispose: async () => reader.close(),
    };
  });

  describe(`EmbeddedLogSink specifics (${mode} writer)`, () => {
    const topic = 'projects/p/topics/t';

    it('packed telemetry commits in call order with the plain appends of its turn, topics and attributes from the tables', async () => {
      const log = openBoth(newFile(), { writerThread });
      const other = 'projects/p/topics/other';
      const a = Object.freeze({ deviceId: 'dev-a', subFolder: 'x' });
      const b = Object.freeze({ deviceId: 'dev-b' });
      const packer = new TelemetryPacker();
      packer.add(topic, a, Buffer.from('p1'), 1000);
      packer.add(other, b, new Uint8Array(0), 1001);
      packer.add(topic, b, Buffer.from('p3-longer'), 1002);
      const first = log.sink.append([msg(topic, 'before')]);
      const packed = log.sink.appendPacked(packer.finish());
      const last = log.sink.append([msg(topic, 'after')]);
      assert.deepEqual(await first, ['1']);
      assert.equal(await packed, undefined);
      assert.deepEqual(await last, ['5']);
      const onTopic = readAll(log.reader, topic);
      assert.deepEqual(onTopic.map(text), ['before', 'p1', 'p3-longer', 'after']);
      assert.deepEqual(onTopic[1]!.attributes, a);
      assert.deepEqual(onTopic[2]!.attributes, b);
      assert.deepEqual([onTopic[1]!.publishTime, onTopic[2]!.publishTime], [1000, 1002]);
      const onOther = readAll(log.reader, other);
      assert.deepEqual(onOther.map((m) => [text(m), m.attributes, m.publishTime]), [['', b, 1001]]);
      await assert.rejects(log.sink.appendPacked({ count: 3, topics: [], attributes: [], buffer: new ArrayBuffer(8) }), (e) => isApiError(e) && e.kind === 'INVALID_ARGUMENT');
      await log.close();
    });

    it('rejects with UNAVAILABLE beyond twice the queue bound, and accepts up to it', async () => {
      const log = openBoth(newFile(), { writerThread, maxQueuedMessages: 5 });
      const ok = Array.from({ length: 10 }, (_v, i) => log.sink.append([msg(topic, String(i))]));
      await assert.rejects(log.sink.append([msg(topic, 'too many')]), (e) => isApiError(e) && e.kind === 'UNAVAILABLE');
      assert.equal((await Promise.all(ok)).length, 10);
      assert.equal(log.sink.saturated(), false);
      await log.close();
    });

    it('splits a turn into transactions of at most maxBatch, never splitting one call', async () => {
      const log = openBoth(newFile(), { writerThread, maxBatch: 3 });
      const before = log.sink.diagnostics().commits;
      await Promise.all(Array.from({ length: 5 }, (_v, i) => log.sink.append([msg(topic, String(i))])));
      assert.equal(log.sink.diagnostics().commits - before, 2);
      await log.sink.append(Array.from({ length: 5 }, (_v, i) => msg(topic, `big-${i}`)));
      assert.equal(log.sink.diagnostics().commits - before, 3);
      assert.equal(log.sink.diagnostics().lastBatchSize, 5);
      await log.close();
    });

    it('a failed commit rejects every call of its batch and writes none of it', async () => {
      const file = newFile();
      const log = openBoth(file, { writerThread });
      const other = new Database(file);
      // Rows carry their topic's code, made in the same transaction before its rows are inserted.
      other.exec(`CREATE TRIGGER poison BEFORE INSERT ON messages
                  WHEN NEW.topic = (SELECT code FROM topic_codes WHERE name = 'projects/p/topics/poison')
                  BEGIN SELECT RAISE(ABORT, 'poisoned'); END`);
      other.close();
      const calls = [
        log.sink.append([msg(topic, 'innocent-1')]),
        log.sink.append([msg('projects/p/topics/poison', 'bad')]),
        log.sink.append([msg(topic, 'innocent-2'), msg(topic, 'innocent-3')]),
      ];
      const results = await Promise.allSettled(calls);
      assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected', 'rejected']);
      const reason = (results[0] as PromiseRejectedResult).reason as unknown;
      assert.ok(isApiError(reason) && reason.kind === 'INTERNAL', String(reason));
      assert.deepEqual(readAll(log.reader, topic), []);
      assert.equal(log.sink.diagnostics().failedCommits, 1);
      assert.equal(log.sink.diagnostics().pending, 0);
      // The sink carries on with the next batch.
      await log.sink.append([msg(topic, 'later')]);
      assert.deepEqual(readAll(log.reader, topic).map(text), ['later']);
      await log.close();
    });

    it('rejects a malformed message without failing the others of its turn', async () => {
      const log = openBoth(newFile(), { writerThread });
      const bad = { ...msg(topic, 'x'), data: 'not bytes' as unknown as Uint8Array };
      const good = log.sink.append([msg(topic, 'good')]);
      await assert.rejects(log.sink.append([bad]), (e) => isApiError(e) && e.kind === 'INVALID_ARGUMENT');
      assert.equal((await good).length, 1);
      await log.close();
    });

    it('retention deletes messages older than retentionMs by the clock, and IDs are never reused', async () => {
      let now = Date.UTC(2030, 5, 1);
      const file = newFile();
      const log = openBoth(file, { writerThread, retentionMs: 60_000, clock: { now: () => now } });
      await log.sink.append([msg(topic, 'old-1', undefined, now - 61_000), msg(topic, 'old-2', undefined, now - 60_001)]);
      const young = await log.sink.append([msg(topic, 'young', undefined, now - 60_000), msg(topic, 'new', undefined, now)]);
      assert.equal(await log.sink.prune(), 2);
      assert.deepEqual(readAll(log.reader, topic).map(text), ['young', 'new']);
      now += 120_000;
      assert.equal(await log.sink.prune(), 2);
      assert.deepEqual(readAll(log.reader, topic), []);
      assert.equal(log.reader.headSeq(), Number(young[1]));
      await log.close();
      const again = openBoth(file, { writerThread });
      const [id] = await again.sink.append([msg(topic, 'after restart')]);
      assert.equal(Number(id), Number(young[1]) + 1);
      await again.close();
    });

    it('data survives close and reopen, and new IDs continue after the old ones', async () => {
      const file = newFile();
      const first = openBoth(file, { writerThread });
      const ids = await first.sink.append([msg(topic, 'one'), msg(topic, 'two')]);
      await first.close();
      const second = openBoth(file, { writerThread });
      assert.deepEqual(readAll(second.reader, topic).map((m) => [m.messageId, text(m)]), [[ids[0], 'one'], [ids[1], 'two']]);
      const [next] = await second.sink.append([msg(topic, 'three')]);
      assert.ok(Number(next) > Number(ids[1]));
      await second.close();
    });

    it('notifies watchers of a topic after its commits, with the last seq', async () => {
      const log = openBoth(newFile(), { writerThread });
      const seen: number[] = [];
      const notified = new Promise<void>((resolve) =>
        log.reader.watch(topic, (lastSeq) => {
          seen.push(lastSeq);
          // Notified after COMMIT: the reader's own connection already sees the message.
          assert.equal(readAll(log.reader, topic).at(-1)?.seq, lastSeq);
          resolve();
        }),
      );
      await log.sink.append([msg('projects/p/topics/other', 'not mine')]);
      assert.deepEqual(seen, []);
      const [id] = await log.sink.append([msg(topic, 'mine')]);
      await notified;
      assert.deepEqual(seen, [Number(id)]);
      await log.close();
    });

    it(`every acknowledged append survives SIGKILL of the writing process`, async () => {
      const file = newFile();
      const child = spawn(process.execPath, [CHILD, file, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const acked = new Map<string, number>();
      const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
      createInterface({ input: child.stdout }).on('line', (line) => {
        const [id, k] = line.split(' ');
        acked.set(id!, Number(k));
        if (acked.size === 3000) child.kill('SIGKILL');
      });
      await closed;
      assert.ok(acked.size >= 3000, `child died early after ${acked.size} acks:\n${stderr}`);
      const log = openBoth(file, { writerThread });
      const stored = new Map(readAll(log.reader, 'projects/p/topics/durable').map((m) => [m.messageId, text(m)]));
      for (const [id, k] of acked) assert.equal(stored.get(id), `payload-${k}`, `acknowledged message ${id} lost`);
      await log.close();
    });
  });
}

describe('embedded log internals', () => {
  it('encodes the standard attributes by position and decodes every object back', () => {
    const full = {
      deviceId: 'dev-1',
      deviceNumId: '2794855512345678',
      deviceRegistryId: 'reg',
      deviceRegistryLocation: 'us-central1',
      projectId: 'proj',
      subFolder: 'a/b',
    };
    assert.equal(encodeAttributes(full), '["dev-1","2794855512345678","reg","us-central1","proj","a/b"]');
    const cases: Record<string, string>[] = [full, {}, { deviceId: 'd' }, { subFolder: 's' }, { x: '1', deviceId: 'd' }, { ['__proto__']: 'p' }, { '0': 'zero' }];
    for (const attrs of cases) {
      assert.deepEqual(decodeAttributes(encodeAttributes(attrs)), attrs);
    }
    const shared = Object.freeze({ deviceId: 'cached' });
    assert.equal(encodeAttributes(shared), encodeAttributes(shared));
  });

  it('a retention step examines at most one chunk and reports where it stopped', () => {
    const core = new LogWriterCore(newFile(), 'NORMAL');
    const times = [1, 2, 3, 100, 4, 5, 6];
    core.write({ segments: [packRows(times.map((publishTime) => ({ topic: 't', publishTime, attributes: '[]', data: new Uint8Array(1) })))] });
    assert.deepEqual(core.pruneStep(0, 50, 3), { deleted: 3, endSeq: 3, done: false });
    assert.deepEqual(core.pruneStep(3, 50, 3), { deleted: 2, endSeq: 6, done: false });
    assert.deepEqual(core.pruneStep(6, 50, 3), { deleted: 1, endSeq: 7, done: true });
    assert.deepEqual(core.pruneStep(7, 50, 3), { deleted: 0, endSeq: 7, done: true });
    core.close();
  });

  it('a batch of chunked and single-row inserts gets consecutive seqs and every row back as written', () => {
    const file = newFile();
    const core = new LogWriterCore(file, 'NORMAL');
    // Segments of 200 (3 full 64-row chunks + 8 single rows), 1 and 64 rows; one segment with ordering keys.
    const segment = (n: number, from: number, keys: boolean): ReturnType<typeof packRows> =>
      packRows(
        Array.from({ length: n }, (_, k) => ({
          topic: `t${(from + k) % 3}`,
          publishTime: 1_000 + from + k,
          attributes: encodeAttributes({ deviceId: `d${(from + k) % 7}` }),
          data: new TextEncoder().encode(`m${from + k}`),
          ...(keys ? { orderingKey: k % 2 === 0 ? `k${k % 5}` : '' } : {}),
        })),
      );
    const first = core.write({ segments: [segment(200, 0, false), segment(1, 200, false), segment(64, 201, true)] });
    assert.equal(first, 1);
    assert.equal(core.write({ segments: [segment(70, 265, false)] }), 266, 'the next batch continues the seqs');
    core.close();
    const rows = storedRows(file);
    assert.equal(rows.length, 335);
    rows.forEach((r, i) => {
      assert.equal(r.seq, i + 1);
      assert.equal(r.topic, `t${i % 3}`);
      assert.equal(r.t, 1_000 + i);
      assert.deepEqual(decodeAttributes(r.attributes), { deviceId: `d${i % 7}` });
      assert.equal(r.data.toString(), `m${i}`);
      const k = i - 201;
      assert.equal(r.key, k >= 0 && k < 64 && k % 2 === 0 ? `k${k % 5}` : '', `ordering key of row ${i}`);
    });
  });

  it('rows of a one-topic segment (its topic bound once per chunk) read back as written, beside a segment of several topics', () => {
    const file = newFile();
    const core = new LogWriterCore(file, 'NORMAL');
    const rowsFrom = (n: number, from: number, topic: (i: number) => string) =>
      Array.from({ length: n }, (_, k) => ({
        topic: topic(from + k),
        publishTime: 5_000 + from + k,
        attributes: encodeAttributes({ deviceId: `d${(from + k) % 7}`, subFolder: `s${(from + k) % 2}` }),
        data: new TextEncoder().encode(`p${from + k}`),
      }));
    const written = [...rowsFrom(150, 0, () => 'projects/p/topics/only'), ...rowsFrom(70, 150, (i) => `projects/p/topics/t${i % 2}`), ...rowsFrom(65, 220, () => 'projects/p/topics/only')];
    assert.equal(core.write({ segments: [packRows(written.slice(0, 150)), packRows(written.slice(150, 220))] }), 1);
    assert.equal(core.write({ segments: [packRows(written.slice(220))] }), 221);
    core.close();
    const rows = storedRows(file);
    assert.equal(rows.length, written.length);
    rows.forEach((r, i) => {
      const w = written[i]!;
      assert.deepEqual({ seq: r.seq, topic: r.topic, t: r.t, attributes: r.attributes, data: r.data.toString(), key: r.key }, { seq: i + 1, topic: w.topic, t: w.publishTime, attributes: w.attributes, data: `p${i}`, key: '' }, `row ${i}`);
    });
  });

  it('rows carry a short code for their topic, and a transaction that rolls back keeps none of the codes it made', () => {
    const file = newFile();
    const core = new LogWriterCore(file, 'NORMAL');
    const rows = (topic: string, n: number, tag: string) =>
      packRows(Array.from({ length: n }, (_, i) => ({ topic, publishTime: 1 + i, attributes: '[]', data: new TextEncoder().encode(`${tag}${i}`) })));
    // A segment that names a topic but has no rows makes the transaction throw after the code was made.
    assert.throws(() => core.write({ segments: [{ count: 0, topics: ['projects/p/topics/x'], attributes: [], buffer: new ArrayBuffer(0) }] }), /empty batch/);
    core.write({ segments: [rows('projects/p/topics/y', 70, 'y')] });
    core.write({ segments: [rows('projects/p/topics/x', 3, 'x')] });
    core.close();
    const db = new Database(file, { readonly: true });
    assert.deepEqual(db.prepare('SELECT name, code FROM topic_codes ORDER BY code').all(), [
      { name: 'projects/p/topics/y', code: '~1' },
      { name: 'projects/p/topics/x', code: '~2' },
    ]);
    assert.deepEqual(db.prepare('SELECT topic, count(*) AS n FROM messages GROUP BY topic ORDER BY topic').all(), [
      { topic: '~1', n: 70 },
      { topic: '~2', n: 3 },
    ]);
    db.close();
    const reader = EmbeddedLogReader.open(file);
    assert.deepEqual(readAll(reader, 'projects/p/topics/x').map(text), ['x0', 'x1', 'x2']);
    assert.equal(readAll(reader, 'projects/p/topics/y').length, 70);
    assert.deepEqual(readAll(reader, 'projects/p/topics/none'), []);
    reader.close();
  });

  it('a version 2 file is upgraded without rewriting a row: a topic with old rows keeps its name as its code, and reads see old and new rows in order', async () => {
    const file = newFile();
    const v2 = new Database(file);
    v2.exec(`
      CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, publish_time INTEGER NOT NULL, attributes TEXT NOT NULL, data BLOB NOT NULL, ordering_key TEXT NOT NULL DEFAULT '');
      CREATE INDEX messages_topic_seq ON messages (topic, seq);
      PRAGMA user_version = 2;
    `);
    const insert = v2.prepare('INSERT INTO messages (topic, publish_time, attributes, data, ordering_key) VALUES (?, ?, ?, ?, ?)');
    for (let i = 0; i < 3; i++) insert.run('projects/p/topics/old', 10 + i, '["d"]', Buffer.from(`old${i}`), i === 1 ? 'k' : '');
    v2.close();

    const { sink, close } = openBoth(file, {});
    await sink.append([msg('projects/p/topics/old', 'new0'), msg('projects/p/topics/fresh', 'f0'), msg('projects/p/topics/old', 'new1')]);
    await close();

    const db = new Database(file, { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), 3);
    assert.deepEqual(db.prepare('SELECT name, code FROM topic_codes ORDER BY name').all(), [
      { name: 'projects/p/topics/fresh', code: '~2' },
      { name: 'projects/p/topics/old', code: 'projects/p/topics/old' },
    ]);
    db.close();
    const reader = EmbeddedLogReader.open(file);
    assert.deepEqual(readAll(reader, 'projects/p/topics/old').map(text), ['old0', 'old1', 'old2', 'new0', 'new1']);
    assert.deepEqual(readAll(reader, 'projects/p/topics/fresh').map(text), ['f0']);
    reader.close();
    // The Pub/Sub read side: pages with ordering keys, counts and seeks by time, across the upgrade.
    const log = EmbeddedMessageLog.open(file);
    const read = await log.read('projects/p/topics/old', 0, 10);
    assert.deepEqual(
      read.map((m) => [m.seq, new TextDecoder().decode(m.data), m.orderingKey]),
      [
        [1, 'old0', ''],
        [2, 'old1', 'k'],
        [3, 'old2', ''],
        [4, 'new0', ''],
        [6, 'new1', ''],
      ],
    );
    assert.equal(await log.count('projects/p/topics/old', 2), 3);
    assert.equal(await log.count('projects/p/topics/fresh', 0), 1);
    assert.equal(await log.seqBefore('projects/p/topics/old', 12), 2, 'the last old row published before 12');
    assert.equal(await log.seqBefore('projects/p/topics/fresh', 12), 0);
    log.close();
  });

  it('segments merged into one keep every row in order, with its topic, time, attributes, payload and ordering key', () => {
    const segment = (n: number, from: number, keys: boolean): PackedRows =>
      packRows(
        Array.from({ length: n }, (_, k) => ({
          topic: `t${(from + k) % 3}`,
          publishTime: 1_000 + from + k,
          attributes: encodeAttributes({ deviceId: `d${(from + k) % 7}` }),
          data: new TextEncoder().encode(`m${'x'.repeat((from + k) % 5)}${from + k}`),
          ...(keys ? { orderingKey: k % 2 === 0 ? `k${k % 5}` : '' } : {}),
        })),
      );
    const rowsOf = (segments: PackedRows[]): string[] =>
      segments.flatMap((s) => {
        const c = columnsOf(s);
        return Array.from({ length: s.count }, (_, i) => {
          const data = Buffer.from(c.bytes.subarray(i === 0 ? 0 : c.ends[i - 1], c.ends[i])).toString();
          return [s.topics[c.topicIndex[i]!], c.publishTimes[i], s.attributes[c.attributesIndex[i]!], data, s.orderingKeys?.[i] ?? ''].join('|');
        });
      });
    const segments = [segment(20, 0, false), segment(1, 20, false), segment(9, 21, true), segment(13, 30, false)];
    const merged = mergeSegments(segments);
    assert.equal(merged.count, 43);
    assert.deepEqual(rowsOf([merged]), rowsOf(segments));
    assert.equal(merged.topics.length, 3, 'each topic once');
    assert.equal(merged.attributes.length, 7, 'each attribute set once');
    assert.equal(mergeSegments(segments.slice(0, 2)).orderingKeys, undefined, 'no ordering keys where no segment had any');
    const one = segment(5, 0, false);
    assert.equal(mergeSegments([one]), one, 'a single segment is passed on as it is');
  });

  it('refuses a log written by a newer schema', async () => {
    const file = newFile();
    const db = new Database(file);
    db.pragma('user_version = 99');
    db.close();
    assert.throws(() => EmbeddedLogSink.open(file, { writerThread: false }), /schema version 99/);
    assert.throws(() => EmbeddedLogSink.open(file), /schema version 99/);
  });
});

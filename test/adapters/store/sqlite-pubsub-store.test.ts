import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { PUBSUB_MIGRATIONS } from '../../../src/adapters/store/sqlite/pubsub-migrations.js';
import { RANGE_SQL, SqlitePubSubStore } from '../../../src/adapters/store/sqlite/sqlite-pubsub-store.js';
import { pubsubStoreContract } from '../../contracts/pubsub-store.contract.js';
import { newSub, newTopic, subName, topicName } from '../../contracts/pubsub-store-fixtures.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bridgehead-pubsub-store-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

let files = 0;
const newFile = (): string => path.join(dir, `pubsub-${++files}.db`);

pubsubStoreContract('SqlitePubSubStore', async () => {
  const file = newFile();
  return { store: SqlitePubSubStore.open(file), reopen: async () => SqlitePubSubStore.open(file) };
});

/** Reads the file with a separate connection, as an operator's sqlite3 shell would. */
function inspect<T>(file: string, fn: (db: Database.Database) => T): T {
  const db = new Database(file, { readonly: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

describe('SqlitePubSubStore specifics', () => {
  it('opens in WAL mode at the current schema version, and reopening changes nothing', async () => {
    const file = newFile();
    const store = SqlitePubSubStore.open(file);
    await store.createTopic(newTopic(topicName('t')));
    await store.close();
    const schema = (db: Database.Database): unknown => ({
      version: db.pragma('user_version', { simple: true }),
      journal: db.pragma('journal_mode', { simple: true }),
      tables: db.prepare("SELECT name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_autoindex%' ORDER BY name").all(),
    });
    const before = inspect(file, schema);
    assert.equal((before as { version: number }).version, PUBSUB_MIGRATIONS.length);
    assert.equal((before as { journal: string }).journal, 'wal');
    await SqlitePubSubStore.open(file).close();
    assert.deepEqual(inspect(file, schema), before);
  });

  it('refuses a file from a newer schema version', async () => {
    const file = newFile();
    await SqlitePubSubStore.open(file).close();
    const db = new Database(file);
    db.pragma(`user_version = ${PUBSUB_MIGRATIONS.length + 1}`);
    db.close();
    assert.throws(() => SqlitePubSubStore.open(file), /newer than this Bridgehead supports/);
  });

  it('keeps only the acks above the floor on disk, and a deleted subscription leaves no ack rows', async () => {
    const file = newFile();
    const store = SqlitePubSubStore.open(file);
    try {
      await store.createTopic(newTopic(topicName('t')));
      const s = await store.createSubscription(newSub(subName('s'), topicName('t')));
      await store.recordAcks(s.name, Array.from({ length: 1000 }, (_, i) => i + 1), 0);
      await store.recordAcks(s.name, [], 990);
      const rows = (): number => inspect(file, (db) => (db.prepare('SELECT count(*) AS n FROM acks').get() as { n: number }).n);
      assert.equal(rows(), 10);
      await store.deleteSubscription(s.name);
      assert.equal(rows(), 0);
    } finally {
      await store.close();
    }
  });

  it('lists and ack loads walk an index: no table scan, no sort step', async () => {
    const file = newFile();
    await SqlitePubSubStore.open(file).close();
    inspect(file, (db) => {
      for (const [name, sql] of Object.entries(RANGE_SQL)) {
        const params = Array.from({ length: (sql.match(/\?/g) ?? []).length }, () => 1);
        const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((p) => p.detail).join('\n');
        assert.doesNotMatch(plan, /TEMP B-TREE|SCAN/, `${name}: ${plan}`);
      }
    });
  });
});

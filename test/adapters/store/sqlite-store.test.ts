import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { ApiError } from '../../../src/domain/errors.js';
import { MIGRATIONS } from '../../../src/adapters/store/sqlite/migrations.js';
import { SqliteStore } from '../../../src/adapters/store/sqlite/sqlite-store.js';
import { listDevicesSql, listShape } from '../../../src/adapters/store/sqlite/statements.js';
import { storeContract } from '../../contracts/store.contract.js';
import { makeDevice, makeRegistry, regKey } from '../../contracts/store-fixtures.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bridgehead-sqlite-store-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

let files = 0;
const newFile = (): string => path.join(dir, `store-${++files}.db`);

storeContract('SqliteStore', async () => {
  const file = newFile();
  return { store: SqliteStore.open(file), reopen: async () => SqliteStore.open(file) };
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

describe('SqliteStore specifics', () => {
  it('migrations run once and are idempotent on reopen', async () => {
    const file = newFile();
    const store = SqliteStore.open(file);
    await store.createRegistry(makeRegistry(regKey()));
    await store.createDevice(makeDevice(regKey(), 'dev-1'));
    await store.close();
    const schema = (db: Database.Database): unknown =>
      db.prepare("SELECT type, name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_autoindex%' ORDER BY name").all();
    const before = inspect(file, (db) => ({ version: db.pragma('user_version', { simple: true }), schema: schema(db) }));
    assert.equal(before.version, MIGRATIONS.length);
    for (let i = 0; i < 2; i++) await SqliteStore.open(file).close();
    const afterReopen = inspect(file, (db) => ({ version: db.pragma('user_version', { simple: true }), schema: schema(db) }));
    assert.deepEqual(afterReopen, before);
    const again = SqliteStore.open(file);
    assert.equal((await again.getDevice(regKey(), 'dev-1'))?.numId, '2000000000000001');
    await again.close();
  });

  it('refuses a database from a newer schema version and leaves it untouched', async () => {
    const file = newFile();
    await SqliteStore.open(file).close();
    const db = new Database(file);
    db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    db.close();
    assert.throws(() => SqliteStore.open(file), /newer than this Bridgehead supports/);
    assert.equal(inspect(file, (d) => d.pragma('user_version', { simple: true })), MIGRATIONS.length + 1);
  });

  it('opens in WAL mode with foreign keys enforced', async () => {
    const file = newFile();
    const store = SqliteStore.open(file);
    await store.createRegistry(makeRegistry(regKey()));
    assert.equal(inspect(file, (db) => db.pragma('journal_mode', { simple: true })), 'wal');
    await store.close();
  });

  it('a driver failure mid-batch rolls the whole recordActivity back and surfaces as a safe INTERNAL', async () => {
    const store = SqliteStore.open(newFile());
    try {
      await store.createRegistry(makeRegistry(regKey()));
      const a = await store.createDevice(makeDevice(regKey(), 'dev-a'));
      const b = await store.createDevice(makeDevice(regKey(), 'dev-b'));
      const unbindable = {} as unknown as number; // better-sqlite3 refuses to bind an object
      await assert.rejects(
        store.recordActivity(
          new Map([
            [a.numId, { lastEventTime: 1 }],
            [b.numId, { lastEventTime: unbindable }],
          ]),
        ),
        (e: unknown) =>
          e instanceof ApiError &&
          e.kind === 'INTERNAL' &&
          e.message === 'Internal error in the registry store.' &&
          e.cause instanceof TypeError,
      );
      assert.equal((await store.getDeviceByNumId(a.numId))?.lastEventTime, undefined);
    } finally {
      await store.close();
    }
  });

  it('device list queries walk the ID index: no OFFSET, no sort step', async () => {
    const file = newFile();
    await SqliteStore.open(file).close();
    const shapes = [
      {},
      { gatewayType: 'NON_GATEWAY' as const },
      { boundToGateway: '2000000000000001' },
      { gatewaysOfDevice: '2000000000000001', gatewayType: 'GATEWAY' as const },
    ];
    inspect(file, (db) => {
      for (const filter of shapes) {
        const sql = listDevicesSql(listShape(filter));
        assert.doesNotMatch(sql, /OFFSET/i);
        const plan = db
          .prepare(`EXPLAIN QUERY PLAN ${sql}`)
          .all({ project: 'p', location: 'l', registry: 'r', after: '', limit: 11, bound_to_gateway: 1, gateways_of_device: 1 }) as {
          detail: string;
        }[];
        const text = plan.map((p) => p.detail).join('\n');
        assert.match(text, /SEARCH d USING INDEX devices_by_id \(project=\? AND location=\? AND registry=\? AND id>\?\)/, text);
        assert.doesNotMatch(text, /TEMP B-TREE FOR ORDER BY/, text);
      }
    });
  });
});

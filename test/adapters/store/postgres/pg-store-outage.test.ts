import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { PgStore } from '../../../../src/adapters/store/postgres/pg-store.js';
import { ApiError } from '../../../../src/domain/errors.js';
import { makeDevice, makeRegistry, regKey, T0 } from '../../../contracts/store-fixtures.js';
import { startPostgres } from '../../../support/postgres.js';

// Its own server: these tests kill it and start it again.
const server = await startPostgres({ fast: true });
after(() => server.cleanup());

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

describe('PgStore: PostgreSQL going away', () => {
  it('calls reject UNAVAILABLE within the connect timeout while the server is down; the same store works once it is back', async () => {
    const url = await server.createDatabase();
    const store = await PgStore.open(url, { connectTimeoutMs: 2000 });
    try {
      await store.createRegistry(makeRegistry(regKey()));
      const d = await store.createDevice(makeDevice(regKey(), 'dev-1'));
      // The file's server runs with synchronous_commit off: without a checkpoint the kill would
      // lose the last commits, which is not what this test is about.
      await withClient(url, (c) => c.query('CHECKPOINT'));
      await server.stop('kill');
      for (const call of [() => store.getDeviceByNumId(d.numId), () => store.modifyConfig(d.numId, { versionToUpdate: 0, binaryData: new Uint8Array([1]), at: T0 + 5000, minIntervalMs: 0 })]) {
        const t0 = Date.now();
        await assert.rejects(call(), (e: unknown) => {
          assert.ok(e instanceof ApiError, String(e));
          assert.equal(e.kind, 'UNAVAILABLE', e.message);
          assert.equal(e.reason, 'STORE_UNAVAILABLE', e.message);
          return true;
        });
        assert.ok(Date.now() - t0 < 7000, `rejected after ${Date.now() - t0} ms`);
      }
      await server.start();
      assert.equal((await store.getDeviceByNumId(d.numId))?.id, 'dev-1');
      const v2 = await store.modifyConfig(d.numId, { versionToUpdate: 0, binaryData: new Uint8Array([2]), at: T0 + 6000, minIntervalMs: 0 });
      assert.equal(v2.version, 2);
    } finally {
      await store.close();
    }
  });

  it('a connection dying in the middle of a transaction: the call is UNAVAILABLE, the process does not crash, and the store recovers', async () => {
    const url = await server.createDatabase();
    const store = await PgStore.open(url, { connectTimeoutMs: 2000 });
    const holder = new pg.Client({ connectionString: url });
    holder.on('error', () => undefined);
    try {
      await store.createRegistry(makeRegistry(regKey()));
      const d = await store.createDevice(makeDevice(regKey(), 'dev-1'));
      await withClient(url, (c) => c.query('CHECKPOINT'));
      // Another session holds the device row, so modifyConfig waits inside its transaction.
      await holder.connect();
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM devices FOR UPDATE');
      // Settled into a value at once: it rejects while the test still awaits the kill.
      const waiting = store.modifyConfig(d.numId, { versionToUpdate: 0, binaryData: new Uint8Array([1]), at: T0 + 5000, minIntervalMs: 0 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      await waitFor(url, "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'");
      await server.stop('kill');
      const e = await waiting;
      assert.ok(e instanceof ApiError && e.reason === 'STORE_UNAVAILABLE', String(e));
      await server.start();
      assert.equal((await store.modifyConfig(d.numId, { versionToUpdate: 1, binaryData: new Uint8Array([2]), at: T0 + 6000, minIntervalMs: 0 })).version, 2);
    } finally {
      await holder.end().catch(() => undefined);
      await store.close();
    }
  });
});

/** Polls until `sql` returns a row (bounded): for a state of the server that no event announces. */
async function waitFor(url: string, sql: string): Promise<void> {
  const deadline = Date.now() + 5000;
  await withClient(url, async (c) => {
    while ((await c.query(sql)).rowCount === 0) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for: ${sql}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  });
}

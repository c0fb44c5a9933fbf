import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { migratePostgres, SchemaVersionError } from '../../../../src/adapters/store/postgres/pg-migrations.js';
import { inTransaction, openPgPool } from '../../../../src/adapters/store/postgres/pg-pool.js';
import { pgErrorTranslator } from '../../../../src/adapters/store/postgres/pg-errors.js';
import { isApiError } from '../../../../src/domain/errors.js';
import { startPostgres, type TestPostgres } from '../../../support/postgres.js';

const STEPS = ['CREATE TABLE a (x INTEGER PRIMARY KEY)', 'INSERT INTO a VALUES (1)', 'CREATE TABLE b (y TEXT)'];

describe('PostgreSQL migrations (real postgres)', () => {
  let server: TestPostgres;
  before(async () => {
    server = await startPostgres({ fast: true });
  });
  after(async () => {
    await server.cleanup();
  });

  it('five nodes starting at once: each step runs exactly once', async () => {
    const url = await server.createDatabase();
    const pools = Array.from({ length: 5 }, () => openPgPool(url, { max: 2 }));
    try {
      await Promise.all(pools.map((p) => migratePostgres(p, 'test', STEPS)));
      const rows = await pools[0]!.query('SELECT count(*)::int AS n FROM a');
      assert.equal(rows.rows[0].n, 1, 'the INSERT step ran once');
      const v = await pools[0]!.query("SELECT version FROM bridgehead_schema WHERE component = 'test'");
      assert.equal(v.rows[0].version, 3);
      // Components are independent.
      await migratePostgres(pools[1]!, 'other', ['CREATE TABLE c (z INTEGER)']);
      const all = await pools[0]!.query('SELECT component, version FROM bridgehead_schema ORDER BY component');
      assert.deepEqual(all.rows, [{ component: 'other', version: 1 }, { component: 'test', version: 3 }]);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('later steps apply on the next start; a newer schema is refused untouched', async () => {
    const url = await server.createDatabase();
    const pool = openPgPool(url);
    try {
      await migratePostgres(pool, 'test', STEPS.slice(0, 1));
      await migratePostgres(pool, 'test', STEPS);
      assert.equal((await pool.query('SELECT count(*)::int AS n FROM a')).rows[0].n, 1);
      await assert.rejects(migratePostgres(pool, 'test', STEPS.slice(0, 2)), (e: unknown) => {
        assert.ok(e instanceof SchemaVersionError);
        assert.match(e.message, /version 3, newer than this Bridgehead supports \(2\)/);
        return true;
      });
      assert.equal((await pool.query("SELECT version FROM bridgehead_schema WHERE component = 'test'")).rows[0].version, 3);
    } finally {
      await pool.end();
    }
  });

  it('a failing step rolls back the whole run', async () => {
    const url = await server.createDatabase();
    const pool = openPgPool(url);
    try {
      await assert.rejects(migratePostgres(pool, 'test', ['CREATE TABLE ok1 (x INT)', 'CREATE TABLE broken (']));
      const t = await pool.query("SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'ok1'");
      assert.equal(t.rows[0].n, 0);
    } finally {
      await pool.end();
    }
  });

  it('an unreachable server is UNAVAILABLE (STORE_UNAVAILABLE), within the connect timeout', async () => {
    const dead = await startPostgres({ fast: true });
    const url = dead.url;
    await dead.cleanup();
    const pool = openPgPool(url, { connectTimeoutMs: 1000 });
    const t0 = Date.now();
    try {
      const e = await pool.query('SELECT 1').then(
        () => undefined,
        (err: unknown) => err,
      );
      const api = pgErrorTranslator('registry store', false)(e);
      assert.ok(isApiError(api));
      assert.equal(api.kind, 'UNAVAILABLE');
      assert.equal(api.reason, 'STORE_UNAVAILABLE');
      assert.ok(Date.now() - t0 < 5000);
    } finally {
      await pool.end();
    }
  });

  it('SQLSTATE of a unique violation is ALREADY_EXISTS only when asked', async () => {
    const url = await server.createDatabase();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query('CREATE TABLE u (x INT PRIMARY KEY)');
      await client.query('INSERT INTO u VALUES (1)');
      const e = await client.query('INSERT INTO u VALUES (1)').then(
        () => undefined,
        (err: unknown) => err,
      );
      const yes = pgErrorTranslator('registry store', true)(e);
      const no = pgErrorTranslator('registry store', false)(e);
      assert.ok(isApiError(yes) && yes.kind === 'ALREADY_EXISTS');
      assert.ok(isApiError(no) && no.kind === 'INTERNAL');
    } finally {
      await client.end();
    }
  });
});

describe('inTransaction when PostgreSQL dies under it (real postgres)', () => {
  it('the statement fails, nothing is uncaught, and the pool works again after a restart', async () => {
    const server = await startPostgres({ fast: true });
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown): void => {
      uncaught.push(e);
    };
    process.on('uncaughtException', onUncaught);
    const pool = openPgPool(await server.createDatabase(), { connectTimeoutMs: 2000 });
    try {
      const running = inTransaction(pool, async (c) => {
        await c.query('SELECT pg_sleep(30)');
      }).then(
        () => 'committed',
        (e: unknown) => e,
      );
      // Wait until the statement is running, then kill the server under it.
      for (let i = 0; i < 100; i++) {
        const probe = openPgPool(server.url, { max: 1 });
        const n = (await probe.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'")).rows[0].n as number;
        await probe.end();
        if (n > 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      await server.stop('kill');
      const outcome = await running;
      assert.notEqual(outcome, 'committed');
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(uncaught, [], 'no uncaught exception');
      await server.start();
      assert.equal((await inTransaction(pool, async (c) => (await c.query('SELECT 1 AS one')).rows[0].one)) as number, 1);
    } finally {
      process.off('uncaughtException', onUncaught);
      await pool.end();
      await server.cleanup();
    }
  });
});

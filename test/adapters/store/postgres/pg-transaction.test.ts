import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { inTransaction, openPgPool } from '../../../../src/adapters/store/postgres/pg-pool.js';
import { transaction } from '../../../../src/adapters/store/postgres/pg-transaction.js';
import { startPostgres } from '../../../support/postgres.js';

const server = await startPostgres({ fast: true });
after(() => server.cleanup());

/**
 * A transaction whose connection dies while a statement runs: PostgreSQL killed under it. The pool
 * does not listen for 'error' on a connection it has handed out, so the helper must, or
 * node-postgres's 'error' event is an uncaught exception that takes the process down.
 */
async function dyingTransaction(run: typeof transaction): Promise<void> {
  const url = await server.createDatabase();
  const pool = openPgPool(url, { connectTimeoutMs: 2000 });
  try {
    // Settled into a value at once: it rejects while the test is still waiting for the kill.
    const outcome = run(pool, async (c) => {
      await c.query('SELECT pg_sleep(30)');
    }).then(
      () => new Error('the transaction survived the kill'),
      (e: unknown) => e,
    );
    const observer = new pg.Client({ connectionString: url });
    observer.on('error', () => undefined);
    await observer.connect();
    const deadline = Date.now() + 5000;
    // No event says "the statement is running on the server": poll pg_stat_activity, bounded.
    while ((await observer.query("SELECT 1 FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'")).rowCount === 0) {
      assert.ok(Date.now() < deadline, 'the statement never started');
      await new Promise((r) => setTimeout(r, 20));
    }
    await server.stop('kill');
    assert.match(String(await outcome), /Connection terminated|terminating connection/);
    await observer.end().catch(() => undefined);
    await server.start();
    // The pool dropped the dead connection: the next transaction gets a new one.
    assert.equal(await run(pool, async (c) => (await c.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one), 1);
  } finally {
    await pool.end();
  }
}

describe('PostgreSQL transactions when the server dies under them', () => {
  it('pg-transaction.ts transaction: the call rejects, the process lives on, the pool recovers', async () => {
    await dyingTransaction(transaction);
  });

  // Bug in pg-pool.ts inTransaction (reported by the pg-store branch): no 'error' listener on the
  // checked-out client, so this is an uncaught 'Connection terminated unexpectedly'. Remove the
  // todo once inTransaction listens (see pg-transaction.ts); migratePostgres has the same gap.
  it('pg-pool.ts inTransaction: the same', { todo: 'inTransaction has no error listener on the checked-out client' }, async () => {
    await dyingTransaction(inTransaction);
  });
});

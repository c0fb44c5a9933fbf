import type pg from 'pg';

/**
 * Runs `fn` in one READ COMMITTED transaction on one pooled connection; rolls back on any error.
 *
 * Unlike pg-pool.ts inTransaction, it listens for 'error' on the connection while it holds it:
 * pg-pool stops listening when it hands a connection out, and node-postgres emits 'error' when the
 * server goes away under a checked-out connection (PostgreSQL restarted, killed, network cut), so
 * without a listener that event is an uncaught exception and the whole node goes down. A
 * connection that failed is handed back with its error, so the pool drops it instead of reusing it.
 */
export async function transaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (e: Error): void => {
    broken = e;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    client.removeListener('error', onError);
    client.release(broken);
  }
}

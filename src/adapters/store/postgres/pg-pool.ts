import pg from 'pg';

/**
 * One connection pool per store, configured for a server that must not hang when PostgreSQL goes
 * away: connecting and each statement time out (the caller then answers UNAVAILABLE, a device
 * gets CONNACK 3), and a broken idle connection is dropped from the pool instead of crashing the
 * process (pg emits 'error' on the pool for those).
 */
export interface PgPoolOptions {
  /** Connections at most; default 10. */
  max?: number;
  /** Default 5 s. */
  connectTimeoutMs?: number;
  /** Per statement, enforced by the server (statement_timeout) and the client; default 15 s. */
  statementTimeoutMs?: number;
  /** Called for errors of idle connections (server restart, network); the pool replaces them. */
  onIdleError?: (err: Error) => void;
  /** application_name, shown in pg_stat_activity. */
  applicationName?: string;
}

// int8 (numIds, sequences) comes back as a string by default, which is what the domain wants;
// BYTEA comes back as a Buffer. Timestamps are stored as BIGINT epoch ms, never timestamptz.

export function openPgPool(url: string, opts: PgPoolOptions = {}): pg.Pool {
  const statementTimeout = opts.statementTimeoutMs ?? 15_000;
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 10,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 5_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: statementTimeout,
    query_timeout: statementTimeout + 1_000,
    application_name: opts.applicationName ?? 'bridgehead',
    keepAlive: true,
  });
  pool.on('error', (err) => opts.onIdleError?.(err));
  return pool;
}

/**
 * A pooled connection held for several statements, with an 'error' listener for as long as it is
 * held: pg-pool stops listening when it hands a connection out, and node-postgres emits 'error'
 * when the server goes away under it (PostgreSQL restarted or killed, network cut). Without a
 * listener that event is an uncaught exception and the whole node goes down. A connection that
 * failed goes back with its error, so the pool drops it instead of reusing it.
 */
export async function withConnection<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (e: Error): void => {
    broken = e;
  };
  client.on('error', onError);
  try {
    return await fn(client);
  } finally {
    client.removeListener('error', onError);
    client.release(broken);
  }
}

/** Runs `fn` in one transaction on one pooled connection; rolls back on any error. */
export function inTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  isolation: 'READ COMMITTED' | 'REPEATABLE READ' | 'SERIALIZABLE' = 'READ COMMITTED',
): Promise<T> {
  return withConnection(pool, async (client) => {
    await client.query(isolation === 'READ COMMITTED' ? 'BEGIN' : `BEGIN ISOLATION LEVEL ${isolation}`);
    try {
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    }
  });
}

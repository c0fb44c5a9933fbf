import type pg from 'pg';
import { inTransaction } from './pg-pool.js';

/**
 * Versioned schema migrations for the PostgreSQL stores. Each store (the registry store, the
 * Pub/Sub store) owns a `component` with its own ordered list; `bridgehead_schema` records how many
 * of each have run. Never edit a migration that has shipped: append one.
 *
 * Several nodes may start at once against one database: the whole check-and-apply runs in one
 * transaction holding a transaction-scoped advisory lock, so one node migrates and the others wait,
 * then find nothing to do. A database migrated by a newer Bridgehead is refused, untouched.
 */

/** pg_advisory_xact_lock key: "bhschema" as an int64, so it does not collide with an operator's own locks by accident. */
const LOCK_KEY = '7595444131211028833';

export class SchemaVersionError extends Error {
  constructor(
    readonly component: string,
    readonly found: number,
    readonly supported: number,
  ) {
    super(
      `Database schema of "${component}" is at version ${found}, newer than this Bridgehead supports (${supported}); ` +
        'run the Bridgehead version that migrated it, or a newer one.',
    );
    this.name = 'SchemaVersionError';
  }
}

export function migratePostgres(pool: pg.Pool, component: string, migrations: readonly string[]): Promise<void> {
  return inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
    await client.query(
      'CREATE TABLE IF NOT EXISTS bridgehead_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL, migrated_at TIMESTAMPTZ NOT NULL DEFAULT now())',
    );
    const row = await client.query<{ version: number }>('SELECT version FROM bridgehead_schema WHERE component = $1', [component]);
    const current = row.rows[0]?.version ?? 0;
    if (current > migrations.length) throw new SchemaVersionError(component, current, migrations.length);
    for (let v = current; v < migrations.length; v++) await client.query(migrations[v]!);
    if (current !== migrations.length) {
      await client.query(
        `INSERT INTO bridgehead_schema (component, version) VALUES ($1, $2)
         ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version, migrated_at = now()`,
        [component, migrations.length],
      );
    }
  });
}

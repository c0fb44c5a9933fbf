import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { PG_PUBSUB_MIGRATIONS } from '../../src/adapters/store/postgres/pg-pubsub-migrations.js';
import { REGISTRY_MIGRATIONS } from '../../src/adapters/store/postgres/pg-store-migrations.js';
import { run } from '../support/processes.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';
import { api, CLI, cliEnv, startServer, TEST_TOKEN, type StartedServer } from '../support/server.js';

/**
 * `bridgehead serve --store postgres://…` at start: a database migrated by a newer Bridgehead is
 * refused, untouched, with a startup error naming the setting (exit 2, not a crash); nodes starting
 * at the same moment on an empty database all come up, one of them having migrated it.
 */

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

const versions = (url: string): Promise<Record<string, number>> =>
  withClient(url, async (c) => Object.fromEntries((await c.query<{ component: string; version: number }>('SELECT component, version FROM bridgehead_schema')).rows.map((r) => [r.component, r.version])));

describe('serve on PostgreSQL: schema version at start', { timeout: 60_000 }, () => {
  let postgres: TestPostgres;
  const dir = mkdtempSync(join(tmpdir(), 'bridgehead-pg-startup-'));
  const servers: StartedServer[] = [];
  before(async () => {
    postgres = await startPostgres({ fast: true });
  });
  after(async () => {
    for (const s of servers) await s.cleanup();
    await postgres?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a database whose schema is newer than it knows: exit 2, a fatal line naming the store, the schema untouched', async () => {
    const url = await postgres.createDatabase();
    const newer = REGISTRY_MIGRATIONS.length + 3;
    await withClient(url, async (c) => {
      await c.query('CREATE TABLE bridgehead_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL, migrated_at TIMESTAMPTZ NOT NULL DEFAULT now())');
      await c.query(`INSERT INTO bridgehead_schema (component, version) VALUES ('registry', $1)`, [newer]);
    });
    const shown = new URL(url);
    const r = await run(
      process.execPath,
      [CLI, 'serve', '--data-dir', join(dir, 'newer'), '--api-listen', '127.0.0.1:0', '--mqtt-listen', '127.0.0.1:0', '--mqtt-plain-listen', '127.0.0.1:0', '--admin-token', TEST_TOKEN, '--store', url],
      { env: cliEnv(), timeoutMs: 40_000 },
    );
    assert.equal(r.code, 2, `exit code; stderr:\n${r.stderr}`);
    assert.ok(!r.stdout.includes('"event":"listening"'), 'it never listened');
    const fatal = [...r.stderr.split('\n'), ...r.stdout.split('\n')]
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          return undefined;
        }
      })
      .find((l) => l?.setting !== undefined);
    assert.ok(fatal, `a startup error line naming a setting:\n${r.stderr}`);
    assert.equal(fatal.setting, 'store');
    assert.equal(fatal.exitCode, 2);
    assert.match(String(fatal.msg), new RegExp(`store postgres://[^ ]*${shown.port}${shown.pathname}: Database schema of "registry" is at version ${newer}, newer than this Bridgehead supports \\(${REGISTRY_MIGRATIONS.length}\\)`));
    assert.deepEqual(await versions(url), { registry: newer }, 'nothing migrated, nothing downgraded');
  });

  it('three nodes started at the same moment on an empty database all come up and share it', async () => {
    const url = await postgres.createDatabase();
    const nodes = await Promise.all([1, 2, 3].map(() => startServer({ args: ['--store', url] })));
    servers.push(...nodes);
    assert.deepEqual(await versions(url), { registry: REGISTRY_MIGRATIONS.length, pubsub: PG_PUBSUB_MIGRATIONS.length });
    const parent = '/v1/projects/startup-proj/locations/us-central1/registries';
    const created = await api(nodes[0]!, 'POST', parent, { id: 'shared' });
    assert.equal(created.status, 200, JSON.stringify(created.json));
    for (const n of nodes.slice(1)) {
      const seen = await api(n, 'GET', `${parent}/shared`);
      assert.equal(seen.status, 200, JSON.stringify(seen.json));
    }
    for (const n of nodes) assert.equal(await n.stop(), 0);
  });
});

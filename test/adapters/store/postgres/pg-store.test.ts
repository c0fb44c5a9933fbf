import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { SchemaVersionError } from '../../../../src/adapters/store/postgres/pg-migrations.js';
import { PgStore } from '../../../../src/adapters/store/postgres/pg-store.js';
import { REGISTRY_MIGRATIONS } from '../../../../src/adapters/store/postgres/pg-store-migrations.js';
import { activityArrays, listDevicesQuery, RECORD_ACTIVITY } from '../../../../src/adapters/store/postgres/pg-statements.js';
import { EMPTY_POLICY } from '../../../../src/domain/iam-policy.js';
import { storeContract } from '../../../contracts/store.contract.js';
import { makeDevice, makeRegistry, regKey, T0 } from '../../../contracts/store-fixtures.js';
import { startPostgres } from '../../../support/postgres.js';

// One server for the file, a fresh database per case. Races between two nodes and the server going
// away have their own files (pg-store-two-nodes, pg-store-outage).
const server = await startPostgres({ fast: true });
after(() => server.cleanup());

storeContract('PgStore', async () => {
  const url = await server.createDatabase();
  return { store: await PgStore.open(url), reopen: () => PgStore.open(url) };
});

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

describe('PgStore: returned policies are copies', () => {
  it('writing into the etag of an empty policy changes no other policy read', async () => {
    const store = await PgStore.open(await server.createDatabase());
    try {
      await store.createRegistry(makeRegistry(regKey()));
      for (const read of [() => store.getIamPolicy(regKey()), () => store.getProjectIamPolicy('proj')]) {
        (await read()).etag.fill(9);
        assert.deepEqual(await read(), EMPTY_POLICY);
        assert.deepEqual([...EMPTY_POLICY.etag], [0x41, 0x43, 0x41, 0x42]);
      }
    } finally {
      await store.close();
    }
  });
});

describe('PgStore: schema', () => {
  it('migrations run once: stores opening at once on a new database, and reopening, leave one schema version', async () => {
    const url = await server.createDatabase();
    const stores = await Promise.all(Array.from({ length: 4 }, () => PgStore.open(url, { max: 2 })));
    await stores[0]!.createRegistry(makeRegistry(regKey()));
    await stores[1]!.createDevice(makeDevice(regKey(), 'dev-1'));
    await Promise.all(stores.map((s) => s.close()));
    const again = await PgStore.open(url);
    try {
      assert.equal((await again.getDevice(regKey(), 'dev-1'))?.numId, '2000000000000001');
    } finally {
      await again.close();
    }
    const rows = await withClient(url, async (c) => (await c.query("SELECT version FROM bridgehead_schema WHERE component = 'registry'")).rows);
    assert.deepEqual(rows, [{ version: REGISTRY_MIGRATIONS.length }]);
  });

  it('a database whose registry schema is newer refuses to open, untouched', async () => {
    const url = await server.createDatabase();
    await (await PgStore.open(url)).close();
    const newer = REGISTRY_MIGRATIONS.length + 1;
    await withClient(url, (c) => c.query("UPDATE bridgehead_schema SET version = $1 WHERE component = 'registry'", [newer]));
    await assert.rejects(PgStore.open(url), (e: unknown) => {
      assert.ok(e instanceof SchemaVersionError);
      assert.equal(
        e.message,
        `Database schema of "registry" is at version ${newer}, newer than this Bridgehead supports (${REGISTRY_MIGRATIONS.length}); ` +
          'run the Bridgehead version that migrated it, or a newer one.',
      );
      return true;
    });
    const rows = await withClient(url, async (c) => (await c.query("SELECT version FROM bridgehead_schema WHERE component = 'registry'")).rows);
    assert.deepEqual(rows, [{ version: newer }]);
  });

  it('device lists walk the ID index in order: no sort step, whatever the filter', async () => {
    const url = await server.createDatabase();
    const store = await PgStore.open(url);
    await store.close();
    const shapes = [{}, { gatewayType: 'NON_GATEWAY' as const }, { boundToGateway: '2000000000000001' }, { deviceIds: ['a', 'b'] }];
    await withClient(url, async (c) => {
      // An empty table would be scanned whole; the question is whether the index can serve the order.
      await c.query('SET enable_seqscan = off');
      for (const filter of shapes) {
        const { sql, values } = listDevicesQuery(regKey(), filter, 'dev-1', 11);
        assert.doesNotMatch(sql.text, /OFFSET/i);
        const plan = (await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql.text}`, values)).rows.map((r) => r['QUERY PLAN']).join('\n');
        assert.match(plan, /Index Scan using devices_by_id on devices d/, plan);
        assert.doesNotMatch(plan, /Sort/, plan);
      }
    });
  });

  it('an activity flush looks its devices up by numId, whatever the size of the table', async () => {
    const url = await server.createDatabase();
    await (await PgStore.open(url)).close();
    const patches = new Map(Array.from({ length: 300 }, (_, i) => [String(2_000_000_000_000_001 + 7 * i), { lastEventTime: T0 + i }]));
    await withClient(url, async (c) => {
      await c.query(`INSERT INTO registries (project, location, id, doc) VALUES ('p', 'l', 'r', '{}')`);
      await c.query(`INSERT INTO devices (num_id, project, location, registry, id, gateway_type, doc, config_version)
        SELECT 2000000000000000 + g, 'p', 'l', 'r', 'd' || g, 'NON_GATEWAY', '{}', 1 FROM generate_series(1, 20000) AS g`);
      await c.query('ANALYZE devices');
      const plan = (await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${RECORD_ACTIVITY.text}`, activityArrays(patches))).rows
        .map((r) => r['QUERY PLAN'])
        .join('\n');
      assert.match(plan, /Index Cond: \(num_id = ANY/, plan);
      assert.doesNotMatch(plan, /Seq Scan on devices/, plan);
    });
  });
});

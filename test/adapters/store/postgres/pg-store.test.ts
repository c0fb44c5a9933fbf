import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { SchemaVersionError } from '../../../../src/adapters/store/postgres/pg-migrations.js';
import { PgStore } from '../../../../src/adapters/store/postgres/pg-store.js';
import { REGISTRY_MIGRATIONS } from '../../../../src/adapters/store/postgres/pg-store-migrations.js';
import { activityArrays, listDevicesQuery, RECORD_ACTIVITY } from '../../../../src/adapters/store/postgres/pg-statements.js';
import { ApiError } from '../../../../src/domain/errors.js';
import { EMPTY_POLICY } from '../../../../src/domain/iam-policy.js';
import type { ErrorReason } from '../../../../src/domain/error-reasons.js';
import type { ImportedDevice } from '../../../../src/services/ports.js';
import { storeContract } from '../../../contracts/store.contract.js';
import { makeDevice, makeGateway, makeRegistry, policy, regKey, T0 } from '../../../contracts/store-fixtures.js';
import { startPostgres } from '../../../support/postgres.js';

// One server for the file, a fresh database per case.
const server = await startPostgres({ fast: true });
after(() => server.cleanup());

storeContract('PgStore', async () => {
  const url = await server.createDatabase();
  return { store: await PgStore.open(url), reopen: () => PgStore.open(url) };
});

const reasonOf = (r: PromiseSettledResult<unknown>): ErrorReason | undefined =>
  r.status === 'rejected' && r.reason instanceof ApiError ? r.reason.reason : undefined;

const settledSummary = (results: PromiseSettledResult<unknown>[]): string =>
  results.map((r) => (r.status === 'fulfilled' ? 'ok' : String((r.reason as Error).message))).join(' | ');

/** Two nodes: two stores, each with its own pool, on one database. */
async function twoNodes(): Promise<{ a: PgStore; b: PgStore; url: string; close: () => Promise<void> }> {
  const url = await server.createDatabase();
  const [a, b] = await Promise.all([PgStore.open(url), PgStore.open(url)]);
  return { a, b, url, close: async () => void (await Promise.all([a.close(), b.close()])) };
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

describe('PgStore: two nodes on one database', () => {
  it('concurrent modifyConfig with the same versionToUpdate: exactly one wins per device, the other is CONFIG_VERSION_MISMATCH', async () => {
    const { a, b, close } = await twoNodes();
    try {
      const k = regKey();
      await a.createRegistry(makeRegistry(k));
      const devices = await Promise.all(Array.from({ length: 10 }, (_, i) => a.createDevice(makeDevice(k, `dev-${i}`))));
      for (let version = 1; version <= 3; version++) {
        const round = await Promise.all(
          devices.map((d, i) =>
            Promise.allSettled([
              a.modifyConfig(d.numId, { versionToUpdate: version, binaryData: new Uint8Array([1, i]), at: T0 + version * 1000, minIntervalMs: 0 }),
              b.modifyConfig(d.numId, { versionToUpdate: version, binaryData: new Uint8Array([2, i]), at: T0 + version * 1000, minIntervalMs: 0 }),
            ]),
          ),
        );
        for (const results of round) {
          assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, settledSummary(results));
          assert.deepEqual(results.map(reasonOf).filter(Boolean), ['CONFIG_VERSION_MISMATCH'], settledSummary(results));
        }
      }
      for (const d of devices) {
        const versions = await b.listConfigVersions(d.numId, 0);
        assert.deepEqual(versions.map((c) => c.version), [4, 3, 2, 1]);
        assert.equal((await a.getDeviceByNumId(d.numId))?.config.version, 4);
      }
    } finally {
      await close();
    }
  });

  it('concurrent binds from both nodes never pass either limit', async () => {
    const { a, b, close } = await twoNodes();
    try {
      const k = regKey();
      await a.createRegistry(makeRegistry(k));
      const gw = await a.createDevice(makeGateway(k, 'gw'));
      const devs = await Promise.all(Array.from({ length: 12 }, (_, i) => a.createDevice(makeDevice(k, `dev-${i}`))));
      const perGateway = { maxDevicesPerGateway: 5, maxGatewaysPerDevice: 10 };
      const results = await Promise.allSettled(devs.map((d, i) => (i % 2 ? a : b).bind(gw.numId, d.numId, perGateway)));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 5, settledSummary(results));
      assert.ok(results.every((r) => r.status === 'fulfilled' || reasonOf(r) === 'GATEWAY_FULL'), settledSummary(results));
      assert.equal((await b.listDevices(k, { boundToGateway: gw.numId }, undefined, 100)).items.length, 5);

      const gateways = await Promise.all(Array.from({ length: 6 }, (_, i) => b.createDevice(makeGateway(k, `gw-${i}`))));
      const perDevice = { maxDevicesPerGateway: 100, maxGatewaysPerDevice: 2 };
      const target = await a.createDevice(makeDevice(k, 'target'));
      const second = await Promise.allSettled(gateways.map((g, i) => (i % 2 ? a : b).bind(g.numId, target.numId, perDevice)));
      assert.equal(second.filter((r) => r.status === 'fulfilled').length, 2, settledSummary(second));
      assert.ok(second.every((r) => r.status === 'fulfilled' || reasonOf(r) === 'DEVICE_FULL'), settledSummary(second));
      assert.equal((await a.listDevices(k, { gatewaysOfDevice: target.numId }, undefined, 100)).items.length, 2);
    } finally {
      await close();
    }
  });

  it('concurrent setIamPolicy with one etag: one wins, one is ETAG_MISMATCH (registry and project, first write included)', async () => {
    const { a, b, close } = await twoNodes();
    try {
      const k = regKey();
      await a.createRegistry(makeRegistry(k));
      // Round 0 races on the empty policy, when no policy row exists yet to lock.
      for (let round = 0; round < 5; round++) {
        const read = await a.getIamPolicy(k);
        const results = await Promise.allSettled([a.setIamPolicy(k, policy(1, []), read.etag), b.setIamPolicy(k, policy(3, []), read.etag)]);
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, settledSummary(results));
        assert.deepEqual(results.map(reasonOf).filter(Boolean), ['ETAG_MISMATCH']);
        const won = results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<unknown>;
        assert.deepEqual(await b.getIamPolicy(k), won.value);

        const project = await b.getProjectIamPolicy('proj');
        const p = await Promise.allSettled([
          a.setProjectIamPolicy('proj', policy(1, []), project.etag),
          b.setProjectIamPolicy('proj', policy(3, []), project.etag),
        ]);
        assert.equal(p.filter((r) => r.status === 'fulfilled').length, 1, settledSummary(p));
        assert.deepEqual(p.map(reasonOf).filter(Boolean), ['ETAG_MISMATCH']);
      }
    } finally {
      await close();
    }
  });

  it('concurrent updateDevice (metadata on one node, blocked on the other): one ABORTED, and its retry loses nothing', async () => {
    const { a, b, close } = await twoNodes();
    try {
      const k = regKey();
      await a.createRegistry(makeRegistry(k));
      for (let i = 0; i < 10; i++) {
        const d = await a.createDevice(makeDevice(k, `dev-${i}`));
        const fromA = (await a.getDeviceByNumId(d.numId))!;
        const fromB = (await b.getDeviceByNumId(d.numId))!;
        const edits = [
          { store: a, read: fromA, apply: (x: typeof d) => ({ ...x, metadata: { ...x.metadata, owner: 'a' } }) },
          { store: b, read: fromB, apply: (x: typeof d) => ({ ...x, blocked: true }) },
        ];
        const results = await Promise.allSettled(edits.map((e) => e.store.updateDevice(e.apply(e.read))));
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, settledSummary(results));
        assert.deepEqual(results.map(reasonOf).filter(Boolean), ['REVISION_CONFLICT']);
        // What the services do on ABORTED: read again and re-apply the edit.
        const loser = edits[results.findIndex((r) => r.status === 'rejected')]!;
        await loser.store.updateDevice(loser.apply((await loser.store.getDeviceByNumId(d.numId))!));
        const final = await b.getDeviceByNumId(d.numId);
        assert.equal(final?.revision, 3);
        assert.equal(final?.blocked, true);
        assert.deepEqual(final?.metadata, { site: 'north', owner: 'a' });
      }
    } finally {
      await close();
    }
  });

  it('concurrent state reports of one device keep exactly the newest 10, and activity flushes of both nodes apply', async () => {
    const { a, b, close } = await twoNodes();
    try {
      const k = regKey();
      await a.createRegistry(makeRegistry(k));
      const d = await a.createDevice(makeDevice(k, 'dev-1'));
      await Promise.all(
        Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).recordState(d.numId, { updateTime: T0 + i, binaryData: new Uint8Array([i]) })),
      );
      const states = await a.listStates(d.numId, 0);
      assert.deepEqual(
        states.map((s) => s.updateTime),
        Array.from({ length: 10 }, (_, i) => T0 + 29 - i),
      );
      const others = await Promise.all(Array.from({ length: 20 }, (_, i) => b.createDevice(makeDevice(k, `x-${i}`))));
      // Overlapping flushes from both nodes, each touching every device in another order.
      const flush = (field: 'lastEventTime' | 'lastHeartbeatTime', reverse: boolean) =>
        new Map((reverse ? [...others].reverse() : others).map((o, i) => [o.numId, { [field]: T0 + i }]));
      await Promise.all([a.recordActivity(flush('lastEventTime', false)), b.recordActivity(flush('lastHeartbeatTime', true))]);
      for (const o of others) {
        const got = await a.getDeviceByNumId(o.numId);
        assert.ok(got?.lastEventTime !== undefined && got.lastHeartbeatTime !== undefined);
      }
    } finally {
      await close();
    }
  });

  it('numIds drawn on both nodes are unique, and an import on one node moves the numbering past its numIds for the other', async () => {
    const { a, b, close } = await twoNodes();
    try {
      const k = regKey();
      await a.createRegistry(makeRegistry(k));
      const first = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).createDevice(makeDevice(k, `c-${i}`))));
      assert.equal(new Set(first.map((d) => d.numId)).size, 40);
      const base = Math.max(...first.map((d) => Number(d.numId)));
      const k2 = regKey('imported');
      const imported: ImportedDevice[] = Array.from({ length: 1500 }, (_, i) => ({ ...makeDevice(k2, `i-${i}`), numId: String(base + 1000 + i) }));
      const [result, during] = await Promise.all([
        a.importRegistry(makeRegistry(k2), imported, []),
        Promise.all(Array.from({ length: 20 }, (_, i) => b.createDevice(makeDevice(k, `d-${i}`)))),
      ]);
      assert.equal(result.devicesCreated, 1500);
      const later = await b.createDevice(makeDevice(k, 'later'));
      assert.ok(Number(later.numId) > base + 2499, `${later.numId} above the imported ${base + 2499}`);
      const all = [...first, ...during, later].map((d) => d.numId).concat(imported.map((d) => d.numId));
      assert.equal(new Set(all).size, all.length, 'no numId handed out twice');
    } finally {
      await close();
    }
  });
});

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

// Last: it stops the file's server and starts it again.
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

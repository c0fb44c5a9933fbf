import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { PgStore } from '../../../../src/adapters/store/postgres/pg-store.js';
import { ApiError } from '../../../../src/domain/errors.js';
import type { ErrorReason } from '../../../../src/domain/error-reasons.js';
import type { ImportedDevice } from '../../../../src/services/ports.js';
import { makeDevice, makeGateway, makeRegistry, policy, regKey, T0 } from '../../../contracts/store-fixtures.js';
import { startPostgres } from '../../../support/postgres.js';

/*
 * Two nodes: two PgStore instances, each with its own pool, on one database, racing. The contract's
 * concurrency suite races calls on one store; here the same races cross connections, where only
 * PostgreSQL's locks order them.
 */
const server = await startPostgres({ fast: true });
after(() => server.cleanup());

const reasonOf = (r: PromiseSettledResult<unknown>): ErrorReason | undefined =>
  r.status === 'rejected' && r.reason instanceof ApiError ? r.reason.reason : undefined;

const settledSummary = (results: PromiseSettledResult<unknown>[]): string =>
  results.map((r) => (r.status === 'fulfilled' ? 'ok' : String((r.reason as Error).message))).join(' | ');

/** Two nodes: two stores, each with its own pool, on one database. */
async function twoNodes(): Promise<{ a: PgStore; b: PgStore; close: () => Promise<void> }> {
  const url = await server.createDatabase();
  const [a, b] = await Promise.all([PgStore.open(url), PgStore.open(url)]);
  return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
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

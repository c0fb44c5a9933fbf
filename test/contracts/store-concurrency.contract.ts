import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError } from '../../src/domain/errors.js';
import type { ErrorReason } from '../../src/domain/error-reasons.js';
import { makeDevice, makeGateway, makeRegistry, policy, regKey, snapshot, T0, type ContractContext } from './store-fixtures.js';

async function rejectsWithReason(p: Promise<unknown>, reason: ErrorReason): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof ApiError && e.reason === reason);
}

/**
 * Conditional writes: two writers that read the same revision (or etag) cannot both win, and the
 * loser changes nothing. These are the interleavings that lost updates before revisions existed.
 */
export function concurrencyContract({ fresh }: ContractContext): void {
  describe('conditional writes', () => {
    it('updateDevice from a stale read is ABORTED (REVISION_CONFLICT) and changes nothing', async () => {
      const store = await fresh();
      const k = regKey();
      await store.createRegistry(makeRegistry(k));
      const created = await store.createDevice(makeDevice(k, 'dev-1'));
      assert.equal(created.revision, 1);
      const readByA = await store.getDeviceByNumId(created.numId);
      const readByB = await store.getDeviceByNumId(created.numId);
      assert.ok(readByA && readByB);
      const savedA = await store.updateDevice({ ...readByA, metadata: { owner: 'a' } });
      assert.equal(savedA.revision, 2);
      assert.deepEqual(savedA.metadata, { owner: 'a' });
      const before = await snapshot(store, created.numId);
      await rejectsWithReason(store.updateDevice({ ...readByB, blocked: true }), 'REVISION_CONFLICT');
      assert.deepEqual(await snapshot(store, created.numId), before);
      const again = await store.updateDevice({ ...savedA, blocked: true });
      assert.equal(again.revision, 3);
      assert.deepEqual(again.metadata, { owner: 'a' });
      assert.equal(again.blocked, true);
    });

    it('of two updates racing from one revision exactly one wins', async () => {
      const store = await fresh();
      const k = regKey();
      await store.createRegistry(makeRegistry(k));
      const d = await store.createDevice(makeDevice(k, 'dev-1'));
      const results = await Promise.allSettled([
        store.updateDevice({ ...d, metadata: { a: '1' } }),
        store.updateDevice({ ...d, blocked: true }),
      ]);
      assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
    });

    it('activity, config, state and gateway access do not bump the revision', async () => {
      const store = await fresh();
      const k = regKey();
      await store.createRegistry(makeRegistry(k));
      const d = await store.createDevice(makeDevice(k, 'dev-1'));
      await store.recordActivity(new Map([[d.numId, { lastHeartbeatTime: T0 + 1 }]]));
      await store.modifyConfig(d.numId, { versionToUpdate: 0, binaryData: new Uint8Array([1]), at: T0 + 5000, minIntervalMs: 1000 });
      await store.ackConfig(d.numId, 2, T0 + 6000);
      await store.recordState(d.numId, { updateTime: T0 + 7000, binaryData: new Uint8Array([2]) });
      await store.recordGatewayAccess(d.numId, 'gw', T0 + 8000);
      // A device busy on the bridge must not make every API update of it conflict.
      const saved = await store.updateDevice({ ...d, logLevel: 'DEBUG' });
      assert.equal(saved.revision, 2);
      assert.equal(saved.config.version, 2);
      assert.equal(saved.lastHeartbeatTime, T0 + 1);
    });

    it('updateDevice of a missing device is NOT_FOUND, not a conflict', async () => {
      const store = await fresh();
      const k = regKey();
      await store.createRegistry(makeRegistry(k));
      const d = await store.createDevice(makeDevice(k, 'dev-1'));
      await store.deleteDevice(d.numId);
      await rejectsWithReason(store.updateDevice(d), 'DEVICE_NOT_FOUND');
    });

    it('updateRegistry from a stale read is ABORTED and changes nothing; a fresh one bumps the revision', async () => {
      const store = await fresh();
      const k = regKey();
      const created = await store.createRegistry(makeRegistry(k));
      assert.equal(created.revision, 1);
      const a = await store.updateRegistry({ ...created, logLevel: 'DEBUG' });
      assert.equal(a.revision, 2);
      await rejectsWithReason(store.updateRegistry({ ...created, mqttEnabledState: 'MQTT_DISABLED' }), 'REVISION_CONFLICT');
      const now = await store.getRegistry(k);
      assert.equal(now?.logLevel, 'DEBUG');
      assert.equal(now?.mqttEnabledState, undefined);
      assert.equal(now?.revision, 2);
      await rejectsWithReason(store.updateRegistry({ ...created, registry: 'ghost' }), 'REGISTRY_NOT_FOUND');
    });

    it('of two setIamPolicy calls holding the same etag exactly one wins', async () => {
      const store = await fresh();
      const k = regKey();
      await store.createRegistry(makeRegistry(k));
      const read = await store.getIamPolicy(k);
      const results = await Promise.allSettled([
        store.setIamPolicy(k, policy(1, []), read.etag),
        store.setIamPolicy(k, policy(3, []), read.etag),
      ]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r) => r.status === 'rejected');
      assert.equal(won.length, 1);
      assert.equal(lost.length, 1);
      assert.ok(lost[0]!.reason instanceof ApiError && lost[0]!.reason.reason === 'ETAG_MISMATCH');
      assert.deepEqual(await store.getIamPolicy(k), won[0]!.value);
    });

    it('concurrent binds never pass the per-gateway limit', async () => {
      const store = await fresh();
      const k = regKey();
      await store.createRegistry(makeRegistry(k));
      const gw = await store.createDevice(makeGateway(k, 'gw'));
      const devices = await Promise.all(Array.from({ length: 6 }, (_, i) => store.createDevice(makeDevice(k, `dev-${i}`))));
      const limits = { maxDevicesPerGateway: 3, maxGatewaysPerDevice: 10 };
      const results = await Promise.allSettled(devices.map((d) => store.bind(gw.numId, d.numId, limits)));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 3);
      const bound = await store.listDevices(k, { boundToGateway: gw.numId }, undefined, 10);
      assert.equal(bound.items.length, 3);
    });
  });
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LIMITS } from '../../src/domain/limits.js';
import type { Device } from '../../src/domain/model.js';
import type { ConfigUpdate, Store } from '../../src/services/ports.js';
import {
  bytesOf,
  makeDevice,
  makeRegistry,
  regKey,
  rejectsWith,
  snapshot,
  T0,
  type ContractContext,
} from './store-fixtures.js';

const UNKNOWN_NUM_ID = '2999999999999999';
const SECOND = 1000;

const update = (at: number, data: number[], versionToUpdate = 0): ConfigUpdate => ({
  versionToUpdate,
  binaryData: new Uint8Array(data),
  at,
  minIntervalMs: SECOND,
});

export function historyContract({ fresh }: ContractContext): void {
  const withDevice = async (...ids: string[]): Promise<{ store: Store; devices: Device[] }> => {
    const store = await fresh();
    await store.createRegistry(makeRegistry(regKey()));
    const devices: Device[] = [];
    for (const id of ids.length ? ids : ['dev-1']) devices.push(await store.createDevice(makeDevice(regKey(), id)));
    return { store, devices };
  };
  const first = (devices: Device[]): string => String(devices[0]?.numId);

  describe('config versions', () => {
    it('modifyConfig adds versions and the device config follows the latest', async () => {
      const { store, devices } = await withDevice();
      const n = first(devices);
      const v2 = await store.modifyConfig(n, update(T0 + SECOND, [2]));
      assert.deepEqual(v2, { version: 2, cloudUpdateTime: T0 + SECOND, deviceAckTime: undefined, binaryData: new Uint8Array([2]) });
      const v3 = await store.modifyConfig(n, update(T0 + 2 * SECOND, [3, 3], 2));
      assert.equal(v3.version, 3);
      assert.deepEqual((await store.getDeviceByNumId(n))?.config, v3);
      const versions = await store.listConfigVersions(n, 0);
      assert.deepEqual(
        versions.map((c) => c.version),
        [3, 2, 1],
      );
      assert.deepEqual(versions[1], v2);
      assert.deepEqual(await store.listConfigVersions(n, 2), [v3, v2]);
    });

    it('keeps the stored payload independent of the caller buffer', async () => {
      const { store, devices } = await withDevice();
      const data = new Uint8Array([5, 6]);
      const v2 = await store.modifyConfig(first(devices), { versionToUpdate: 0, binaryData: data, at: T0 + SECOND, minIntervalMs: SECOND });
      data[0] = 0;
      v2.binaryData[1] = 0;
      assert.deepEqual(bytesOf((await store.listConfigVersions(first(devices), 1))[0]?.binaryData), [5, 6]);
    });

    it('a stale versionToUpdate is FAILED_PRECONDITION and changes nothing', async () => {
      const { store, devices } = await withDevice();
      const n = first(devices);
      await store.modifyConfig(n, update(T0 + SECOND, [2]));
      const before = await snapshot(store, n);
      await rejectsWith(
        store.modifyConfig(n, update(T0 + 5 * SECOND, [9], 1)),
        'FAILED_PRECONDITION',
        'The config version to update (1) does not match the current version (2).',
      );
      await rejectsWith(store.modifyConfig(n, update(T0 + 5 * SECOND, [9], 3)), 'FAILED_PRECONDITION');
      assert.deepEqual(await snapshot(store, n), before);
    });

    it('updates closer than minIntervalMs are RESOURCE_EXHAUSTED and change nothing', async () => {
      const { store, devices } = await withDevice();
      const n = first(devices);
      // Version 1 (creation) does not count: the first update may follow at once.
      assert.equal((await store.modifyConfig(n, update(T0 + 1, [2]))).version, 2);
      const before = await snapshot(store, n);
      await rejectsWith(store.modifyConfig(n, update(T0 + SECOND, [9])), 'RESOURCE_EXHAUSTED');
      assert.deepEqual(await snapshot(store, n), before);
      assert.equal((await store.modifyConfig(n, update(T0 + SECOND + 1, [3]))).version, 3);
      await rejectsWith(store.modifyConfig(n, update(T0 + SECOND + 500, [4])), 'RESOURCE_EXHAUSTED');
    });

    it(`keeps only the newest ${LIMITS.configVersionsKept} versions`, async () => {
      const { store, devices } = await withDevice('dev-1', 'dev-2');
      const n = first(devices);
      for (let v = 2; v <= 13; v++) await store.modifyConfig(n, update(T0 + v * SECOND, [v]));
      const kept = await store.listConfigVersions(n, 0);
      assert.deepEqual(
        kept.map((c) => c.version),
        [13, 12, 11, 10, 9, 8, 7, 6, 5, 4],
      );
      assert.deepEqual(
        kept.map((c) => bytesOf(c.binaryData)[0]),
        [13, 12, 11, 10, 9, 8, 7, 6, 5, 4],
      );
      assert.deepEqual(
        (await store.listConfigVersions(n, 3)).map((c) => c.version),
        [13, 12, 11],
      );
      assert.equal((await store.getDeviceByNumId(n))?.config.version, 13);
      assert.equal((await store.listConfigVersions(String(devices[1]?.numId), 0)).length, 1);
    });

    it('ackConfig marks the version (and the device config when latest) and sets lastConfigAckTime', async () => {
      const { store, devices } = await withDevice();
      const n = first(devices);
      await store.modifyConfig(n, update(T0 + SECOND, [2]));
      await store.ackConfig(n, 1, T0 + 5000);
      let d = await store.getDeviceByNumId(n);
      assert.equal(d?.config.version, 2);
      assert.equal(d?.config.deviceAckTime, undefined);
      assert.equal(d?.lastConfigAckTime, T0 + 5000);
      assert.deepEqual(
        (await store.listConfigVersions(n, 0)).map((c) => c.deviceAckTime),
        [undefined, T0 + 5000],
      );
      await store.ackConfig(n, 2, T0 + 6000);
      d = await store.getDeviceByNumId(n);
      assert.equal(d?.config.deviceAckTime, T0 + 6000);
      assert.equal((await store.listConfigVersions(n, 1))[0]?.deviceAckTime, T0 + 6000);
      assert.equal(d?.lastConfigAckTime, T0 + 6000);
      // A version no longer retained (or never issued) only moves lastConfigAckTime.
      await store.ackConfig(n, 77, T0 + 7000);
      d = await store.getDeviceByNumId(n);
      assert.equal(d?.lastConfigAckTime, T0 + 7000);
      assert.equal(d?.config.deviceAckTime, T0 + 6000);
    });

    it('config operations on an unknown device are NOT_FOUND', async () => {
      const { store } = await withDevice();
      const notFound = `Device "${UNKNOWN_NUM_ID}" not found.`;
      await rejectsWith(store.modifyConfig(UNKNOWN_NUM_ID, update(T0 + SECOND, [1])), 'NOT_FOUND', notFound);
      await rejectsWith(store.listConfigVersions(UNKNOWN_NUM_ID, 0), 'NOT_FOUND', notFound);
      await rejectsWith(store.ackConfig(UNKNOWN_NUM_ID, 1, T0), 'NOT_FOUND', notFound);
      await rejectsWith(store.modifyConfig('garbage', update(T0 + SECOND, [1])), 'NOT_FOUND');
    });
  });

  describe('states', () => {
    const state = (updateTime: number, b: number): { updateTime: number; binaryData: Uint8Array } => ({
      updateTime,
      binaryData: new Uint8Array([b]),
    });

    it('recordState sets state and lastStateTime and lists newest first', async () => {
      const { store, devices } = await withDevice('dev-1', 'dev-2');
      const n = first(devices);
      await store.recordState(n, state(T0 + 1, 1));
      await store.recordState(n, state(T0 + 2, 2));
      const d = await store.getDeviceByNumId(n);
      assert.deepEqual(d?.state, state(T0 + 2, 2));
      assert.equal(d?.lastStateTime, T0 + 2);
      assert.deepEqual(await store.listStates(n, 0), [state(T0 + 2, 2), state(T0 + 1, 1)]);
      assert.deepEqual(await store.listStates(n, 1), [state(T0 + 2, 2)]);
      assert.deepEqual(await store.listStates(String(devices[1]?.numId), 0), []);
    });

    it(`keeps only the newest ${LIMITS.statesKept} states`, async () => {
      const { store, devices } = await withDevice();
      const n = first(devices);
      for (let i = 1; i <= 12; i++) await store.recordState(n, state(T0 + i * SECOND, i));
      const kept = await store.listStates(n, 0);
      assert.deepEqual(
        kept.map((s) => bytesOf(s.binaryData)[0]),
        [12, 11, 10, 9, 8, 7, 6, 5, 4, 3],
      );
      assert.equal((await store.listStates(n, 3)).length, 3);
      // Retention is by time: a late report older than all ten kept ones is itself the one dropped,
      // though it still becomes the device's current state (the last one recorded).
      await store.recordState(n, state(T0, 99));
      assert.deepEqual(await store.listStates(n, 0), kept);
      assert.deepEqual((await store.getDeviceByNumId(n))?.state, state(T0, 99));
    });

    it('orders by updateTime, ties by insertion; the last recorded report is the device state', async () => {
      const { store, devices } = await withDevice();
      const n = first(devices);
      await store.recordState(n, state(100, 1));
      await store.recordState(n, state(300, 2));
      await store.recordState(n, state(200, 3));
      await store.recordState(n, state(300, 4));
      assert.deepEqual(
        (await store.listStates(n, 0)).map((s) => bytesOf(s.binaryData)[0]),
        [4, 2, 3, 1],
      );
      await store.recordState(n, state(50, 5));
      const d = await store.getDeviceByNumId(n);
      assert.deepEqual(d?.state, state(50, 5));
      assert.equal(d?.lastStateTime, 50);
      assert.deepEqual(
        (await store.listStates(n, 0)).map((s) => bytesOf(s.binaryData)[0]),
        [4, 2, 3, 1, 5],
      );
    });

    it('state operations on an unknown device are NOT_FOUND', async () => {
      const { store } = await withDevice();
      await rejectsWith(store.recordState(UNKNOWN_NUM_ID, state(1, 1)), 'NOT_FOUND', `Device "${UNKNOWN_NUM_ID}" not found.`);
      await rejectsWith(store.listStates(UNKNOWN_NUM_ID, 0), 'NOT_FOUND');
    });
  });

  describe('activity', () => {
    it('recordActivity applies only the keys present, to many devices at once, skipping unknown numIds', async () => {
      const { store, devices } = await withDevice('dev-a', 'dev-b');
      const a = first(devices);
      const b = String(devices[1]?.numId);
      await store.recordActivity(
        new Map([
          [a, { lastEventTime: T0 + 1, lastHeartbeatTime: T0 + 2 }],
          [b, { lastErrorTime: T0 + 3, lastErrorStatus: { code: 9, message: 'Pub/Sub topic missing' } }],
          [UNKNOWN_NUM_ID, { lastEventTime: T0 }],
          ['garbage', { lastEventTime: T0 }],
        ]),
      );
      await store.recordActivity(new Map([[a, { lastConfigSendTime: T0 + 4, lastStateTime: T0 + 5 }]]));
      const da = await store.getDeviceByNumId(a);
      assert.deepEqual(
        [da?.lastEventTime, da?.lastHeartbeatTime, da?.lastConfigSendTime, da?.lastStateTime, da?.lastErrorTime],
        [T0 + 1, T0 + 2, T0 + 4, T0 + 5, undefined],
      );
      assert.equal(da?.lastConfigAckTime, undefined);
      let db = await store.getDeviceByNumId(b);
      assert.deepEqual(db?.lastErrorStatus, { code: 9, message: 'Pub/Sub topic missing' });
      assert.equal(db?.lastErrorTime, T0 + 3);
      assert.equal(db?.lastEventTime, undefined);
      // A key present with value undefined clears that field.
      await store.recordActivity(new Map([[b, { lastErrorStatus: undefined, lastConfigAckTime: T0 + 6 }]]));
      db = await store.getDeviceByNumId(b);
      assert.equal(db?.lastErrorStatus, undefined);
      assert.equal(db?.lastErrorTime, T0 + 3);
      assert.equal(db?.lastConfigAckTime, T0 + 6);
      await store.recordActivity(new Map());
      assert.deepEqual(await store.getDeviceByNumId(b), db);
    });

    it('recordGatewayAccess sets the last accessed gateway; NOT_FOUND for an unknown device', async () => {
      const { store, devices } = await withDevice();
      const n = first(devices);
      await store.recordGatewayAccess(n, 'gw-1', T0 + 9);
      const g = (await store.getDeviceByNumId(n))?.gatewayConfig;
      assert.deepEqual(g, {
        gatewayType: 'NON_GATEWAY',
        gatewayAuthMethod: 'GATEWAY_AUTH_METHOD_UNSPECIFIED',
        lastAccessedGatewayId: 'gw-1',
        lastAccessedGatewayTime: T0 + 9,
      });
      await rejectsWith(store.recordGatewayAccess(UNKNOWN_NUM_ID, 'gw-1', T0), 'NOT_FOUND');
    });
  });
}

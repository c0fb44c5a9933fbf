import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Device } from '../../src/domain/model.js';
import type { Store } from '../../src/services/ports.js';
import {
  listAllIds,
  makeDevice,
  makeGateway,
  makeRegistry,
  policy,
  regKey,
  rejectsWith,
  T0,
  type ContractContext,
} from './store-fixtures.js';

const UNKNOWN_NUM_ID = '2999999999999999';
const SMALL = { maxDevicesPerGateway: 2, maxGatewaysPerDevice: 1 };
const ROOMY = { maxDevicesPerGateway: 100, maxGatewaysPerDevice: 10 };

/**
 * `persistent`: the factory provides `reopen`. Only then are the persistence tests registered, so a
 * memory store's run has no skipped tests in it.
 */
export function bindingContract({ fresh, freshWithReopen }: ContractContext, { persistent }: { persistent: boolean }): void {
  /** A fresh store with its reopen hook; only called from tests registered for persistent stores. */
  const freshPersistent = async (): Promise<{ store: Store; reopen: () => Promise<Store> }> => {
    const { store, reopen } = await freshWithReopen();
    assert.ok(reopen, 'the factory provided reopen when probed, so it must provide it every time');
    return { store, reopen };
  };

  /** gw-1, gw-2 and dev-1..dev-3 in reg-1; dev-x in reg-2. */
  const setup = async (store: Store): Promise<Record<string, Device>> => {
    await store.createRegistry(makeRegistry(regKey('reg-1')));
    await store.createRegistry(makeRegistry(regKey('reg-2')));
    const out: Record<string, Device> = {};
    for (const id of ['gw-1', 'gw-2']) out[id] = await store.createDevice(makeGateway(regKey(), id));
    for (const id of ['dev-1', 'dev-2', 'dev-3']) out[id] = await store.createDevice(makeDevice(regKey(), id));
    out['dev-x'] = await store.createDevice(makeDevice(regKey('reg-2'), 'dev-x'));
    return out;
  };
  const num = (d: Record<string, Device>, id: string): string => String(d[id]?.numId);

  describe('gateway bindings', () => {
    it('bind and unbind are idempotent; isBound is directional; unbind says whether a binding was removed', async () => {
      const store = await fresh();
      const d = await setup(store);
      const [gw, dev] = [num(d, 'gw-1'), num(d, 'dev-1')];
      assert.equal(await store.isBound(gw, dev), false);
      await store.bind(gw, dev, ROOMY);
      await store.bind(gw, dev, ROOMY);
      assert.equal(await store.isBound(gw, dev), true);
      assert.equal(await store.isBound(dev, gw), false);
      assert.deepEqual((await listAllIds(store, regKey(), { boundToGateway: gw }, 10)).ids, ['dev-1']);
      assert.equal(await store.unbind(gw, dev), true);
      assert.equal(await store.isBound(gw, dev), false);
      // docs/compat.md C-BIND: unbinding a pair that is not bound succeeds and changes nothing.
      assert.equal(await store.unbind(gw, dev), false);
      assert.equal(await store.unbind(gw, num(d, 'dev-2')), false);
      assert.equal(await store.unbind(dev, gw), false, 'the reverse pair was never bound');
      assert.deepEqual((await listAllIds(store, regKey(), { boundToGateway: gw }, 10)).ids, []);
      await rejectsWith(store.unbind(UNKNOWN_NUM_ID, dev), 'NOT_FOUND', `Device "${UNKNOWN_NUM_ID}" not found.`);
      await rejectsWith(store.unbind(gw, UNKNOWN_NUM_ID), 'NOT_FOUND', `Device "${UNKNOWN_NUM_ID}" not found.`);
      assert.equal(await store.isBound(UNKNOWN_NUM_ID, 'garbage'), false);
    });

    it('bind refuses missing devices, non-gateways, gateway-to-gateway and cross-registry pairs', async () => {
      const store = await fresh();
      const d = await setup(store);
      await rejectsWith(store.bind(UNKNOWN_NUM_ID, num(d, 'dev-1'), ROOMY), 'NOT_FOUND');
      await rejectsWith(store.bind(num(d, 'gw-1'), UNKNOWN_NUM_ID, ROOMY), 'NOT_FOUND', `Device "${UNKNOWN_NUM_ID}" not found.`);
      await rejectsWith(
        store.bind(num(d, 'dev-2'), num(d, 'dev-1'), ROOMY),
        'FAILED_PRECONDITION',
        'Device "dev-2" is not a gateway.',
      );
      await rejectsWith(
        store.bind(num(d, 'gw-1'), num(d, 'gw-2'), ROOMY),
        'FAILED_PRECONDITION',
        'Device "gw-2" is a gateway; a gateway cannot be bound to another gateway.',
      );
      await rejectsWith(store.bind(num(d, 'gw-1'), num(d, 'gw-1'), ROOMY), 'FAILED_PRECONDITION');
      await rejectsWith(
        store.bind(num(d, 'gw-1'), num(d, 'dev-x'), ROOMY),
        'FAILED_PRECONDITION',
        'Gateway "gw-1" and device "dev-x" are in different registries.',
      );
      for (const [g, v] of [
        ['dev-2', 'dev-1'],
        ['gw-1', 'gw-2'],
        ['gw-1', 'dev-x'],
      ] as const) {
        assert.equal(await store.isBound(num(d, g), num(d, v)), false);
      }
    });

    it('bind enforces both limits with RESOURCE_EXHAUSTED; rebinding at the limit is still fine', async () => {
      const store = await fresh();
      const d = await setup(store);
      const [gw1, gw2] = [num(d, 'gw-1'), num(d, 'gw-2')];
      await store.bind(gw1, num(d, 'dev-1'), SMALL);
      await store.bind(gw1, num(d, 'dev-2'), SMALL);
      await rejectsWith(
        store.bind(gw1, num(d, 'dev-3'), SMALL),
        'RESOURCE_EXHAUSTED',
        'Gateway "gw-1" already has the maximum of 2 bound devices.',
      );
      assert.equal(await store.isBound(gw1, num(d, 'dev-3')), false);
      await rejectsWith(
        store.bind(gw2, num(d, 'dev-1'), SMALL),
        'RESOURCE_EXHAUSTED',
        'Device "dev-1" is already bound to the maximum of 1 gateways.',
      );
      assert.equal(await store.isBound(gw2, num(d, 'dev-1')), false);
      await store.bind(gw1, num(d, 'dev-1'), SMALL);
      await store.unbind(gw1, num(d, 'dev-2'));
      await store.bind(gw1, num(d, 'dev-3'), SMALL);
      await store.bind(gw2, num(d, 'dev-2'), SMALL);
      assert.deepEqual((await listAllIds(store, regKey(), { boundToGateway: gw1 }, 10)).ids, ['dev-1', 'dev-3']);
    });

    it('deleting a device or a gateway removes its bindings both ways', async () => {
      const store = await fresh();
      const d = await setup(store);
      const gw1 = num(d, 'gw-1');
      const pair = { maxDevicesPerGateway: 2, maxGatewaysPerDevice: 2 };
      for (const id of ['dev-1', 'dev-2']) await store.bind(gw1, num(d, id), pair);
      await store.bind(num(d, 'gw-2'), num(d, 'dev-2'), pair);
      await store.deleteDevice(num(d, 'dev-1'));
      assert.equal(await store.isBound(gw1, num(d, 'dev-1')), false);
      assert.deepEqual((await listAllIds(store, regKey(), { boundToGateway: gw1 }, 10)).ids, ['dev-2']);
      // The deleted device no longer counts against the gateway's limit.
      await store.bind(gw1, num(d, 'dev-3'), pair);
      await store.unbind(gw1, num(d, 'dev-3'));
      await store.deleteDevice(gw1);
      assert.deepEqual((await listAllIds(store, regKey(), { gatewaysOfDevice: num(d, 'dev-2') }, 10)).ids, ['gw-2']);
      assert.equal(await store.isBound(gw1, num(d, 'dev-2')), false);
      // The freed slot counts: dev-2 may take another gateway under a 2-gateway limit again.
      const gw3 = await store.createDevice(makeGateway(regKey(), 'gw-3'));
      await store.bind(gw3.numId, num(d, 'dev-2'), { maxDevicesPerGateway: 10, maxGatewaysPerDevice: 2 });
    });
  });

  if (!persistent) return;
  describe('persistence across reopen', () => {
    it('everything survives close and reopen', async () => {
      const { store, reopen } = await freshPersistent();
      const d = await setup(store);
      const k = regKey();
      await store.setIamPolicy(k, policy(3, [1, 2, 3]), undefined);
      const dev = num(d, 'dev-1');
      await store.modifyConfig(dev, { versionToUpdate: 0, binaryData: new Uint8Array([9, 0]), at: T0 + 1000, minIntervalMs: 1000 });
      await store.ackConfig(dev, 2, T0 + 1500);
      await store.recordState(dev, { updateTime: T0 + 1600, binaryData: new Uint8Array([4]) });
      await store.recordActivity(new Map([[dev, { lastHeartbeatTime: T0 + 1700, lastErrorStatus: { code: 3, message: 'm' } }]]));
      await store.recordGatewayAccess(dev, 'gw-1', T0 + 1800);
      await store.bind(num(d, 'gw-1'), dev, ROOMY);
      const capture = async (s: Store): Promise<unknown> => ({
        registries: await s.listRegistries('proj', 'us-central1', undefined, 10),
        devices: await s.listDevices(k, {}, undefined, 10),
        other: await s.listDevices(regKey('reg-2'), {}, undefined, 10),
        configs: await s.listConfigVersions(dev, 0),
        states: await s.listStates(dev, 0),
        bound: await listAllIds(s, k, { boundToGateway: num(d, 'gw-1') }, 10),
        iam: await s.getIamPolicy(k),
      });
      const before = await capture(store);
      await store.close();
      const again = await reopen();
      assert.deepEqual(await capture(again), before);
      assert.equal(await again.isBound(num(d, 'gw-1'), dev), true);
    });

    it('numIds are not reused after delete and reopen', async () => {
      const { store, reopen } = await freshPersistent();
      await store.createRegistry(makeRegistry(regKey()));
      await store.createDevice(makeDevice(regKey(), 'dev-a'));
      const b = await store.createDevice(makeDevice(regKey(), 'dev-b'));
      await store.deleteDevice(b.numId);
      await store.close();
      const again = await reopen();
      const c = await again.createDevice(makeDevice(regKey(), 'dev-c'));
      assert.ok(BigInt(c.numId) > BigInt(b.numId), `${c.numId} should be above ${b.numId}`);
    });
  });
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError } from '../../src/domain/errors.js';
import type { RegistryKey } from '../../src/domain/model.js';
import type { ImportedDevice, Store } from '../../src/services/ports.js';
import { gatewayConfig } from '../support/devices.js';
import { makeDevice, makeRegistry, regKey, snapshot, T0, type ContractContext } from './store-fixtures.js';

const NUM = (i: number): string => String(3_000_000_000_000_000 + i);

const imported = (k: RegistryKey, id: string, numId: string, over: Partial<ImportedDevice> = {}): ImportedDevice => ({
  ...makeDevice(k, id, { config: { version: 7, cloudUpdateTime: T0 + 5, deviceAckTime: undefined, binaryData: new Uint8Array([9, 8]) } }),
  numId,
  ...over,
});

const gw = (k: RegistryKey, id: string, numId: string): ImportedDevice =>
  imported(k, id, numId, { gatewayConfig: gatewayConfig('GATEWAY', 'ASSOCIATION_ONLY') });

async function conflictMessage(p: Promise<unknown>): Promise<string> {
  let message = '';
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ApiError);
    assert.equal(e.kind, 'FAILED_PRECONDITION');
    message = e.message;
    return true;
  });
  return message;
}

/** Everything of a registry an import writes, to prove a refused import changed nothing. */
async function registryState(store: Store, k: RegistryKey): Promise<unknown> {
  const page = await store.listDevices(k, {}, undefined, 1000);
  return {
    registry: await store.getRegistry(k),
    devices: await Promise.all(page.items.map((d) => snapshot(store, d.numId))),
    bound: await Promise.all(page.items.map(async (d) => (await store.listDevices(k, { boundToGateway: d.numId }, undefined, 100)).items.map((x) => x.id))),
  };
}

export function importContract({ fresh }: ContractContext): void {
  describe('importRegistry', () => {
    it('creates the registry, keeps numIds and the given config version, binds, and getDevice finds each by numId', async () => {
      const store = await fresh();
      const k = regKey();
      const devices = [gw(k, 'gw-1', NUM(1)), imported(k, 'dev-1', NUM(2)), imported(k, 'dev-2', NUM(3), { blocked: true, logLevel: 'DEBUG' })];
      const r = await store.importRegistry(makeRegistry(k), devices, [{ gatewayId: 'gw-1', deviceId: 'dev-1' }]);
      assert.deepEqual(r, { registryCreated: true, devicesCreated: 3, devicesSkipped: 0, bindingsCreated: 1, bindingsSkipped: 0 });
      const d2 = await store.getDevice(k, NUM(3));
      assert.equal(d2?.id, 'dev-2');
      assert.equal(d2?.blocked, true);
      assert.equal(d2?.logLevel, 'DEBUG');
      assert.equal(d2?.revision, 1);
      assert.deepEqual(d2?.config, { version: 7, cloudUpdateTime: T0 + 5, deviceAckTime: undefined, binaryData: new Uint8Array([9, 8]) });
      assert.deepEqual((await store.listConfigVersions(NUM(3), 0)).map((c) => c.version), [7]);
      assert.equal((await store.getDevice(k, 'dev-1'))?.numId, NUM(2));
      assert.ok(await store.isBound(NUM(1), NUM(2)));
      // The next config version follows the imported one.
      const next = await store.modifyConfig(NUM(3), { versionToUpdate: 0, binaryData: new Uint8Array([1]), at: T0 + 10_000, minIntervalMs: 0 });
      assert.equal(next.version, 8);
    });

    it('reports progress every 1,000 devices written', async () => {
      const store = await fresh();
      const k = regKey();
      const devices = Array.from({ length: 2500 }, (_, i) => imported(k, `dev-${i}`, NUM(i + 1)));
      const seen: number[] = [];
      await store.importRegistry(makeRegistry(k), devices, [], (n) => seen.push(n));
      assert.deepEqual(seen, [1000, 2000]);
    });

    it('a later createDevice never reuses an imported numId', async () => {
      const store = await fresh();
      const k = regKey();
      await store.createRegistry(makeRegistry(k));
      const first = await store.createDevice(makeDevice(k, 'before'));
      const high = String(Number(first.numId) + 5);
      await store.importRegistry(makeRegistry(k), [imported(k, 'imported', high)], []);
      const later = await store.createDevice(makeDevice(k, 'after'));
      assert.ok(Number(later.numId) > Number(high), `${later.numId} > ${high}`);
    });

    it('after the largest numId, createDevice refuses with FAILED_PRECONDITION (never ALREADY_EXISTS) and writes nothing', async () => {
      const store = await fresh();
      const k = regKey();
      // Below 2^53−1, as an import made before C-IMPORT-NUMID's bound could have stored.
      await store.importRegistry(makeRegistry(k), [imported(k, 'near-max', String(Number.MAX_SAFE_INTEGER - 1))], []);
      const last = await store.createDevice(makeDevice(k, 'last'));
      assert.equal(last.numId, String(Number.MAX_SAFE_INTEGER));
      for (const id of ['over-1', 'over-2']) {
        assert.match(await conflictMessage(store.createDevice(makeDevice(k, id))), /No device numId is left/);
        assert.equal(await store.getDevice(k, id), undefined);
      }
      assert.equal((await store.listDevices(k, {}, undefined, 10)).items.length, 2);
      assert.equal((await store.getDevice(k, String(Number.MAX_SAFE_INTEGER)))?.id, 'last');
    });

    it('a re-run skips what is stored identically, even after the devices were active, and changes nothing', async () => {
      const store = await fresh();
      const k = regKey();
      const devices = [gw(k, 'gw-1', NUM(1)), imported(k, 'dev-1', NUM(2))];
      const bindings = [{ gatewayId: 'gw-1', deviceId: 'dev-1' }];
      await store.importRegistry(makeRegistry(k), devices, bindings);
      await store.recordActivity(new Map([[NUM(2), { lastHeartbeatTime: T0 + 99 }]]));
      const before = await registryState(store, k);
      const again = await store.importRegistry(makeRegistry(k), devices, bindings);
      assert.deepEqual(again, { registryCreated: false, devicesCreated: 0, devicesSkipped: 2, bindingsCreated: 0, bindingsSkipped: 1 });
      assert.deepEqual(await registryState(store, k), before);
    });

    it('resumes: devices already stored are skipped and the rest created', async () => {
      const store = await fresh();
      const k = regKey();
      await store.importRegistry(makeRegistry(k), [imported(k, 'dev-1', NUM(1))], []);
      const r = await store.importRegistry(makeRegistry(k), [imported(k, 'dev-1', NUM(1)), imported(k, 'dev-2', NUM(2))], []);
      assert.equal(r.devicesCreated, 1);
      assert.equal(r.devicesSkipped, 1);
    });

    it('refuses the whole registry naming every conflicting ID, and writes nothing', async () => {
      const store = await fresh();
      const k = regKey();
      const other = regKey('reg-2');
      await store.importRegistry(makeRegistry(k), [imported(k, 'dev-1', NUM(1)), imported(k, 'dev-2', NUM(2))], []);
      await store.importRegistry(makeRegistry(other), [imported(other, 'elsewhere', NUM(9))], []);
      const before = await registryState(store, k);
      const message = await conflictMessage(
        store.importRegistry(
          makeRegistry(k),
          [
            imported(k, 'fresh-1', NUM(50)),
            imported(k, 'dev-1', NUM(3)), // ID stored under another numId
            imported(k, 'taken', NUM(1)), // numId held by dev-1
            imported(k, 'dev-2', NUM(2), { blocked: true }), // differs
            imported(k, 'x', NUM(9)), // numId held in another registry
          ],
          [{ gatewayId: 'fresh-1', deviceId: 'nobody' }],
        ),
      );
      for (const part of ['"dev-1"', `numId ${NUM(3)}`, '"taken"', '"dev-2"', 'other content', '"elsewhere"', 'reg-2', 'nobody', 'nothing written']) {
        assert.ok(message.includes(part), `${part} in ${message}`);
      }
      assert.deepEqual(await registryState(store, k), before);
      assert.equal(await store.getDeviceByNumId(NUM(50)), undefined);
    });

    it('an existing registry with other settings is refused; a new registry refused for a conflict is not created', async () => {
      const store = await fresh();
      const k = regKey();
      await store.createRegistry(makeRegistry(k, { logLevel: 'ERROR' }));
      const m = await conflictMessage(store.importRegistry(makeRegistry(k), [imported(k, 'dev-1', NUM(1))], []));
      assert.match(m, /other settings/);
      assert.equal(await store.getDeviceByNumId(NUM(1)), undefined);

      const k2 = regKey('reg-new');
      await conflictMessage(store.importRegistry(makeRegistry(k2), [imported(k2, 'a', NUM(2)), imported(k2, 'b', NUM(2))], []));
      assert.equal(await store.getRegistry(k2), undefined);
    });

    it('bindings must pair a gateway with a non-gateway of the registry', async () => {
      const store = await fresh();
      const k = regKey();
      const devices = [gw(k, 'gw-1', NUM(1)), gw(k, 'gw-2', NUM(2)), imported(k, 'dev-1', NUM(3))];
      const m = await conflictMessage(
        store.importRegistry(makeRegistry(k), devices, [
          { gatewayId: 'dev-1', deviceId: 'dev-1' },
          { gatewayId: 'gw-1', deviceId: 'gw-2' },
        ]),
      );
      assert.match(m, /"dev-1" is not a gateway/);
      assert.match(m, /"gw-2" is a gateway/);
      assert.equal(await store.getRegistry(k), undefined);
    });
  });
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Device } from '../../src/domain/model.js';
import type { Store } from '../../src/services/ports.js';
import {
  bytesOf,
  listAllIds,
  makeDevice,
  makeGateway,
  makeRegistry,
  pad,
  regKey,
  rejectsWith,
  scrambled,
  snapshot,
  T0,
  type ContractContext,
} from './store-fixtures.js';

const UNKNOWN_NUM_ID = '2999999999999999';

export function deviceContract({ fresh }: ContractContext): void {
  const withRegistries = async (...names: string[]): Promise<Store> => {
    const store = await fresh();
    for (const n of names.length ? names : ['reg-1']) await store.createRegistry(makeRegistry(regKey(n)));
    return store;
  };

  describe('devices', () => {
    it('the first numId is 2000000000000001; numIds are unique across registries', async () => {
      const store = await withRegistries('reg-1', 'reg-2');
      const a = await store.createDevice(makeDevice(regKey('reg-1'), 'dev-a'));
      const b = await store.createDevice(makeDevice(regKey('reg-2'), 'dev-a'));
      const c = await store.createDevice(makeDevice(regKey('reg-1'), 'dev-b'));
      assert.equal(a.numId, '2000000000000001');
      assert.equal(new Set([a.numId, b.numId, c.numId]).size, 3);
      for (const d of [a, b, c]) {
        assert.match(d.numId, /^[1-9]\d{15}$/);
        assert.ok(Number.isSafeInteger(Number(d.numId)));
      }
    });

    it('numIds are never reused after a delete', async () => {
      const store = await withRegistries();
      await store.createDevice(makeDevice(regKey(), 'dev-a'));
      const b = await store.createDevice(makeDevice(regKey(), 'dev-b'));
      await store.deleteDevice(b.numId);
      const c = await store.createDevice(makeDevice(regKey(), 'dev-b'));
      assert.ok(BigInt(c.numId) > BigInt(b.numId), `${c.numId} should be above ${b.numId}`);
    });

    it('create stores the config as version 1 and returns what get returns', async () => {
      const store = await withRegistries();
      const input = makeDevice(regKey(), 'dev-1', {
        config: { version: 1, cloudUpdateTime: T0 + 5, deviceAckTime: undefined, binaryData: new Uint8Array([7, 0, 255]) },
      });
      const created = await store.createDevice(input);
      assert.deepEqual(created, { ...input, numId: created.numId, revision: 1 });
      assert.deepEqual(created.config, {
        version: 1,
        cloudUpdateTime: T0 + 5,
        deviceAckTime: undefined,
        binaryData: new Uint8Array([7, 0, 255]),
      });
      assert.deepEqual(await store.getDevice(regKey(), 'dev-1'), created);
      assert.deepEqual(await store.listConfigVersions(created.numId, 0), [created.config]);
      assert.deepEqual(await store.listStates(created.numId, 0), []);
      assert.equal(created.state, undefined);
      assert.ok('lastErrorStatus' in created && created.lastErrorStatus === undefined);
    });

    it('payloads round-trip byte-exact: all 256 byte values, empty, and Buffer slices', async () => {
      const store = await withRegistries();
      const all = Uint8Array.from({ length: 256 }, (_, i) => i);
      const d1 = await store.createDevice(
        makeDevice(regKey(), 'dev-1', { config: { version: 1, cloudUpdateTime: T0, deviceAckTime: undefined, binaryData: all } }),
      );
      const pooled = Buffer.from('hello'); // a view into Node's shared allocation pool
      const d2 = await store.createDevice(
        makeDevice(regKey(), 'dev-2', { config: { version: 1, cloudUpdateTime: T0, deviceAckTime: undefined, binaryData: pooled } }),
      );
      const d3 = await store.createDevice(
        makeDevice(regKey(), 'dev-3', {
          config: { version: 1, cloudUpdateTime: T0, deviceAckTime: undefined, binaryData: new Uint8Array(0) },
        }),
      );
      const got1 = await store.getDeviceByNumId(d1.numId);
      const got2 = await store.getDeviceByNumId(d2.numId);
      const got3 = await store.getDeviceByNumId(d3.numId);
      assert.deepEqual(bytesOf(got1?.config.binaryData), bytesOf(all));
      assert.ok(got1?.config.binaryData instanceof Uint8Array);
      assert.equal(got2?.config.binaryData.byteLength, 5);
      assert.deepEqual(bytesOf(got2?.config.binaryData), bytesOf(pooled));
      assert.equal(got3?.config.binaryData.byteLength, 0);
    });

    it('a duplicate ID in the registry is ALREADY_EXISTS and changes nothing', async () => {
      const store = await withRegistries('reg-1', 'reg-2');
      const first = await store.createDevice(makeDevice(regKey(), 'dev-1'));
      await rejectsWith(
        store.createDevice(makeDevice(regKey(), 'dev-1', { metadata: { overwritten: 'yes' } })),
        'ALREADY_EXISTS',
        'Device "dev-1" already exists in registry "projects/proj/locations/us-central1/registries/reg-1".',
      );
      assert.deepEqual(await store.getDevice(regKey(), 'dev-1'), first);
      assert.deepEqual((await listAllIds(store, regKey(), {}, 10)).ids, ['dev-1']);
      await store.createDevice(makeDevice(regKey('reg-2'), 'dev-1'));
    });

    it('create in a missing registry is NOT_FOUND', async () => {
      const store = await withRegistries();
      await rejectsWith(
        store.createDevice(makeDevice(regKey('ghost'), 'dev-1')),
        'NOT_FOUND',
        'Registry "projects/proj/locations/us-central1/registries/ghost" not found.',
      );
      assert.equal(await store.getDevice(regKey('ghost'), 'dev-1'), undefined);
    });

    it('getDevice finds by ID or numId, only within its own registry', async () => {
      const store = await withRegistries('reg-1', 'reg-2');
      const d = await store.createDevice(makeDevice(regKey(), 'dev-1'));
      assert.deepEqual(await store.getDevice(regKey(), d.numId), d);
      assert.deepEqual(await store.getDevice(regKey(), 'dev-1'), d);
      assert.deepEqual(await store.getDeviceByNumId(d.numId), d);
      assert.equal(await store.getDevice(regKey('reg-2'), d.numId), undefined);
      assert.equal(await store.getDevice(regKey('reg-2'), 'dev-1'), undefined);
      assert.equal(await store.getDevice(regKey(), 'dev-2'), undefined);
      assert.equal(await store.getDevice(regKey(), UNKNOWN_NUM_ID), undefined);
      assert.equal(await store.getDevice(regKey(), `0${d.numId}`), undefined);
      assert.equal(await store.getDeviceByNumId(UNKNOWN_NUM_ID), undefined);
      assert.equal(await store.getDeviceByNumId('99999999999999999999'), undefined);
    });

    it('returned devices are copies: mutating them, or the input, never reaches the store', async () => {
      const store = await withRegistries();
      const input = makeDevice(regKey(), 'dev-1');
      const created = await store.createDevice(input);
      const pristine = structuredClone(created);
      input.metadata['site'] = 'changed';
      input.config.binaryData[0] = 42;
      created.metadata['site'] = 'changed';
      created.credentials.pop();
      created.config.binaryData[1] = 42;
      created.gatewayConfig.gatewayType = 'GATEWAY';
      const got = await store.getDeviceByNumId(created.numId);
      assert.deepEqual(got, pristine);
      if (got) got.blocked = true;
      assert.equal((await store.getDeviceByNumId(created.numId))?.blocked, false);
      const listed = await store.listDevices(regKey(), {}, undefined, 10);
      listed.items[0]?.credentials.pop();
      assert.deepEqual(await store.getDeviceByNumId(created.numId), pristine);
    });

    it('updateDevice replaces only the mutable fields; NOT_FOUND when absent', async () => {
      const store = await withRegistries();
      const created = await store.createDevice(makeGateway(regKey(), 'gw-1'));
      const returned = await store.updateDevice({
        ...created,
        credentials: [],
        blocked: true,
        logLevel: 'DEBUG',
        metadata: { a: '1', b: '' },
        gatewayConfig: {
          gatewayType: 'NON_GATEWAY',
          gatewayAuthMethod: 'DEVICE_AUTH_TOKEN_ONLY',
          lastAccessedGatewayId: 'x',
          lastAccessedGatewayTime: 1,
        },
        config: { version: 99, cloudUpdateTime: 1, deviceAckTime: 1, binaryData: new Uint8Array([1]) },
        state: { updateTime: 1, binaryData: new Uint8Array([1]) },
        lastEventTime: 123,
        lastErrorStatus: { code: 1, message: 'no' },
      });
      const expected = {
        ...created,
        revision: 2,
        credentials: [],
        blocked: true,
        logLevel: 'DEBUG',
        metadata: { a: '1', b: '' },
        gatewayConfig: { ...created.gatewayConfig, gatewayAuthMethod: 'DEVICE_AUTH_TOKEN_ONLY' },
      };
      assert.deepEqual(await store.getDeviceByNumId(created.numId), expected);
      assert.deepEqual(returned, expected);
      await rejectsWith(
        store.updateDevice({ ...created, numId: UNKNOWN_NUM_ID }),
        'NOT_FOUND',
        `Device "${UNKNOWN_NUM_ID}" not found.`,
      );
    });

    it('deleteDevice removes the device and all its history; NOT_FOUND when absent', async () => {
      const store = await withRegistries();
      const d = await store.createDevice(makeDevice(regKey(), 'dev-1'));
      const other = await store.createDevice(makeDevice(regKey(), 'dev-2'));
      await store.modifyConfig(d.numId, { versionToUpdate: 0, binaryData: new Uint8Array([1]), at: T0 + 1000, minIntervalMs: 1000 });
      await store.recordState(d.numId, { updateTime: T0 + 10, binaryData: new Uint8Array([2]) });
      const otherBefore = await snapshot(store, other.numId);
      await store.deleteDevice(d.numId);
      assert.equal(await store.getDeviceByNumId(d.numId), undefined);
      assert.equal(await store.getDevice(regKey(), 'dev-1'), undefined);
      assert.deepEqual((await listAllIds(store, regKey(), {}, 10)).ids, ['dev-2']);
      await rejectsWith(store.listConfigVersions(d.numId, 0), 'NOT_FOUND');
      await rejectsWith(store.listStates(d.numId, 0), 'NOT_FOUND');
      await rejectsWith(store.deleteDevice(d.numId), 'NOT_FOUND', `Device "${d.numId}" not found.`);
      assert.deepEqual(await snapshot(store, other.numId), otherBefore);
      const again = await store.createDevice(makeDevice(regKey(), 'dev-1'));
      assert.equal((await store.listConfigVersions(again.numId, 0)).length, 1);
      assert.deepEqual(await store.listStates(again.numId, 0), []);
    });
  });

  describe('device listing', () => {
    it('pages through 25 devices with limit 10: each once, in ID order, other registries excluded', async () => {
      const store = await withRegistries('reg-1', 'reg-2');
      for (const i of scrambled(25)) {
        await store.createDevice(makeDevice(regKey(), `dev-${pad(i)}`));
        if (i % 5 === 0) await store.createDevice(makeDevice(regKey('reg-2'), `dev-${pad(i)}x`));
      }
      const { ids, pages } = await listAllIds(store, regKey(), {}, 10);
      assert.deepEqual(pages, [10, 10, 5]);
      assert.deepEqual(ids, Array.from({ length: 25 }, (_, i) => `dev-${pad(i)}`));
      const exact = await listAllIds(store, regKey(), {}, 25);
      assert.deepEqual(exact.pages, [25]);
      const page = await store.listDevices(regKey(), {}, 'dev-03', 2);
      assert.deepEqual(
        page.items.map((d) => d.id),
        ['dev-04', 'dev-05'],
      );
      assert.equal(page.next, 'dev-05');
      assert.deepEqual(page.items[0], await store.getDevice(regKey(), 'dev-04'));
      assert.deepEqual(await store.listDevices(regKey('ghost'), {}, undefined, 10), { items: [], next: undefined });
    });

    it('filters by deviceIds and deviceNumIds; unknown entries are absent; empty lists do not filter', async () => {
      const store = await withRegistries('reg-1', 'reg-2');
      const made: Device[] = [];
      for (let i = 0; i < 6; i++) made.push(await store.createDevice(makeDevice(regKey(), `dev-${i}`)));
      const foreign = await store.createDevice(makeDevice(regKey('reg-2'), 'dev-9'));
      const byIds = await listAllIds(store, regKey(), { deviceIds: ['dev-4', 'dev-1', 'nope', 'dev-9'] }, 10);
      assert.deepEqual(byIds.ids, ['dev-1', 'dev-4']);
      const numIds = [made[5]?.numId, made[2]?.numId, foreign.numId, UNKNOWN_NUM_ID, 'garbage'].map(String);
      assert.deepEqual((await listAllIds(store, regKey(), { deviceNumIds: numIds }, 10)).ids, ['dev-2', 'dev-5']);
      const both = { deviceIds: ['dev-1', 'dev-2'], deviceNumIds: numIds };
      assert.deepEqual((await listAllIds(store, regKey(), both, 10)).ids, ['dev-2']);
      assert.equal((await listAllIds(store, regKey(), { deviceIds: [], deviceNumIds: [] }, 10)).ids.length, 6);
      assert.deepEqual((await listAllIds(store, regKey(), { deviceNumIds: ['garbage'] }, 10)).ids, []);
    });

    it('filters by gateway type: NON_GATEWAY includes unspecified; UNSPECIFIED means all', async () => {
      const store = await withRegistries();
      await store.createDevice(makeGateway(regKey(), 'a-gw'));
      await store.createDevice(makeDevice(regKey(), 'b-dev'));
      const unspecified = makeDevice(regKey(), 'c-old');
      await store.createDevice({ ...unspecified, gatewayConfig: { ...unspecified.gatewayConfig, gatewayType: 'GATEWAY_TYPE_UNSPECIFIED' } });
      await store.createDevice(makeGateway(regKey(), 'd-gw'));
      const ids = async (gatewayType?: Device['gatewayConfig']['gatewayType']): Promise<string[]> =>
        (await listAllIds(store, regKey(), gatewayType ? { gatewayType } : {}, 1)).ids;
      assert.deepEqual(await ids('GATEWAY'), ['a-gw', 'd-gw']);
      assert.deepEqual(await ids('NON_GATEWAY'), ['b-dev', 'c-old']);
      assert.deepEqual(await ids('GATEWAY_TYPE_UNSPECIFIED'), ['a-gw', 'b-dev', 'c-old', 'd-gw']);
      assert.deepEqual(await ids(), ['a-gw', 'b-dev', 'c-old', 'd-gw']);
    });

    it('filters by bindings in both directions, combined with other filters and paged', async () => {
      const store = await withRegistries();
      const gw1 = await store.createDevice(makeGateway(regKey(), 'gw-1'));
      const gw2 = await store.createDevice(makeGateway(regKey(), 'gw-2'));
      const devs: Device[] = [];
      for (let i = 0; i < 5; i++) devs.push(await store.createDevice(makeDevice(regKey(), `dev-${i}`)));
      const limits = { maxDevicesPerGateway: 10, maxGatewaysPerDevice: 10 };
      for (const i of [4, 0, 2, 3]) await store.bind(gw1.numId, String(devs[i]?.numId), limits);
      await store.bind(gw2.numId, String(devs[2]?.numId), limits);
      const list = async (f: Parameters<Store['listDevices']>[1], limit = 2): Promise<string[]> =>
        (await listAllIds(store, regKey(), f, limit)).ids;
      assert.deepEqual(await list({ boundToGateway: gw1.numId }), ['dev-0', 'dev-2', 'dev-3', 'dev-4']);
      assert.deepEqual(await list({ boundToGateway: gw2.numId }), ['dev-2']);
      assert.deepEqual(await list({ gatewaysOfDevice: String(devs[2]?.numId) }), ['gw-1', 'gw-2']);
      assert.deepEqual(await list({ gatewaysOfDevice: String(devs[1]?.numId) }), []);
      assert.deepEqual(await list({ boundToGateway: gw1.numId, deviceIds: ['dev-3', 'dev-1', 'dev-0'] }), ['dev-0', 'dev-3']);
      assert.deepEqual(await list({ boundToGateway: gw1.numId, gatewayType: 'GATEWAY' }), []);
      assert.deepEqual(await list({ boundToGateway: UNKNOWN_NUM_ID }), []);
      assert.deepEqual(await list({ boundToGateway: 'garbage' }), []);
    });

    it('filters by ID prefix and by blocked (docs/compat.md C-CONSOLE-PREFIX), combined with other filters and paged', async () => {
      const store = await withRegistries('reg-1', 'reg-2');
      for (const id of ['pump-1', 'pump-10', 'pump-2', 'pumpkin', 'valve-1', 'Pump-3']) await store.createDevice(makeDevice(regKey(), id));
      await store.createDevice(makeDevice(regKey('reg-2'), 'pump-9'));
      await store.createDevice(makeGateway(regKey(), 'pump-gw'));
      const blocked = (await store.getDevice(regKey(), 'pump-10'))!;
      await store.updateDevice({ ...blocked, blocked: true });
      const list = async (f: Parameters<Store['listDevices']>[1], limit = 2): Promise<string[]> => (await listAllIds(store, regKey(), f, limit)).ids;
      assert.deepEqual(await list({ idPrefix: 'pump-' }), ['pump-1', 'pump-10', 'pump-2', 'pump-gw']);
      assert.deepEqual(await list({ idPrefix: 'pump-1' }), ['pump-1', 'pump-10']);
      assert.deepEqual(await list({ idPrefix: 'Pump' }), ['Pump-3'], 'case matters');
      assert.deepEqual(await list({ idPrefix: 'pump-', gatewayType: 'NON_GATEWAY' }), ['pump-1', 'pump-10', 'pump-2']);
      assert.deepEqual(await list({ idPrefix: 'nothing' }), []);
      assert.deepEqual(await list({ blocked: true }), ['pump-10']);
      assert.deepEqual(await list({ blocked: false, idPrefix: 'pump' }, 3), ['pump-1', 'pump-2', 'pump-gw', 'pumpkin']);
      assert.deepEqual(await list({ blocked: true, idPrefix: 'valve' }), []);
    });

    it('accepts 10,000-entry deviceIds and deviceNumIds filters', async () => {
      const store = await withRegistries();
      const made: Device[] = [];
      for (let i = 0; i < 12; i++) made.push(await store.createDevice(makeDevice(regKey(), `dev-${pad(i)}`)));
      const wanted = made.filter((_, i) => i % 2 === 0);
      const ids = Array.from({ length: 10_000 - wanted.length }, (_, i) => `missing-${i}`);
      ids.splice(5000, 0, ...wanted.map((d) => d.id));
      const byIds = await listAllIds(store, regKey(), { deviceIds: ids }, 4);
      assert.deepEqual(byIds.ids, wanted.map((d) => d.id));
      assert.deepEqual(byIds.pages, [4, 2]);
      const numIds = Array.from({ length: 10_000 - wanted.length }, (_, i) => String(2_500_000_000_000_000 + i));
      numIds.push(...wanted.map((d) => d.numId));
      assert.deepEqual((await listAllIds(store, regKey(), { deviceNumIds: numIds }, 500)).ids, wanted.map((d) => d.id));
    });

    it('pages through 10,000 devices', async () => {
      const store = await withRegistries();
      const n = 10_000;
      for (let i = 0; i < n; i++) await store.createDevice(makeDevice(regKey(), `dev-${String(i).padStart(5, '0')}`));
      const { ids, pages } = await listAllIds(store, regKey(), {}, 500);
      assert.equal(pages.length, 20);
      assert.equal(ids.length, n);
      assert.equal(new Set(ids).size, n);
      assert.deepEqual(ids, [...ids].sort());
      const last = await store.listDevices(regKey(), {}, 'dev-09998', 500);
      assert.deepEqual(
        last.items.map((d) => d.id),
        ['dev-09999'],
      );
    });

    it('a limit below 1 is treated as 1', async () => {
      const store = await withRegistries();
      await store.createDevice(makeDevice(regKey(), 'dev-1'));
      await store.createDevice(makeDevice(regKey(), 'dev-2'));
      const page = await store.listDevices(regKey(), {}, undefined, 0);
      assert.deepEqual(
        page.items.map((d) => d.id),
        ['dev-1'],
      );
      assert.equal(page.next, 'dev-1');
    });
  });
}

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { NodeKeyInspector } from '../../src/adapters/crypto/key-inspector.js';
import { MemoryStore } from '../../src/adapters/store/memory/memory-store.js';
import { SqliteStore } from '../../src/adapters/store/sqlite/sqlite-store.js';
import { ApiError } from '../../src/domain/errors.js';
import { ApiAuth, type Principal } from '../../src/services/api-auth.js';
import { DeviceAdmin } from '../../src/services/device-admin.js';
import type { Store } from '../../src/services/ports.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const STORES: [string, () => Store][] = [
  ['memory', () => new MemoryStore()],
  [
    'sqlite',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'bh-admin-race-'));
      dirs.push(dir);
      return SqliteStore.open(join(dir, 'registry.db'));
    },
  ],
];

const ADMIN: Principal = { kind: 'admin' };
const parent = 'projects/p/locations/us-central1';
const registry = `${parent}/registries/reg`;
const deviceName = (id: string): string => `${registry}/devices/${id}`;

function adminOver(store: Store): DeviceAdmin {
  const noCommands = { send: async () => undefined };
  const bus = { publish: async () => undefined };
  return new DeviceAdmin(store, new NodeKeyInspector(), { now: () => Date.now() }, bus, noCommands, new ApiAuth('token'));
}

/**
 * Two API requests touching one resource at once, through the service as every edge calls it:
 * the interleavings that lost updates while updates were unconditional read-modify-writes.
 */
for (const [name, make] of STORES) {
  describe(`DeviceAdmin under concurrent requests (${name} store)`, () => {
    it('a PATCH of metadata racing a PATCH of blocked keeps both', async () => {
      const store = make();
      const admin = adminOver(store);
      await admin.createDeviceRegistry(ADMIN, { parent, deviceRegistry: { id: 'reg' } });
      for (let round = 0; round < 20; round++) {
        const id = `dev-${round}`;
        await admin.createDevice(ADMIN, { parent: registry, device: { id } });
        const name = deviceName(id);
        await Promise.all([
          admin.updateDevice(ADMIN, { name, device: { metadata: { owner: `o${round}` } }, updateMask: ['metadata'] }),
          admin.updateDevice(ADMIN, { name, device: { blocked: true }, updateMask: ['blocked'] }),
          admin.updateDevice(ADMIN, { name, device: { logLevel: 'DEBUG' }, updateMask: ['log_level'] }),
        ]);
        const { device: d } = await admin.getDevice(ADMIN, { name });
        assert.deepEqual(d.metadata, { owner: `o${round}` }, `round ${round}: metadata lost`);
        assert.equal(d.blocked, true, `round ${round}: blocked lost`);
        assert.equal(d.logLevel, 'DEBUG', `round ${round}: logLevel lost`);
      }
      await store.close();
    });

    it('registry updates of different fields racing keep both', async () => {
      const store = make();
      const admin = adminOver(store);
      await admin.createDeviceRegistry(ADMIN, { parent, deviceRegistry: { id: 'reg' } });
      await Promise.all([
        admin.updateDeviceRegistry(ADMIN, { name: registry, deviceRegistry: { logLevel: 'ERROR' }, updateMask: ['logLevel'] }),
        admin.updateDeviceRegistry(ADMIN, { name: registry, deviceRegistry: { mqttConfig: { mqttEnabledState: 'MQTT_DISABLED' } }, updateMask: ['mqtt_config'] }),
      ]);
      const r = await admin.getDeviceRegistry(ADMIN, { name: registry });
      assert.equal(r.logLevel, 'ERROR');
      assert.equal(r.mqttEnabledState, 'MQTT_DISABLED');
      await store.close();
    });

    it('two setIamPolicy calls with the same etag: one succeeds, the other is ABORTED', async () => {
      const store = make();
      const admin = adminOver(store);
      await admin.createDeviceRegistry(ADMIN, { parent, deviceRegistry: { id: 'reg' } });
      const read = await admin.getIamPolicy(ADMIN, { resource: registry });
      const bindings = [{ role: 'roles/cloudiot.viewer', members: ['user:a@example.com'] }];
      const results = await Promise.allSettled([
        admin.setIamPolicy(ADMIN, { resource: registry, policy: { version: 1, bindings, etag: read.etag } }),
        admin.setIamPolicy(ADMIN, { resource: registry, policy: { version: 1, bindings: [], etag: read.etag } }),
      ]);
      const rejected = results.filter((r) => r.status === 'rejected');
      assert.equal(rejected.length, 1, 'exactly one of the two writers must lose');
      const e = rejected[0]!.reason as unknown;
      assert.ok(e instanceof ApiError && e.kind === 'ABORTED' && e.field === 'policy.etag');
      await store.close();
    });

    it('an update of a device deleted meanwhile is NOT_FOUND, not a resurrection', async () => {
      const store = make();
      const admin = adminOver(store);
      await admin.createDeviceRegistry(ADMIN, { parent, deviceRegistry: { id: 'reg' } });
      await admin.createDevice(ADMIN, { parent: registry, device: { id: 'dev-1' } });
      const name = deviceName('dev-1');
      const results = await Promise.allSettled([
        admin.deleteDevice(ADMIN, { name }),
        admin.updateDevice(ADMIN, { name, device: { blocked: true }, updateMask: ['blocked'] }),
      ]);
      assert.equal(results[0].status, 'fulfilled');
      await assert.rejects(admin.getDevice(ADMIN, { name }), (e: unknown) => e instanceof ApiError && e.kind === 'NOT_FOUND');
      await store.close();
    });
  });
}

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { NodeKeyInspector } from '../../src/adapters/crypto/key-inspector.js';
import { MemoryStore } from '../../src/adapters/store/memory/memory-store.js';
import { SqliteStore } from '../../src/adapters/store/sqlite/sqlite-store.js';
import { ApiError } from '../../src/domain/errors.js';
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

const parent = { project: 'p', location: 'us-central1' };
const key = { ...parent, registry: 'reg' };
const ref = { registryKey: key, device: 'dev-1' };

function adminOver(store: Store): DeviceAdmin {
  const noCommands = { send: async () => undefined };
  return new DeviceAdmin(store, new NodeKeyInspector(), { now: () => Date.now() }, { publish: async () => undefined }, noCommands);
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
      await admin.createRegistry(parent, { id: 'reg' });
      for (let round = 0; round < 20; round++) {
        const id = `dev-${round}`;
        await admin.createDevice(key, { id });
        const r = { registryKey: key, device: id };
        await Promise.all([
          admin.updateDevice(r, { metadata: { owner: `o${round}` } }, new Set(['metadata'])),
          admin.updateDevice(r, { blocked: true }, new Set(['blocked'])),
          admin.updateDevice(r, { logLevel: 'DEBUG' }, new Set(['logLevel'])),
        ]);
        const d = await admin.getDevice(r);
        assert.deepEqual(d.metadata, { owner: `o${round}` }, `round ${round}: metadata lost`);
        assert.equal(d.blocked, true, `round ${round}: blocked lost`);
        assert.equal(d.logLevel, 'DEBUG', `round ${round}: logLevel lost`);
      }
      await store.close();
    });

    it('registry updates of different fields racing keep both', async () => {
      const store = make();
      const admin = adminOver(store);
      await admin.createRegistry(parent, { id: 'reg' });
      await Promise.all([
        admin.updateRegistry(key, { logLevel: 'ERROR' }, new Set(['logLevel'])),
        admin.updateRegistry(key, { mqttEnabledState: 'MQTT_DISABLED' }, new Set(['mqttConfig'])),
      ]);
      const r = await admin.getRegistry(key);
      assert.equal(r.logLevel, 'ERROR');
      assert.equal(r.mqttEnabledState, 'MQTT_DISABLED');
      await store.close();
    });

    it('two setIamPolicy calls with the same etag: one succeeds, the other is ABORTED', async () => {
      const store = make();
      const admin = adminOver(store);
      await admin.createRegistry(parent, { id: 'reg' });
      const read = await admin.getIamPolicy(key);
      const bindings = [{ role: 'roles/cloudiot.viewer', members: ['user:a@example.com'] }];
      const results = await Promise.allSettled([
        admin.setIamPolicy(key, { version: 1, bindings }, read.etag),
        admin.setIamPolicy(key, { version: 1, bindings: [] }, read.etag),
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
      await admin.createRegistry(parent, { id: 'reg' });
      await admin.createDevice(key, { id: 'dev-1' });
      const results = await Promise.allSettled([
        admin.deleteDevice(ref),
        admin.updateDevice(ref, { blocked: true }, new Set(['blocked'])),
      ]);
      assert.equal(results[0].status, 'fulfilled');
      await assert.rejects(admin.getDevice(ref), (e: unknown) => e instanceof ApiError && e.kind === 'NOT_FOUND');
      await store.close();
    });
  });
}

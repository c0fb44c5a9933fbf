import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NodeKeyInspector } from '../../src/adapters/crypto/key-inspector.js';
import { MemoryStore } from '../../src/adapters/store/memory/memory-store.js';
import { ApiError } from '../../src/domain/errors.js';
import { ApiAuth, type Principal } from '../../src/services/api-auth.js';
import { DeviceAdmin } from '../../src/services/device-admin.js';
import type { BusEvent } from '../../src/services/ports.js';

const ADMIN: Principal = { kind: 'admin' };
const parent = 'projects/p/locations/us-central1';
const registry = `${parent}/registries/reg`;

/** docs/compat.md C-BIND: unbinding is idempotent, and only a removed binding ends attachments. */
describe('DeviceAdmin.unbindDeviceFromGateway', () => {
  it('succeeds for a pair that is not bound, announcing nothing; announces a binding it removed', async () => {
    const events: BusEvent[] = [];
    const admin = new DeviceAdmin(
      new MemoryStore(),
      new NodeKeyInspector(),
      { now: () => Date.now() },
      { publish: async (e) => void events.push(e) },
      { send: async () => undefined },
      new ApiAuth('token'),
    );
    await admin.createDeviceRegistry(ADMIN, { parent, deviceRegistry: { id: 'reg' } });
    const gw = await admin.createDevice(ADMIN, { parent: registry, device: { id: 'gw-1', gatewayConfig: { gatewayType: 'GATEWAY' } } });
    const dev = await admin.createDevice(ADMIN, { parent: registry, device: { id: 'dev-1' } });
    const pair = { parent: registry, gatewayId: 'gw-1', deviceId: 'dev-1' };

    await admin.unbindDeviceFromGateway(ADMIN, pair);
    assert.deepEqual(events, [], 'nothing was bound, so no attachment may end');

    await admin.bindDeviceToGateway(ADMIN, pair);
    await admin.unbindDeviceFromGateway(ADMIN, pair);
    assert.deepEqual(events, [{ type: 'device-unbound', numId: dev.numId, gatewayNumId: gw.numId }]);
    await admin.unbindDeviceFromGateway(ADMIN, pair);
    assert.equal(events.length, 1);

    await assert.rejects(admin.unbindDeviceFromGateway(ADMIN, { ...pair, deviceId: 'ghost' }), (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.reason, 'DEVICE_NOT_FOUND');
      return true;
    });
  });
});

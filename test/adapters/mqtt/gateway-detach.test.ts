import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Packet } from 'mqtt-packet';
import {
  assertLastError,
  attach,
  attached,
  detach,
  errorTypes,
  gatewayConn,
  gatewayFleet,
  gatewayHarness,
  gwErrors,
  pubacks,
  withGateway,
  withToken,
} from './gateway-harness.js';
import { publish, subscribe, T0, type Conn, type Harness } from './harness.js';

/**
 * How attachments end, on the MQTT session without sockets: GATEWAY_DETACHMENT_DEVICE_ERROR for
 * each cause (spec §6.3, §6.6, docs/compat.md C-GW-TAKEOVER), and attachments as connection-scoped
 * state (spec §6.1, §6.4, docs/compat.md C-GW-DISCONNECT).
 */

describe('GATEWAY_DETACHMENT_DEVICE_ERROR (spec §6.3, §6.6, docs/compat.md C-GW-TAKEOVER)', () => {
  /** gw-1 with sensor-1 bound and attached. */
  async function attachedSetup(): Promise<{ h: Harness; gw: Conn }> {
    const { h, gw } = await withGateway({ bound: ['sensor-1'] });
    await attached(gw, 'sensor-1', 1);
    return { h, gw };
  }

  function assertDetached(gw: Conn, out: readonly Packet[], description: RegExp): void {
    const errors = gwErrors(out, 'gw-1');
    assert.equal(errors.length, 1, JSON.stringify(out));
    const err = errors[0]!;
    assert.equal(err.error_type, 'GATEWAY_DETACHMENT_DEVICE_ERROR');
    assert.equal(err.device_id, 'sensor-1');
    assert.match(err.description, description);
    // Asynchronous detach errors carry no mqtt_message_info (spec §6.5).
    assert.equal('mqtt_message_info' in err, false);
    assert.equal(gw.session.slots.has('sensor-1'), false);
    assert.equal(gw.open, true, 'the gateway stays connected');
  }

  test('state faster than once per second by an attached device detaches it; the gateway stays', async () => {
    const { h, gw } = await attachedSetup();
    gw.send(publish('/devices/sensor-1/state', 's1', 1, 2));
    await gw.expectPuback(2);
    gw.transport.take();
    h.clock.advance(400);
    gw.send(publish('/devices/sensor-1/state', 's2', 1, 3));
    const out = await gw.sync();
    assert.deepEqual(pubacks(out), [], 'the violating state is not acknowledged');
    assertDetached(gw, out, /detached because of a device error: State updates are limited to one per second/);
    assert.equal(h.directory.get(h.numId('sensor-1')), undefined);
    const states = await h.store.listStates(h.numId('sensor-1'), 10);
    assert.deepEqual(states.map((s) => Buffer.from(s.binaryData).toString()), ['s1']);
    await assertLastError(h, 'sensor-1', 'GATEWAY_DETACHMENT_DEVICE_ERROR');
    // Now it is a device that is not attached.
    h.clock.advance(5000);
    gw.send(publish('/devices/sensor-1/state', 's3', 1, 4));
    assert.deepEqual(errorTypes(await gw.sync(), 'gw-1'), ['GATEWAY_DEVICE_NOT_FOUND']);
    // The gateway's own state rate is its own: the gateway is not affected.
    gw.send(publish('/devices/gw-1/state', 'gw', 1, 5));
    await gw.expectPuback(5);
  });

  test('state rates are per device: two attached devices may each report once within the same second', async () => {
    const { h, gw } = await attachedSetup();
    await h.addDevice('sensor-2');
    await h.bind('gw-1', 'sensor-2');
    await attached(gw, 'sensor-2', 2);
    gw.send(publish('/devices/sensor-1/state', 'a', 1, 3), publish('/devices/sensor-2/state', 'b', 1, 4), publish('/devices/gw-1/state', 'c', 1, 5));
    for (const id of [3, 4, 5]) await gw.expectPuback(id);
    assert.deepEqual(gwErrors(gw.transport.take(), 'gw-1'), []);
  });

  test('telemetry over the size limit by an attached device detaches it (docs/compat.md C-MQTT-SIZES)', async () => {
    const { h, gw } = await withGateway({ bound: ['sensor-1'], limits: { maxTelemetryBytes: 16 } });
    await attached(gw, 'sensor-1', 1);
    gw.send(publish('/devices/sensor-1/events', Buffer.alloc(17), 1, 2));
    const out = await gw.sync();
    assert.deepEqual(pubacks(out), []);
    assertDetached(gw, out, /device error/);
    assert.equal(h.io.committed.length, 0);
  });

  test('the device blocked (the session is told through end()) is detached', async () => {
    const { h, gw } = await attachedSetup();
    gw.session.end(h.numId('sensor-1'), 'device-blocked');
    assertDetached(gw, gw.transport.take(), /was detached: the device was blocked/);
    assert.equal(h.directory.get(h.numId('sensor-1')), undefined);
    await assertLastError(h, 'sensor-1', 'GATEWAY_DETACHMENT_DEVICE_ERROR');
  });

  test('the device deleted is detached', async () => {
    const { h, gw } = await attachedSetup();
    gw.session.end(h.numId('sensor-1'), 'device-deleted');
    assertDetached(gw, gw.transport.take(), /the device was deleted/);
  });

  test('the device unbound is detached (docs/compat.md C-GW-DISCONNECT); unbinding never closes the gateway itself', async () => {
    const { h, gw } = await attachedSetup();
    gw.session.end(h.numId('sensor-1'), 'device-unbound');
    assertDetached(gw, gw.transport.take(), /the device was unbound from the gateway/);
    gw.session.end(h.numId('gw-1'), 'device-unbound');
    assert.equal(gw.open, true);
  });

  test('the credential it attached with removed: detached (docs/compat.md C-MQTT-REVOKE)', async () => {
    const { h, gw } = await withGateway({ method: 'DEVICE_AUTH_TOKEN_ONLY', unbound: ['sensor-1'] });
    await attached(gw, 'sensor-1', 1, withToken(h.token('sensor-1')));
    gw.session.end(h.numId('sensor-1'), 'credentials-changed');
    assertDetached(gw, gw.transport.take(), /the credential it attached with was removed/);
  });

  test('attached through a second gateway: latest wins, the first gateway gets the error', async () => {
    const h = await gatewayHarness();
    await h.addDevice('gw-1', { gateway: true });
    await h.addDevice('gw-2', { gateway: true });
    await h.addDevice('sensor-1');
    await h.bind('gw-1', 'sensor-1');
    await h.bind('gw-2', 'sensor-1');
    const gw1 = await gatewayConn(h, 'gw-1');
    const gw2 = await gatewayConn(h, 'gw-2');
    await attached(gw1, 'sensor-1', 1);
    h.clock.advance(1000);
    await attached(gw2, 'sensor-1', 1);
    assertDetached(gw1, gw1.transport.take(), /attached to another gateway or connected directly/);
    assert.equal(h.directory.get(h.numId('sensor-1')), gw2.session);
    assert.equal(gwErrors(gw2.transport.take(), 'gw-2').length, 0);
    const stored = await h.store.getDeviceByNumId(h.numId('sensor-1'));
    assert.equal(stored?.gatewayConfig.lastAccessedGatewayId, 'gw-2');
    assert.equal(stored?.gatewayConfig.lastAccessedGatewayTime, T0 + 1000);
    // The first gateway no longer serves it; the second does.
    gw1.send(publish('/devices/sensor-1/events', 'x', 1, 2));
    assert.deepEqual(errorTypes(await gw1.sync(), 'gw-1'), ['GATEWAY_DEVICE_NOT_FOUND']);
    gw2.send(publish('/devices/sensor-1/events', 'y', 1, 2));
    await gw2.expectPuback(2);
    // The first gateway disconnecting does not release the device from the second.
    gw1.session.socketClosed('socket-closed');
    assert.equal(h.directory.get(h.numId('sensor-1')), gw2.session);
  });

  test('the attached device connecting directly takes over; the gateway gets the error', async () => {
    const { h, gw } = await attachedSetup();
    const direct = await h.connected('sensor-1');
    assertDetached(gw, gw.transport.take(), /attached to another gateway or connected directly/);
    assert.equal(h.directory.get(h.numId('sensor-1')), direct.session);
    assert.equal(direct.open, true);
  });

  test('attaching a device that is connected directly closes that connection (ALREADY_EXISTS)', async () => {
    const h = await gatewayFleet({ bound: ['sensor-1'] });
    const direct = await h.connected('sensor-1');
    const gw = await gatewayConn(h, 'gw-1');
    await attached(gw, 'sensor-1', 1);
    assert.equal(direct.transport.closes, 1);
    assert.equal(direct.session.phase, 'closing');
    assert.equal(h.directory.get(h.numId('sensor-1')), gw.session);
    const d = await h.flushedDevice('sensor-1');
    assert.equal(d.lastErrorStatus?.code, 6);
    // The direct connection's socket going away does not release the gateway's attachment.
    direct.session.socketClosed('socket-closed');
    assert.equal(h.directory.get(h.numId('sensor-1')), gw.session);
  });
});

describe('connection-scoped attachments (spec §6.1, §6.4, docs/compat.md C-GW-DISCONNECT)', () => {
  test('the gateway disconnecting releases every attached device from the directory', async () => {
    const sensors = ['s-1', 's-2', 's-3'];
    const { h, gw } = await withGateway({ bound: sensors });
    for (const [i, id] of sensors.entries()) await attached(gw, id, i + 1);
    assert.equal(h.directory.size, 4);
    gw.send({ cmd: 'disconnect' });
    gw.session.socketClosed('socket-closed');
    assert.equal(gw.session.phase, 'closed');
    assert.equal(h.directory.size, 0);
    for (const id of sensors) assert.equal(h.directory.get(h.numId(id)), undefined);
    // Released devices connect directly without taking anything over.
    const direct = await h.connected('s-2');
    assert.equal(direct.open, true);
    // A new gateway connection starts with no attachment.
    const again = await gatewayConn(h, 'gw-1');
    again.send(publish('/devices/s-1/events', 'x', 1, 9));
    assert.deepEqual(errorTypes(await again.sync(), 'gw-1'), ['GATEWAY_DEVICE_NOT_FOUND']);
  });

  test('the gateway blocked closes its connection; its attachments go with it', async () => {
    const { h, gw } = await withGateway({ bound: ['sensor-1'] });
    await attached(gw, 'sensor-1', 1);
    gw.session.end(h.numId('gw-1'), 'device-blocked');
    assert.equal(gw.transport.closes, 1);
    gw.session.socketClosed('socket-closed');
    assert.equal(h.directory.size, 0);
  });

  /** Two devices that are not gateways. */
  async function plainDevices(): Promise<Harness> {
    const h = await gatewayHarness();
    await h.addDevice('dev-1');
    await h.addDevice('dev-2');
    return h;
  }

  for (const [label, device] of [
    ['its own topic', 'dev-1'],
    ["another device's topic", 'dev-2'],
  ] as const) {
    test(`a non-gateway sending attach on ${label} is closed (spec §6.1)`, async () => {
      const h = await plainDevices();
      const d = await h.connected('dev-1');
      d.send(attach(device, 1));
      assert.deepEqual(d.transport.sent, []);
      assert.equal(d.transport.closes, 1);
      assert.equal(d.session.phase, 'closing');
      const stored = await h.flushedDevice('dev-1');
      assert.deepEqual(stored.lastErrorStatus, { code: 3, message: 'mqtt: SERVER: Only gateways may send attach and detach messages.' });
      assert.equal(h.directory.get(h.numId('dev-2')), undefined);
    });
  }

  test('a non-gateway sending detach is closed', async () => {
    const d = await (await plainDevices()).connected('dev-1');
    d.send(detach('dev-1', 1));
    assert.deepEqual(d.transport.sent, []);
    assert.equal(d.transport.closes, 1);
  });

  test('a non-gateway publishing for another device or to a bad topic is closed, not told on an errors topic', async () => {
    const h = await plainDevices();
    for (const topic of ['/devices/dev-2/events', '/devices/dev-1/bogus']) {
      const d = await h.connected('dev-1');
      d.send(subscribe(1, ['/devices/dev-1/errors', 0]));
      d.transport.take();
      d.send(publish(topic, 'x', 1, 2));
      assert.deepEqual(d.transport.sent, []);
      assert.equal(d.transport.closes, 1, topic);
    }
  });
});

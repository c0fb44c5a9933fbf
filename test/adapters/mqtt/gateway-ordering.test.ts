import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Packet } from 'mqtt-packet';
import { attach, errorsTopic, errorTypes, gatewayConn, gatewayFleet, gwErrors, pubacks, withGateway, withToken } from './gateway-harness.js';
import { clientIdOf, connack, connectPacket, publish, subscribe, TELEMETRY_TOPIC } from './harness.js';

/**
 * Gateway packets pipelined behind an attach (docs/compat.md C-GW-ATTACH, C-MQTT-PIPELINE) and the
 * per-connection message rate (C-MQTT-RATE), on the MQTT session without sockets.
 */

describe('ordering behind an attach (docs/compat.md C-GW-ATTACH)', () => {
  test('a publish for the device right after its attach, before the PUBACK, is served after the attach', async () => {
    // A token method: the attach verifies a signature, so it really is asynchronous.
    const { h, gw } = await withGateway({ method: 'DEVICE_AUTH_TOKEN_ONLY', unbound: ['sensor-1'], config: 'c1' });
    gw.send(
      attach('sensor-1', 1, withToken(h.token('sensor-1'))),
      publish('/devices/sensor-1/events', 'first', 1, 2),
      publish('/devices/sensor-1/state', 'st', 1, 3),
      subscribe(4, ['/devices/sensor-1/config', 0]),
    );
    // Nothing is answered before the attach is decided.
    assert.deepEqual(gw.transport.sent, []);
    await gw.expectPuback(2);
    await gw.expectPuback(3);
    await gw.expect((p) => p.cmd === 'publish' && p.topic === '/devices/sensor-1/config', 'config');
    const out = gw.transport.take();
    assert.deepEqual(out[0], { cmd: 'puback', messageId: 1 }, 'the attach is acknowledged first');
    assert.deepEqual(gwErrors(out, 'gw-1'), []);
    assert.deepEqual(out.find((p) => p.cmd === 'suback'), { cmd: 'suback', messageId: 4, granted: [0] });
    assert.equal(Buffer.from(h.io.committed.find((m) => m.topic === TELEMETRY_TOPIC)!.data).toString(), 'first');
  });

  test('a publish right after a failed attach gets GATEWAY_DEVICE_NOT_FOUND, after the attachment error', async () => {
    const { h, gw } = await withGateway({ method: 'DEVICE_AUTH_TOKEN_ONLY', unbound: ['sensor-1'] });
    const signedByGateway = h.token('sensor-1', { key: h.dev('gw-1').keys.privateKeyPem });
    gw.send(attach('sensor-1', 1, withToken(signedByGateway)), publish('/devices/sensor-1/events', 'x', 1, 2));
    const out = await gw.sync();
    assert.deepEqual(pubacks(out), []);
    assert.deepEqual(errorTypes(out, 'gw-1'), ['GATEWAY_ATTACHMENT_ERROR', 'GATEWAY_DEVICE_NOT_FOUND']);
  });

  test('attach and publish pipelined behind CONNECT are still handled in order (docs/compat.md C-MQTT-PIPELINE)', async () => {
    const h = await gatewayFleet({ bound: ['sensor-1'] });
    const gw = h.open('gw-1');
    gw.send(
      connectPacket(clientIdOf('gw-1'), h.token('gw-1')),
      subscribe(1, [errorsTopic('gw-1'), 0]),
      attach('sensor-1', 2),
      publish('/devices/sensor-1/events', 'x', 1, 3),
    );
    await gw.expect((p) => p.cmd === 'connack', 'CONNACK');
    await gw.expectPuback(3);
    const out = await gw.sync();
    assert.deepEqual(gwErrors(out, 'gw-1'), []);
    assert.deepEqual(out, [connack(0), { cmd: 'suback', messageId: 1, granted: [0] }, { cmd: 'puback', messageId: 2 }, { cmd: 'puback', messageId: 3 }]);
  });

  test('a burst of attaches for unknown devices: every one is answered in order, the gateway keeps working', async () => {
    // The per-connection message rate (docs/compat.md C-MQTT-RATE) is off here: it is about the queue.
    const { gw } = await withGateway({ bound: ['sensor-1'], limits: { maxMessagesPerSecond: 0 } });
    const n = 300;
    for (let i = 1; i <= n; i++) gw.send(attach(`ghost-${i}`, i));
    gw.send(attach('sensor-1', n + 1), publish('/devices/sensor-1/events', 'ok', 1, n + 2));
    await gw.expectPuback(n + 2);
    const out = await gw.sync();
    const errors = gwErrors(out, 'gw-1');
    assert.equal(errors.length, n);
    assert.deepEqual(
      errors.map((x) => x.device_id),
      Array.from({ length: n }, (_, i) => `ghost-${i + 1}`),
    );
    assert.ok(errors.every((x) => x.error_type === 'GATEWAY_ATTACHMENT_ERROR'));
    assert.deepEqual(pubacks(out), [n + 1, n + 2]);
    assert.equal(gw.open, true);
    // Reading was paused while the queue was long, and resumed.
    assert.ok(gw.transport.pauses >= 1);
    assert.equal(gw.transport.resumes, gw.transport.pauses);
  });
});

describe('the per-connection message rate and gateways (docs/compat.md C-MQTT-RATE)', () => {
  test('attach and detach do not count against maxMessagesPerSecond; other publishes do', async () => {
    const { h, gw } = await withGateway({ limits: { maxMessagesPerSecond: 5 } });
    const telemetry = (): Packet => publish('/devices/gw-1/events', 'x', 0);
    // A re-attach burst far over the limit: every attach is answered, the gateway stays.
    for (let i = 1; i <= 50; i++) gw.send(attach(`ghost-${i}`, i));
    assert.equal(gwErrors(await gw.sync(), 'gw-1').length, 50);
    assert.equal(gw.open, true);
    // Telemetry still counts, after the errors SUBSCRIBE of gatewayConn: the fifth publish makes
    // six within the second and closes the connection.
    for (let i = 1; i <= 4; i++) gw.send(telemetry());
    await gw.sync();
    assert.equal(gw.open, true);
    gw.send(telemetry());
    assert.equal(gw.transport.closes, 1);
    assert.deepEqual(h.metrics.reasons, ['message-rate-exceeded']);
    // A second later the window starts again (checked on a fresh connection).
    const again = await gatewayConn(h, 'gw-1');
    for (let i = 1; i <= 4; i++) again.send(telemetry());
    await again.sync();
    h.clock.advance(1000);
    again.send(telemetry());
    await again.sync();
    assert.equal(again.open, true);
  });
});

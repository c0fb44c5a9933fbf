import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  assertAttachmentError,
  assertLastError,
  attach,
  attached,
  errorsTopic,
  gatewayFleet,
  gatewayHarness,
  gwErrors,
  notAttached,
  pubacks,
  withGateway,
} from './gateway-harness.js';
import { publish, subscribe } from './harness.js';

/**
 * The gateway error codes other than attach failures and detachments, on the MQTT session without
 * sockets (spec §6.3, §6.5, §6.6; docs/compat.md C-GW-ERRORS, C-ERRORS-SUB), and the errors topic.
 */

describe('GATEWAY_DEVICE_NOT_FOUND (spec §6.3)', () => {
  test('publish for a device that is not attached: no PUBACK, the error with mqtt_message_info, the connection stays', async () => {
    const { h, gw } = await withGateway({ bound: ['sensor-1'] });
    gw.send(publish('/devices/sensor-1/state', 's', 1, 10), publish('/devices/sensor-1/events/a/b', 'e', 1, 11), publish('/devices/nobody/events', 'e', 0));
    const out = await gw.sync();
    assert.deepEqual(pubacks(out), []);
    assert.deepEqual(gwErrors(out, 'gw-1'), [
      notAttached('sensor-1', 'PUBLISH', '/devices/sensor-1/state', 10),
      notAttached('sensor-1', 'PUBLISH', '/devices/sensor-1/events/a/b', 11),
      notAttached('nobody', 'PUBLISH', '/devices/nobody/events', 0),
    ]);
    assert.equal(h.io.committed.length, 0);
    assert.deepEqual(await h.store.listStates(h.numId('sensor-1'), 10), []);
    assert.equal(gw.open, true);
  });

  test("the error is also the (existing) device's lastErrorStatus (docs/compat.md C-GW-ERRORS)", async () => {
    const { h, gw } = await withGateway({ unbound: ['sensor-1'] });
    gw.send(publish('/devices/sensor-1/events', 'e', 1, 10));
    assert.equal(gwErrors(await gw.sync(), 'gw-1').length, 1);
    await assertLastError(h, 'sensor-1', 'GATEWAY_DEVICE_NOT_FOUND');
  });

  test('a device named in errors is looked up once per connection; errors meanwhile wait for the answer', async () => {
    const { h, gw } = await withGateway({ unbound: ['sensor-1'] });
    gw.send(publish('/devices/sensor-1/events', 'e', 0), publish('/devices/ghost/events', 'e', 0));
    h.clock.advance(500);
    gw.send(publish('/devices/sensor-1/state', 's', 0), publish('/devices/ghost/state', 's', 0));
    assert.deepEqual(
      h.io.pending('error-device').map((r) => r.deviceId),
      ['sensor-1', 'ghost'],
      'one lookup per device, however many errors name it',
    );
    await h.io.answerAll();
    // The latest error is the one recorded, at its own time (now, not before the clock moved).
    await assertLastError(h, 'sensor-1', 'GATEWAY_DEVICE_NOT_FOUND');
    h.clock.advance(500);
    gw.send(publish('/devices/sensor-1/events', 'e', 0), publish('/devices/ghost/events', 'e', 0));
    assert.deepEqual(h.io.pending('error-device'), [], 'known answers cost no store read');
    await assertLastError(h, 'sensor-1', 'GATEWAY_DEVICE_NOT_FOUND');
    assert.equal(gw.open, true);
  });

  test('a failed lookup of a device named in an error records nothing; the next error looks it up again', async () => {
    const { h, gw } = await withGateway({ unbound: ['sensor-1'] });
    gw.send(publish('/devices/sensor-1/events', 'e', 0));
    h.io.fail(h.io.take('error-device'));
    assert.equal((await h.flushedDevice('sensor-1')).lastErrorStatus, undefined);
    gw.send(publish('/devices/sensor-1/events', 'e', 0));
    await h.io.answer(h.io.take('error-device'));
    await assertLastError(h, 'sensor-1', 'GATEWAY_DEVICE_NOT_FOUND');
  });

  test('subscribe for a device that is not attached: SUBACK 0x80 for that filter, the error, the connection stays', async () => {
    const { gw } = await withGateway({ unbound: ['sensor-1'] });
    gw.send(subscribe(20, ['/devices/sensor-1/config', 1]));
    let out = await gw.sync();
    assert.deepEqual(out.find((p) => p.cmd === 'suback'), { cmd: 'suback', messageId: 20, granted: [0x80] });
    assert.deepEqual(gwErrors(out, 'gw-1'), [notAttached('sensor-1', 'SUBSCRIBE', '/devices/sensor-1/config', 20)]);
    gw.send(subscribe(21, ['/devices/sensor-1/commands/#', 0]));
    out = await gw.sync();
    assert.deepEqual(out.find((p) => p.cmd === 'suback'), { cmd: 'suback', messageId: 21, granted: [0x80] });
    assert.equal(gwErrors(out, 'gw-1')[0]?.mqtt_message_info?.topic, '/devices/sensor-1/commands/#');
    assert.equal(gw.open, true);
  });

  test('in a SUBSCRIBE with several filters, only the offending one is refused, and the error names that filter', async () => {
    const { gw } = await withGateway();
    gw.send(subscribe(22, ['/devices/gw-1/config', 1], ['/devices/sensor-9/config', 1], ['/devices/gw-1/commands/#', 0]));
    const out = await gw.sync();
    assert.deepEqual(out.find((p) => p.cmd === 'suback'), { cmd: 'suback', messageId: 22, granted: [1, 0x80, 0] });
    const errors = gwErrors(out, 'gw-1');
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.device_id, 'sensor-9');
    assert.deepEqual(errors[0]!.mqtt_message_info, { message_type: 'SUBSCRIBE', topic: '/devices/sensor-9/config', packet_id: 22 });
  });
});

describe('other gateway error codes (spec §6.6, docs/compat.md C-GW-ERRORS)', () => {
  test('GATEWAY_INVALID_MQTT_TOPIC: a publish outside the grammar; no PUBACK, connection kept', async () => {
    const { h, gw } = await withGateway({ bound: ['sensor-1'] });
    await attached(gw, 'sensor-1', 1);
    gw.send(
      publish('/devices/sensor-1/bogus', 'x', 1, 30),
      publish('/devices/sensor-1/events/a/#', 'x', 1, 31),
      publish('projects/p/topics/t', 'x', 1, 32),
      publish('/devices/1-bad-id/events', 'x', 0),
      publish('/devices//events', 'x', 1, 33),
      publish(`/devices/${'a'.repeat(300)}/state`, 'x', 1, 34),
    );
    const out = await gw.sync();
    assert.deepEqual(pubacks(out), []);
    const errors = gwErrors(out, 'gw-1');
    assert.deepEqual(
      errors.map((x) => [x.error_type, x.device_id, x.mqtt_message_info]),
      [
        ['GATEWAY_INVALID_MQTT_TOPIC', 'sensor-1', { message_type: 'PUBLISH', topic: '/devices/sensor-1/bogus', packet_id: 30 }],
        ['GATEWAY_INVALID_MQTT_TOPIC', 'sensor-1', { message_type: 'PUBLISH', topic: '/devices/sensor-1/events/a/#', packet_id: 31 }],
        ['GATEWAY_INVALID_MQTT_TOPIC', 'gw-1', { message_type: 'PUBLISH', topic: 'projects/p/topics/t', packet_id: 32 }],
        ['GATEWAY_INVALID_MQTT_TOPIC', '1-bad-id', { message_type: 'PUBLISH', topic: '/devices/1-bad-id/events', packet_id: 0 }],
        // An empty device ID names no device: the error is the gateway's own.
        ['GATEWAY_INVALID_MQTT_TOPIC', 'gw-1', { message_type: 'PUBLISH', topic: '/devices//events', packet_id: 33 }],
        // Over 255 characters is not a device ID either (spec §2.1).
        ['GATEWAY_INVALID_MQTT_TOPIC', 'a'.repeat(300), { message_type: 'PUBLISH', topic: `/devices/${'a'.repeat(300)}/state`, packet_id: 34 }],
      ],
    );
    assert.equal(gw.open, true);
    // The attachment survives a bad topic.
    assert.equal(h.directory.get(h.numId('sensor-1')), gw.session);
    await assertLastError(h, 'sensor-1', 'GATEWAY_INVALID_MQTT_TOPIC');
  });

  test('GATEWAY_UNEXPECTED_PACKET_ID: a PUBACK for a packet ID the bridge does not await', async () => {
    const { h, gw } = await withGateway();
    gw.send({ cmd: 'puback', messageId: 4242 });
    const out = await gw.sync();
    assert.deepEqual(gwErrors(out, 'gw-1'), [
      {
        error_type: 'GATEWAY_UNEXPECTED_PACKET_ID',
        device_id: 'gw-1',
        description: 'No message with packet ID 4242 awaits an acknowledgement.',
        mqtt_message_info: { message_type: 'PUBACK', topic: '', packet_id: 4242 },
      },
    ]);
    assert.equal(gw.open, true);
    await assertLastError(h, 'gw-1', 'GATEWAY_UNEXPECTED_PACKET_ID');
  });

  test('GATEWAY_UNEXPECTED_PACKET_ID: a second PUBACK for a config already acknowledged', async () => {
    const { gw } = await withGateway({ bound: ['sensor-1'], config: 'c' });
    await attached(gw, 'sensor-1', 1);
    gw.send(subscribe(2, ['/devices/sensor-1/config', 1]));
    await gw.expect((p) => p.cmd === 'publish' && p.topic === '/devices/sensor-1/config', 'config');
    const config = gw.transport.take().find((p) => p.cmd === 'publish');
    assert.ok(config?.cmd === 'publish' && config.messageId !== undefined);
    gw.send({ cmd: 'puback', messageId: config.messageId });
    assert.deepEqual(await gw.sync(), []);
    gw.send({ cmd: 'puback', messageId: config.messageId });
    const errors = gwErrors(await gw.sync(), 'gw-1');
    assert.deepEqual(errors.map((x) => [x.error_type, x.mqtt_message_info?.packet_id]), [['GATEWAY_UNEXPECTED_PACKET_ID', config.messageId]]);
  });

  test('a late PUBACK for a config that a newer version replaced is no error, and its ID is not reused meanwhile', async () => {
    const { h, gw } = await withGateway({ bound: ['sensor-1'], config: 'c1' });
    await attached(gw, 'sensor-1', 1);
    gw.send(subscribe(2, ['/devices/sensor-1/config', 1]));
    await gw.expect((p) => p.cmd === 'publish' && p.topic === '/devices/sensor-1/config', 'config v1');
    const first = gw.transport.take().find((p) => p.cmd === 'publish');
    assert.ok(first?.cmd === 'publish' && first.messageId !== undefined);
    const numId = h.numId('sensor-1');
    await h.store.modifyConfig(numId, { versionToUpdate: 0, binaryData: Buffer.from('c2'), at: h.clock.now() + 5000, minIntervalMs: 1000 });
    gw.session.configUpdated(numId);
    await gw.expect((p) => p.cmd === 'publish' && p.topic === '/devices/sensor-1/config', 'config v2');
    const second = gw.transport.take().find((p) => p.cmd === 'publish');
    assert.ok(second?.cmd === 'publish' && second.messageId !== undefined);
    assert.notEqual(second.messageId, first.messageId);
    // The device acknowledges v1 only now: expected, silent.
    gw.send({ cmd: 'puback', messageId: first.messageId });
    assert.deepEqual(gwErrors(await gw.sync(), 'gw-1'), []);
    gw.send({ cmd: 'puback', messageId: second.messageId });
    assert.deepEqual(gwErrors(await gw.sync(), 'gw-1'), []);
    const versions = await h.store.listConfigVersions(numId, 0);
    assert.equal(versions[0]?.version, 2);
    assert.ok(versions[0]?.deviceAckTime !== undefined, 'v2 acknowledged');
    assert.equal(versions[1]?.deviceAckTime, undefined, 'the late ack of v1 is not recorded as an ack of v2');
  });

  test('a PUBACK for a QoS 1 command after the API stopped waiting for it is no error, and its ID is not reused meanwhile', async () => {
    const { h, gw } = await withGateway({ bound: ['sensor-1'] });
    await attached(gw, 'sensor-1', 1);
    gw.send(subscribe(2, ['/devices/sensor-1/commands/#', 1]));
    await gw.sync();
    const sent = gw.session.sendCommand(h.numId('sensor-1'), 'sys', Buffer.from('reboot'));
    const command = gw.transport.take().find((p) => p.cmd === 'publish');
    assert.ok(command?.cmd === 'publish' && command.messageId !== undefined);
    // The API call returns after commandAckTimeoutMs (docs/compat.md C-CMD-ACK) ...
    gw.session.tick(h.clock.advance(2_000));
    assert.equal(await sent, true);
    // ... and the next delivery does not take the packet ID the gateway has yet to acknowledge.
    void gw.session.sendCommand(h.numId('sensor-1'), 'sys', Buffer.from('again'));
    const next = gw.transport.take().find((p) => p.cmd === 'publish');
    assert.ok(next?.cmd === 'publish' && next.messageId !== undefined);
    assert.notEqual(next.messageId, command.messageId);
    // A gateway on a slow link acknowledges the first command only now: expected, silent.
    gw.session.tick(h.clock.advance(1_000));
    gw.send({ cmd: 'puback', messageId: command.messageId });
    assert.deepEqual(gwErrors(await gw.sync(), 'gw-1'), []);
    assert.equal(gw.open, true);
    // Acknowledged once, the ID is free again: another PUBACK for it is unexpected.
    gw.send({ cmd: 'puback', messageId: next.messageId });
    await gw.sync();
    gw.send({ cmd: 'puback', messageId: command.messageId });
    assert.deepEqual(gwErrors(await gw.sync(), 'gw-1').map((e) => e.error_type), ['GATEWAY_UNEXPECTED_PACKET_ID']);
  });

  for (const cmd of ['pubrec', 'pubrel', 'pubcomp'] as const) {
    test(`GATEWAY_UNEXPECTED_MESSAGE_TYPE: ${cmd.toUpperCase()} on a gateway connection; the connection stays`, async () => {
      const { gw } = await withGateway();
      gw.send({ cmd, messageId: 99 });
      const errors = gwErrors(await gw.sync(), 'gw-1');
      assert.equal(errors.length, 1);
      assert.equal(errors[0]!.error_type, 'GATEWAY_UNEXPECTED_MESSAGE_TYPE');
      assert.equal(errors[0]!.device_id, 'gw-1');
      assert.deepEqual(errors[0]!.mqtt_message_info, { message_type: cmd.toUpperCase(), topic: '', packet_id: 99 });
      assert.equal(gw.open, true);
    });
  }

  test('UNKNOWN: an internal failure during attach; no PUBACK, the connection stays, the next attach works', async () => {
    const { h, gw } = await withGateway({ bound: ['sensor-1'] });
    const real = h.store.isBound.bind(h.store);
    h.store.isBound = () => Promise.reject(new Error('disk on fire'));
    gw.send(attach('sensor-1', 1));
    const out = await gw.sync();
    assert.deepEqual(pubacks(out), []);
    const errors = gwErrors(out, 'gw-1');
    assert.deepEqual(
      errors.map((x) => [x.error_type, x.device_id, x.mqtt_message_info]),
      [['UNKNOWN', 'sensor-1', { message_type: 'PUBLISH', topic: '/devices/sensor-1/attach', packet_id: 1 }]],
    );
    assert.equal(gw.open, true);
    h.store.isBound = real;
    await attached(gw, 'sensor-1', 2);
  });

  test('a server-only packet type (SUBACK) from a gateway is GATEWAY_UNEXPECTED_MESSAGE_TYPE too', async () => {
    const { gw } = await withGateway();
    gw.send({ cmd: 'suback', messageId: 5, granted: [0] });
    const errors = gwErrors(await gw.sync(), 'gw-1');
    assert.deepEqual(errors.map((x) => [x.error_type, x.mqtt_message_info?.message_type]), [['GATEWAY_UNEXPECTED_MESSAGE_TYPE', 'SUBACK']]);
    assert.equal(gw.open, true);
  });
});

describe('the errors topic (spec §6.5, docs/compat.md C-ERRORS-SUB)', () => {
  test('errors are published only while the gateway is subscribed; lastErrorStatus is kept either way', async () => {
    const h = await gatewayFleet({ unbound: ['sensor-1'] });
    const gw = await h.connected('gw-1');
    gw.send(attach('sensor-1', 1));
    assert.deepEqual(await gw.sync(), [], 'no PUBACK and, unsubscribed, no error message');
    await assertLastError(h, 'sensor-1', 'GATEWAY_ATTACHMENT_ERROR');

    // QoS 1 asked, QoS 0 granted.
    gw.send(subscribe(2, [errorsTopic('gw-1'), 1]));
    assert.deepEqual(gw.transport.take(), [{ cmd: 'suback', messageId: 2, granted: [0] }]);
    gw.send(attach('sensor-1', 3));
    assertAttachmentError(await gw.sync(), 'gw-1', 'sensor-1', 3);

    gw.send({ cmd: 'unsubscribe', messageId: 4, unsubscriptions: [errorsTopic('gw-1')] });
    assert.deepEqual(gw.transport.take(), [{ cmd: 'unsuback', messageId: 4, granted: [] }]);
    gw.send(attach('sensor-1', 5), publish('/devices/sensor-1/events', 'x', 1, 6));
    assert.deepEqual(await gw.sync(), []);
    assert.equal(gw.open, true);
  });

  test("an attached device's errors topic is granted QoS 0 but never carries the gateway's errors", async () => {
    const h = await gatewayFleet({ bound: ['sensor-1'] });
    const gw = await h.connected('gw-1');
    await attached(gw, 'sensor-1', 1);
    gw.send(subscribe(2, ['/devices/sensor-1/errors', 0]));
    const out = await gw.sync();
    assert.deepEqual(out, [{ cmd: 'suback', messageId: 2, granted: [0] }]);
    gw.send(publish('/devices/nobody/events', 'x', 1, 3));
    const after = await gw.sync();
    assert.deepEqual(after.filter((p) => p.cmd === 'publish'), []);
  });

  test('a non-gateway may subscribe to its own errors topic (QoS 0) and never gets anything', async () => {
    const h = await gatewayHarness();
    await h.addDevice('dev-1');
    const d = await h.connected('dev-1');
    d.send(subscribe(1, ['/devices/dev-1/errors', 1]));
    assert.deepEqual(d.transport.take(), [{ cmd: 'suback', messageId: 1, granted: [0] }]);
    d.send({ cmd: 'puback', messageId: 77 });
    assert.deepEqual(await d.sync(), []);
    assert.equal(d.open, true);
  });
});

describe('the gateway error history (docs/compat.md C-CONSOLE-GATEWAY-ERRORS)', () => {
  test('each errors-topic message is kept with its fields, newest first, and stays after the session ends', async () => {
    const { h, gw } = await withGateway({ bound: ['sensor-1'] });
    h.clock.advance(10);
    gw.send(publish('/devices/sensor-1/events', 'e', 1, 7));
    h.clock.advance(10);
    gw.send(publish('/devices/nobody/state', 's', 0));
    const sent = gwErrors(await gw.sync(), 'gw-1');
    const kept = h.gatewayErrors.recent(h.numId('gw-1'), h.clock.now());
    assert.deepEqual(
      kept.map((r) => ({ error_type: r.errorType, device_id: r.deviceId, description: r.description, mqtt_message_info: r.packet && { message_type: r.packet.messageType, topic: r.packet.topic, packet_id: r.packet.packetId } })),
      [...sent].reverse(),
      'the same fields as sent, newest first',
    );
    assert.equal(kept[0]!.at - kept[1]!.at, 10);
    assert.ok(kept.every((r) => r.delivered));
    gw.session.close('client-disconnect');
    gw.session.finish();
    assert.equal(h.gatewayErrors.recent(h.numId('gw-1'), h.clock.now()).length, 2);
    assert.deepEqual(h.gatewayErrors.gateways, { live: 0, retained: 1 });
  });

  test('errors of a gateway not subscribed to its errors topic are kept too, marked not delivered', async () => {
    const { h, gw } = await withGateway({ bound: ['sensor-1'] });
    gw.send({ cmd: 'unsubscribe', messageId: 3, unsubscriptions: [errorsTopic('gw-1')] });
    await gw.sync();
    gw.send(publish('/devices/sensor-1/events', 'e', 0));
    assert.deepEqual(gwErrors(await gw.sync(), 'gw-1'), []);
    const kept = h.gatewayErrors.recent(h.numId('gw-1'), h.clock.now());
    assert.deepEqual(
      kept.map((r) => [r.errorType, r.deviceId, r.delivered]),
      [['GATEWAY_DEVICE_NOT_FOUND', 'sensor-1', false]],
    );
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { connectedDevice, Harness, outPublish, puback, subscribe, T0 } from './harness.js';

/**
 * SUBSCRIBE, config delivery and commands in a socket-free session (spec §5.3, §5.5, §5.6, §3.7).
 */

const CONFIG = '/devices/dev-1/config';

async function newConfig(h: Harness, id: string, data: string, at: number): Promise<number> {
  const c = await h.store.modifyConfig(h.dev(id).device.numId, { versionToUpdate: 0, binaryData: Buffer.from(data), at, minIntervalMs: 1000 });
  return c.version;
}

describe('MqttSession: SUBSCRIBE', () => {
  test('QoS 2 is granted 1, unsupported filters get 0x80 each and the connection stays', async () => {
    const h = await Harness.create();
    await h.addDevice('dev-1');
    await h.addDevice('dev-2');
    const { session, transport } = await h.connected('dev-1');
    session.handle(
      subscribe(
        5,
        ['/devices/dev-1/commands/#', 2],
        ['#', 0],
        ['/devices/#', 1],
        ['/devices/dev-2/config', 1],
        ['/devices/dev-1/commands/a#', 0],
        ['/devices/dev-1/commands/+/x', 0],
        ['/devices/dev-1/commands', 0],
        ['/devices/dev-1/errors', 1],
        ['/devices/dev-1/nothing', 1],
      ),
    );
    assert.deepEqual(transport.take(), [{ cmd: 'suback', messageId: 5, granted: [1, 0x80, 0x80, 0x80, 0x80, 0, 0, 0, 0x80] }]);
    session.handle({ cmd: 'pingreq' });
    assert.deepEqual(transport.take(), [{ cmd: 'pingresp' }]);
    assert.equal(transport.closes, 0);
  });

  test('UNSUBSCRIBE is answered with UNSUBACK and stops config redelivery', async () => {
    const { h, session, transport } = await connectedDevice({ device: { config: Buffer.from('c1') } });
    session.handle(subscribe(1, [CONFIG, 1]));
    await h.io.answer(h.io.take('config'));
    assert.equal(transport.take().length, 2);
    session.handle({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: [CONFIG, '/devices/other/config'] });
    assert.deepEqual(transport.take(), [{ cmd: 'unsuback', messageId: 2, granted: [] }]);
    session.tick(T0 + 30_000);
    assert.deepEqual(transport.sent, []);
  });
});

describe('MqttSession: config delivery (spec §5.5)', () => {
  test('subscribing delivers the latest config at once, even the empty version 1', async () => {
    const { h, session, transport } = await connectedDevice();
    h.clock.t = T0 + 10;
    session.handle(subscribe(1, [CONFIG, 1]));
    assert.deepEqual(transport.sent, [{ cmd: 'suback', messageId: 1, granted: [1] }]);
    await h.io.answer(h.io.take('config'));
    assert.deepEqual(transport.sent, [{ cmd: 'suback', messageId: 1, granted: [1] }, outPublish(CONFIG, Buffer.alloc(0), 1, 1)]);
    assert.equal((await h.flushedDevice('dev-1')).lastConfigSendTime, T0 + 10);
  });

  test('QoS 1: redelivered with dup every 10 s until PUBACK; the PUBACK sets deviceAckTime and lastConfigAckTime', async () => {
    const { h, d, session, transport } = await connectedDevice({ device: { config: Buffer.from('cfg-1') } });
    session.handle(subscribe(1, [CONFIG, 1]));
    await h.io.answer(h.io.take('config'));
    assert.deepEqual(transport.take(), [{ cmd: 'suback', messageId: 1, granted: [1] }, outPublish(CONFIG, 'cfg-1', 1, 1)]);
    session.tick(T0 + 9_999);
    assert.deepEqual(transport.sent, []);
    h.clock.t = T0 + 10_000;
    session.tick(T0 + 10_000);
    assert.deepEqual(transport.take(), [outPublish(CONFIG, 'cfg-1', 1, 1, true)]);
    session.tick(T0 + 19_999);
    assert.deepEqual(transport.sent, []);
    h.clock.t = T0 + 20_000;
    session.tick(T0 + 20_000);
    assert.deepEqual(transport.take(), [outPublish(CONFIG, 'cfg-1', 1, 1, true)]);
    h.clock.t = T0 + 21_000;
    session.handle(puback(1));
    const ack = h.io.take('config-ack');
    assert.deepEqual([ack.numId, ack.version, ack.at], [d.device.numId, 1, T0 + 21_000]);
    await h.io.answer(ack);
    const stored = await h.store.getDeviceByNumId(d.device.numId);
    assert.equal(stored?.config.version, 1);
    assert.equal(stored?.config.deviceAckTime, T0 + 21_000);
    assert.equal(stored?.lastConfigAckTime, T0 + 21_000);
    session.tick(T0 + 60_000);
    assert.deepEqual(transport.sent, [], 'no redelivery after the PUBACK');
    assert.equal((await h.flushedDevice('dev-1')).lastConfigSendTime, T0 + 20_000);
  });

  test('QoS 0: sent once, never redelivered, no message ID', async () => {
    const { h, session, transport } = await connectedDevice({ device: { config: Buffer.from('q0') } });
    session.handle(subscribe(3, [CONFIG, 0]));
    await h.io.answer(h.io.take('config'));
    assert.deepEqual(transport.take(), [{ cmd: 'suback', messageId: 3, granted: [0] }, outPublish(CONFIG, 'q0', 0)]);
    session.tick(T0 + 45_000);
    assert.deepEqual(transport.sent, []);
  });

  test('a newer version supersedes an unacknowledged one; a late PUBACK of the old one acks nothing', async () => {
    const { h, d, session, transport } = await connectedDevice({ device: { config: Buffer.from('v1') } });
    session.handle(subscribe(1, [CONFIG, 1]));
    await h.io.answer(h.io.take('config'));
    assert.equal(transport.take().length, 2);
    h.clock.t = T0 + 4_000;
    assert.equal(await newConfig(h, 'dev-1', 'v2', T0 + 4_000), 2);
    session.configUpdated(d.device.numId);
    await h.io.answer(h.io.take('config'));
    assert.deepEqual(transport.take(), [outPublish(CONFIG, 'v2', 1, 2)]);
    // A duplicate notification of the same version sends nothing.
    session.configUpdated(d.device.numId);
    await h.io.answer(h.io.take('config'));
    assert.deepEqual(transport.sent, []);
    h.clock.t = T0 + 14_000;
    session.tick(T0 + 14_000);
    assert.deepEqual(transport.take(), [outPublish(CONFIG, 'v2', 1, 2, true)], 'only the newest is redelivered');
    h.clock.t = T0 + 15_000;
    session.handle(puback(1));
    assert.deepEqual(h.io.pending('config-ack'), [], 'the late ack of v1 records nothing');
    let versions = await h.store.listConfigVersions(d.device.numId, 0);
    assert.deepEqual(
      versions.map((v) => [v.version, v.deviceAckTime]),
      [
        [2, undefined],
        [1, undefined],
      ],
    );
    h.clock.t = T0 + 16_000;
    session.handle(puback(2));
    await h.io.answer(h.io.take('config-ack'));
    versions = await h.store.listConfigVersions(d.device.numId, 0);
    assert.deepEqual(
      versions.map((v) => [v.version, v.deviceAckTime]),
      [
        [2, T0 + 16_000],
        [1, undefined],
      ],
    );
    session.tick(T0 + 40_000);
    assert.deepEqual(transport.sent, []);
  });

  test('a config update reaches a device only while it is subscribed', async () => {
    const { h, d, session, transport } = await connectedDevice();
    await newConfig(h, 'dev-1', 'v2', T0);
    session.configUpdated(d.device.numId);
    assert.deepEqual(h.io.pending('config'), [], 'not even read');
    assert.deepEqual(transport.sent, []);
  });

  test('on (re)subscribe only the newest version is sent', async () => {
    const h = await Harness.create();
    await h.addDevice('dev-1', { config: Buffer.from('v1') });
    await newConfig(h, 'dev-1', 'v2', T0);
    await newConfig(h, 'dev-1', 'v3', T0 + 1000);
    const { session, transport } = await h.connected('dev-1');
    session.handle(subscribe(1, [CONFIG, 1]));
    await h.io.answer(h.io.take('config'));
    assert.deepEqual(transport.take(), [{ cmd: 'suback', messageId: 1, granted: [1] }, outPublish(CONFIG, 'v3', 1, 1)]);
  });
});

describe('MqttSession: commands (spec §5.6, §3.7)', () => {
  test('commands/# QoS 1: delivered with and without subfolder; resolves true on the PUBACK', async () => {
    const { d, session, transport } = await connectedDevice();
    session.handle(subscribe(1, ['/devices/dev-1/commands/#', 1]));
    transport.take();
    let done = false;
    const root = session.sendCommand(d.device.numId, '', Buffer.from('reboot')).then((v) => ((done = true), v));
    assert.deepEqual(transport.take(), [outPublish('/devices/dev-1/commands', 'reboot', 1, 1)]);
    // Had the promise been resolved, its callback would run before this await returns.
    await Promise.resolve();
    assert.equal(done, false, 'waits for the PUBACK');
    session.handle(puback(1));
    assert.equal(await root, true);
    const sub = session.sendCommand(d.device.numId, 'sys/power', Buffer.from([1, 2, 3]));
    assert.deepEqual(transport.take(), [outPublish('/devices/dev-1/commands/sys/power', Buffer.from([1, 2, 3]), 1, 2)]);
    session.handle(puback(2));
    assert.equal(await sub, true);
  });

  test('QoS 1 without a PUBACK still resolves true after commandAckTimeoutMs (docs/compat.md C-CMD-ACK)', async () => {
    const { d, session, transport } = await connectedDevice();
    session.handle(subscribe(1, ['/devices/dev-1/commands/#', 1]));
    transport.take();
    let result: boolean | undefined;
    const sent = session.sendCommand(d.device.numId, 'x', Buffer.from('y')).then((v) => (result = v));
    session.tick(T0 + 1_999);
    await Promise.resolve();
    assert.equal(result, undefined);
    session.tick(T0 + 2_000);
    await sent;
    assert.equal(result, true);
    assert.equal(transport.closes, 0);
  });

  test('commands/# QoS 0: sent at QoS 0 and resolved at once', async () => {
    const { d, session, transport } = await connectedDevice();
    session.handle(subscribe(1, ['/devices/dev-1/commands/#', 0]));
    transport.take();
    assert.equal(await session.sendCommand(d.device.numId, 'a', Buffer.from('b')), true);
    assert.deepEqual(transport.take(), [outPublish('/devices/dev-1/commands/a', 'b', 0)]);
  });

  test('a subfolder subscription gets only its commands; without a matching subscription sendCommand is false', async () => {
    const { d, session, transport } = await connectedDevice();
    assert.equal(await session.sendCommand(d.device.numId, '', Buffer.from('x')), false, 'no subscription at all');
    session.handle(subscribe(1, ['/devices/dev-1/commands/sys', 0]));
    transport.take();
    assert.equal(await session.sendCommand(d.device.numId, 'sys', Buffer.from('ok')), true);
    assert.deepEqual(transport.take(), [outPublish('/devices/dev-1/commands/sys', 'ok', 0)]);
    assert.equal(await session.sendCommand(d.device.numId, 'other', Buffer.from('no')), false);
    assert.equal(await session.sendCommand(d.device.numId, '', Buffer.from('no')), false);
    assert.deepEqual(transport.sent, []);
  });

  test('a QoS 1 command still awaiting its PUBACK resolves true when the socket closes', async () => {
    const { d, session, transport } = await connectedDevice();
    session.handle(subscribe(1, ['/devices/dev-1/commands/#', 1]));
    transport.take();
    const p = session.sendCommand(d.device.numId, '', Buffer.from('x'));
    session.socketClosed('socket-closed');
    assert.equal(await p, true);
    assert.equal(session.outbound.size, 0);
  });
});

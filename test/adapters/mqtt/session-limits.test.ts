import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Packet } from 'mqtt-packet';
import { ApiError } from '../../../src/domain/errors.js';
import { gatewayFleet } from './gateway-harness.js';
import { clientIdOf, connack, connectedDevice, connectPacket, Harness, outPublish, puback, publish, subscribe } from './harness.js';

/**
 * Malformed SUBSCRIBE / UNSUBSCRIBE, the per-connection rate over every client request, and the
 * bound on QoS 1 deliveries awaiting a PUBACK (MQTT 3.1.1 §3.8, §3.10; docs/compat.md C-MQTT-RATE,
 * C-MQTT-UNACKED). Each of these once let one device end the whole process. The session's store
 * reads are answered by the test (ManualPorts), so what a burst costs in reads is counted exactly.
 */

const CONFIG = '/devices/dev-1/config';

const unsubscribe = (messageId: number, ...unsubscriptions: string[]): Packet => ({ cmd: 'unsubscribe', messageId, unsubscriptions });

describe('malformed SUBSCRIBE and UNSUBSCRIBE close the connection', () => {
  for (const [label, packet] of [
    ['a SUBSCRIBE without topic filters [MQTT-3.8.3-3]', subscribe(1)],
    ['a SUBSCRIBE asking QoS 3 [MQTT-3-8.3-4]', { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: CONFIG, qos: 3 }] } as unknown as Packet],
    ['an UNSUBSCRIBE without topic filters [MQTT-3.10.3-2]', unsubscribe(1)],
  ] as const) {
    test(`${label}: closed without an answer, nothing delivered`, async () => {
      const { h, session, transport } = await connectedDevice();
      session.handle(packet);
      assert.deepEqual(transport.sent, []);
      assert.equal(transport.closes, 1);
      assert.deepEqual(h.metrics.reasons, ['protocol-error']);
      assert.deepEqual(h.io.pending('config'), [], 'no config read');
    });
  }

  test('pipelined behind CONNECT, the empty SUBSCRIBE closes the connection once the device is authenticated', async () => {
    const h = await Harness.create();
    await h.addDevice('dev-1');
    const { session, transport } = h.open();
    // In one TCP write with the CONNECT, it is held, and handled once authentication is answered.
    session.handle(connectPacket(clientIdOf('dev-1'), h.token('dev-1')));
    session.handle(subscribe(1));
    assert.equal(transport.closes, 0);
    await h.io.answer(h.io.take('auth', session));
    assert.equal(transport.closes, 1);
    assert.deepEqual(transport.sent, [connack(0)]);
    assert.deepEqual(h.metrics.reasons, ['protocol-error']);
  });

  test('a SUBSCRIBE naming the config filter many times delivers the config once', async () => {
    const { h, session, transport } = await connectedDevice({ device: { config: Buffer.from('c') }, limits: { maxMessagesPerSecond: 0 } });
    session.handle(subscribe(1, ...Array.from({ length: 50 }, (): [string, 1] => [CONFIG, 1])));
    assert.equal(h.io.pending('config', session).length, 1, 'one config read');
    await h.io.answerAll();
    assert.deepEqual(transport.take(), [{ cmd: 'suback', messageId: 1, granted: Array.from({ length: 50 }, () => 1) }, outPublish(CONFIG, 'c', 1, 1)]);
  });
});

describe('packet identifiers outside 1..65,535 close the connection [MQTT-2.3.1-1]', () => {
  // mqtt-packet hands over -1 for a QoS 1 PUBLISH whose body ends with its topic; answering it
  // once sent a PUBACK cut short that swallowed the client's next packet.
  for (const [label, packet] of [
    ['a QoS 1 PUBLISH with -1', publish('/devices/dev-1/events', 'x', 1, -1)],
    ['a QoS 1 PUBLISH with 65,536', publish('/devices/dev-1/events', 'x', 1, 65_536)],
    ['a SUBSCRIBE with -1', subscribe(-1, [CONFIG, 1])],
    ['an UNSUBSCRIBE with -1', unsubscribe(-1, CONFIG)],
  ] as const) {
    test(`${label}: closed, nothing answered, nothing stored`, async () => {
      const { h, session, transport } = await connectedDevice();
      session.handle(packet);
      assert.deepEqual(transport.sent, []);
      assert.equal(transport.closes, 1);
      assert.deepEqual(h.metrics.reasons, ['protocol-error']);
      assert.deepEqual(h.io.pending('event'), [], 'nothing submitted');
      assert.deepEqual(h.io.pending('config'), [], 'no config read');
    });
  }

  test("a gateway's attach with -1 closes its connection; nothing is attached", async () => {
    const h = await gatewayFleet({ bound: ['dev-a'] });
    const gw = await h.connected('gw-1');
    gw.send(publish('/devices/dev-a/attach', '{"authorization":""}', 1, -1));
    assert.deepEqual(h.io.pending('attach'), [], 'no attach looked up');
    assert.deepEqual(gw.transport.sent, []);
    assert.equal(gw.transport.closes, 1);
    assert.equal(h.directory.get(h.numId('dev-a')), undefined);
  });
});

describe('a burst of config SUBSCRIBEs costs one config read (docs/compat.md C-MQTT-BACKLOG)', () => {
  test('SUBSCRIBEs while a read is under way share it, each still gets its delivery; an update reads afresh', async () => {
    const { h, d, session, transport } = await connectedDevice({ device: { config: Buffer.from('v1') }, limits: { maxMessagesPerSecond: 0 } });
    for (let i = 1; i <= 500; i++) session.handle(subscribe(i, [CONFIG, 0]));
    assert.equal(h.io.pending('config', session).length, 1, 'one read for the burst');
    await h.io.answerAll();
    assert.equal(transport.take().filter((p) => p.cmd === 'publish').length, 500);
    await h.store.modifyConfig(d.device.numId, { versionToUpdate: 0, binaryData: Buffer.from('v2'), at: h.clock.now() + 2000, minIntervalMs: 1000 });
    session.handle(subscribe(501, [CONFIG, 0]));
    session.configUpdated(d.device.numId);
    assert.equal(h.io.pending('config', session).length, 2, 'the read for the SUBSCRIBE is over: a new one, and the update its own');
    await h.io.answerAll();
    assert.deepEqual(
      transport.take().filter((p) => p.cmd === 'publish'),
      [outPublish(CONFIG, 'v2', 0)],
      'the update finds v2 already sent by the SUBSCRIBE',
    );
  });
});

describe('the per-connection rate counts SUBSCRIBE and UNSUBSCRIBE (docs/compat.md C-MQTT-RATE)', () => {
  test('PUBLISH, SUBSCRIBE and UNSUBSCRIBE share the limit; PINGREQ and PUBACK do not count', async () => {
    const { h, session, transport } = await connectedDevice({ limits: { maxMessagesPerSecond: 3 } });
    session.handle(subscribe(1, ['/devices/dev-1/commands/#', 0]));
    session.handle(unsubscribe(2, '/devices/dev-1/commands/#'));
    for (let i = 0; i < 20; i++) session.handle({ cmd: 'pingreq' });
    session.handle(puback(77));
    session.handle(publish('/devices/dev-1/events', 'x', 0));
    assert.equal(transport.closes, 0, 'three requests within the second');
    session.handle(subscribe(3, ['/devices/dev-1/commands/#', 0]));
    assert.equal(transport.closes, 1);
    assert.deepEqual(h.metrics.reasons, ['message-rate-exceeded']);
  });

  test('a burst of SUBSCRIBEs is closed at the limit', async () => {
    const { h, session, transport } = await connectedDevice({ device: { config: Buffer.from('c') }, limits: { maxMessagesPerSecond: 100 } });
    for (let i = 1; i <= 1000; i++) session.handle(subscribe(i, [CONFIG, 1]));
    assert.equal(transport.sent.filter((p) => p.cmd === 'suback').length, 100);
    assert.equal(transport.closes, 1);
    assert.deepEqual(h.metrics.reasons, ['message-rate-exceeded']);
  });
});

describe('QoS 1 deliveries awaiting a PUBACK are bounded per connection (docs/compat.md C-MQTT-UNACKED)', () => {
  test('66,000 config SUBSCRIBEs never acknowledged: closed at maxUnackedOutbound, never out of packet IDs', async () => {
    const { h, session, transport } = await connectedDevice({ device: { config: Buffer.from('cfg') }, limits: { maxMessagesPerSecond: 0 } });
    const limit = h.env.limits.maxUnackedOutbound;
    assert.ok(limit < 65_535);
    for (let i = 1; i <= 66_000; i++) session.handle(subscribe((i % 65_535) + 1, [CONFIG, 1]));
    assert.equal(transport.closes, 0);
    await h.io.answerAll();
    assert.equal(transport.closes, 1);
    const deliveries = transport.sent.filter((p) => p.cmd === 'publish');
    assert.equal(deliveries.length, limit, 'every delivery up to the bound went out');
    const ids = new Set(deliveries.map((p) => (p.cmd === 'publish' ? p.messageId : undefined)));
    assert.equal(ids.size, limit, 'each with its own packet ID');
    assert.deepEqual(h.metrics.reasons, ['too-many-unacked-messages']);
    const device = await h.flushedDevice('dev-1');
    assert.equal(device.lastErrorStatus?.code, 8, 'RESOURCE_EXHAUSTED in lastErrorStatus');
  });

  test('acknowledged deliveries free their place: a device that acks is never closed', async () => {
    const { h, session, transport } = await connectedDevice({ device: { config: Buffer.from('cfg') }, limits: { maxMessagesPerSecond: 0, maxUnackedOutbound: 3 } });
    for (let i = 1; i <= 20; i++) {
      session.handle(subscribe(i, [CONFIG, 1]));
      await h.io.answerAll();
      const delivery = transport.take().find((p) => p.cmd === 'publish');
      assert.ok(delivery?.cmd === 'publish' && delivery.messageId !== undefined);
      session.handle(puback(delivery.messageId));
    }
    assert.equal(transport.closes, 0);
    assert.equal(session.outbound.size, 0);
  });

  test('a command beyond the bound is refused with RESOURCE_EXHAUSTED and the connection stays', async () => {
    const { h, d, session, transport } = await connectedDevice({ limits: { maxUnackedOutbound: 2 } });
    session.handle(subscribe(1, ['/devices/dev-1/commands/#', 1]));
    transport.take();
    const first = session.sendCommand(d.device.numId, '', Buffer.from('a'));
    const second = session.sendCommand(d.device.numId, '', Buffer.from('b'));
    await assert.rejects(session.sendCommand(d.device.numId, '', Buffer.from('c')), (e: unknown) => e instanceof ApiError && e.kind === 'RESOURCE_EXHAUSTED');
    assert.deepEqual(
      transport.take().map((p) => (p.cmd === 'publish' ? p.messageId : p.cmd)),
      [1, 2],
    );
    assert.equal(transport.closes, 0);
    session.handle(puback(1));
    assert.equal(await first, true);
    // A place is free again.
    const third = session.sendCommand(d.device.numId, '', Buffer.from('c'));
    assert.deepEqual(transport.take(), [outPublish('/devices/dev-1/commands', 'c', 1, 3)]);
    session.handle(puback(2));
    session.handle(puback(3));
    assert.deepEqual([await second, await third], [true, true]);
    assert.deepEqual(h.metrics.reasons, []);
  });
});

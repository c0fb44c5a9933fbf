import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LIMITS } from '../../../src/domain/limits.js';
import {
  ALERTS_TOPIC,
  connectedDevice,
  Harness,
  LOCATION,
  PROJECT,
  publish,
  puback,
  REGISTRY,
  settle,
  STATE_TOPIC,
  T0,
  TELEMETRY_TOPIC,
  until,
} from './harness.js';

/**
 * Device-to-cloud PUBLISH in a socket-free session (spec §5.3, §5.4, §5.7, §5.8, §8.1).
 */

function identity(h: Harness, id: string): Record<string, string> {
  return {
    deviceId: id,
    deviceNumId: h.dev(id).device.numId,
    deviceRegistryId: REGISTRY,
    deviceRegistryLocation: LOCATION,
    projectId: PROJECT,
  };
}

describe('MqttSession: telemetry', () => {
  test('QoS 1 telemetry is PUBACKed only once the sink has stored it', async () => {
    const { h, session, transport } = await connectedDevice();
    h.clock.t = T0 + 250;
    session.handle(publish('/devices/dev-1/events', Buffer.from([0, 1, 2, 254, 255]), 1, 7));
    await until(() => h.sink.pending.length === 1, 'append');
    assert.deepEqual(h.sink.pending[0]?.messages, [
      { topic: TELEMETRY_TOPIC, attributes: identity(h, 'dev-1'), data: Buffer.from([0, 1, 2, 254, 255]), publishTime: T0 + 250 },
    ]);
    assert.equal(Object.hasOwn(h.sink.pending[0]!.messages[0]!.attributes, 'subFolder'), false, 'no subFolder attribute without a subfolder');
    await settle();
    assert.deepEqual(transport.sent, [], 'no PUBACK while the sink has not stored the message');
    h.sink.resolveNext();
    await until(() => transport.sent.length === 1, 'puback');
    assert.deepEqual(transport.sent, [puback(7)]);
    assert.equal((await h.flushedDevice('dev-1')).lastEventTime, T0 + 250);
  });

  test('messages handled in one run go to the sink in one append, PUBACKed in order once it commits', async () => {
    const { h, session, transport } = await connectedDevice();
    session.handle(publish('/devices/dev-1/events', 'a', 1, 1));
    session.handle(publish('/devices/dev-1/events', 'b', 1, 2));
    session.handle(publish('/devices/dev-1/events', 'c', 0));
    await until(() => h.sink.pending.length === 1, 'append');
    await settle();
    assert.equal(h.sink.pending.length, 1, 'one append for the whole run');
    assert.deepEqual(transport.sent, [], 'nothing is acknowledged before the commit');
    assert.deepEqual(
      h.sink.resolveNext().map((m) => Buffer.from(m.data).toString()),
      ['a', 'b', 'c'],
    );
    await until(() => transport.sent.length === 2, 'pubacks');
    assert.deepEqual(transport.sent, [puback(1), puback(2)]);
  });

  test('PUBACKs follow the order in which the sink stores messages', async () => {
    const { h, session, transport } = await connectedDevice();
    session.handle(publish('/devices/dev-1/events', 'a', 1, 1));
    await until(() => h.sink.pending.length === 1, 'first append');
    session.handle(publish('/devices/dev-1/events', 'b', 1, 2));
    await until(() => h.sink.pending.length === 2, 'appends');
    h.sink.resolveNext();
    await until(() => transport.sent.length === 1, 'first puback');
    await settle();
    assert.deepEqual(transport.sent, [puback(1)]);
    h.sink.resolveNext();
    await until(() => transport.sent.length === 2, 'second puback');
    assert.deepEqual(transport.sent, [puback(1), puback(2)]);
  });

  test('a QoS 1 message the sink rejects is never PUBACKed and the connection is closed', async () => {
    const { h, session, transport } = await connectedDevice();
    session.handle(publish('/devices/dev-1/events', 'lost', 1, 9));
    await until(() => h.sink.pending.length === 1, 'append');
    h.sink.rejectNext();
    await until(() => transport.closes === 1, 'close');
    await settle();
    assert.deepEqual(transport.sent, []);
    assert.deepEqual(h.metrics.reasons, ['sink-failed']);
    assert.equal((await h.flushedDevice('dev-1')).lastEventTime, undefined);
  });

  test('QoS 0 telemetry is never PUBACKed', async () => {
    const { h, session, transport } = await connectedDevice();
    session.handle(publish('/devices/dev-1/events', 'q0', 0));
    await until(() => h.sink.pending.length === 1, 'append');
    h.sink.resolveNext();
    await settle();
    assert.deepEqual(transport.sent, []);
    assert.deepEqual(
      h.sink.stored.map((m) => Buffer.from(m.data).toString()),
      ['q0'],
    );
    assert.equal(transport.closes, 0);
  });

  test('subfolders: exact match routes to its topic, others to the default; the subFolder attribute is verbatim', async () => {
    const h = await Harness.create();
    await h.addDevice('dev-1');
    h.sink.auto = true;
    const { session } = await h.connected('dev-1');
    session.handle(publish('/devices/dev-1/events/alerts', 'a', 0));
    session.handle(publish('/devices/dev-1/events/alerts/high', 'b', 0));
    session.handle(publish('/devices/dev-1/events/Alerts', 'c', 0));
    session.handle(publish('/devices/dev-1/events/a b/c~%', 'd', 0));
    await until(() => h.sink.stored.length === 4, 'appends');
    assert.deepEqual(
      h.sink.stored.map((m) => [m.topic, m.attributes.subFolder, Buffer.from(m.data).toString()]),
      [
        [ALERTS_TOPIC, 'alerts', 'a'],
        [TELEMETRY_TOPIC, 'alerts/high', 'b'],
        [TELEMETRY_TOPIC, 'Alerts', 'c'],
        [TELEMETRY_TOPIC, 'a b/c~%', 'd'],
      ],
    );
    assert.deepEqual(h.sink.stored[0]?.attributes, { ...identity(h, 'dev-1'), subFolder: 'alerts' });
  });

  test('a QoS 2 PUBLISH closes the connection and stores nothing', async () => {
    const { h, session, transport } = await connectedDevice();
    session.handle(publish('/devices/dev-1/events', 'x', 2, 3));
    await settle();
    assert.deepEqual(transport.sent, []);
    assert.equal(transport.closes, 1);
    assert.deepEqual(h.metrics.reasons, ['qos2-publish']);
    assert.equal(h.sink.pending.length, 0);
  });

  const forbidden = [
    '/devices/dev-2/events',
    '/devices/dev-2/state',
    '/devices/dev-1',
    '/devices/dev-1/',
    '/devices/dev-1/foo',
    '/devices/dev-1/config',
    '/devices/dev-1/commands',
    '/devices/dev-1/events/+',
    '/devices/dev-1/events/#',
    'devices/dev-1/events',
    `projects/${PROJECT}/topics/telemetry`,
    '/devices/DEV-1/events',
  ];
  for (const topic of forbidden) {
    test(`PUBLISH on ${JSON.stringify(topic)} closes the connection and stores nothing`, async () => {
      const h = await Harness.create();
      await h.addDevice('dev-1');
      await h.addDevice('dev-2');
      const { session, transport } = await h.connected('dev-1');
      session.handle(publish(topic, 'x', 1, 4));
      await settle();
      assert.deepEqual(transport.sent, []);
      assert.equal(transport.closes, 1);
      assert.deepEqual(h.metrics.reasons, ['invalid-topic']);
      assert.equal(h.sink.pending.length, 0);
      assert.deepEqual(await h.store.listStates(h.dev('dev-2').device.numId, 0), []);
    });
  }

  test(`telemetry of exactly ${LIMITS.maxTelemetryBytes} bytes is accepted; one byte more closes the connection`, async () => {
    const { h, session, transport } = await connectedDevice();
    h.sink.auto = true;
    session.handle(publish('/devices/dev-1/events', Buffer.alloc(256 * 1024, 7), 1, 1));
    await until(() => transport.sent.length === 1, 'puback');
    assert.deepEqual(transport.take(), [puback(1)]);
    session.handle(publish('/devices/dev-1/events', Buffer.alloc(256 * 1024 + 1, 7), 1, 2));
    await settle();
    assert.deepEqual(transport.sent, []);
    assert.equal(transport.closes, 1);
    assert.deepEqual(h.metrics.reasons, ['payload-too-large']);
    assert.equal(h.sink.stored.length, 1);
  });

  test('telemetry with no event notification config closes the connection (spec §5.4); state still works', async () => {
    const h = await Harness.create({ registry: { eventNotificationConfigs: [] } });
    await h.addDevice('dev-1');
    h.sink.auto = true;
    const first = await h.connected('dev-1');
    first.session.handle(publish('/devices/dev-1/state', 'ok', 1, 1));
    await until(() => first.transport.sent.length === 1, 'state puback');
    assert.deepEqual(first.transport.take(), [puback(1)]);
    first.session.handle(publish('/devices/dev-1/events', 'nowhere', 1, 2));
    await settle();
    assert.deepEqual(first.transport.sent, []);
    assert.equal(first.transport.closes, 1);
    assert.deepEqual(h.metrics.reasons, ['no-event-route']);
    const stored = await h.flushedDevice('dev-1');
    assert.equal(stored.lastErrorStatus?.code, 9, 'FAILED_PRECONDITION');
    assert.match(stored.lastErrorStatus?.message ?? '', /^mqtt: SERVER: /);
  });

  test('a subfolder with no matching config and no default closes the connection', async () => {
    const { h, session, transport } = await connectedDevice({ registry: { eventNotificationConfigs: [{ pubsubTopicName: ALERTS_TOPIC, subfolderMatches: 'alerts' }] } });
    h.sink.auto = true;
    session.handle(publish('/devices/dev-1/events/alerts', 'routed', 1, 1));
    await until(() => transport.sent.length === 1, 'puback');
    session.handle(publish('/devices/dev-1/events', 'unrouted', 1, 2));
    await settle();
    assert.deepEqual(transport.sent, [puback(1)]);
    assert.equal(transport.closes, 1);
    assert.deepEqual(h.metrics.reasons, ['no-event-route']);
  });

  test('per-connection message rate: the limit within one second passes, one more closes (docs/compat.md C-MQTT-RATE)', async () => {
    const { h, session, transport } = await connectedDevice({ limits: { maxMessagesPerSecond: 100 } });
    h.sink.auto = true;
    h.clock.t = T0 + 1000;
    for (let i = 0; i < 100; i++) session.handle(publish('/devices/dev-1/events', `m${i}`, 0));
    await settle();
    // A new one-second window starts: another 100 pass.
    h.clock.t = T0 + 2000;
    for (let i = 0; i < 100; i++) session.handle(publish('/devices/dev-1/events', `n${i}`, 0));
    h.clock.t = T0 + 2999;
    assert.equal(transport.closes, 0);
    session.handle(publish('/devices/dev-1/events', 'one too many', 0));
    assert.equal(transport.closes, 1);
    assert.deepEqual(h.metrics.reasons, ['message-rate-exceeded']);
    await settle();
    assert.equal(h.sink.stored.length, 200);
    const stored = await h.flushedDevice('dev-1');
    assert.equal(stored.lastErrorStatus?.code, 8, 'RESOURCE_EXHAUSTED');
  });

  test('telemetry whose subfolder ends in attach or detach still counts against the rate limit', async () => {
    const { h, session, transport } = await connectedDevice({ limits: { maxMessagesPerSecond: 3 } });
    h.sink.auto = true;
    h.clock.t = T0 + 1000;
    session.handle(publish('/devices/dev-1/events/attach', 'a', 0));
    session.handle(publish('/devices/dev-1/events/x/detach', 'b', 0));
    session.handle(publish('/devices/dev-1/events/attach', 'c', 0));
    assert.equal(transport.closes, 0);
    session.handle(publish('/devices/dev-1/events/attach', 'd', 0));
    assert.equal(transport.closes, 1);
    assert.deepEqual(h.metrics.reasons, ['message-rate-exceeded']);
  });

  test('a QoS 1 PUBLISH without a packet identifier is a protocol error [MQTT-2.3.1-1]', async () => {
    const { h, session, transport } = await connectedDevice();
    session.handle(publish('/devices/dev-1/events', 'no id', 1, 0));
    assert.equal(transport.closes, 1);
    assert.deepEqual(h.metrics.reasons, ['protocol-error']);
    await settle();
    assert.equal(h.sink.pending.length, 0, 'nothing was stored');
  });

  test('maxMessagesPerSecond 0 disables the rate limit', async () => {
    const { h, session, transport } = await connectedDevice({ limits: { maxMessagesPerSecond: 0 } });
    h.sink.auto = true;
    for (let i = 0; i < 300; i++) session.handle(publish('/devices/dev-1/events', 'x', 0));
    await settle();
    assert.equal(transport.closes, 0);
    assert.equal(h.sink.stored.length, 300);
  });

  test('backpressure: reading pauses at maxInflightIngest unstored messages and resumes when one is stored', async () => {
    const { h, session, transport } = await connectedDevice({ limits: { maxInflightIngest: 2 } });
    session.handle(publish('/devices/dev-1/events', 'a', 1, 1));
    assert.equal(transport.pauses, 0);
    await until(() => h.sink.pending.length === 1, 'first append');
    session.handle(publish('/devices/dev-1/events', 'b', 1, 2));
    assert.equal(transport.pauses, 1);
    await until(() => h.sink.pending.length === 2, 'appends');
    h.sink.resolveNext();
    await until(() => transport.resumes === 1, 'resume');
    assert.deepEqual(transport.sent, [puback(1)]);
    assert.equal(transport.pauses, 1);
  });

  test('backpressure: a saturated sink pauses reading until it drains', async () => {
    const { h, session, transport } = await connectedDevice();
    h.sink.isSaturated = true;
    session.handle(publish('/devices/dev-1/events', 'a', 1, 1));
    assert.equal(transport.pauses, 1);
    await until(() => h.sink.pending.length === 1, 'append');
    h.sink.resolveNext();
    await until(() => transport.sent.length === 1, 'puback');
    assert.equal(transport.resumes, 0, 'still saturated');
    h.sink.drain();
    assert.equal(transport.resumes, 1);
  });
});

describe('MqttSession: state', () => {
  test('QoS 1 state is stored, PUBACKed without waiting for the best-effort notification, and notified with identity attributes', async () => {
    const { h, d, session, transport } = await connectedDevice();
    h.clock.t = T0 + 100;
    session.handle(publish('/devices/dev-1/state', 'on', 1, 11));
    await until(() => transport.sent.length === 1, 'puback');
    assert.deepEqual(transport.sent, [puback(11)]);
    assert.equal(h.sink.pending.length, 1, 'the notification is still pending');
    assert.deepEqual(h.sink.pending[0]?.messages, [{ topic: STATE_TOPIC, attributes: identity(h, 'dev-1'), data: Buffer.from('on'), publishTime: T0 + 100 }]);
    const states = await h.store.listStates(d.device.numId, 0);
    assert.deepEqual(
      states.map((s) => [s.updateTime, Buffer.from(s.binaryData).toString()]),
      [[T0 + 100, 'on']],
    );
    // A failed notification changes nothing for the device.
    h.sink.rejectNext();
    await settle();
    assert.equal(transport.closes, 0);
  });

  test('two states less than a second apart close the connection; a second later is fine (spec §5.7)', async () => {
    const { h, d, session, transport } = await connectedDevice();
    h.sink.auto = true;
    session.handle(publish('/devices/dev-1/state', 's1', 1, 1));
    h.clock.t = T0 + 1000;
    session.handle(publish('/devices/dev-1/state', 's2', 1, 2));
    await until(() => transport.sent.length === 2, 'pubacks');
    h.clock.t = T0 + 1999;
    session.handle(publish('/devices/dev-1/state', 's3', 1, 3));
    await settle();
    assert.deepEqual(transport.sent, [puback(1), puback(2)]);
    assert.equal(transport.closes, 1);
    assert.deepEqual(h.metrics.reasons, ['state-rate-exceeded']);
    const states = await h.store.listStates(d.device.numId, 0);
    assert.deepEqual(
      states.map((s) => Buffer.from(s.binaryData).toString()),
      ['s2', 's1'],
    );
    assert.equal((await h.flushedDevice('dev-1')).lastErrorStatus?.code, 8);
  });

  test(`state of exactly ${LIMITS.maxStateBytes} bytes is accepted; one byte more closes the connection`, async () => {
    const { h, d, session, transport } = await connectedDevice();
    h.sink.auto = true;
    session.handle(publish('/devices/dev-1/state', Buffer.alloc(64 * 1024, 1), 1, 1));
    await until(() => transport.sent.length === 1, 'puback');
    h.clock.t = T0 + 5000;
    session.handle(publish('/devices/dev-1/state', Buffer.alloc(64 * 1024 + 1, 1), 1, 2));
    await settle();
    assert.deepEqual(transport.sent, [puback(1)]);
    assert.equal(transport.closes, 1);
    assert.deepEqual(h.metrics.reasons, ['payload-too-large']);
    assert.equal((await h.store.listStates(d.device.numId, 0)).length, 1);
  });

  test('state without a state notification config is stored and nothing goes to the sink', async () => {
    const { h, d, session, transport } = await connectedDevice({ registry: { stateNotificationConfig: undefined } });
    session.handle(publish('/devices/dev-1/state', 'quiet', 0));
    await settle();
    assert.deepEqual(transport.sent, []);
    assert.equal(h.sink.pending.length, 0);
    assert.equal((await h.store.listStates(d.device.numId, 0)).length, 1);
  });
});

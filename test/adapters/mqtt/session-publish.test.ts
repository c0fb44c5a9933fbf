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
  STATE_TOPIC,
  T0,
  TELEMETRY_TOPIC,
} from './harness.js';

/**
 * Device-to-cloud PUBLISH in a socket-free session (spec §5.3, §5.4, §5.7, §5.8, §8.1). The test
 * commits (or fails) what the session submits, as the ingress would; what the ingress itself does
 * with it (batching, lastEventTime, state notifications) is tested through the shell, in
 * session-io.test.ts.
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
    assert.deepEqual(h.io.uncommitted, [
      { topic: TELEMETRY_TOPIC, attributes: identity(h, 'dev-1'), data: Buffer.from([0, 1, 2, 254, 255]), publishTime: T0 + 250 },
    ]);
    assert.equal(h.io.pending('event')[0]?.numId, h.numId('dev-1'));
    assert.equal(Object.hasOwn(h.io.uncommitted[0]!.attributes, 'subFolder'), false, 'no subFolder attribute without a subfolder');
    assert.deepEqual(transport.sent, [], 'no PUBACK while the sink has not stored the message');
    h.io.commitNextEvent();
    assert.deepEqual(transport.sent, [puback(7)]);
  });

  test('messages handled in one run are submitted in order, PUBACKed in order once committed', async () => {
    const { h, session, transport } = await connectedDevice();
    session.handle(publish('/devices/dev-1/events', 'a', 1, 1));
    session.handle(publish('/devices/dev-1/events', 'b', 1, 2));
    session.handle(publish('/devices/dev-1/events', 'c', 0));
    assert.deepEqual(transport.sent, [], 'nothing is acknowledged before the commit');
    assert.deepEqual(
      h.io.commitEvents().map((m) => Buffer.from(m.data).toString()),
      ['a', 'b', 'c'],
    );
    assert.deepEqual(transport.sent, [puback(1), puback(2)]);
  });

  test('PUBACKs follow the order in which the sink stores messages', async () => {
    const { h, session, transport } = await connectedDevice();
    session.handle(publish('/devices/dev-1/events', 'a', 1, 1));
    session.handle(publish('/devices/dev-1/events', 'b', 1, 2));
    h.io.commitNextEvent();
    assert.deepEqual(transport.sent, [puback(1)]);
    h.io.commitNextEvent();
    assert.deepEqual(transport.sent, [puback(1), puback(2)]);
  });

  test('a QoS 1 message the sink rejects is never PUBACKed and the connection is closed', async () => {
    const { h, session, transport } = await connectedDevice();
    session.handle(publish('/devices/dev-1/events', 'lost', 1, 9));
    h.io.failNextEvent();
    assert.equal(transport.closes, 1);
    assert.deepEqual(transport.sent, []);
    assert.deepEqual(h.metrics.reasons, ['sink-failed']);
  });

  test('a message committed after its connection closed is not PUBACKed', async () => {
    const { h, session, transport } = await connectedDevice();
    session.handle(publish('/devices/dev-1/events', 'late', 1, 4));
    session.handle({ cmd: 'disconnect' });
    session.socketClosed('socket-closed');
    h.io.commitNextEvent();
    assert.deepEqual(transport.sent, []);
    assert.deepEqual(h.metrics.reasons, ['client-disconnect']);
  });

  test('QoS 0 telemetry is never PUBACKed', async () => {
    const { h, session, transport } = await connectedDevice();
    session.handle(publish('/devices/dev-1/events', 'q0', 0));
    h.io.commitNextEvent();
    assert.deepEqual(transport.sent, []);
    assert.deepEqual(
      h.io.committed.map((m) => Buffer.from(m.data).toString()),
      ['q0'],
    );
    assert.equal(transport.closes, 0);
  });

  test('subfolders: exact match routes to its topic, others to the default; the subFolder attribute is verbatim', async () => {
    const h = await Harness.create();
    await h.addDevice('dev-1');
    const { session } = await h.connected('dev-1');
    session.handle(publish('/devices/dev-1/events/alerts', 'a', 0));
    session.handle(publish('/devices/dev-1/events/alerts/high', 'b', 0));
    session.handle(publish('/devices/dev-1/events/Alerts', 'c', 0));
    session.handle(publish('/devices/dev-1/events/a b/c~%', 'd', 0));
    h.io.commitEvents();
    assert.deepEqual(
      h.io.committed.map((m) => [m.topic, m.attributes.subFolder, Buffer.from(m.data).toString()]),
      [
        [ALERTS_TOPIC, 'alerts', 'a'],
        [TELEMETRY_TOPIC, 'alerts/high', 'b'],
        [TELEMETRY_TOPIC, 'Alerts', 'c'],
        [TELEMETRY_TOPIC, 'a b/c~%', 'd'],
      ],
    );
    assert.deepEqual(h.io.committed[0]?.attributes, { ...identity(h, 'dev-1'), subFolder: 'alerts' });
  });

  test('a QoS 2 PUBLISH closes the connection and stores nothing', async () => {
    const { h, session, transport } = await connectedDevice();
    session.handle(publish('/devices/dev-1/events', 'x', 2, 3));
    assert.deepEqual(transport.sent, []);
    assert.equal(transport.closes, 1);
    assert.deepEqual(h.metrics.reasons, ['qos2-publish']);
    assert.deepEqual(h.io.pending('event'), []);
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
      assert.deepEqual(transport.sent, []);
      assert.equal(transport.closes, 1);
      assert.deepEqual(h.metrics.reasons, ['invalid-topic']);
      assert.deepEqual(h.io.pending('event'), []);
      assert.deepEqual(h.io.pending('state'), [], 'no state is stored for anyone');
    });
  }

  test(`telemetry of exactly ${LIMITS.maxTelemetryBytes} bytes is accepted; one byte more closes the connection`, async () => {
    const { h, session, transport } = await connectedDevice();
    session.handle(publish('/devices/dev-1/events', Buffer.alloc(256 * 1024, 7), 1, 1));
    h.io.commitEvents();
    assert.deepEqual(transport.take(), [puback(1)]);
    session.handle(publish('/devices/dev-1/events', Buffer.alloc(256 * 1024 + 1, 7), 1, 2));
    assert.deepEqual(transport.sent, []);
    assert.equal(transport.closes, 1);
    assert.deepEqual(h.metrics.reasons, ['payload-too-large']);
    assert.deepEqual(h.io.pending('event'), []);
    assert.equal(h.io.committed.length, 1);
  });

  test('telemetry with no event notification config closes the connection (spec §5.4); state still works', async () => {
    const h = await Harness.create({ registry: { eventNotificationConfigs: [] } });
    await h.addDevice('dev-1');
    const first = await h.connected('dev-1');
    first.session.handle(publish('/devices/dev-1/state', 'ok', 1, 1));
    await h.io.answer(h.io.take('state'));
    assert.deepEqual(first.transport.take(), [puback(1)]);
    first.session.handle(publish('/devices/dev-1/events', 'nowhere', 1, 2));
    assert.deepEqual(h.io.pending('event'), []);
    assert.deepEqual(first.transport.sent, []);
    assert.equal(first.transport.closes, 1);
    assert.deepEqual(h.metrics.reasons, ['no-event-route']);
    const stored = await h.flushedDevice('dev-1');
    assert.equal(stored.lastErrorStatus?.code, 9, 'FAILED_PRECONDITION');
    assert.match(stored.lastErrorStatus?.message ?? '', /^mqtt: SERVER: /);
  });

  test('a subfolder with no matching config and no default closes the connection', async () => {
    const { h, session, transport } = await connectedDevice({ registry: { eventNotificationConfigs: [{ pubsubTopicName: ALERTS_TOPIC, subfolderMatches: 'alerts' }] } });
    session.handle(publish('/devices/dev-1/events/alerts', 'routed', 1, 1));
    h.io.commitEvents();
    session.handle(publish('/devices/dev-1/events', 'unrouted', 1, 2));
    assert.deepEqual(h.io.pending('event'), []);
    assert.deepEqual(transport.sent, [puback(1)]);
    assert.equal(transport.closes, 1);
    assert.deepEqual(h.metrics.reasons, ['no-event-route']);
  });

  test('per-connection message rate: the limit within one second passes, one more closes (docs/compat.md C-MQTT-RATE)', async () => {
    const { h, session, transport } = await connectedDevice({ limits: { maxMessagesPerSecond: 100 } });
    h.clock.t = T0 + 1000;
    for (let i = 0; i < 100; i++) session.handle(publish('/devices/dev-1/events', `m${i}`, 0));
    h.io.commitEvents();
    // A new one-second window starts: another 100 pass.
    h.clock.t = T0 + 2000;
    for (let i = 0; i < 100; i++) session.handle(publish('/devices/dev-1/events', `n${i}`, 0));
    h.clock.t = T0 + 2999;
    assert.equal(transport.closes, 0);
    session.handle(publish('/devices/dev-1/events', 'one too many', 0));
    assert.equal(transport.closes, 1);
    assert.deepEqual(h.metrics.reasons, ['message-rate-exceeded']);
    h.io.commitEvents();
    assert.equal(h.io.committed.length, 200);
    const stored = await h.flushedDevice('dev-1');
    assert.equal(stored.lastErrorStatus?.code, 8, 'RESOURCE_EXHAUSTED');
  });

  test('telemetry whose subfolder ends in attach or detach still counts against the rate limit', async () => {
    const { h, session, transport } = await connectedDevice({ limits: { maxMessagesPerSecond: 3 } });
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
    assert.deepEqual(h.io.pending('event'), [], 'nothing was stored');
  });

  test('maxMessagesPerSecond 0 disables the rate limit', async () => {
    const { h, session, transport } = await connectedDevice({ limits: { maxMessagesPerSecond: 0 } });
    for (let i = 0; i < 300; i++) session.handle(publish('/devices/dev-1/events', 'x', 0));
    h.io.commitEvents();
    assert.equal(transport.closes, 0);
    assert.equal(h.io.committed.length, 300);
  });

  test('backpressure: reading pauses at maxInflightIngest unstored messages and resumes when one is stored', async () => {
    const { h, session, transport } = await connectedDevice({ limits: { maxInflightIngest: 2 } });
    session.handle(publish('/devices/dev-1/events', 'a', 1, 1));
    assert.equal(transport.pauses, 0);
    session.handle(publish('/devices/dev-1/events', 'b', 1, 2));
    assert.equal(transport.pauses, 1);
    h.io.commitNextEvent();
    assert.equal(transport.resumes, 1);
    assert.deepEqual(transport.sent, [puback(1)]);
    assert.equal(transport.pauses, 1);
  });

  test('backpressure: a saturated sink pauses reading until it drains', async () => {
    const { h, session, transport } = await connectedDevice();
    h.io.saturated = true;
    session.handle(publish('/devices/dev-1/events', 'a', 1, 1));
    assert.equal(transport.pauses, 1);
    h.io.commitNextEvent();
    assert.deepEqual(transport.sent, [puback(1)]);
    assert.equal(transport.resumes, 0, 'still saturated');
    h.io.drain();
    assert.equal(transport.resumes, 1);
  });
});

describe('MqttSession: state', () => {
  test('QoS 1 state is submitted with identity attributes and the registry, and PUBACKed once stored', async () => {
    const { h, d, session, transport } = await connectedDevice();
    h.clock.t = T0 + 100;
    session.handle(publish('/devices/dev-1/state', 'on', 1, 11));
    const submitted = h.io.pending('state');
    assert.equal(submitted.length, 1);
    assert.equal(submitted[0]?.numId, d.device.numId);
    assert.deepEqual(submitted[0]?.message, { attributes: identity(h, 'dev-1'), data: Buffer.from('on'), publishTime: T0 + 100 });
    assert.equal(submitted[0]?.registry.stateNotificationConfig?.pubsubTopicName, STATE_TOPIC, 'the notification goes where the registry says');
    assert.deepEqual(transport.sent, [], 'no PUBACK before the state is stored');
    await h.io.answer(h.io.take('state'));
    assert.deepEqual(transport.sent, [puback(11)]);
    const states = await h.store.listStates(d.device.numId, 0);
    assert.deepEqual(
      states.map((s) => [s.updateTime, Buffer.from(s.binaryData).toString()]),
      [[T0 + 100, 'on']],
    );
    assert.equal(transport.closes, 0);
  });

  test('a state that cannot be stored is never PUBACKed and the connection is closed', async () => {
    const { h, session, transport } = await connectedDevice();
    session.handle(publish('/devices/dev-1/state', 'on', 1, 11));
    h.io.fail(h.io.take('state'));
    assert.deepEqual(transport.sent, []);
    assert.equal(transport.closes, 1);
    assert.deepEqual(h.metrics.reasons, ['sink-failed']);
  });

  test('two states less than a second apart close the connection; a second later is fine (spec §5.7)', async () => {
    const { h, d, session, transport } = await connectedDevice();
    h.io.autoCommit = true;
    session.handle(publish('/devices/dev-1/state', 's1', 1, 1));
    await h.io.answerAll();
    h.clock.t = T0 + 1000;
    session.handle(publish('/devices/dev-1/state', 's2', 1, 2));
    await h.io.answerAll();
    h.clock.t = T0 + 1999;
    session.handle(publish('/devices/dev-1/state', 's3', 1, 3));
    assert.deepEqual(h.io.pending('state'), []);
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
    session.handle(publish('/devices/dev-1/state', Buffer.alloc(64 * 1024, 1), 1, 1));
    await h.io.answer(h.io.take('state'));
    h.clock.t = T0 + 5000;
    session.handle(publish('/devices/dev-1/state', Buffer.alloc(64 * 1024 + 1, 1), 1, 2));
    assert.deepEqual(h.io.pending('state'), []);
    assert.deepEqual(transport.sent, [puback(1)]);
    assert.equal(transport.closes, 1);
    assert.deepEqual(h.metrics.reasons, ['payload-too-large']);
    assert.equal((await h.store.listStates(d.device.numId, 0)).length, 1);
  });

  test('state without a state notification config is still stored; QoS 0 is never PUBACKed', async () => {
    const { h, d, session, transport } = await connectedDevice({ registry: { stateNotificationConfig: undefined } });
    session.handle(publish('/devices/dev-1/state', 'quiet', 0));
    const submitted = h.io.take('state');
    assert.equal(submitted.registry.stateNotificationConfig, undefined);
    await h.io.answer(submitted);
    assert.deepEqual(transport.sent, []);
    assert.equal((await h.store.listStates(d.device.numId, 0)).length, 1);
  });
});

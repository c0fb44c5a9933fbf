import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PubSub } from '@google-cloud/pubsub';
import type { MqttClient } from 'mqtt';
import { createDevice, createRegistry, mqttsUrl, PROJECT, REGION } from '../support/fleet.js';
import { connectDevice, endQuietly } from '../support/mqtt-clients.js';
import { hostPort } from '../support/mqtt-processes.js';
import { run } from '../support/processes.js';
import { Collector, startPubSubServer, type PubSubServer } from '../support/pubsub.js';

/**
 * The migration path of issue 9: devices publish over MQTT unchanged, their registry routes to
 * Pub/Sub topics (created with the registry), and a backend's streaming-pull subscriber, written
 * for Google Pub/Sub, receives every message with the attributes of spec §8.1.
 */

const REG = 'reg-ps';

describe('device telemetry to a @google-cloud/pubsub subscriber', () => {
  let ps: PubSubServer;
  let pubsub: PubSub;
  let device: MqttClient | undefined;

  before(async () => {
    ps = await startPubSubServer();
    pubsub = new PubSub({ projectId: PROJECT, apiEndpoint: ps.endpoint, emulatorMode: true });
  });
  after(async () => {
    await endQuietly(device);
    await pubsub.close();
    await ps.cleanup();
  });

  test('every QoS 1 message, in its subfolder topic or the default one, reaches the subscriber with the §8.1 attributes', async () => {
    await createRegistry(ps.server, REG);
    // The registry's topics exist once it does (docs/compat.md C-PS-AUTO-TOPICS).
    const [telemetry] = await pubsub.topic(`telemetry-${REG}`).get();
    const [alerts] = await pubsub.topic(`alerts-${REG}`).get();
    const [telemetrySub] = await telemetry.createSubscription('backend-telemetry');
    const [alertsSub] = await alerts.createSubscription('backend-alerts');
    const d = await createDevice(ps.server, REG, 'thermo-1');
    device = await connectDevice(ps.server, d.clientId, await d.jwt());

    const payloads = Array.from({ length: 50 }, (_, i) => Buffer.from([i, 0, 255, i * 3]));
    for (const p of payloads) await device.publishAsync(`/devices/${d.id}/events`, p, { qos: 1 });
    await device.publishAsync(`/devices/${d.id}/events/alerts`, 'overheat', { qos: 1 });

    const tele = new Collector(pubsub.subscription(telemetrySub.name));
    const alert = new Collector(pubsub.subscription(alertsSub.name));
    const [got, [alarm]] = await Promise.all([tele.next(50), alert.next(1)]);
    await Promise.all([tele.close(), alert.close()]);

    const identity = { deviceId: d.id, deviceNumId: d.numId, deviceRegistryId: REG, deviceRegistryLocation: REGION, projectId: PROJECT };
    assert.deepEqual(
      got.map((m) => m.data.toString('hex')).sort(),
      payloads.map((p) => p.toString('hex')).sort(),
      'every message, exact bytes',
    );
    for (const m of got) assert.deepEqual(m.attributes, identity);
    assert.equal(new Set(got.map((m) => m.id)).size, 50);
    assert.equal(alarm!.data.toString(), 'overheat');
    assert.deepEqual(alarm!.attributes, { ...identity, subFolder: 'alerts' });
    assert.equal(tele.messages.length, 50, 'nothing more, nothing from the alerts topic');
  });
  test('mosquitto_pub, as the Cloud IoT docs ran it: each QoS 1 message it got a PUBACK for reaches a streaming-pull subscriber', async () => {
    const [topic] = await pubsub.topic(`telemetry-${REG}`).get();
    const [sub] = await topic.createSubscription('backend-mosquitto');
    const d = await createDevice(ps.server, REG, 'mosq-1', { alg: 'RS256' });
    const { host, port } = hostPort(mqttsUrl(ps.server));
    const jwt = await d.jwt();
    for (const text of ['one', 'two', 'three']) {
      // mosquitto_pub -q 1 exits 0 only after the PUBACK, i.e. after the durable commit.
      const r = await run('/usr/bin/mosquitto_pub', [
        '-h', host, '-p', String(port), '--cafile', ps.server.info.caFile, '-i', d.clientId, '-u', 'unused', '-P', jwt,
        '-V', 'mqttv311', '-q', '1', '-t', `/devices/${d.id}/events`, '-m', text,
      ]);
      assert.equal(r.code, 0, r.stderr);
    }
    const collector = new Collector(pubsub.subscription(sub.name));
    const got = await collector.next(3);
    await collector.close();
    assert.deepEqual(got.map((m) => m.data.toString()).sort(), ['one', 'three', 'two']);
    for (const m of got) assert.equal(m.attributes.deviceId, 'mosq-1');
  });
});

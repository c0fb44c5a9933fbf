import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PubSub } from '@google-cloud/pubsub';
import { createDevice, createRegistry, PROJECT } from '../support/fleet.js';
import { bridgeDeviceUrl, curl, httpsBridge, identityAttributes } from '../support/http-device.js';
import { Collector, startPubSubServer, type PubSubServer } from '../support/pubsub.js';

/**
 * The HTTP half of the issue 9 migration path: a device posts telemetry and state to the HTTP
 * bridge (curl over HTTPS), and a backend's streaming-pull subscriber written for Google Pub/Sub
 * receives the exact bytes with the attributes of spec §8.1.
 */

const REG = 'reg-http-ps';

describe('HTTP bridge telemetry to a @google-cloud/pubsub subscriber', () => {
  let ps: PubSubServer;
  let pubsub: PubSub;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bridgehead-http-ps-'));
    ps = await startPubSubServer({ args: ['--http-bridge-listen', '127.0.0.1:0'] });
    pubsub = new PubSub({ projectId: PROJECT, apiEndpoint: ps.endpoint, emulatorMode: true });
  });
  after(async () => {
    await pubsub?.close();
    await ps?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('events with and without a subfolder and a state reach their subscriptions, bytes exact', async () => {
    await createRegistry(ps.server, REG);
    const [telemetrySub] = await pubsub.topic(`telemetry-${REG}`).createSubscription('http-telemetry');
    const [alertsSub] = await pubsub.topic(`alerts-${REG}`).createSubscription('http-alerts');
    const [stateSub] = await pubsub.topic(`state-${REG}`).createSubscription('http-state');
    const dev = await createDevice(ps.server, REG, 'http-ps-1', { alg: 'RS256' });
    const jwt = await dev.jwt();
    const url = bridgeDeviceUrl(httpsBridge(ps.server), REG, dev.id);

    const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    // Near the 256 KiB telemetry limit: the body is sent from a file (one argv string may not exceed 128 KiB).
    const large = Buffer.alloc(250 * 1024, 0);
    for (let i = 0; i < large.length; i++) large[i] = (i * 7919) & 0xff;
    const events: { data: Buffer; subFolder?: string }[] = [
      { data: every },
      { data: Buffer.from([0xff, 0xfe, 0x00, 0x01]), subFolder: 'alerts' },
      { data: large },
      { data: Buffer.from('21.5'), subFolder: 'temperature' },
    ];
    for (const [i, e] of events.entries()) {
      const file = join(dir, `event-${i}.json`);
      writeFileSync(file, JSON.stringify({ binaryData: e.data.toString('base64'), ...(e.subFolder === undefined ? {} : { subFolder: e.subFolder }) }));
      const r = await curl(['-X', 'POST', `${url}:publishEvent`, '-H', `authorization: Bearer ${jwt}`, '-H', 'content-type: application/json', '--data-binary', `@${file}`, '--cacert', ps.server.info.caFile, '--http2']);
      assert.equal(r.status, 200, `event ${i}: ${r.body}`);
    }
    const state = Buffer.from([0x00, 0x80, 0xff, 0x7f]);
    const s = await curl(['-X', 'POST', `${url}:setState`, '-H', `authorization: Bearer ${jwt}`, '--data-binary', JSON.stringify({ state: { binaryData: state.toString('base64') } }), '--cacert', ps.server.info.caFile]);
    assert.equal(s.status, 200, s.body);

    const tele = new Collector(pubsub.subscription(telemetrySub.name));
    const alert = new Collector(pubsub.subscription(alertsSub.name));
    const states = new Collector(pubsub.subscription(stateSub.name));
    const [got, [alarm], [stateMsg]] = await Promise.all([tele.next(3), alert.next(1), states.next(1)]);
    await Promise.all([tele.close(), alert.close(), states.close()]);

    const identity = identityAttributes(REG, dev);
    const expectedTelemetry = [events[0]!, events[2]!, events[3]!];
    assert.deepEqual(
      got.map((m) => m.data.toString('hex')).sort(),
      expectedTelemetry.map((e) => e.data.toString('hex')).sort(),
      'every message, exact bytes',
    );
    for (const m of got) {
      const e = expectedTelemetry.find((x) => x.data.equals(m.data))!;
      assert.deepEqual(m.attributes, { ...identity, ...(e.subFolder === undefined ? {} : { subFolder: e.subFolder }) });
    }
    assert.deepEqual(alarm!.data, events[1]!.data);
    assert.deepEqual(alarm!.attributes, { ...identity, subFolder: 'alerts' });
    assert.deepEqual(stateMsg!.data, state);
    assert.deepEqual(stateMsg!.attributes, identity);
    assert.equal(tele.messages.length, 3, 'nothing more');
    assert.deepEqual([...tele.errors, ...alert.errors, ...states.errors], []);
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDevice, createRegistry, devicePath, logMessages, mqttUrl, PROJECT, REGION, type TestDevice } from '../support/fleet.js';
import { connectDevice, endQuietly } from '../support/mqtt-clients.js';
import { closedWithin, decodeAll, encode, openRaw, pseudoRandomBytes, receivedAtLeast, type RawSocket } from '../support/mqtt-raw.js';
import { api, startServer, type StartedServer } from '../support/server.js';

/**
 * Hostile and broken input on raw TCP sockets to the plain listener (spec §5.2, §5.8;
 * docs/compat.md C-MQTT-MAXPACKET). After each case a well-behaved MQTT.js device must still
 * connect and publish, and the registry data must be unchanged.
 */

const REG = 'reg-bad-input';
/** The server's default connect timeout (DEFAULT_MQTT_LIMITS.connectTimeoutMs) and tick granularity. */
const CONNECT_TIMEOUT_MS = 10_000;
/** "At once": far below the connect timeout. */
const PROMPTLY_MS = 3_000;

const connectBytes = (clientId: string, password: string): Buffer =>
  encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 60, username: 'unused', password: Buffer.from(password) });

describe('MQTT bridge under bad input', () => {
  let server: StartedServer;
  let good: TestDevice;
  let other: TestDevice;
  let baseline: unknown;
  let healthChecks = 0;
  /** Sockets opened at the start that never send a CONNECT (or only half of one); checked last. */
  let silent: RawSocket;
  let halfConnect: RawSocket;

  /** The registry and its devices without the activity timestamps a healthy device updates. */
  const snapshot = async (): Promise<unknown> => {
    const registry = await api(server, 'GET', `/v1/projects/${PROJECT}/locations/${REGION}/registries/${REG}`);
    const devices = [];
    for (const d of [good, other]) {
      const r = await api(server, 'GET', devicePath(REG, d.id));
      devices.push(Object.fromEntries(Object.entries(r.json).filter(([k]) => !k.startsWith('last'))));
    }
    const list = await api(server, 'GET', `/v1/projects/${PROJECT}/locations/${REGION}/registries/${REG}/devices`);
    return { registry: registry.json, devices, list: list.json };
  };

  /** A well-behaved device connects over TLS, publishes QoS 1 and finds its message in the log. */
  const assertHealthy = async (): Promise<void> => {
    const payload = `still-alive-${++healthChecks}`;
    const c = await connectDevice(server, good.clientId, await good.jwt());
    try {
      await c.publishAsync(`/devices/${good.id}/events`, payload, { qos: 1 });
    } finally {
      await endQuietly(c);
    }
    const log = await logMessages(server, `telemetry-${REG}`);
    assert.equal(log.filter((m) => m.data === Buffer.from(payload).toString('base64')).length, 1);
    assert.deepEqual(await snapshot(), baseline, 'registry data unchanged');
  };

  before(async () => {
    server = await startServer();
    await createRegistry(server, REG);
    good = await createDevice(server, REG, 'good-dev', { alg: 'ES256' });
    other = await createDevice(server, REG, 'other-dev', { alg: 'ES256' });
    baseline = await snapshot();
    // Opened first so that their 10 s connect timeout runs while the other cases do.
    silent = await openRaw(mqttUrl(server));
    halfConnect = await openRaw(mqttUrl(server));
    const whole = connectBytes(good.clientId, await good.jwt());
    halfConnect.socket.write(whole.subarray(0, Math.floor(whole.length / 2)));
  });
  after(async () => {
    silent?.socket.destroy();
    halfConnect?.socket.destroy();
    await server.cleanup();
  });

  it('random bytes: the connection is closed promptly without an answer', async () => {
    for (const seed of [1, 2, 3, 42]) {
      const raw = await openRaw(mqttUrl(server));
      raw.socket.write(pseudoRandomBytes(4096, seed));
      const at = await closedWithin(raw, PROMPTLY_MS);
      assert.ok(at < PROMPTLY_MS);
      assert.deepEqual(decodeAll(raw.received()), [], `seed ${seed}: no packet answered`);
    }
    await assertHealthy();
  });

  it('a malformed CONNECT (length cut inside the payload, bad protocol name) is closed promptly', async () => {
    const whole = connectBytes(good.clientId, await good.jwt());
    // Claim a remaining length that ends in the middle of the client ID.
    const cut = Buffer.from(whole.subarray(0, 30));
    cut[1] = 28;
    const badName = encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: good.clientId, keepalive: 60 });
    badName.write('MQXX', 4, 'latin1');
    for (const bytes of [cut, badName]) {
      const raw = await openRaw(mqttUrl(server));
      raw.socket.write(bytes);
      await closedWithin(raw, PROMPTLY_MS);
      assert.deepEqual(decodeAll(raw.received()), []);
    }
    await assertHealthy();
  });

  it('a fixed header declaring a 256 MiB remaining length is closed at once, before and after CONNECT', async () => {
    // CONNECT with remaining length 268,435,455 (the MQTT maximum, 0xFF 0xFF 0xFF 0x7F).
    const before = await openRaw(mqttUrl(server));
    before.socket.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x04]));
    assert.ok((await closedWithin(before, PROMPTLY_MS)) < PROMPTLY_MS);
    assert.deepEqual(before.received(), Buffer.alloc(0));

    // The same as a PUBLISH from an authenticated device.
    const afterConnect = await openRaw(mqttUrl(server));
    afterConnect.socket.write(connectBytes(other.clientId, await other.jwt()));
    const connack = await receivedAtLeast(afterConnect, 4);
    assert.deepEqual(decodeAll(connack).map((p) => [p.cmd, (p as { returnCode?: number }).returnCode]), [['connack', 0]]);
    const sentAt = Date.now();
    afterConnect.socket.write(Buffer.from([0x32, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x14]));
    await closedWithin(afterConnect, PROMPTLY_MS);
    assert.ok(Date.now() - sentAt < PROMPTLY_MS);
    assert.equal(afterConnect.socket.bytesWritten < 1024, true, 'only the headers were ever sent');
    await assertHealthy();
  });

  it('a flood of 200 connections at once: every one is answered, and a device still gets through', async () => {
    const raws = await Promise.all(Array.from({ length: 200 }, () => openRaw(mqttUrl(server), 10_000)));
    const ghost = `projects/${PROJECT}/locations/${REGION}/registries/${REG}/devices/ghost-dev`;
    for (const r of raws) r.socket.write(connectBytes(ghost, 'not-a-jwt'));
    // A real device connects while all of them are in flight.
    await assertHealthy();
    const answers = await Promise.all(raws.map(async (r) => decodeAll(await receivedAtLeast(r, 4, 10_000))));
    for (const a of answers) assert.deepEqual(a.map((p) => [p.cmd, (p as { returnCode?: number }).returnCode]), [['connack', 5]]);
    await Promise.all(raws.map((r) => closedWithin(r, PROMPTLY_MS)));
    await assertHealthy();
  });

  it('a socket that never sends CONNECT, or only half of one, is closed after the connect timeout', async () => {
    const [silentAt, halfAt] = await Promise.all([closedWithin(silent, CONNECT_TIMEOUT_MS + 5000), closedWithin(halfConnect, CONNECT_TIMEOUT_MS + 5000)]);
    for (const at of [silentAt, halfAt]) {
      // Each socket has a timer of its own; the slack is for a loaded machine.
      assert.ok(at >= CONNECT_TIMEOUT_MS - 1000 && at <= CONNECT_TIMEOUT_MS + 3000, `closed after ${at} ms`);
    }
    assert.deepEqual(silent.received(), Buffer.alloc(0));
    assert.deepEqual(halfConnect.received(), Buffer.alloc(0));
    await assertHealthy();
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { api, startServer, type StartedServer } from '../support/server.js';
import { caOf, createDevice, createRegistry, devicePath, mqttsUrl, mqttUrl, PROJECT, REGION, type TestDevice } from '../support/fleet.js';
import { adminSnapshot, assertServerHealthy, disconnects } from '../support/mqtt-health.js';
import { closedWithin, decodeAll, encode, openRaw, receivedAtLeast, type RawSocket } from '../support/mqtt-raw.js';
import { clientHello, openStalled, STALL_KINDS, type StalledSocket } from '../support/stalled-sockets.js';

/**
 * Regressions from hostile testing of the MQTT bridge with default settings, each of which once
 * ended the process or locked devices out (docs/compat.md C-MQTT-FAULTS, C-MQTT-TOPICS,
 * C-MQTT-RATE, C-MQTT-TIMEOUTS, C-MQTT-MAXCONN). After each, the process is alive, a device still
 * publishes with PUBACK, and the registry is unchanged. The slow reader and the unacknowledged
 * flood without a rate limit are in mqtt-slow-reader.test.ts.
 */

const REG = 'reg-abuse';
/** DEFAULT_MQTT_LIMITS.connectTimeoutMs, also the TLS handshake limit. */
const CONNECT_TIMEOUT_MS = 10_000;
const PROMPTLY_MS = 3_000;
const EMPTY_SUBSCRIBE = Buffer.from([0x82, 0x02, 0x00, 0x01]);

const connectBytes = async (d: TestDevice): Promise<Buffer> =>
  encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: d.clientId, keepalive: 60, username: 'unused', password: Buffer.from(await d.jwt()) });

const cmds = (raw: RawSocket): string[] => decodeAll(raw.received()).map((p) => p.cmd);

describe('MQTT bridge under abuse (default settings)', () => {
  let server: StartedServer;
  let good: TestDevice;
  let dev: TestDevice;
  let gw: TestDevice;
  let baseline: unknown;
  /** Opened first, so that their timeouts run while the other cases do; checked last. */
  const stalled: StalledSocket[] = [];

  const assertHealthy = (): Promise<void> => assertServerHealthy(server, REG, good, baseline);

  before(async () => {
    server = await startServer();
    await createRegistry(server, REG);
    good = await createDevice(server, REG, 'good-dev');
    dev = await createDevice(server, REG, 'abuse-dev');
    const config = await api(server, 'POST', `${devicePath(REG, dev.id)}:modifyCloudToDeviceConfig`, { binaryData: Buffer.from('cfg').toString('base64') });
    assert.equal(config.status, 200);
    gw = await createDevice(server, REG, 'abuse-gw', { body: { gatewayConfig: { gatewayType: 'GATEWAY', gatewayAuthMethod: 'ASSOCIATION_ONLY' } } });
    const bound = await api(server, 'POST', `/v1/projects/${PROJECT}/locations/${REGION}/registries/${REG}:bindDeviceToGateway`, { gatewayId: gw.id, deviceId: dev.id });
    assert.equal(bound.status, 200);
    baseline = await adminSnapshot(server, REG);
    const targets = { plain: mqttUrl(server), tls: mqttsUrl(server), ca: caOf(server), hello: await clientHello() };
    for (const kind of STALL_KINDS) stalled.push(await openStalled(kind, targets));
  });
  after(async () => {
    for (const s of stalled) s.destroy();
    await server.cleanup();
  });

  it('an empty SUBSCRIBE in the same write as CONNECT closes that connection; the process lives on', async () => {
    const raw = await openRaw(mqttUrl(server));
    raw.socket.write(Buffer.concat([await connectBytes(dev), EMPTY_SUBSCRIBE]));
    await closedWithin(raw, PROMPTLY_MS);
    assert.deepEqual(cmds(raw), ['connack']);
    await assertHealthy();
  });

  it('an empty SUBSCRIBE behind a gateway attach, and alone after CONNACK, closes that connection only', async () => {
    const behindAttach = await openRaw(mqttUrl(server));
    const attach = encode({ cmd: 'publish', topic: `/devices/${dev.id}/attach`, payload: Buffer.from('{"authorization":""}'), qos: 1, messageId: 1, dup: false, retain: false });
    behindAttach.socket.write(Buffer.concat([await connectBytes(gw), attach, EMPTY_SUBSCRIBE]));
    await closedWithin(behindAttach, PROMPTLY_MS);
    assert.deepEqual(cmds(behindAttach), ['connack', 'puback']);

    const alone = await openRaw(mqttUrl(server));
    alone.socket.write(await connectBytes(dev));
    await receivedAtLeast(alone, 4);
    alone.socket.write(EMPTY_SUBSCRIBE);
    await closedWithin(alone, PROMPTLY_MS);
    assert.deepEqual(cmds(alone), ['connack']);
    await assertHealthy();
  });

  it('66,000 QoS 1 config SUBSCRIBEs never acknowledged: closed by the rate limit, never out of packet IDs', async () => {
    const before = await disconnects(server, 'message-rate-exceeded');
    const raw = await openRaw(mqttUrl(server));
    raw.socket.write(await connectBytes(dev));
    await receivedAtLeast(raw, 4);
    const subscribes = Array.from({ length: 66_000 }, (_, i) =>
      encode({ cmd: 'subscribe', messageId: (i % 65_535) + 1, subscriptions: [{ topic: `/devices/${dev.id}/config`, qos: 1 }] }),
    );
    raw.socket.write(Buffer.concat(subscribes));
    await closedWithin(raw, 10_000);
    assert.equal(await disconnects(server, 'message-rate-exceeded'), before + 1);
    assert.equal(decodeAll(raw.received()).filter((p) => p.cmd === 'suback').length, 100, 'the limit, 100 per second');
    await assertHealthy();
  });

  it('stalled sockets (silent TCP, TLS silent, half a ClientHello, a trickled one, no CONNECT after the handshake) are closed by the timeout', async () => {
    const closedAfter = await Promise.all(stalled.map((s) => closedWithin(s, CONNECT_TIMEOUT_MS + 5_000)));
    for (const [i, at] of closedAfter.entries()) {
      // Timers of their own, from admission (at once here) or the end of the handshake.
      assert.ok(at >= CONNECT_TIMEOUT_MS - 1000 && at <= CONNECT_TIMEOUT_MS + 2_000, `${stalled[i]!.kind} closed after ${at} ms`);
    }
    await assertHealthy();
  });
});

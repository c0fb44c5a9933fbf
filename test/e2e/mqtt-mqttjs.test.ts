import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { createDevice, createRegistry, devicePath, logMessages, PROJECT, REGION, type TestDevice } from '../support/fleet.js';
import { iotClient, rejectsWith } from '../support/iot-client.js';
import { closedByServer, connectDevice, connectRefused, endQuietly, Inbox, pollFor } from '../support/mqtt-clients.js';
import { forgeSignature, signRawJwt } from '../support/mqtt-jwt.js';
import { makeDeviceKeys } from '../support/pki.js';
import { api, startServer, type StartedServer } from '../support/server.js';

/**
 * The MQTT bridge driven by MQTT.js (protocol 3.1.1 over TLS, the server's generated CA) against
 * the real server process: spec §4, §5, §8.1, with the Device Manager API checked through the
 * official @google-cloud/iot client.
 */

const REG = 'reg-mqttjs';
const TELEMETRY = `telemetry-${REG}`;
const ALERTS = `alerts-${REG}`;
const STATE = `state-${REG}`;

type Iot = ReturnType<typeof iotClient>;

function identity(d: TestDevice): Record<string, string> {
  return { deviceId: d.id, deviceNumId: d.numId, deviceRegistryId: REG, deviceRegistryLocation: REGION, projectId: PROJECT };
}

const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');
const text = (b: Uint8Array | string | null | undefined): string => (typeof b === 'string' ? Buffer.from(b, 'base64').toString() : Buffer.from(b ?? []).toString());

/** A proto Timestamp from the REST fallback as epoch ms (undefined when unset). */
function ms(t: { seconds?: unknown; nanos?: unknown } | null | undefined): number | undefined {
  if (!t || t.seconds === undefined || t.seconds === null) return undefined;
  const v = Number(t.seconds) * 1000 + Math.floor(Number(t.nanos ?? 0) / 1e6);
  return v > 0 ? v : undefined;
}

describe('MQTT bridge with MQTT.js', () => {
  let server: StartedServer;
  let iot: Iot;
  const open: MqttClient[] = [];
  /** Checks of coalesced device timestamps (flushed every 5 s), all awaited together at the end. */
  const coalesced: { what: string; check: () => Promise<boolean> }[] = [];
  const path = (id: string): string => iot.devicePath(PROJECT, REGION, REG, id);
  const connect = async (d: TestDevice, password?: string): Promise<MqttClient> => {
    const c = await connectDevice(server, d.clientId, password ?? (await d.jwt()));
    open.push(c);
    return c;
  };
  const mine = async (topic: string, d: TestDevice): Promise<{ data: string; attributes: Record<string, string>; publishTime: string }[]> =>
    (await logMessages(server, topic)).filter((m) => m.attributes.deviceId === d.id);

  before(async () => {
    server = await startServer();
    iot = iotClient(server);
    await createRegistry(server, REG);
  });
  after(async () => {
    await Promise.all(open.map((c) => endQuietly(c)));
    await iot.close();
    await server.cleanup();
  });

  for (const alg of ['RS256', 'ES256'] as const) {
    it(`${alg}: telemetry at QoS 0 and 1, with and without subfolder, lands in the log with the §8.1 attributes and exact bytes`, async () => {
      const d = await createDevice(server, REG, `tele-${alg.toLowerCase()}`, { alg });
      const c = await connect(d);
      const started = Date.now();
      const binary = Buffer.from([0, 1, 2, 127, 128, 254, 255, 10, 13]);
      await c.publishAsync(`/devices/${d.id}/events`, binary, { qos: 1 });
      // A QoS 1 PUBACK means the message is durably in the log: visible right away.
      assert.deepEqual(
        (await mine(TELEMETRY, d)).map((m) => [m.data, m.attributes]),
        [[binary.toString('base64'), identity(d)]],
      );
      await c.publishAsync(`/devices/${d.id}/events/alerts`, 'alert-q1', { qos: 1 });
      await c.publishAsync(`/devices/${d.id}/events/zone/7`, 'zone-q1', { qos: 1 });
      assert.deepEqual(
        (await mine(ALERTS, d)).map((m) => [m.data, m.attributes]),
        [[b64('alert-q1'), { ...identity(d), subFolder: 'alerts' }]],
      );
      await c.publishAsync(`/devices/${d.id}/events`, 'plain-q0', { qos: 0 });
      await c.publishAsync(`/devices/${d.id}/events/alerts`, 'alert-q0', { qos: 0 });
      const tele = await pollFor('QoS 0 telemetry', async () => {
        const got = await mine(TELEMETRY, d);
        return got.length >= 3 ? got : undefined;
      });
      assert.deepEqual(
        tele.map((m) => [m.data, m.attributes]),
        [
          [binary.toString('base64'), identity(d)],
          [b64('zone-q1'), { ...identity(d), subFolder: 'zone/7' }],
          [b64('plain-q0'), identity(d)],
        ],
      );
      const alerts = await pollFor('QoS 0 alert', async () => {
        const got = await mine(ALERTS, d);
        return got.length >= 2 ? got : undefined;
      });
      assert.deepEqual(
        alerts.map((m) => m.data),
        [b64('alert-q1'), b64('alert-q0')],
      );
      for (const m of [...tele, ...alerts]) {
        const t = Date.parse(m.publishTime);
        assert.ok(t >= started - 1000 && t <= Date.now() + 1000, `publishTime ${m.publishTime}`);
      }
      // lastEventTime / lastHeartbeatTime are coalesced (written every 5 s): checked in the last test.
      coalesced.push({
        what: `lastEventTime and lastHeartbeatTime of ${d.id}`,
        check: async () => {
          const [got] = await iot.getDevice({ name: path(d.id) });
          return (ms(got.lastEventTime) ?? 0) >= started - 1000 && (ms(got.lastHeartbeatTime) ?? 0) >= started - 1000;
        },
      });
    });
  }

  it('state reports are stored as history (listDeviceStates) and notified to the state topic', async () => {
    const d = await createDevice(server, REG, 'state-dev', { alg: 'ES256' });
    const c = await connect(d);
    await c.publishAsync(`/devices/${d.id}/state`, 'state-one', { qos: 1 });
    const firstAck = Date.now();
    let [states] = await iot.listDeviceStates({ name: path(d.id) });
    assert.deepEqual(
      states.deviceStates?.map((s) => text(s.binaryData)),
      ['state-one'],
    );
    // State is limited to one per second per device (spec §5.7).
    await new Promise((r) => setTimeout(r, Math.max(0, firstAck + 1100 - Date.now())));
    await c.publishAsync(`/devices/${d.id}/state`, 'state-two', { qos: 1 });
    [states] = await iot.listDeviceStates({ name: path(d.id) });
    assert.deepEqual(
      states.deviceStates?.map((s) => text(s.binaryData)),
      ['state-two', 'state-one'],
    );
    const [device] = await iot.getDevice({ name: path(d.id) });
    assert.equal(text(device.state?.binaryData), 'state-two');
    assert.equal(ms(device.lastStateTime), ms(states.deviceStates?.[0]?.updateTime));
    const notified = await pollFor('state notifications', async () => {
      const got = await mine(STATE, d);
      return got.length >= 2 ? got : undefined;
    });
    assert.deepEqual(
      notified.map((m) => [m.data, m.attributes]),
      [
        [b64('state-one'), identity(d)],
        [b64('state-two'), identity(d)],
      ],
    );
    assert.equal(c.connected, true);
  });

  it('config: delivered on subscribe and on modifyCloudToDeviceConfig; the PUBACK shows as deviceAckTime and lastConfigAckTime', async () => {
    const d = await createDevice(server, REG, 'config-dev', { alg: 'ES256' });
    const c = await connect(d);
    const inbox = new Inbox(c);
    const granted = await c.subscribeAsync(`/devices/${d.id}/config`, { qos: 1 });
    assert.deepEqual(
      granted.map((g) => [g.topic, g.qos]),
      [[`/devices/${d.id}/config`, 1]],
    );
    const first = await inbox.next();
    assert.deepEqual([first.topic, first.payload.length, first.qos], [`/devices/${d.id}/config`, 0, 1]);
    const [v1] = await pollFor('ack of version 1', async () => {
      const r = await iot.getDevice({ name: path(d.id) });
      return ms(r[0].config?.deviceAckTime) ? r : undefined;
    });
    assert.equal(String(v1.config?.version), '1');

    const beforeUpdate = Date.now();
    const [updated] = await iot.modifyCloudToDeviceConfig({ name: path(d.id), binaryData: Buffer.from('{"led":"on"}') });
    assert.equal(String(updated.version), '2');
    const second = await inbox.next();
    assert.deepEqual([second.topic, second.payload.toString(), second.qos], [`/devices/${d.id}/config`, '{"led":"on"}', 1]);
    const [v2] = await pollFor('ack of version 2', async () => {
      const r = await iot.getDevice({ name: path(d.id) });
      return String(r[0].config?.version) === '2' && ms(r[0].config?.deviceAckTime) ? r : undefined;
    });
    const ackedAt = ms(v2.config?.deviceAckTime)!;
    assert.ok(ackedAt >= beforeUpdate - 1000 && ackedAt <= Date.now() + 1000);
    assert.equal(ms(v2.lastConfigAckTime), ackedAt, 'lastConfigAckTime is the time of the latest ack');
    const [versions] = await iot.listDeviceConfigVersions({ name: path(d.id) });
    assert.deepEqual(
      versions.deviceConfigs?.map((v) => [String(v.version), ms(v.deviceAckTime) !== undefined]),
      [
        ['2', true],
        ['1', true],
      ],
    );
    coalesced.push({
      what: 'lastConfigSendTime',
      check: async () => {
        const [got] = await iot.getDevice({ name: path(d.id) });
        const sent = ms(got.lastConfigSendTime) ?? 0;
        return sent >= beforeUpdate - 1000 && sent <= ackedAt;
      },
    });
    assert.equal(inbox.size, 0, 'an acknowledged config is not redelivered');
  });

  it('commands with and without subfolder; FAILED_PRECONDITION when not connected or not subscribed', async () => {
    const d = await createDevice(server, REG, 'command-dev', { alg: 'RS256' });
    await rejectsWith(iot.sendCommandToDevice({ name: path(d.id), binaryData: Buffer.from('x') }), 'FAILED_PRECONDITION', /not connected/);
    const c = await connect(d);
    const inbox = new Inbox(c);
    await rejectsWith(iot.sendCommandToDevice({ name: path(d.id), binaryData: Buffer.from('x') }), 'FAILED_PRECONDITION');
    await c.subscribeAsync(`/devices/${d.id}/commands/#`, { qos: 1 });
    await iot.sendCommandToDevice({ name: path(d.id), binaryData: Buffer.from('reboot') });
    const root = await inbox.next();
    assert.deepEqual([root.topic, root.payload.toString(), root.qos], [`/devices/${d.id}/commands`, 'reboot', 1]);
    await iot.sendCommandToDevice({ name: path(d.id), binaryData: Buffer.from([9, 0, 255]), subfolder: 'sys/power' });
    const sub = await inbox.next();
    assert.deepEqual([sub.topic, [...sub.payload]], [`/devices/${d.id}/commands/sys/power`, [9, 0, 255]]);
    await c.endAsync();
    // The server notices the DISCONNECT asynchronously: wait for the answer to settle.
    await pollFor('the session to end', async () => {
      try {
        await rejectsWith(iot.sendCommandToDevice({ name: path(d.id), binaryData: Buffer.from('late') }), 'FAILED_PRECONDITION', /not connected/);
        return true;
      } catch {
        return undefined;
      }
    });
    assert.equal(inbox.size, 0);
  });

  it('a second client with the same ID takes over: the first is disconnected, lastErrorStatus is ALREADY_EXISTS', async () => {
    const d = await createDevice(server, REG, 'twin-dev', { alg: 'ES256' });
    const first = await connect(d);
    const second = await connect(d);
    await closedByServer(first);
    assert.equal(first.connected, false);
    await second.publishAsync(`/devices/${d.id}/events`, 'from-second', { qos: 1 });
    assert.deepEqual(
      (await mine(TELEMETRY, d)).map((m) => m.data),
      [b64('from-second')],
    );
    coalesced.push({
      what: 'lastErrorStatus ALREADY_EXISTS of the taken-over session',
      check: async () => {
        const [got] = await iot.getDevice({ name: path(d.id) });
        return got.lastErrorStatus?.code === 6 && /^mqtt: SERVER: /.test(got.lastErrorStatus.message ?? '');
      },
    });
    assert.equal(second.connected, true);
  });

  it('blocking a device through the API disconnects it, and it can no longer connect', async () => {
    const d = await createDevice(server, REG, 'block-dev', { alg: 'ES256' });
    const c = await connect(d);
    await iot.updateDevice({ device: { name: path(d.id), blocked: true }, updateMask: { paths: ['blocked'] } });
    await closedByServer(c);
    const err = await connectRefused(server, d.clientId, await d.jwt());
    assert.equal(err.message, 'Connection refused: Not authorized');
    assert.equal(err.code, 5);
    await iot.updateDevice({ device: { name: path(d.id), blocked: false }, updateMask: { paths: ['blocked'] } });
    const again = await connect(d);
    assert.equal(again.connected, true);
  });

  it('deleting a device through the API disconnects it', async () => {
    const d = await createDevice(server, REG, 'doomed-dev', { alg: 'ES256' });
    const c = await connect(d);
    await iot.deleteDevice({ name: path(d.id) });
    await closedByServer(c);
    const err = await connectRefused(server, d.clientId, await d.jwt());
    assert.equal(err.code, 5);
  });

  it('wrong audience, expired, iat in the future, forged signature and alg none get CONNACK 5', async () => {
    const d = await createDevice(server, REG, 'auth-dev', { alg: 'ES256' });
    const now = Math.floor(Date.now() / 1000);
    const tokens: [string, string][] = [
      ['wrong audience', await d.jwt({ audience: 'another-project' })],
      ['expired', await d.jwt({ issuedAt: now - 7200, expiresInSeconds: 7200 - 700 })],
      ['iat in the future', await d.jwt({ issuedAt: now + 1200 })],
      ['forged signature', forgeSignature(await d.jwt())],
      ['alg none', signRawJwt({ aud: PROJECT, iat: now, exp: now + 3600 }, { alg: 'none' })],
    ];
    for (const [label, token] of tokens) {
      const err = await connectRefused(server, d.clientId, token);
      assert.equal(err.message, 'Connection refused: Not authorized', label);
      assert.equal(err.code, 5, label);
    }
    // The right token still works afterwards.
    const c = await connect(d);
    assert.equal(c.connected, true);
  });

  it('a client ID naming the numId, a will and clean-session 0 are accepted; the will is never published (C-MQTT-NUMID, C-MQTT-FLAGS)', async () => {
    const d = await createDevice(server, REG, 'numid-dev', { alg: 'ES256' });
    const byNumId = d.clientId.replace(/devices\/numid-dev$/, `devices/${d.numId}`);
    const c = await connectDevice(server, byNumId, await d.jwt(), {
      clean: false,
      will: { topic: '/devices/numid-dev/events', payload: Buffer.from('last words'), qos: 1, retain: true },
    });
    try {
      await c.publishAsync('/devices/numid-dev/events', 'by numId', { qos: 1 });
      // A disconnect without DISCONNECT would fire a will on a broker that kept one.
      c.stream.destroy();
      await closedByServer(c);
      const mine = (await logMessages(server, TELEMETRY)).filter((m) => m.attributes.deviceId === 'numid-dev');
      assert.deepEqual(
        mine.map((m) => Buffer.from(m.data, 'base64').toString()),
        ['by numId'],
      );
      assert.equal(mine[0]?.attributes.deviceNumId, d.numId);
    } finally {
      await endQuietly(c);
    }
  });

  it("publishing on another device's topic closes the connection and stores nothing", async () => {
    const a = await createDevice(server, REG, 'nosy-dev', { alg: 'ES256' });
    const b = await createDevice(server, REG, 'victim-dev', { alg: 'ES256' });
    const c = await connect(a);
    c.publish(`/devices/${b.id}/events`, 'intruder', { qos: 1 }, () => undefined);
    await closedByServer(c);
    const c2 = await connect(a);
    c2.publish(`/devices/${b.id}/state`, 'intruder-state', { qos: 1 }, () => undefined);
    await closedByServer(c2);
    const all = [...(await logMessages(server, TELEMETRY)), ...(await logMessages(server, ALERTS)), ...(await logMessages(server, STATE))];
    assert.deepEqual(
      all.filter((m) => m.data === b64('intruder') || m.data === b64('intruder-state')),
      [],
    );
    const [states] = await iot.listDeviceStates({ name: path(b.id) });
    assert.deepEqual(states.deviceStates ?? [], []);
  });

  it('telemetry of exactly 256 KiB is stored; 256 KiB + 1 byte closes the connection and is not stored', async () => {
    const d = await createDevice(server, REG, 'big-dev', { alg: 'ES256' });
    const c = await connect(d);
    const max = Buffer.alloc(256 * 1024, 0x5a);
    max[0] = 1;
    max[max.length - 1] = 2;
    await c.publishAsync(`/devices/${d.id}/events`, max, { qos: 1 });
    const stored = await mine(TELEMETRY, d);
    assert.equal(stored.length, 1);
    assert.ok(Buffer.from(stored[0]!.data, 'base64').equals(max), 'the exact 256 KiB payload');
    c.publish(`/devices/${d.id}/events`, Buffer.alloc(256 * 1024 + 1, 0x5b), { qos: 1 }, () => undefined);
    await closedByServer(c);
    assert.equal((await mine(TELEMETRY, d)).length, 1);
  });

  it('removing the credential a session used disconnects it; adding another does not (docs/compat.md C-MQTT-REVOKE)', async () => {
    const d = await createDevice(server, REG, 'rotate-dev', { alg: 'ES256' });
    const other = await makeDeviceKeys('ES256');
    const c = await connect(d);
    const key = (k: { rawFormat: string; publicKeyPem: string }): { publicKey: { format: string; key: string } } => ({ publicKey: { format: k.rawFormat, key: k.publicKeyPem } });
    await api(server, 'PATCH', `${devicePath(REG, d.id)}?updateMask=credentials`, { credentials: [key(d.keys), key(other)] });
    // A round trip after the change: the session is still there.
    await c.publishAsync(`/devices/${d.id}/events`, 'after-add', { qos: 1 });
    assert.equal(c.connected, true);
    const r = await api(server, 'PATCH', `${devicePath(REG, d.id)}?updateMask=credentials`, { credentials: [key(other)] });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    await closedByServer(c);
    const err = await connectRefused(server, d.clientId, await d.jwt());
    assert.equal(err.code, 5);
  });

  it('coalesced activity timestamps (lastEventTime, lastHeartbeatTime, lastConfigSendTime, lastErrorStatus) are written within one flush', async () => {
    assert.ok(coalesced.length >= 4, 'the earlier tests registered their checks');
    const pending = [...coalesced];
    await pollFor(
      'coalesced timestamps',
      async () => {
        for (let i = pending.length - 1; i >= 0; i--) if (await pending[i]!.check()) pending.splice(i, 1);
        return pending.length === 0 ? true : undefined;
      },
      12_000,
      200,
    ).catch((e: Error) => {
      throw new Error(`${e.message}: still missing ${pending.map((p) => p.what).join('; ')}`);
    });
  });
});

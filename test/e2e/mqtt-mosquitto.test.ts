import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDevice, createRegistry, logMessages, mqttsUrl, PROJECT, REGION, type TestDevice } from '../support/fleet.js';
import { iotClient } from '../support/iot-client.js';
import { pollFor } from '../support/mqtt-clients.js';
import { forgeSignature } from '../support/mqtt-jwt.js';
import { hostPort } from '../support/mqtt-processes.js';
import { run, type ProcessResult } from '../support/processes.js';
import { startServer, type StartedServer } from '../support/server.js';

/**
 * Debian's mosquitto-clients against the TLS listener, with the flags the Cloud IoT docs used:
 * `--cafile`, `-i <client ID>`, `-u unused`, `-P <JWT>`, `-V mqttv311`, `-q 1` (spec §5.1, §5.2).
 */

const REG = 'reg-mosq';
const PUB = '/usr/bin/mosquitto_pub';
const SUB = '/usr/bin/mosquitto_sub';

describe('MQTT bridge with mosquitto_pub / mosquitto_sub', () => {
  let server: StartedServer;
  let iot: ReturnType<typeof iotClient>;

  const common = (d: TestDevice, jwt: string): string[] => {
    const { host, port } = hostPort(mqttsUrl(server));
    return ['-h', host, '-p', String(port), '--cafile', server.info.caFile, '-i', d.clientId, '-u', 'unused', '-P', jwt, '-V', 'mqttv311', '-q', '1'];
  };
  const pub = async (d: TestDevice, topic: string, message: string, jwt?: string): Promise<ProcessResult> =>
    run(PUB, [...common(d, jwt ?? (await d.jwt())), '-t', topic, '-m', message]);

  before(async () => {
    server = await startServer();
    iot = iotClient(server);
    await createRegistry(server, REG);
  });
  after(async () => {
    await iot.close();
    await server.cleanup();
  });

  it('mosquitto_pub publishes QoS 1 telemetry (with and without subfolder) and state', async () => {
    const d = await createDevice(server, REG, 'mosq-pub', { alg: 'RS256' });
    const ids = { deviceId: d.id, deviceNumId: d.numId, deviceRegistryId: REG, deviceRegistryLocation: REGION, projectId: PROJECT };
    let r = await pub(d, `/devices/${d.id}/events`, 'hello from mosquitto');
    assert.equal(r.code, 0, r.stderr);
    r = await pub(d, `/devices/${d.id}/events/alerts`, 'alarm');
    assert.equal(r.code, 0, r.stderr);
    r = await pub(d, `/devices/${d.id}/state`, 'mosq-state');
    assert.equal(r.code, 0, r.stderr);
    // mosquitto_pub -q 1 exits after the PUBACK, which means the messages are stored.
    const tele = (await logMessages(server, `telemetry-${REG}`)).filter((m) => m.attributes.deviceId === d.id);
    assert.deepEqual(
      tele.map((m) => [Buffer.from(m.data, 'base64').toString(), m.attributes]),
      [['hello from mosquitto', ids]],
    );
    const alerts = (await logMessages(server, `alerts-${REG}`)).filter((m) => m.attributes.deviceId === d.id);
    assert.deepEqual(
      alerts.map((m) => [Buffer.from(m.data, 'base64').toString(), m.attributes]),
      [['alarm', { ...ids, subFolder: 'alerts' }]],
    );
    const [states] = await iot.listDeviceStates({ name: iot.devicePath(PROJECT, REGION, REG, d.id) });
    assert.deepEqual(
      states.deviceStates?.map((s) => Buffer.from(s.binaryData ?? []).toString()),
      ['mosq-state'],
    );
  });

  it('mosquitto_sub -C 1 receives the config on subscribe and acknowledges it', async () => {
    const d = await createDevice(server, REG, 'mosq-sub', { alg: 'ES256' });
    const name = iot.devicePath(PROJECT, REGION, REG, d.id);
    await iot.modifyCloudToDeviceConfig({ name, binaryData: Buffer.from('{"rate":5}') });
    const r = await run(SUB, [...common(d, await d.jwt()), '-t', `/devices/${d.id}/config`, '-C', '1', '-v', '-W', '15']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `/devices/${d.id}/config {"rate":5}\n`);
    // mosquitto_sub PUBACKs the QoS 1 delivery before it disconnects; the ack is written at once.
    const [device] = await pollFor('deviceAckTime', async () => {
      const got = await iot.getDevice({ name });
      return Number(got[0].config?.deviceAckTime?.seconds ?? 0) > 0 ? got : undefined;
    });
    assert.equal(String(device.config?.version), '2');
    assert.equal(Number(device.lastConfigAckTime?.seconds), Number(device.config?.deviceAckTime?.seconds));
  });

  it('mosquitto_sub -C 1 receives the initial empty config', async () => {
    const d = await createDevice(server, REG, 'mosq-empty', { alg: 'ES256' });
    const r = await run(SUB, [...common(d, await d.jwt()), '-t', `/devices/${d.id}/config`, '-C', '1', '-v', '-W', '15']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `/devices/${d.id}/config (null)\n`, 'mosquitto_sub prints a zero-length payload as (null)');
  });

  it('a bad JWT makes mosquitto_pub exit non-zero with "not authorised", and nothing is stored', async () => {
    const d = await createDevice(server, REG, 'mosq-bad', { alg: 'ES256' });
    for (const jwt of [forgeSignature(await d.jwt()), await d.jwt({ audience: 'wrong-project' })]) {
      const r = await pub(d, `/devices/${d.id}/events`, 'should not land', jwt);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /not authori[sz]ed/i);
    }
    const tele = (await logMessages(server, `telemetry-${REG}`)).filter((m) => m.attributes.deviceId === d.id);
    assert.deepEqual(tele, []);
  });
});

import assert from 'node:assert/strict';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createDevice, createRegistry, logMessages, mqttsUrl, PROJECT, REGION } from '../support/fleet.js';
import { iotClient } from '../support/iot-client.js';
import { pollFor } from '../support/mqtt-clients.js';
import { hostPort } from '../support/mqtt-processes.js';
import { run } from '../support/processes.js';
import { startServer, type StartedServer } from '../support/server.js';

/**
 * Eclipse Paho for Python (Debian's python3-paho-mqtt) as a device: a SUBSCRIBE pipelined behind
 * CONNECT before the CONNACK is read, the config on subscribe, QoS 1 telemetry and state.
 */

// Tests run from dist/test/e2e; the script stays in the source tree.
const SCRIPT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../test/e2e/paho_device.py');
const PYTHON = '/usr/bin/python3';
const REG = 'reg-paho';

interface Event {
  event: string;
  [k: string]: unknown;
}

describe('MQTT bridge with Paho (Python)', () => {
  let server: StartedServer;
  let iot: ReturnType<typeof iotClient>;

  before(async () => {
    server = await startServer();
    iot = iotClient(server);
    await createRegistry(server, REG);
  });
  after(async () => {
    await iot.close();
    await server.cleanup();
  });

  const runDevice = async (clientId: string, deviceId: string, jwt: string, mode: 'device' | 'refused'): Promise<{ code: number | null; events: Event[]; stderr: string }> => {
    const { host, port } = hostPort(mqttsUrl(server));
    const r = await run(PYTHON, [SCRIPT, host, String(port), server.info.caFile, clientId, deviceId, jwt, mode], { timeoutMs: 30_000 });
    const events = r.stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Event);
    return { code: r.code, events, stderr: r.stderr };
  };

  it('pipelined SUBSCRIBE before CONNACK, config on subscribe, QoS 1 telemetry and state', async () => {
    const d = await createDevice(server, REG, 'paho-dev', { alg: 'RS256' });
    const name = iot.devicePath(PROJECT, REGION, REG, d.id);
    await iot.modifyCloudToDeviceConfig({ name, binaryData: Buffer.from('paho-config-v2') });
    const { code, events, stderr } = await runDevice(d.clientId, d.id, await d.jwt(), 'device');
    assert.equal(code, 0, `${stderr}\n${JSON.stringify(events)}\nserver: ${server.stderr()}`);
    assert.deepEqual(events, [
      { event: 'subscribe-sent', result: 0, before_connack: true },
      { event: 'connack', rc: 0 },
      { event: 'suback', mid: 1, granted: [1] },
      { event: 'message', topic: `/devices/${d.id}/config`, payload: 'paho-config-v2', qos: 1 },
      { event: 'puback', topic: `/devices/${d.id}/events`, mid: 2 },
      { event: 'puback', topic: `/devices/${d.id}/events/paho/sub`, mid: 3 },
      { event: 'puback', topic: `/devices/${d.id}/state`, mid: 4 },
      { event: 'done' },
    ]);
    const ids = { deviceId: d.id, deviceNumId: d.numId, deviceRegistryId: REG, deviceRegistryLocation: REGION, projectId: PROJECT };
    const tele = (await logMessages(server, `telemetry-${REG}`)).filter((m) => m.attributes.deviceId === d.id);
    assert.deepEqual(
      tele.map((m) => [m.data, m.attributes]),
      [
        [Buffer.from('paho-telemetry').toString('base64'), ids],
        [Buffer.from([0, 1, 2, 255]).toString('base64'), { ...ids, subFolder: 'paho/sub' }],
      ],
    );
    const [states] = await iot.listDeviceStates({ name });
    assert.deepEqual(
      states.deviceStates?.map((s) => Buffer.from(s.binaryData ?? []).toString()),
      ['paho-state'],
    );
    const [device] = await pollFor('deviceAckTime', async () => {
      const got = await iot.getDevice({ name });
      return Number(got[0].config?.deviceAckTime?.seconds ?? 0) > 0 ? got : undefined;
    });
    assert.equal(String(device.config?.version), '2');
  });

  it('a refused token reports CONNACK 5 to Paho', async () => {
    const d = await createDevice(server, REG, 'paho-refused', { alg: 'ES256' });
    const { code, events, stderr } = await runDevice(d.clientId, d.id, await d.jwt({ audience: 'not-the-project' }), 'refused');
    assert.equal(code, 0, `${stderr}\n${JSON.stringify(events)}\nserver: ${server.stderr()}`);
    assert.deepEqual(events, [{ event: 'connack', rc: 5 }]);
  });
});

import assert from 'node:assert/strict';
import { devicePath, PROJECT, REGION, type TestDevice } from './fleet.js';
import { connectDevice, endQuietly } from './mqtt-clients.js';
import type { StartedServer } from './server.js';
import { api } from './server.js';

/**
 * What hostile-input tests check after each attack: the server process is still there, a
 * well-behaved device still gets its QoS 1 message stored and acknowledged, and the registry's
 * administrative data is as it was. Also the server's own metrics (disconnect reasons, RSS), read
 * through its /metrics endpoint.
 */

export const serverAlive = (server: StartedServer): boolean => server.process.exitCode === null && server.process.signalCode === null;

/** Activity and device-reported data that a healthy device's traffic changes; everything else is admin data. */
const VOLATILE = (key: string): boolean => key.startsWith('last') || key === 'state' || key === 'deviceAckTime';

function withoutVolatile(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutVolatile);
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(Object.entries(v as Record<string, unknown>).filter(([k]) => !VOLATILE(k)).map(([k, x]) => [k, withoutVolatile(x)]));
}

/** The registry, its device list and every device, without activity timestamps, state and config acks. */
export async function adminSnapshot(server: StartedServer, registry: string): Promise<unknown> {
  const base = `/v1/projects/${PROJECT}/locations/${REGION}/registries/${registry}`;
  const reg = await api(server, 'GET', base);
  const list = await api(server, 'GET', `${base}/devices?pageSize=500`);
  const ids = ((list.json.devices ?? []) as { id: string }[]).map((d) => d.id);
  const devices = [];
  for (const id of ids) devices.push((await api(server, 'GET', devicePath(registry, id))).json);
  return withoutVolatile({ registry: reg.json, list: list.json, devices });
}

let healthChecks = 0;

/** `device` connects over TLS with MQTT.js, publishes QoS 1 (acknowledged) and the message is in the log. */
export async function assertDevicePublishes(server: StartedServer, registry: string, device: TestDevice): Promise<void> {
  assert.ok(serverAlive(server), `the server is gone:\n${server.stderr().slice(-2000)}`);
  const payload = `still-alive-${process.pid}-${++healthChecks}`;
  const c = await connectDevice(server, device.clientId, await device.jwt());
  try {
    await c.publishAsync(`/devices/${device.id}/events`, payload, { qos: 1 });
  } finally {
    await endQuietly(c);
  }
  assert.equal(await countInLog(server, `telemetry-${registry}`, Buffer.from(payload).toString('base64')), 1);
}

/** How many messages of a topic in the embedded log carry `data` (base64), over every page. */
async function countInLog(server: StartedServer, topic: string, data: string): Promise<number> {
  let found = 0;
  for (let after = '0'; ; ) {
    const r = await api(server, 'GET', `/v1/projects/${PROJECT}/topics/${topic}/messages?after=${after}&limit=1000`);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const messages = (r.json.messages ?? []) as { data: string }[];
    found += messages.filter((m) => m.data === data).length;
    if (messages.length === 0) return found;
    after = String(r.json.nextCursor);
  }
}

/** The server's Prometheus text (admin token). */
export async function metricsText(server: StartedServer): Promise<string> {
  const res = await fetch(`${server.api}/metrics`, { headers: { authorization: `Bearer ${server.token}` } });
  assert.equal(res.status, 200);
  return res.text();
}

function sample(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** How many MQTT connections the server has ended for `reason`. */
export async function disconnects(server: StartedServer, reason: string): Promise<number> {
  return sample(await metricsText(server), `bridgehead_mqtt_disconnects_total{reason="${reason}"}`);
}

/** The server's resident set size in bytes. */
export async function serverRss(server: StartedServer): Promise<number> {
  return sample(await metricsText(server), 'bridgehead_process_resident_memory_bytes');
}

/** All three checks at once: alive, a healthy device still publishes, the registry as `baseline`. */
export async function assertServerHealthy(server: StartedServer, registry: string, device: TestDevice, baseline: unknown): Promise<void> {
  assert.ok(serverAlive(server), `the server exited:\n${server.stderr().slice(-2000)}`);
  await assertDevicePublishes(server, registry, device);
  assert.deepEqual(await adminSnapshot(server, registry), baseline, 'registry data unchanged');
}

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createDevice, createRegistry, PROJECT, REGION } from '../support/fleet.js';
import { connectDevice, endQuietly } from '../support/mqtt-clients.js';
import { api, startServer, type StartedServer } from '../support/server.js';

/** The public REST extensions the console reads (docs/compat.md C-CONSOLE-PREFIX, -CONNECTION, -HISTORY, -GATEWAY-ERRORS). */

let server: StartedServer;
const reg = `/v1/projects/${PROJECT}/locations/${REGION}/registries/ext`;

before(async () => {
  server = await startServer();
  await createRegistry(server, 'ext');
});
after(() => server?.cleanup());

test('device list: deviceIdPrefix and blocked narrow the list, page with it, and bad values are refused naming the field', async () => {
  for (const id of ['alpha-1', 'alpha-2', 'alpha-3', 'beta-1']) await createDevice(server, 'ext', id);
  const first = await api(server, 'GET', `${reg}/devices?deviceIdPrefix=alpha-&pageSize=2`);
  assert.equal(first.status, 200);
  assert.deepEqual((first.json.devices as { id: string }[]).map((d) => d.id), ['alpha-1', 'alpha-2']);
  const second = await api(server, 'GET', `${reg}/devices?device_id_prefix=alpha-&pageSize=2&pageToken=${first.json.nextPageToken as string}`);
  assert.deepEqual((second.json.devices as { id: string }[]).map((d) => d.id), ['alpha-3']);
  const none = await api(server, 'GET', `${reg}/devices?deviceIdPrefix=gamma`);
  assert.deepEqual(none.json, {});
  await api(server, 'PATCH', `${reg}/devices/alpha-2?updateMask=blocked`, { blocked: true });
  const blocked = await api(server, 'GET', `${reg}/devices?deviceIdPrefix=alpha-&blocked=true`);
  assert.deepEqual((blocked.json.devices as { id: string }[]).map((d) => d.id), ['alpha-2']);
  const active = await api(server, 'GET', `${reg}/devices?deviceIdPrefix=alpha-&blocked=false&pageSize=1`);
  assert.deepEqual((active.json.devices as { id: string }[]).map((d) => d.id), ['alpha-1']);
  const activeNext = await api(server, 'GET', `${reg}/devices?deviceIdPrefix=alpha-&blocked=false&pageSize=1&pageToken=${active.json.nextPageToken as string}`);
  assert.deepEqual((activeNext.json.devices as { id: string }[]).map((d) => d.id), ['alpha-3']);
  const notBool = await api(server, 'GET', `${reg}/devices?blocked=yes`);
  assert.equal(notBool.status, 400);
  assert.match(JSON.stringify(notBool.json), /"field":"blocked"/);
  const bad = await api(server, 'GET', `${reg}/devices?deviceIdPrefix=${encodeURIComponent('a b')}`);
  assert.equal(bad.status, 400);
  assert.match(JSON.stringify(bad.json), /device_id_prefix/);
});

test('devices:connections and :connection say which devices are online now', async () => {
  const dev = await createDevice(server, 'ext', 'online-1');
  await createDevice(server, 'ext', 'offline-1');
  const client = await connectDevice(server, dev.clientId, await dev.jwt());
  try {
    const r = await api(server, 'GET', `${reg}/devices:connections?deviceIds=online-1,offline-1,missing-1`);
    assert.equal(r.status, 200);
    const byId = new Map((r.json.connections as { deviceId: string; connected: boolean }[]).map((c) => [c.deviceId, c.connected]));
    assert.deepEqual([...byId.entries()].sort(), [
      ['offline-1', false],
      ['online-1', true],
    ]);
    const one = await api(server, 'GET', `${reg}/devices/online-1:connection`);
    assert.equal(one.json.connected, true);
    assert.equal(one.json.numId, dev.numId);
    assert.equal((await api(server, 'GET', `${reg}/devices/missing-1:connection`)).status, 404);
    const empty = await api(server, 'GET', `${reg}/devices:connections`);
    assert.equal(empty.status, 400);
    assert.match(JSON.stringify(empty.json), /device_ids/);
    const unauthenticated = await fetch(`${server.api}${reg}/devices:connections?deviceIds=online-1`);
    assert.equal(unauthenticated.status, 401);
  } finally {
    await endQuietly(client);
  }
});

test(':gatewayErrors answers what a real gateway was sent on its errors topic, newest first, also after it disconnected', async () => {
  const gw = await createDevice(server, 'ext', 'errgw-1', { body: { gatewayConfig: { gatewayType: 'GATEWAY', gatewayAuthMethod: 'ASSOCIATION_ONLY' } } });
  await createDevice(server, 'ext', 'errgw-dev');
  await createDevice(server, 'ext', 'errgw-plain');
  assert.equal((await api(server, 'POST', `${reg}:bindDeviceToGateway`, { gatewayId: 'errgw-1', deviceId: 'errgw-dev' })).status, 200);
  const path = `${reg}/devices/errgw-1:gatewayErrors`;
  assert.deepEqual((await api(server, 'GET', path)).json, { errors: [] }, 'a gateway without errors');

  const client = await connectDevice(server, gw.clientId, await gw.jwt());
  const sent: Record<string, unknown>[] = [];
  try {
    await client.subscribeAsync('/devices/errgw-1/errors', { qos: 0 });
    client.on('message', (topic, payload) => {
      if (topic === '/devices/errgw-1/errors') sent.push(JSON.parse(payload.toString()) as Record<string, unknown>);
    });
    // Not attached: GATEWAY_DEVICE_NOT_FOUND, for a bound device and for one that does not exist.
    await client.publishAsync('/devices/errgw-dev/events', 'e', { qos: 0 });
    await client.publishAsync('/devices/errgw-ghost/state', 's', { qos: 0 });
    const deadline = Date.now() + 5000;
    while (sent.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(sent.length, 2, 'two errors-topic messages');
    const r = await api(server, 'GET', path);
    assert.equal(r.status, 200);
    const errors = r.json.errors as { time: string; deviceId: string; errorType: string; description: string; mqttMessageInfo?: Record<string, unknown>; delivered: boolean }[];
    assert.deepEqual(
      errors.map((e) => ({
        device_id: e.deviceId,
        error_type: e.errorType,
        description: e.description,
        mqtt_message_info: { message_type: e.mqttMessageInfo?.messageType, topic: e.mqttMessageInfo?.topic, packet_id: e.mqttMessageInfo?.packetId },
      })),
      sent.reverse().map((m) => ({ device_id: m.device_id, error_type: m.error_type, description: m.description, mqtt_message_info: m.mqtt_message_info })),
      'the fields the gateway was sent, newest first',
    );
    assert.deepEqual(errors.map((e) => [e.deviceId, e.errorType, e.delivered]), [
      ['errgw-ghost', 'GATEWAY_DEVICE_NOT_FOUND', true],
      ['errgw-dev', 'GATEWAY_DEVICE_NOT_FOUND', true],
    ]);
    assert.ok(Date.parse(errors[0]!.time) >= Date.parse(errors[1]!.time));
    assert.ok(Math.abs(Date.now() - Date.parse(errors[0]!.time)) < 60_000);
  } finally {
    await endQuietly(client);
  }
  // The session ended: the node keeps them a while, so the page still says why.
  assert.equal(((await api(server, 'GET', path)).json.errors as unknown[]).length, 2);

  const notGateway = await api(server, 'GET', `${reg}/devices/errgw-plain:gatewayErrors`);
  assert.equal(notGateway.status, 400);
  assert.match(JSON.stringify(notGateway.json), /FAILED_PRECONDITION/);
  assert.match(JSON.stringify(notGateway.json), /not a gateway/);
  assert.equal((await api(server, 'GET', `${reg}/devices/errgw-missing:gatewayErrors`)).status, 404);
  // A malformed device name is answered as getDevice answers it.
  const badName = await api(server, 'GET', `${reg}/devices/${encodeURIComponent('bad id')}:gatewayErrors`);
  const badGet = await api(server, 'GET', `${reg}/devices/${encodeURIComponent('bad id')}`);
  assert.equal(badName.status, badGet.status);
  assert.equal((await fetch(`${server.api}${path}`)).status, 401);
});

test('/metrics/history wants the admin token and answers the sample ring as JSON', async () => {
  assert.equal((await fetch(`${server.api}/metrics/history`)).status, 401);
  const r = await api(server, 'GET', '/metrics/history');
  assert.equal(r.status, 200);
  assert.equal(r.json.intervalSeconds, 10);
  assert.ok(Array.isArray(r.json.samples));
});

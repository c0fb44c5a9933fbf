import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createDevice, createRegistry, PROJECT, REGION } from '../support/fleet.js';
import { connectDevice, endQuietly } from '../support/mqtt-clients.js';
import { api, startServer, type StartedServer } from '../support/server.js';

/** The public REST extensions the console reads (docs/compat.md C-CONSOLE-PREFIX, -CONNECTION, -HISTORY). */

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

test('/metrics/history wants the admin token and answers the sample ring as JSON', async () => {
  assert.equal((await fetch(`${server.api}/metrics/history`)).status, 401);
  const r = await api(server, 'GET', '/metrics/history');
  assert.equal(r.status, 200);
  assert.equal(r.json.intervalSeconds, 10);
  assert.ok(Array.isArray(r.json.samples));
});

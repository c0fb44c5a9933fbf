import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PubSub } from '@google-cloud/pubsub';
import mqtt, { type MqttClient } from 'mqtt';
import { iotGrpcClient, type DeviceManagerClient } from '../support/iot-client.js';
import { createDevice, createRegistry, mqttUrl, PROJECT, REGION, type TestDevice } from '../support/fleet.js';
import { bridgeDeviceUrl, plainBridge } from '../support/http-device.js';
import { pollFor } from '../support/mqtt-clients.js';
import { makeDeviceKeys } from '../support/pki.js';
import { api, startServer, type StartedServer } from '../support/server.js';

/**
 * The metrics of issue 11 read from a real server's `/metrics` (loopback, no token) after real
 * clients used it: REST and gRPC calls by method and code, per-registry MQTT and HTTP bridge series,
 * gateway attach and detach (docs/compat.md C-METRICS-*). Every value is exact: nothing else talks
 * to this server.
 */

const WAIT_MS = 10_000;
const REG_A = 'metrics-a';
const REG_B = 'metrics-b';
const fullName = (r: string): string => `projects/${PROJECT}/locations/${REGION}/registries/${r}`;
const DM = 'google.cloud.iot.v1.DeviceManager';

function within<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`timed out waiting for ${what}`)), WAIT_MS);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** The exposition text as Prometheus reads it: `name{labels}` to value. */
async function scrape(server: StartedServer): Promise<Map<string, number>> {
  const res = await fetch(`${server.api}/metrics`);
  assert.equal(res.status, 200);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

/** Samples of `name` (all label sets), for deepEqual against exactly what is expected. */
function family(m: Map<string, number>, name: string): Record<string, number> {
  return Object.fromEntries([...m].filter(([k]) => k.startsWith(`${name}{`)).map(([k, v]) => [k.slice(name.length), v]));
}

async function connect(server: StartedServer, dev: TestDevice): Promise<MqttClient> {
  const password = await dev.jwt();
  return within(
    mqtt.connectAsync(mqttUrl(server), { clientId: dev.clientId, username: 'unused', password, protocolVersion: 4, clean: true, reconnectPeriod: 0, connectTimeout: WAIT_MS }),
    `connect ${dev.id}`,
  );
}

describe('metrics after real traffic', () => {
  let server: StartedServer;
  let grpc: DeviceManagerClient;
  const clients: MqttClient[] = [];

  before(async () => {
    server = await startServer({ args: ['--grpc-listen', '127.0.0.1:0', '--grpc-anonymous', '--http-bridge-plain-listen', '127.0.0.1:0'] });
    grpc = iotGrpcClient(server);
  });

  after(async () => {
    for (const c of clients) c.end(true);
    await grpc.close();
    await server.cleanup();
  });

  it('REST and gRPC calls are counted by transport, RPC name and canonical code, and timed', async () => {
    await createRegistry(server, REG_A);
    await createRegistry(server, REG_B);
    await createRegistry(server, REG_B).then(
      () => assert.fail('a second registry of the same ID was created'),
      () => undefined,
    );
    const dev = `/v1/${fullName(REG_A)}/devices`;
    await createDevice(server, REG_A, 'probe');
    assert.equal((await api(server, 'GET', `${dev}/probe`)).status, 200);
    assert.equal((await api(server, 'POST', `${dev}/probe`, {}, { 'x-http-method-override': 'GET' })).status, 200);
    assert.equal((await api(server, 'GET', `${dev}/ghost`)).status, 404);
    assert.equal((await api(server, 'GET', `/v1/${fullName(REG_A)}/nonsense-${Date.now()}/x`)).status, 404);
    assert.equal((await fetch(`${server.api}${dev}/probe`)).status, 401);

    const [device] = await grpc.getDevice({ name: grpc.devicePath(PROJECT, REGION, REG_A, 'probe') });
    assert.equal(device.id, 'probe');
    await grpc.getDevice({ name: grpc.devicePath(PROJECT, REGION, REG_A, 'ghost') }).then(
      () => assert.fail('got a device that does not exist'),
      (e: { code?: number }) => assert.equal(e.code, 5),
    );
    const [registries] = await grpc.listDeviceRegistries({ parent: grpc.locationPath(PROJECT, REGION) });
    assert.equal(registries.length, 2);

    const m = await scrape(server);
    const calls = family(m, 'bridgehead_api_requests_total');
    assert.deepEqual(calls, {
      [`{transport="rest",method="${DM}/CreateDeviceRegistry",code="OK"}`]: 2,
      [`{transport="rest",method="${DM}/CreateDeviceRegistry",code="ALREADY_EXISTS"}`]: 1,
      [`{transport="rest",method="${DM}/CreateDevice",code="OK"}`]: 1,
      [`{transport="rest",method="${DM}/GetDevice",code="OK"}`]: 2,
      [`{transport="rest",method="${DM}/GetDevice",code="NOT_FOUND"}`]: 1,
      [`{transport="rest",method="${DM}/GetDevice",code="UNAUTHENTICATED"}`]: 1,
      [`{transport="rest",method="unknown",code="NOT_FOUND"}`]: 1,
      [`{transport="grpc",method="${DM}/GetDevice",code="OK"}`]: 1,
      [`{transport="grpc",method="${DM}/GetDevice",code="NOT_FOUND"}`]: 1,
      [`{transport="grpc",method="${DM}/ListDeviceRegistries",code="OK"}`]: 1,
    });
    assert.equal(m.get(`bridgehead_api_request_seconds_count{transport="rest",method="${DM}/GetDevice"}`), 4);
    assert.equal(m.get(`bridgehead_api_request_seconds_count{transport="grpc",method="${DM}/GetDevice"}`), 2);
    const slowest = m.get(`bridgehead_api_request_seconds_sum{transport="grpc",method="${DM}/GetDevice"}`)!;
    assert.ok(slowest > 0 && slowest < 10, `GetDevice over gRPC took ${slowest} s in all`);
  });

  it('MQTT messages and sessions per registry; gateway attach (accepted, refused) and detach', async () => {
    const gw = await createDevice(server, REG_A, 'gw-1', { body: { gatewayConfig: { gatewayType: 'GATEWAY', gatewayAuthMethod: 'DEVICE_AUTH_TOKEN_ONLY' } } });
    const child = await createDevice(server, REG_A, 'child');
    const plain = await createDevice(server, REG_B, 'plain');
    const g = await connect(server, gw);
    clients.push(g);
    const p = await connect(server, plain);
    clients.push(p);

    let sessions = family(await scrape(server), 'bridgehead_mqtt_sessions_open');
    assert.deepEqual(sessions, { [`{registry="${fullName(REG_A)}"}`]: 1, [`{registry="${fullName(REG_B)}"}`]: 1 });

    await within(g.publishAsync('/devices/child/attach', JSON.stringify({ authorization: await child.jwt() }), { qos: 1 }), 'attach child');
    // Refused: no PUBACK comes; the gateway's next acknowledged packet shows it was handled (in order).
    g.publish('/devices/ghost/attach', JSON.stringify({ authorization: await child.jwt() }), { qos: 1 });
    await within(g.publishAsync('/devices/gw-1/events', 'gw', { qos: 1 }), 'gateway event');
    await within(g.publishAsync('/devices/child/events', 'child', { qos: 1 }), 'child event');
    await within(g.publishAsync('/devices/child/detach', '', { qos: 1 }), 'detach child');
    p.publish('/devices/plain/events', 'q0', { qos: 0 });
    await within(p.publishAsync('/devices/plain/events', 'q1', { qos: 1 }), 'plain event');
    await within(p.publishAsync('/devices/plain/state', 's', { qos: 1 }), 'plain state');

    const m = await scrape(server);
    assert.deepEqual(family(m, 'bridgehead_mqtt_messages_in_total'), {
      [`{kind="events",qos="1",registry="${fullName(REG_A)}"}`]: 2,
      [`{kind="attach",qos="1",registry="${fullName(REG_A)}"}`]: 2,
      [`{kind="detach",qos="1",registry="${fullName(REG_A)}"}`]: 1,
      [`{kind="events",qos="0",registry="${fullName(REG_B)}"}`]: 1,
      [`{kind="events",qos="1",registry="${fullName(REG_B)}"}`]: 1,
      [`{kind="state",qos="1",registry="${fullName(REG_B)}"}`]: 1,
    });
    assert.deepEqual(family(m, 'bridgehead_gateway_attach_total'), { '{result="accepted"}': 1, '{result="refused"}': 1 });
    assert.deepEqual(family(m, 'bridgehead_gateway_detach_total'), { '{initiator="gateway"}': 1, '{initiator="server"}': 0 });

    await within(p.endAsync(), 'disconnect plain');
    sessions = await pollFor(
      'the registry B session to be closed',
      async () => {
        const s = family(await scrape(server), 'bridgehead_mqtt_sessions_open');
        return s[`{registry="${fullName(REG_B)}"}`] === 0 ? s : undefined;
      },
      WAIT_MS,
    );
    assert.deepEqual(sessions, { [`{registry="${fullName(REG_A)}"}`]: 1, [`{registry="${fullName(REG_B)}"}`]: 0 });

    // Attached again, then blocked through the API: Bridgehead detaches it.
    await within(g.publishAsync('/devices/child/attach', JSON.stringify({ authorization: await child.jwt() }), { qos: 1 }), 're-attach child');
    const blocked = await api(server, 'PATCH', `/v1/${fullName(REG_A)}/devices/child?updateMask=blocked`, { blocked: true });
    assert.equal(blocked.status, 200, JSON.stringify(blocked.json));
    const later = await pollFor(
      'the server-initiated detach to be counted',
      async () => {
        const s = await scrape(server);
        return s.get('bridgehead_gateway_detach_total{initiator="server"}') === 1 ? s : undefined;
      },
      WAIT_MS,
    );
    assert.deepEqual(family(later, 'bridgehead_gateway_detach_total'), { '{initiator="gateway"}': 1, '{initiator="server"}': 1 });
    assert.deepEqual(family(later, 'bridgehead_gateway_attach_total'), { '{result="accepted"}': 2, '{result="refused"}': 1 });
    assert.equal(later.get(`bridgehead_mqtt_messages_in_total{kind="attach",qos="1",registry="${fullName(REG_A)}"}`), 3);
  });

  it('HTTP bridge requests by registry; an unauthenticated one under registry="none"', async () => {
    const dev = await createDevice(server, REG_B, 'http-dev');
    const url = `${bridgeDeviceUrl(plainBridge(server), REG_B, 'http-dev')}:publishEvent`;
    const body = JSON.stringify({ binaryData: Buffer.from('hi').toString('base64') });
    const ok = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${await dev.jwt()}`, 'content-type': 'application/json' }, body });
    assert.equal(ok.status, 200, await ok.text());
    const refused = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    assert.equal(refused.status, 401);
    await refused.text();
    assert.deepEqual(family(await scrape(server), 'bridgehead_http_bridge_requests_total'), {
      [`{method="publishEvent",status="200",registry="${fullName(REG_B)}"}`]: 1,
      '{method="other",status="401",registry="none"}': 1,
    });
  });

  it('Pub/Sub gRPC calls are counted the same way', async () => {
    const endpoint = String(server.info.grpc).replace(/^grpc:\/\//, '');
    const pubsub = new PubSub({ projectId: 'metrics-ps', apiEndpoint: endpoint, emulatorMode: true });
    try {
      const [topic] = await pubsub.createTopic('metrics-topic');
      await pubsub.createTopic('metrics-topic').then(
        () => assert.fail('a second topic of the same name was created'),
        (e: { code?: number }) => assert.equal(e.code, 6),
      );
      await topic.publishMessage({ data: Buffer.from('x') });
    } finally {
      await pubsub.close();
    }
    const calls = family(await scrape(server), 'bridgehead_api_requests_total');
    const ps = Object.fromEntries(Object.entries(calls).filter(([k]) => k.includes('google.pubsub.')));
    assert.deepEqual(ps, {
      '{transport="grpc",method="google.pubsub.v1.Publisher/CreateTopic",code="OK"}': 1,
      '{transport="grpc",method="google.pubsub.v1.Publisher/CreateTopic",code="ALREADY_EXISTS"}': 1,
      '{transport="grpc",method="google.pubsub.v1.Publisher/Publish",code="OK"}': 1,
    });
  });

  it('past 100 registries, further ones share registry="other"', async () => {
    // Two registries (A, B) are labelled already; 100 more are created and each publishes once over HTTP.
    const keys = await makeDeviceKeys('ES256');
    const body = JSON.stringify({ binaryData: Buffer.from('n').toString('base64') });
    const started = performance.now();
    for (let i = 0; i < 100; i++) {
      const reg = `metrics-many-${String(i).padStart(3, '0')}`;
      await createRegistry(server, reg);
      const dev = await createDevice(server, reg, 'dev-1', { keys });
      const res = await fetch(`${bridgeDeviceUrl(plainBridge(server), reg, 'dev-1')}:publishEvent`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await dev.jwt()}`, 'content-type': 'application/json' },
        body,
      });
      assert.equal(res.status, 200, await res.text());
    }
    const http = family(await scrape(server), 'bridgehead_http_bridge_requests_total');
    const registries = new Set(Object.keys(http).map((k) => /registry="([^"]*)"/.exec(k)![1]));
    // A and B took 2 of the 100 places: 98 new registries get theirs (000-097), 098 and 099 are "other".
    // Seen here: B, the 98, "other", and "none" from the earlier unauthenticated request (A sent no HTTP).
    assert.equal(registries.size, 101, [...registries].join(' '));
    assert.equal(http[`{method="publishEvent",status="200",registry="${fullName('metrics-many-097')}"}`], 1);
    assert.equal(http[`{method="publishEvent",status="200",registry="${fullName('metrics-many-098')}"}`], undefined);
    assert.equal(http['{method="publishEvent",status="200",registry="other"}'], 2);
    console.log(`100 registries created, each with a device that published over HTTP, in ${Math.round(performance.now() - started)} ms`);
  });
});

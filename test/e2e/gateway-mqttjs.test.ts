import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { iotClient, rejectsWith } from '../support/iot-client.js';
import { createDevice, createRegistry, logMessages, mqttUrl, PROJECT, REGION, type TestDevice } from '../support/fleet.js';
import { startServer, type StartedServer } from '../support/server.js';

/**
 * Gateways driven by MQTT.js against the real server process (spec §6; docs/compat.md
 * "Gateways"): device-token auth methods, non-gateways, a burst of failing attaches, bindings seen
 * through @google-cloud/iot, and API changes (unbind, block, delete) reaching live attachments.
 */

const WAIT_MS = 15_000;
const REG = 'reg-gw-mqttjs';

interface GatewayError {
  error_type: string;
  device_id: string;
  description: string;
  mqtt_message_info?: { message_type: string; topic: string; packet_id: number };
}

/** Bounded wait for a promise; no sleeps anywhere in this file. */
function within<T>(p: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** A connected client and what arrived on it; each `take` consumes the first unconsumed match. */
class Conn {
  readonly errors: GatewayError[] = [];
  readonly messages: { topic: string; payload: string }[] = [];
  private readonly usedErrors = new Set<number>();
  private readonly listeners = new Set<() => void>();
  closed = false;
  readonly closedP: Promise<void>;

  constructor(
    readonly client: MqttClient,
    readonly id: string,
  ) {
    client.on('message', (topic, payload) => {
      if (topic === `/devices/${id}/errors`) this.errors.push(JSON.parse(payload.toString('utf8')) as GatewayError);
      else this.messages.push({ topic, payload: payload.toString('utf8') });
      this.notify();
    });
    this.closedP = new Promise((res) =>
      client.once('close', () => {
        this.closed = true;
        this.notify();
        res();
      }),
    );
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }

  /** Waits until `cond` holds, re-checking on every arrival. */
  waitUntil(cond: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
    if (cond()) return Promise.resolve();
    return within(
      new Promise<void>((res) => {
        const l = (): void => {
          if (cond()) {
            this.listeners.delete(l);
            res();
          }
        };
        this.listeners.add(l);
      }),
      `${this.id}: ${what}`,
      ms,
    );
  }

  async takeError(pred: (e: GatewayError) => boolean, what: string): Promise<GatewayError> {
    let found = -1;
    await this.waitUntil(() => {
      found = this.errors.findIndex((e, i) => !this.usedErrors.has(i) && pred(e));
      return found >= 0;
    }, what);
    this.usedErrors.add(found);
    return this.errors[found]!;
  }

  /** Unconsumed errors. */
  pendingErrors(): GatewayError[] {
    return this.errors.filter((_, i) => !this.usedErrors.has(i));
  }

  /** QoS 1 publish resolved by its PUBACK. */
  publish(topic: string, payload: string): Promise<void> {
    return within(
      new Promise<void>((res, rej) => this.client.publish(topic, payload, { qos: 1 }, (err) => (err ? rej(err) : res()))),
      `${this.id}: PUBACK for ${topic}`,
    );
  }

  /**
   * A QoS 1 publish that must not be acknowledged. Returns a probe: whether a PUBACK came, which
   * the caller checks once a later packet has been acknowledged (the bridge answers in order).
   */
  publishUnacked(topic: string, payload: string): { acked: () => boolean } {
    let acked = false;
    this.client.publish(topic, payload, { qos: 1 }, (err) => {
      if (!err) acked = true;
    });
    return { acked: () => acked };
  }

  attach(device: string, payload = '{"authorization":""}'): Promise<void> {
    return this.publish(`/devices/${device}/attach`, payload);
  }

  /** Attaches, expecting GATEWAY_ATTACHMENT_ERROR and no PUBACK; returns the error. */
  async attachFails(device: string, payload = '{"authorization":""}'): Promise<GatewayError> {
    const probe = this.publishUnacked(`/devices/${device}/attach`, payload);
    const e = await this.takeError((x) => x.device_id === device && x.mqtt_message_info?.topic === `/devices/${device}/attach`, `attach error for ${device}`);
    assert.equal(e.error_type, 'GATEWAY_ATTACHMENT_ERROR', JSON.stringify(e));
    assert.equal(e.mqtt_message_info?.message_type, 'PUBLISH');
    // The gateway's own telemetry, acknowledged after the attach was handled: still no PUBACK for it.
    await this.publish(`/devices/${this.id}/events`, 'sync');
    assert.equal(probe.acked(), false, `the failed attach of ${device} was acknowledged`);
    assert.equal(this.closed, false);
    return e;
  }

  end(): Promise<void> {
    return within(this.client.endAsync(true), `${this.id}: end`);
  }
}

describe('gateways with MQTT.js', () => {
  let server: StartedServer;
  let client: ReturnType<typeof iotClient>;
  const conns: Conn[] = [];
  const regPath = (): string => client.registryPath(PROJECT, REGION, REG);
  const devPath = (id: string): string => client.devicePath(PROJECT, REGION, REG, id);

  before(async () => {
    // The default per-connection rate limit stays on: attach bursts do not count against it (C-MQTT-RATE).
    server = await startServer();
    client = iotClient(server);
    await createRegistry(server, REG);
  });

  after(async () => {
    for (const c of conns) if (!c.closed) c.client.end(true);
    await client.close();
    await server.cleanup();
  });

  const gateway = (id: string, method: string): Promise<TestDevice> =>
    createDevice(server, REG, id, { body: { gatewayConfig: { gatewayType: 'GATEWAY', gatewayAuthMethod: method } } });

  async function connect(dev: TestDevice, errors = true): Promise<Conn> {
    const c = await within(
      mqtt.connectAsync(mqttUrl(server), {
        clientId: dev.clientId,
        username: 'unused',
        password: await dev.jwt(),
        protocolVersion: 4,
        clean: true,
        reconnectPeriod: 0,
        connectTimeout: WAIT_MS,
      }),
      `connect ${dev.id}`,
    );
    const conn = new Conn(c, dev.id);
    conns.push(conn);
    if (errors) {
      const granted = await within(c.subscribeAsync(`/devices/${dev.id}/errors`, { qos: 0 }), 'subscribe errors');
      assert.equal(granted[0]?.qos, 0);
    }
    return conn;
  }

  const bind = (gw: string, dev: string): Promise<unknown> => client.bindDeviceToGateway({ parent: regPath(), gatewayId: gw, deviceId: dev });
  const jwtPayload = async (dev: TestDevice, o?: Parameters<TestDevice['jwt']>[0]): Promise<string> => JSON.stringify({ authorization: await dev.jwt(o) });

  it('DEVICE_AUTH_TOKEN_ONLY: unbound devices attach with their own ES256 / RS256 JWT', async () => {
    const gw = await gateway('tok-gw', 'DEVICE_AUTH_TOKEN_ONLY');
    const es = await createDevice(server, REG, 'tok-es', { alg: 'ES256' });
    const rs = await createDevice(server, REG, 'tok-rs', { alg: 'RS256' });
    const c = await connect(gw);
    await c.attach('tok-es', await jwtPayload(es));
    await c.attach('tok-rs', await jwtPayload(rs));
    await c.publish('/devices/tok-es/events', 'from es');
    await c.publish('/devices/tok-rs/events', 'from rs');
    const log = await logMessages(server, `telemetry-${REG}`);
    const byDevice = Object.fromEntries(log.filter((m) => m.attributes.deviceId?.startsWith('tok-')).map((m) => [m.attributes.deviceId, Buffer.from(m.data, 'base64').toString()]));
    assert.deepEqual(byDevice, { 'tok-es': 'from es', 'tok-rs': 'from rs' });
    const [device] = await client.getDevice({ name: devPath('tok-rs') });
    assert.equal(device.gatewayConfig?.lastAccessedGatewayId, 'tok-gw');
    assert.deepEqual(c.pendingErrors(), []);
    await c.end();
  });

  it("DEVICE_AUTH_TOKEN_ONLY: no token, another device's JWT or an expired JWT fail; the gateway stays", async () => {
    const gw = await gateway('tok2-gw', 'DEVICE_AUTH_TOKEN_ONLY');
    const dev = await createDevice(server, REG, 'tok2-dev');
    const other = await createDevice(server, REG, 'tok2-other');
    const c = await connect(gw);
    await c.attachFails('tok2-dev', '{}');
    await c.attachFails('tok2-dev', '{"authorization":""}');
    assert.match((await c.attachFails('tok2-dev', await jwtPayload(other))).description, /JWT is not valid/);
    // Issued two hours ago for one hour: expired an hour ago, far beyond the 10-minute skew.
    const expired = await jwtPayload(dev, { issuedAt: Math.floor(Date.now() / 1000) - 7200, expiresInSeconds: 3600 });
    assert.match((await c.attachFails('tok2-dev', expired)).description, /JWT is not valid/);
    // A valid one still works on the same connection.
    await c.attach('tok2-dev', await jwtPayload(dev));
    await c.end();
  });

  it('ASSOCIATION_AND_DEVICE_AUTH_TOKEN needs both the binding and the JWT', async () => {
    const gw = await gateway('both-gw', 'ASSOCIATION_AND_DEVICE_AUTH_TOKEN');
    const bound = await createDevice(server, REG, 'both-bound', { alg: 'RS256' });
    const bound2 = await createDevice(server, REG, 'both-bound2');
    const unbound = await createDevice(server, REG, 'both-unbound');
    await bind('both-gw', 'both-bound');
    await bind('both-gw', 'both-bound2');
    const c = await connect(gw);
    assert.match((await c.attachFails('both-unbound', await jwtPayload(unbound))).description, /not bound/);
    assert.match((await c.attachFails('both-bound2', '{"authorization":""}')).description, /no device JWT/);
    assert.match((await c.attachFails('both-bound2', await jwtPayload(bound))).description, /JWT is not valid/);
    await c.attach('both-bound', await jwtPayload(bound));
    await c.attach('both-bound2', await jwtPayload(bound2));
    await c.publish('/devices/both-bound2/state', 'ok');
    const [states] = await client.listDeviceStates({ name: devPath('both-bound2') });
    assert.equal(Buffer.from(states.deviceStates?.[0]?.binaryData ?? '').toString(), 'ok');
    await c.end();
  });

  it('a non-gateway sending attach is disconnected (spec §6.1)', async () => {
    const dev = await createDevice(server, REG, 'plain-dev');
    await createDevice(server, REG, 'plain-other');
    for (const target of ['plain-dev', 'plain-other']) {
      const c = await connect(dev);
      const probe = c.publishUnacked(`/devices/${target}/attach`, '{}');
      await within(c.closedP, `${target}: close`);
      assert.equal(probe.acked(), false);
      assert.deepEqual(c.errors, [], 'a non-gateway never gets an errors message');
    }
  });

  it('1,000 attaches for unknown devices in a burst: 1,000 GATEWAY_ATTACHMENT_ERRORs, the gateway stays connected and working', async () => {
    const gw = await gateway('burst-gw', 'ASSOCIATION_ONLY');
    await createDevice(server, REG, 'burst-sensor');
    const direct = await createDevice(server, REG, 'burst-direct');
    await bind('burst-gw', 'burst-sensor');
    const c = await connect(gw);
    const n = 1000;
    const probes = Array.from({ length: n }, (_, i) => c.publishUnacked(`/devices/ghost-${i}/attach`, '{"authorization":""}'));
    await c.waitUntil(() => c.errors.length >= n, `${n} attach errors`, 60_000);
    assert.equal(c.errors.length, n);
    assert.ok(c.errors.every((e) => e.error_type === 'GATEWAY_ATTACHMENT_ERROR'));
    assert.deepEqual(new Set(c.errors.map((e) => e.device_id)), new Set(Array.from({ length: n }, (_, i) => `ghost-${i}`)));
    assert.equal(c.closed, false);
    assert.equal(c.client.connected, true);
    // The gateway still attaches and relays.
    await c.attach('burst-sensor');
    await c.publish('/devices/burst-sensor/events', 'after the burst');
    assert.equal(probes.filter((p) => p.acked()).length, 0);
    // Another device, directly connected, works meanwhile.
    const d = await connect(direct, false);
    await d.publish('/devices/burst-direct/events', 'direct');
    await d.end();
    await c.end();
  });

  it('listDevices with gatewayListOptions reflects the bindings, and ASSOCIATION_ONLY attaches follow them', async () => {
    const gw = await gateway('list-gw', 'ASSOCIATION_ONLY');
    for (const id of ['list-a', 'list-b', 'list-c']) await createDevice(server, REG, id);
    await bind('list-gw', 'list-a');
    await bind('list-gw', 'list-b');
    const ids = async (opts: Record<string, string>): Promise<string[]> => {
      const [devices] = await client.listDevices({ parent: regPath(), gatewayListOptions: opts }, { autoPaginate: false });
      return devices.map((d) => d.id ?? '').sort();
    };
    assert.deepEqual(await ids({ associationsGatewayId: 'list-gw' }), ['list-a', 'list-b']);
    assert.deepEqual(await ids({ associationsGatewayId: gw.numId }), ['list-a', 'list-b']);
    assert.deepEqual(await ids({ associationsDeviceId: 'list-a' }), ['list-gw']);
    assert.deepEqual(await ids({ associationsDeviceId: 'list-c' }), []);
    assert.ok((await ids({ gatewayType: 'GATEWAY' })).includes('list-gw'));
    assert.ok(!(await ids({ gatewayType: 'GATEWAY' })).includes('list-a'));

    const c = await connect(gw);
    await c.attach('list-a');
    await c.attach('list-b');
    await c.attachFails('list-c');
    await client.unbindDeviceFromGateway({ parent: regPath(), gatewayId: 'list-gw', deviceId: 'list-b' });
    assert.deepEqual(await ids({ associationsGatewayId: 'list-gw' }), ['list-a']);
    await c.takeError((e) => e.device_id === 'list-b' && e.error_type === 'GATEWAY_DETACHMENT_DEVICE_ERROR', 'list-b detached');
    await c.attachFails('list-b');
    await bind('list-gw', 'list-c');
    assert.deepEqual(await ids({ associationsGatewayId: 'list-gw' }), ['list-a', 'list-c']);
    await c.attach('list-c');
    await c.end();
  });

  it('unbinding an attached device detaches it: GATEWAY_DETACHMENT_DEVICE_ERROR, then GATEWAY_DEVICE_NOT_FOUND', async () => {
    const gw = await gateway('unbind-gw', 'ASSOCIATION_ONLY');
    await createDevice(server, REG, 'unbind-sensor');
    await createDevice(server, REG, 'unbind-keep');
    await bind('unbind-gw', 'unbind-sensor');
    await bind('unbind-gw', 'unbind-keep');
    const c = await connect(gw);
    await c.attach('unbind-sensor');
    await c.attach('unbind-keep');
    await c.publish('/devices/unbind-sensor/events', 'before');
    await client.unbindDeviceFromGateway({ parent: regPath(), gatewayId: 'unbind-gw', deviceId: 'unbind-sensor' });
    const detached = await c.takeError((e) => e.device_id === 'unbind-sensor', 'detachment error');
    assert.equal(detached.error_type, 'GATEWAY_DETACHMENT_DEVICE_ERROR');
    assert.equal(detached.mqtt_message_info, undefined);
    const probe = c.publishUnacked('/devices/unbind-sensor/events', 'after');
    const notFound = await c.takeError((e) => e.device_id === 'unbind-sensor', 'not-found error');
    assert.equal(notFound.error_type, 'GATEWAY_DEVICE_NOT_FOUND');
    assert.equal(notFound.mqtt_message_info?.message_type, 'PUBLISH');
    assert.equal(notFound.mqtt_message_info.topic, '/devices/unbind-sensor/events');
    assert.ok(Number.isInteger(notFound.mqtt_message_info.packet_id) && notFound.mqtt_message_info.packet_id > 0);
    // The other attachment and the connection are untouched.
    await c.publish('/devices/unbind-keep/events', 'still attached');
    assert.equal(probe.acked(), false);
    assert.equal(c.closed, false);
    const [d] = await client.getDevice({ name: devPath('unbind-sensor') });
    assert.equal(d.gatewayConfig?.lastAccessedGatewayId, 'unbind-gw');
    await c.end();
  });

  it('blocking an attached device through the API detaches it', async () => {
    const gw = await gateway('block-gw', 'ASSOCIATION_ONLY');
    await createDevice(server, REG, 'block-sensor');
    await bind('block-gw', 'block-sensor');
    const c = await connect(gw);
    await c.attach('block-sensor');
    await client.updateDevice({ device: { name: devPath('block-sensor'), blocked: true }, updateMask: { paths: ['blocked'] } });
    const e = await c.takeError((x) => x.device_id === 'block-sensor', 'detachment error');
    assert.equal(e.error_type, 'GATEWAY_DETACHMENT_DEVICE_ERROR');
    assert.match((await c.attachFails('block-sensor')).description, /blocked/);
    await c.end();
  });

  it('deleting the gateway through the API disconnects it and frees its attached devices', async () => {
    const gw = await gateway('del-gw', 'ASSOCIATION_ONLY');
    const sensor = await createDevice(server, REG, 'del-sensor');
    await bind('del-gw', 'del-sensor');
    const c = await connect(gw);
    await c.attach('del-sensor');
    await c.client.subscribeAsync('/devices/del-sensor/commands/#', { qos: 0 });
    await client.sendCommandToDevice({ name: devPath('del-sensor'), binaryData: Buffer.from('ping') });
    await c.waitUntil(() => c.messages.some((m) => m.topic === '/devices/del-sensor/commands'), 'command');
    await client.deleteDevice({ name: devPath('del-gw') });
    await within(c.closedP, 'the gateway connection closing');
    await rejectsWith(client.sendCommandToDevice({ name: devPath('del-sensor'), binaryData: Buffer.from('x') }), 'FAILED_PRECONDITION');
    const [bound] = await client.listDevices({ parent: regPath(), gatewayListOptions: { associationsDeviceId: 'del-sensor' } }, { autoPaginate: false });
    assert.deepEqual(bound, []);
    // The device connects on its own now.
    const d = await connect(sensor, false);
    await d.publish('/devices/del-sensor/events', 'direct');
    await d.end();
  });
});

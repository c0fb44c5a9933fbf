import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { IConnectPacket, Packet } from 'mqtt-packet';
import { pino } from 'pino';
import { mintDeviceJwt } from '../../../src/adapters/crypto/device-jwt.js';
import { JoseTokenVerifier } from '../../../src/adapters/crypto/device-token-verifier.js';
import { generateKeyPair } from '../../../src/adapters/crypto/key-pairs.js';
import { MqttSession } from '../../../src/adapters/mqtt/session.js';
import { DEFAULT_MQTT_LIMITS, type MqttLimits, type SessionEnv, type SessionTransport } from '../../../src/adapters/mqtt/session-types.js';
import { MemoryStore } from '../../../src/adapters/store/memory/memory-store.js';
import type { Device, GatewayAuthMethod, Registry } from '../../../src/domain/model.js';
import { BridgeMetrics } from '../../../src/observability/metrics.js';
import { ActivityRecorder } from '../../../src/services/activity-recorder.js';
import { DeviceAuthenticator } from '../../../src/services/device-auth.js';
import { DeviceIngress } from '../../../src/services/device-ingress.js';
import type { Clock, Sink, SinkMessage } from '../../../src/services/ports.js';
import { RegistryCache } from '../../../src/services/registry-cache.js';
import { SessionDirectory } from '../../../src/services/session-directory.js';

/**
 * Gateways on the MQTT session, without sockets (spec §6; docs/compat.md "Gateways"): every
 * gateway error code's trigger, the errors topic, attach/detach acknowledgements, ordering of
 * pipelined packets behind an attach, and attachments as connection-scoped state.
 *
 * The environment is built as the server builds it: the real MemoryStore, DeviceAuthenticator
 * with the jose verifier, DeviceIngress, ActivityRecorder, SessionDirectory and RegistryCache; only
 * the clock is fake, the sink is in memory and the transport records what the session sends.
 */

const T0 = Date.UTC(2024, 5, 1, 8, 0, 0);
const PROJECT = 'gw-proj';
const LOCATION = 'europe-west1';
const REGISTRY = 'gw-reg';
const TELEMETRY = `projects/${PROJECT}/topics/telemetry`;
const STATE = `projects/${PROJECT}/topics/state`;
const KEY = { project: PROJECT, location: LOCATION, registry: REGISTRY };

class FakeClock implements Clock {
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

class RecordingTransport implements SessionTransport {
  readonly sent: Packet[] = [];
  closes = 0;
  pauses = 0;
  resumes = 0;
  send(packet: Packet): void {
    this.sent.push(packet);
  }
  close(): void {
    this.closes++;
  }
  pause(): void {
    this.pauses++;
  }
  resume(): void {
    this.resumes++;
  }
  take(): Packet[] {
    return this.sent.splice(0);
  }
}

/** A sink that stores at once (the sink's own durability is tested elsewhere). */
class MemorySink implements Sink {
  readonly stored: SinkMessage[] = [];
  async append(messages: readonly SinkMessage[]): Promise<string[]> {
    this.stored.push(...messages);
    return messages.map((_, i) => String(this.stored.length - messages.length + i + 1));
  }
  saturated(): boolean {
    return false;
  }
  onDrain(): void {}
  async close(): Promise<void> {}
}

// One metrics registry for the whole file: its default collectors are not free.
const metrics = new BridgeMetrics();

interface GwError {
  error_type: string;
  device_id: string;
  description: string;
  mqtt_message_info?: { message_type: string; topic: string; packet_id: number };
}

interface TestDevice {
  device: Device;
  privateKeyPem: string;
}

let connSeq = 0;

class Conn {
  constructor(
    readonly session: MqttSession,
    readonly transport: RecordingTransport,
    readonly id: string,
  ) {}
  send(...packets: Packet[]): void {
    for (const p of packets) this.session.handle(p);
  }
  get open(): boolean {
    return this.session.phase === 'connected' && this.transport.closes === 0;
  }
  /** Waits for a packet matching `pred` (without consuming anything). */
  async waitFor(pred: (p: Packet) => boolean, what: string): Promise<void> {
    await until(() => this.transport.sent.some(pred), `${this.id}: ${what}`);
  }
  async waitPuback(messageId: number): Promise<void> {
    await this.waitFor((p) => p.cmd === 'puback' && p.messageId === messageId, `PUBACK ${messageId}`);
  }
  /**
   * PINGREQ, then waits for the PINGRESP: everything handled before it (attaches included, which
   * later packets wait for) has had its answer. Returns what was sent, without the PINGRESP.
   */
  async sync(): Promise<Packet[]> {
    this.send({ cmd: 'pingreq' });
    await this.waitFor((p) => p.cmd === 'pingresp', 'PINGRESP');
    const all = this.transport.take();
    const i = all.findIndex((p) => p.cmd === 'pingresp');
    return [...all.slice(0, i), ...all.slice(i + 1)];
  }
}

const errorsTopic = (gw: string): string => `/devices/${gw}/errors`;

/** The errors-topic messages among `packets`, parsed; each must be QoS 0, compact JSON. */
function gwErrors(packets: readonly Packet[], gw: string): GwError[] {
  const out: GwError[] = [];
  for (const p of packets) {
    if (p.cmd !== 'publish' || p.topic !== errorsTopic(gw)) continue;
    assert.equal(p.qos, 0, 'errors are published at QoS 0');
    const text = (p.payload as Buffer).toString('utf8');
    assert.equal(text.includes('\n'), false);
    out.push(JSON.parse(text) as GwError);
  }
  return out;
}

const pubacks = (packets: readonly Packet[]): number[] => packets.flatMap((p) => (p.cmd === 'puback' ? [p.messageId ?? -1] : []));

async function until(pred: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise<void>((r) => setImmediate(r));
  }
}

/** Polls an async read until `ok` holds for its value. */
async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise<void>((r) => setImmediate(r));
  }
}

const pub = (topic: string, payload: string | Buffer, qos: 0 | 1 | 2, messageId?: number): Packet => ({
  cmd: 'publish',
  topic,
  payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
  qos,
  dup: false,
  retain: false,
  ...(messageId === undefined ? {} : { messageId }),
});
const attach = (device: string, messageId: number, payload: string | Buffer = '{"authorization":""}'): Packet => pub(`/devices/${device}/attach`, payload, 1, messageId);
const detach = (device: string, messageId: number): Packet => pub(`/devices/${device}/detach`, '{}', 1, messageId);
const sub = (messageId: number, ...subs: [string, 0 | 1 | 2][]): Packet => ({
  cmd: 'subscribe',
  messageId,
  subscriptions: subs.map(([topic, qos]) => ({ topic, qos })),
});

class GwEnv {
  readonly clock = new FakeClock(T0);
  readonly store = new MemoryStore();
  readonly sink = new MemorySink();
  readonly activity = new ActivityRecorder(this.store);
  readonly directory = new SessionDirectory();
  readonly registries = new RegistryCache(this.store);
  readonly env: SessionEnv;
  private readonly devices = new Map<string, TestDevice>();

  private constructor(limits: Partial<MqttLimits>) {
    this.env = {
      clock: this.clock,
      limits: { ...DEFAULT_MQTT_LIMITS, ...limits },
      auth: new DeviceAuthenticator(this.store, new JoseTokenVerifier(), this.clock),
      ingress: new DeviceIngress(this.sink, this.store, this.activity),
      store: this.store,
      registries: this.registries,
      directory: this.directory,
      activity: this.activity,
      metrics,
      log: pino({ level: 'silent' }),
    };
  }

  static async create(limits: Partial<MqttLimits> = {}): Promise<GwEnv> {
    const e = new GwEnv(limits);
    const registry: Registry = {
      ...KEY,
      eventNotificationConfigs: [{ pubsubTopicName: TELEMETRY, subfolderMatches: '' }],
      stateNotificationConfig: { pubsubTopicName: STATE },
      mqttEnabledState: 'MQTT_ENABLED',
      httpEnabledState: 'HTTP_ENABLED',
      logLevel: 'DEBUG',
      credentials: [],
    };
    await e.store.createRegistry(registry);
    return e;
  }

  /** A device with its own EC key; `gateway` makes it a gateway with that auth method. */
  async add(id: string, o: { gateway?: GatewayAuthMethod; blocked?: boolean; config?: string } = {}): Promise<TestDevice> {
    const keys = await generateKeyPair('ES256');
    const device = await this.store.createDevice({
      registryKey: KEY,
      id,
      credentials: [{ format: 'ES256_PEM', key: keys.publicKeyPem, expirationTime: 0 }],
      blocked: o.blocked ?? false,
      logLevel: 'LOG_LEVEL_UNSPECIFIED',
      metadata: {},
      gatewayConfig: {
        gatewayType: o.gateway ? 'GATEWAY' : 'NON_GATEWAY',
        gatewayAuthMethod: o.gateway ?? 'GATEWAY_AUTH_METHOD_UNSPECIFIED',
        lastAccessedGatewayId: undefined,
        lastAccessedGatewayTime: undefined,
      },
      config: { version: 1, cloudUpdateTime: this.clock.now(), deviceAckTime: undefined, binaryData: Buffer.from(o.config ?? '') },
      state: undefined,
      lastHeartbeatTime: undefined,
      lastEventTime: undefined,
      lastStateTime: undefined,
      lastConfigAckTime: undefined,
      lastConfigSendTime: undefined,
      lastErrorTime: undefined,
      lastErrorStatus: undefined,
    });
    const d = { device, privateKeyPem: keys.privateKeyPem };
    this.devices.set(id, d);
    return d;
  }

  dev(id: string): TestDevice {
    const d = this.devices.get(id);
    if (!d) throw new Error(`no device ${id}`);
    return d;
  }

  numId(id: string): string {
    return this.dev(id).device.numId;
  }

  async bind(gateway: string, device: string): Promise<void> {
    await this.store.bind(this.numId(gateway), this.numId(device), { maxDevicesPerGateway: 10_000, maxGatewaysPerDevice: 10_000 });
  }

  /** A JWT for `id`, relative to the fake clock; `signer` signs it with another device's key. */
  jwt(id: string, o: { signer?: string; iatOffsetS?: number; lifetimeS?: number; audience?: string } = {}): Promise<string> {
    return mintDeviceJwt({
      privateKeyPem: this.dev(o.signer ?? id).privateKeyPem,
      alg: 'ES256',
      audience: o.audience ?? PROJECT,
      issuedAt: Math.floor(this.clock.now() / 1000) + (o.iatOffsetS ?? 0),
      expiresInSeconds: o.lifetimeS ?? 3600,
    });
  }

  /** Connects `id` and checks the CONNACK 0. */
  async connect(id: string): Promise<Conn> {
    const transport = new RecordingTransport();
    const session = new MqttSession(this.env, transport, `gw-c${++connSeq}`);
    const c = new Conn(session, transport, id);
    session.handle(connectPacket(id, await this.jwt(id)));
    await until(() => session.phase !== 'authenticating', `authentication of ${id}`);
    const sent = transport.take();
    assert.deepEqual(sent, [{ cmd: 'connack', returnCode: 0, sessionPresent: false }], `${id} connects`);
    return c;
  }

  /** A gateway connection already subscribed to its errors topic. */
  async gateway(id: string): Promise<Conn> {
    const c = await this.connect(id);
    c.send(sub(9000, [errorsTopic(id), 0]));
    assert.deepEqual(c.transport.take(), [{ cmd: 'suback', messageId: 9000, granted: [0] }]);
    return c;
  }

  /** Attaches and checks the PUBACK. */
  async attached(c: Conn, device: string, messageId: number, payload?: string): Promise<void> {
    c.send(attach(device, messageId, payload));
    const out = await c.sync();
    assert.deepEqual(out, [{ cmd: 'puback', messageId }], `attach of ${device}: ${JSON.stringify(gwErrors(out, c.id))}`);
  }

  async flushed(id: string): Promise<Device> {
    await this.activity.flush();
    const d = await this.store.getDeviceByNumId(this.numId(id));
    assert.ok(d, `device ${id}`);
    return d;
  }
}

function connectPacket(id: string, jwt: string): IConnectPacket {
  return {
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: true,
    clientId: `projects/${PROJECT}/locations/${LOCATION}/registries/${REGISTRY}/devices/${id}`,
    keepalive: 60,
    username: 'unused',
    password: Buffer.from(jwt),
  };
}

/** Asserts one GATEWAY_ATTACHMENT_ERROR for the attach packet and nothing else. */
function assertAttachmentError(out: readonly Packet[], gw: string, device: string, messageId: number, reason?: RegExp): void {
  assert.deepEqual(pubacks(out), [], 'a failed attach is not acknowledged');
  const errors = gwErrors(out, gw);
  assert.equal(errors.length, 1, JSON.stringify(out));
  const e = errors[0]!;
  assert.equal(e.error_type, 'GATEWAY_ATTACHMENT_ERROR');
  assert.equal(e.device_id, device);
  assert.deepEqual(e.mqtt_message_info, { message_type: 'PUBLISH', topic: `/devices/${device}/attach`, packet_id: messageId });
  assert.deepEqual(Object.keys(e), ['error_type', 'device_id', 'description', 'mqtt_message_info']);
  if (reason) assert.match(e.description, reason);
}

async function assertLastError(e: GwEnv, id: string, type: string): Promise<void> {
  const d = await e.flushed(id);
  assert.equal(d.lastErrorStatus?.code, 9, `${id} lastErrorStatus: ${JSON.stringify(d.lastErrorStatus)}`);
  assert.match(d.lastErrorStatus.message, new RegExp(`^mqtt: SERVER: ${type}: `));
  assert.equal(d.lastErrorTime, e.clock.now());
}

// ---------------------------------------------------------------------------------------------

describe('gateway attach succeeds (spec §6.2, §6.3)', () => {
  test('ASSOCIATION_ONLY: a bound device attaches with {"authorization":""}; PUBACK, directory, lastAccessedGatewayId', async () => {
    const e = await GwEnv.create();
    await e.add('gw-1', { gateway: 'ASSOCIATION_ONLY' });
    await e.add('sensor-1', { config: 'cfg-v1' });
    await e.bind('gw-1', 'sensor-1');
    const gw = await e.gateway('gw-1');
    e.clock.advance(1500);
    await e.attached(gw, 'sensor-1', 11);
    assert.equal(e.directory.get(e.numId('sensor-1')), gw.session);
    assert.equal(gw.session.gatewayNumId(e.numId('sensor-1')), e.numId('gw-1'));
    // Association only: no credential to revoke the attachment by.
    assert.equal(gw.session.credentialKey(e.numId('sensor-1')), undefined);
    const stored = await eventually(() => e.store.getDeviceByNumId(e.numId('sensor-1')), (d) => d?.gatewayConfig.lastAccessedGatewayId !== undefined, 'gateway access');
    assert.equal(stored?.gatewayConfig.lastAccessedGatewayId, 'gw-1');
    assert.equal(stored?.gatewayConfig.lastAccessedGatewayTime, T0 + 1500);
    assert.equal(gw.open, true);
  });

  test('the attached device has its own traffic: events attributed to it, state stored on it, config and commands', async () => {
    const e = await GwEnv.create();
    await e.add('gw-1', { gateway: 'ASSOCIATION_ONLY' });
    await e.add('sensor-1', { config: 'cfg-v1' });
    await e.bind('gw-1', 'sensor-1');
    const gw = await e.gateway('gw-1');
    await e.attached(gw, 'sensor-1', 1);

    gw.send(pub('/devices/sensor-1/events/temp', '21.5', 1, 2));
    await gw.waitPuback(2);
    assert.equal(e.sink.stored.length, 1);
    assert.deepEqual(e.sink.stored[0]!.attributes, {
      deviceId: 'sensor-1',
      deviceNumId: e.numId('sensor-1'),
      deviceRegistryId: REGISTRY,
      deviceRegistryLocation: LOCATION,
      projectId: PROJECT,
      subFolder: 'temp',
    });
    assert.equal(e.sink.stored[0]!.topic, TELEMETRY);

    gw.send(pub('/devices/sensor-1/state', 'ok', 1, 3));
    await gw.waitPuback(3);
    assert.deepEqual(gw.transport.take(), [
      { cmd: 'puback', messageId: 2 },
      { cmd: 'puback', messageId: 3 },
    ]);
    const states = await e.store.listStates(e.numId('sensor-1'), 10);
    assert.equal(Buffer.from(states[0]!.binaryData).toString(), 'ok');
    assert.deepEqual(await e.store.listStates(e.numId('gw-1'), 10), []);

    gw.send(sub(4, ['/devices/sensor-1/config', 0], ['/devices/sensor-1/commands/#', 0]));
    await gw.waitFor((p) => p.cmd === 'publish' && p.topic === '/devices/sensor-1/config', 'config delivery');
    const out = gw.transport.take();
    assert.deepEqual(out[0], { cmd: 'suback', messageId: 4, granted: [0, 0] });
    const config = out.find((p) => p.cmd === 'publish' && p.topic === '/devices/sensor-1/config');
    assert.ok(config?.cmd === 'publish');
    assert.equal((config.payload as Buffer).toString(), 'cfg-v1');

    assert.equal(await gw.session.sendCommand(e.numId('sensor-1'), 'sys', Buffer.from('reboot')), true);
    const cmd = gw.transport.take();
    assert.equal(cmd.length, 1);
    assert.ok(cmd[0]?.cmd === 'publish');
    assert.equal(cmd[0].topic, '/devices/sensor-1/commands/sys');
    assert.equal((cmd[0].payload as Buffer).toString(), 'reboot');
    assert.equal(gw.open, true);
  });

  const payloads: [string, string | Buffer][] = [
    ['an empty payload', Buffer.alloc(0)],
    ['{}', '{}'],
    ['{"authorization" : ""} (python sample)', '{"authorization" : ""}'],
    ['a device JWT, which ASSOCIATION_ONLY ignores', '{"authorization":"not.even.a-jwt"}'],
    ["the Node sample's single-quoted form", "{ 'authorization' : abc.def.ghi }"],
  ];
  for (const [label, payload] of payloads) {
    test(`ASSOCIATION_ONLY accepts ${label}`, async () => {
      const e = await GwEnv.create();
      await e.add('gw-1', { gateway: 'ASSOCIATION_ONLY' });
      await e.add('sensor-1');
      await e.bind('gw-1', 'sensor-1');
      const gw = await e.gateway('gw-1');
      gw.send(attach('sensor-1', 5, payload));
      assert.deepEqual(await gw.sync(), [{ cmd: 'puback', messageId: 5 }]);
    });
  }

  test('attaching an attached device (or the gateway itself) is acknowledged again (spec §6.4)', async () => {
    const e = await GwEnv.create();
    await e.add('gw-1', { gateway: 'ASSOCIATION_ONLY' });
    await e.add('sensor-1');
    await e.bind('gw-1', 'sensor-1');
    const gw = await e.gateway('gw-1');
    await e.attached(gw, 'sensor-1', 1);
    await e.attached(gw, 'sensor-1', 2);
    await e.attached(gw, 'gw-1', 3);
    assert.equal(gw.session.slots.size, 2);
    assert.equal(e.directory.get(e.numId('sensor-1')), gw.session);
  });

  test('detach acknowledges, ends the attachment; detaching a device that is not attached is still acknowledged (spec §6.4)', async () => {
    const e = await GwEnv.create();
    await e.add('gw-1', { gateway: 'ASSOCIATION_ONLY' });
    await e.add('sensor-1');
    await e.add('sensor-2');
    await e.bind('gw-1', 'sensor-1');
    const gw = await e.gateway('gw-1');
    await e.attached(gw, 'sensor-1', 1);
    gw.send(detach('sensor-1', 2));
    assert.deepEqual(await gw.sync(), [{ cmd: 'puback', messageId: 2 }]);
    assert.equal(e.directory.get(e.numId('sensor-1')), undefined);
    assert.equal(gw.session.slots.has('sensor-1'), false);
    // Not attached (any more), bound or not, or not even existing: ignored and acknowledged.
    gw.send(detach('sensor-1', 3), detach('sensor-2', 4), detach('nobody', 5));
    assert.deepEqual(await gw.sync(), [
      { cmd: 'puback', messageId: 3 },
      { cmd: 'puback', messageId: 4 },
      { cmd: 'puback', messageId: 5 },
    ]);
    // After the detach, the device's traffic is refused again.
    gw.send(pub('/devices/sensor-1/events', 'x', 1, 6));
    const errors = gwErrors(await gw.sync(), 'gw-1');
    assert.deepEqual(errors.map((x) => x.error_type), ['GATEWAY_DEVICE_NOT_FOUND']);
    // A command to a detached device is not delivered through the gateway.
    assert.equal(await gw.session.sendCommand(e.numId('sensor-1'), '', Buffer.from('x')), false);
    assert.equal(gw.open, true);
  });
});

describe('GATEWAY_ATTACHMENT_ERROR (spec §6.2, §6.6)', () => {
  const cases: {
    label: string;
    method: GatewayAuthMethod;
    setup: (e: GwEnv) => Promise<void>;
    device: string;
    payload?: (e: GwEnv) => Promise<string>;
    reason: RegExp;
    existing: boolean;
  }[] = [
    { label: 'unknown device', method: 'ASSOCIATION_ONLY', setup: async () => undefined, device: 'ghost', reason: /does not exist/, existing: false },
    {
      label: 'unbound device under ASSOCIATION_ONLY',
      method: 'ASSOCIATION_ONLY',
      setup: async (e) => void (await e.add('sensor-1')),
      device: 'sensor-1',
      reason: /not bound/,
      existing: true,
    },
    {
      label: 'blocked bound device',
      method: 'ASSOCIATION_ONLY',
      setup: async (e) => {
        await e.add('sensor-1', { blocked: true });
        await e.bind('gw-1', 'sensor-1');
      },
      device: 'sensor-1',
      reason: /blocked/,
      existing: true,
    },
    {
      label: 'GATEWAY_AUTH_METHOD_UNSPECIFIED, even for a bound device with its valid JWT',
      method: 'GATEWAY_AUTH_METHOD_UNSPECIFIED',
      setup: async (e) => {
        await e.add('sensor-1');
        await e.bind('gw-1', 'sensor-1');
      },
      device: 'sensor-1',
      payload: async (e) => JSON.stringify({ authorization: await e.jwt('sensor-1') }),
      reason: /no gatewayAuthMethod/,
      existing: true,
    },
    {
      label: 'another gateway, with its own valid JWT',
      method: 'DEVICE_AUTH_TOKEN_ONLY',
      setup: async (e) => void (await e.add('gw-2', { gateway: 'DEVICE_AUTH_TOKEN_ONLY' })),
      device: 'gw-2',
      payload: async (e) => JSON.stringify({ authorization: await e.jwt('gw-2') }),
      reason: /gateway cannot be attached/,
      existing: true,
    },
    {
      label: 'missing JWT ({}) under DEVICE_AUTH_TOKEN_ONLY',
      method: 'DEVICE_AUTH_TOKEN_ONLY',
      setup: async (e) => void (await e.add('sensor-1')),
      device: 'sensor-1',
      payload: async () => '{}',
      reason: /no device JWT/,
      existing: true,
    },
    {
      label: 'empty authorization under DEVICE_AUTH_TOKEN_ONLY',
      method: 'DEVICE_AUTH_TOKEN_ONLY',
      setup: async (e) => void (await e.add('sensor-1')),
      device: 'sensor-1',
      payload: async () => '{"authorization":""}',
      reason: /no device JWT/,
      existing: true,
    },
    {
      label: 'empty payload under DEVICE_AUTH_TOKEN_ONLY',
      method: 'DEVICE_AUTH_TOKEN_ONLY',
      setup: async (e) => void (await e.add('sensor-1')),
      device: 'sensor-1',
      payload: async () => '',
      reason: /no device JWT/,
      existing: true,
    },
    {
      label: 'a JWT that is not a JWT under DEVICE_AUTH_TOKEN_ONLY',
      method: 'DEVICE_AUTH_TOKEN_ONLY',
      setup: async (e) => void (await e.add('sensor-1')),
      device: 'sensor-1',
      payload: async () => '{"authorization":"garbage"}',
      reason: /JWT is not valid/,
      existing: true,
    },
    {
      label: "another device's JWT under DEVICE_AUTH_TOKEN_ONLY",
      method: 'DEVICE_AUTH_TOKEN_ONLY',
      setup: async (e) => {
        await e.add('sensor-1');
        await e.add('sensor-2');
      },
      device: 'sensor-1',
      payload: async (e) => JSON.stringify({ authorization: await e.jwt('sensor-2') }),
      reason: /JWT is not valid/,
      existing: true,
    },
    {
      label: "the gateway's own JWT under DEVICE_AUTH_TOKEN_ONLY",
      method: 'DEVICE_AUTH_TOKEN_ONLY',
      setup: async (e) => void (await e.add('sensor-1')),
      device: 'sensor-1',
      payload: async (e) => JSON.stringify({ authorization: await e.jwt('gw-1') }),
      reason: /JWT is not valid/,
      existing: true,
    },
    {
      label: 'an expired JWT under DEVICE_AUTH_TOKEN_ONLY',
      method: 'DEVICE_AUTH_TOKEN_ONLY',
      setup: async (e) => void (await e.add('sensor-1')),
      device: 'sensor-1',
      // Expired 20 minutes ago: beyond the 10-minute skew (spec §4.1).
      payload: async (e) => JSON.stringify({ authorization: await e.jwt('sensor-1', { iatOffsetS: -3600 - 1200 }) }),
      reason: /JWT is not valid/,
      existing: true,
    },
    {
      label: 'a JWT for another project under DEVICE_AUTH_TOKEN_ONLY',
      method: 'DEVICE_AUTH_TOKEN_ONLY',
      setup: async (e) => void (await e.add('sensor-1')),
      device: 'sensor-1',
      payload: async (e) => JSON.stringify({ authorization: await e.jwt('sensor-1', { audience: 'other-project' }) }),
      reason: /JWT is not valid/,
      existing: true,
    },
    {
      label: 'an unbound device with its valid JWT under ASSOCIATION_AND_DEVICE_AUTH_TOKEN',
      method: 'ASSOCIATION_AND_DEVICE_AUTH_TOKEN',
      setup: async (e) => void (await e.add('sensor-1')),
      device: 'sensor-1',
      payload: async (e) => JSON.stringify({ authorization: await e.jwt('sensor-1') }),
      reason: /not bound/,
      existing: true,
    },
    {
      label: 'a bound device without a JWT under ASSOCIATION_AND_DEVICE_AUTH_TOKEN',
      method: 'ASSOCIATION_AND_DEVICE_AUTH_TOKEN',
      setup: async (e) => {
        await e.add('sensor-1');
        await e.bind('gw-1', 'sensor-1');
      },
      device: 'sensor-1',
      payload: async () => '{"authorization":""}',
      reason: /no device JWT/,
      existing: true,
    },
    {
      label: 'an unreadable payload ([1])',
      method: 'ASSOCIATION_ONLY',
      setup: async (e) => {
        await e.add('sensor-1');
        await e.bind('gw-1', 'sensor-1');
      },
      device: 'sensor-1',
      payload: async () => '[1]',
      reason: /not JSON of the form/,
      existing: true,
    },
    {
      label: 'a numeric authorization',
      method: 'DEVICE_AUTH_TOKEN_ONLY',
      setup: async (e) => void (await e.add('sensor-1')),
      device: 'sensor-1',
      payload: async () => '{"authorization":5}',
      reason: /not JSON of the form/,
      existing: true,
    },
  ];

  for (const c of cases) {
    test(`${c.label}: no PUBACK, the error, the connection stays`, async () => {
      const e = await GwEnv.create();
      await e.add('gw-1', { gateway: c.method });
      await c.setup(e);
      const gw = await e.gateway('gw-1');
      const payload = c.payload ? await c.payload(e) : '{"authorization":""}';
      gw.send(attach(c.device, 77, payload));
      assertAttachmentError(await gw.sync(), 'gw-1', c.device, 77, c.reason);
      assert.equal(gw.open, true);
      assert.equal(gw.session.slots.has(c.device), false);
      if (c.existing) assert.equal(e.directory.get(e.numId(c.device)), undefined);
      // The connection keeps working: the gateway's own telemetry is acknowledged.
      gw.send(pub('/devices/gw-1/events', 'still here', 1, 78));
      await gw.waitPuback(78);
    });
  }

  test("the device's lastErrorStatus records the attachment error (docs/compat.md C-GW-ERRORS)", async () => {
    const e = await GwEnv.create();
    await e.add('gw-1', { gateway: 'ASSOCIATION_ONLY' });
    await e.add('sensor-1');
    const gw = await e.gateway('gw-1');
    e.clock.advance(2000);
    gw.send(attach('sensor-1', 1));
    assertAttachmentError(await gw.sync(), 'gw-1', 'sensor-1', 1);
    await assertLastError(e, 'sensor-1', 'GATEWAY_ATTACHMENT_ERROR');
    // The gateway's own status is untouched.
    assert.equal((await e.flushed('gw-1')).lastErrorStatus, undefined);
  });

  test('attach limit: past maxAttachedPerGateway attaches fail until one detaches (spec §6.2)', async () => {
    const e = await GwEnv.create({ maxAttachedPerGateway: 2 });
    await e.add('gw-1', { gateway: 'ASSOCIATION_ONLY' });
    for (const id of ['s-1', 's-2', 's-3']) {
      await e.add(id);
      await e.bind('gw-1', id);
    }
    const gw = await e.gateway('gw-1');
    await e.attached(gw, 's-1', 1);
    await e.attached(gw, 's-2', 2);
    gw.send(attach('s-3', 3));
    assertAttachmentError(await gw.sync(), 'gw-1', 's-3', 3, /already has 2 attached devices/);
    // Re-attaching an attached device at the limit is still fine.
    await e.attached(gw, 's-2', 4);
    gw.send(detach('s-1', 5));
    assert.deepEqual(await gw.sync(), [{ cmd: 'puback', messageId: 5 }]);
    await e.attached(gw, 's-3', 6);
    assert.equal(gw.open, true);
  });
});

describe('attach with device tokens (spec §6.2)', () => {
  test("DEVICE_AUTH_TOKEN_ONLY: an unbound device attaches with its own valid JWT, also in the Node sample's form", async () => {
    const e = await GwEnv.create();
    await e.add('gw-1', { gateway: 'DEVICE_AUTH_TOKEN_ONLY' });
    await e.add('sensor-1');
    await e.add('sensor-2');
    const gw = await e.gateway('gw-1');
    await e.attached(gw, 'sensor-1', 1, JSON.stringify({ authorization: await e.jwt('sensor-1') }));
    await e.attached(gw, 'sensor-2', 2, `{ 'authorization' : ${await e.jwt('sensor-2')} }`);
    // The credential it attached with is remembered, so that removing it ends the attachment.
    assert.match(gw.session.credentialKey(e.numId('sensor-1')) ?? '', /^ES256_PEM\n-----BEGIN PUBLIC KEY-----/);
  });

  test('ASSOCIATION_AND_DEVICE_AUTH_TOKEN: a bound device with its valid JWT attaches', async () => {
    const e = await GwEnv.create();
    await e.add('gw-1', { gateway: 'ASSOCIATION_AND_DEVICE_AUTH_TOKEN' });
    await e.add('sensor-1');
    await e.bind('gw-1', 'sensor-1');
    const gw = await e.gateway('gw-1');
    await e.attached(gw, 'sensor-1', 1, JSON.stringify({ authorization: await e.jwt('sensor-1') }));
  });
});

describe('GATEWAY_DEVICE_NOT_FOUND (spec §6.3)', () => {
  test('publish for a device that is not attached: no PUBACK, the error with mqtt_message_info, the connection stays', async () => {
    const e = await GwEnv.create();
    await e.add('gw-1', { gateway: 'ASSOCIATION_ONLY' });
    await e.add('sensor-1');
    await e.bind('gw-1', 'sensor-1');
    const gw = await e.gateway('gw-1');
    gw.send(pub('/devices/sensor-1/state', 's', 1, 10), pub('/devices/sensor-1/events/a/b', 'e', 1, 11), pub('/devices/nobody/events', 'e', 0));
    const out = await gw.sync();
    assert.deepEqual(pubacks(out), []);
    assert.deepEqual(gwErrors(out, 'gw-1'), [
      {
        error_type: 'GATEWAY_DEVICE_NOT_FOUND',
        device_id: 'sensor-1',
        description: 'Device "sensor-1" is not attached to gateway "gw-1".',
        mqtt_message_info: { message_type: 'PUBLISH', topic: '/devices/sensor-1/state', packet_id: 10 },
      },
      {
        error_type: 'GATEWAY_DEVICE_NOT_FOUND',
        device_id: 'sensor-1',
        description: 'Device "sensor-1" is not attached to gateway "gw-1".',
        mqtt_message_info: { message_type: 'PUBLISH', topic: '/devices/sensor-1/events/a/b', packet_id: 11 },
      },
      {
        error_type: 'GATEWAY_DEVICE_NOT_FOUND',
        device_id: 'nobody',
        description: 'Device "nobody" is not attached to gateway "gw-1".',
        mqtt_message_info: { message_type: 'PUBLISH', topic: '/devices/nobody/events', packet_id: 0 },
      },
    ]);
    assert.equal(e.sink.stored.length, 0);
    assert.deepEqual(await e.store.listStates(e.numId('sensor-1'), 10), []);
    assert.equal(gw.open, true);
  });

  test("the error is also the (existing) device's lastErrorStatus (docs/compat.md C-GW-ERRORS)", async () => {
    const e = await GwEnv.create();
    await e.add('gw-1', { gateway: 'ASSOCIATION_ONLY' });
    await e.add('sensor-1');
    const gw = await e.gateway('gw-1');
    gw.send(pub('/devices/sensor-1/events', 'e', 1, 10));
    assert.equal(gwErrors(await gw.sync(), 'gw-1').length, 1);
    await assertLastError(e, 'sensor-1', 'GATEWAY_DEVICE_NOT_FOUND');
  });

  test('subscribe for a device that is not attached: SUBACK 0x80 for that filter, the error, the connection stays', async () => {
    const e = await GwEnv.create();
    await e.add('gw-1', { gateway: 'ASSOCIATION_ONLY' });
    await e.add('sensor-1');
    const gw = await e.gateway('gw-1');
    gw.send(sub(20, ['/devices/sensor-1/config', 1]));
    let out = await gw.sync();
    assert.deepEqual(out.find((p) => p.cmd === 'suback'), { cmd: 'suback', messageId: 20, granted: [0x80] });
    assert.deepEqual(gwErrors(out, 'gw-1'), [
      {
        error_type: 'GATEWAY_DEVICE_NOT_FOUND',
        device_id: 'sensor-1',
        description: 'Device "sensor-1" is not attached to gateway "gw-1".',
        mqtt_message_info: { message_type: 'SUBSCRIBE', topic: '/devices/sensor-1/config', packet_id: 20 },
      },
    ]);
    gw.send(sub(21, ['/devices/sensor-1/commands/#', 0]));
    out = await gw.sync();
    assert.deepEqual(out.find((p) => p.cmd === 'suback'), { cmd: 'suback', messageId: 21, granted: [0x80] });
    assert.equal(gwErrors(out, 'gw-1')[0]?.mqtt_message_info?.topic, '/devices/sensor-1/commands/#');
    assert.equal(gw.open, true);
  });

  test('in a SUBSCRIBE with several filters, only the offending one is refused, and the error names that filter', async () => {
    const e = await GwEnv.create();
    await e.add('gw-1', { gateway: 'ASSOCIATION_ONLY' });
    const gw = await e.gateway('gw-1');
    gw.send(sub(22, ['/devices/gw-1/config', 1], ['/devices/sensor-9/config', 1], ['/devices/gw-1/commands/#', 0]));
    const out = await gw.sync();
    assert.deepEqual(out.find((p) => p.cmd === 'suback'), { cmd: 'suback', messageId: 22, granted: [1, 0x80, 0] });
    const errors = gwErrors(out, 'gw-1');
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.device_id, 'sensor-9');
    assert.deepEqual(errors[0]!.mqtt_message_info, { message_type: 'SUBSCRIBE', topic: '/devices/sensor-9/config', packet_id: 22 });
  });
});

describe('other gateway error codes (spec §6.6, docs/compat.md C-GW-ERRORS)', () => {
  test('GATEWAY_INVALID_MQTT_TOPIC: a publish outside the grammar; no PUBACK, connection kept', async () => {
    const e = await GwEnv.create();
    await e.add('gw-1', { gateway: 'ASSOCIATION_ONLY' });
    await e.add('sensor-1');
    await e.bind('gw-1', 'sensor-1');
    const gw = await e.gateway('gw-1');
    await e.attached(gw, 'sensor-1', 1);
    gw.send(
      pub('/devices/sensor-1/bogus', 'x', 1, 30),
      pub('/devices/sensor-1/events/a/#', 'x', 1, 31),
      pub('projects/p/topics/t', 'x', 1, 32),
      pub('/devices/1-bad-id/events', 'x', 0),
    );
    const out = await gw.sync();
    assert.deepEqual(pubacks(out), []);
    const errors = gwErrors(out, 'gw-1');
    assert.deepEqual(
      errors.map((x) => [x.error_type, x.device_id, x.mqtt_message_info]),
      [
        ['GATEWAY_INVALID_MQTT_TOPIC', 'sensor-1', { message_type: 'PUBLISH', topic: '/devices/sensor-1/bogus', packet_id: 30 }],
        ['GATEWAY_INVALID_MQTT_TOPIC', 'sensor-1', { message_type: 'PUBLISH', topic: '/devices/sensor-1/events/a/#', packet_id: 31 }],
        ['GATEWAY_INVALID_MQTT_TOPIC', 'gw-1', { message_type: 'PUBLISH', topic: 'projects/p/topics/t', packet_id: 32 }],
        ['GATEWAY_INVALID_MQTT_TOPIC', '1-bad-id', { message_type: 'PUBLISH', topic: '/devices/1-bad-id/events', packet_id: 0 }],
      ],
    );
    assert.equal(gw.open, true);
    // The attachment survives a bad topic.
    assert.equal(e.directory.get(e.numId('sensor-1')), gw.session);
    await assertLastError(e, 'sensor-1', 'GATEWAY_INVALID_MQTT_TOPIC');
  });

  test('GATEWAY_UNEXPECTED_PACKET_ID: a PUBACK for a packet ID the bridge does not await', async () => {
    const e = await GwEnv.create();
    await e.add('gw-1', { gateway: 'ASSOCIATION_ONLY' });
    const gw = await e.gateway('gw-1');
    gw.send({ cmd: 'puback', messageId: 4242 });
    const out = await gw.sync();
    assert.deepEqual(gwErrors(out, 'gw-1'), [
      {
        error_type: 'GATEWAY_UNEXPECTED_PACKET_ID',
        device_id: 'gw-1',
        description: 'No message with packet ID 4242 awaits an acknowledgement.',
        mqtt_message_info: { message_type: 'PUBACK', topic: '', packet_id: 4242 },
      },
    ]);
    assert.equal(gw.open, true);
    await assertLastError(e, 'gw-1', 'GATEWAY_UNEXPECTED_PACKET_ID');
  });

  test('GATEWAY_UNEXPECTED_PACKET_ID: a second PUBACK for a config already acknowledged', async () => {
    const e = await GwEnv.create();
    await e.add('gw-1', { gateway: 'ASSOCIATION_ONLY' });
    await e.add('sensor-1', { config: 'c' });
    await e.bind('gw-1', 'sensor-1');
    const gw = await e.gateway('gw-1');
    await e.attached(gw, 'sensor-1', 1);
    gw.send(sub(2, ['/devices/sensor-1/config', 1]));
    await gw.waitFor((p) => p.cmd === 'publish' && p.topic === '/devices/sensor-1/config', 'config');
    const config = gw.transport.take().find((p) => p.cmd === 'publish');
    assert.ok(config?.cmd === 'publish' && config.messageId !== undefined);
    gw.send({ cmd: 'puback', messageId: config.messageId });
    assert.deepEqual(await gw.sync(), []);
    gw.send({ cmd: 'puback', messageId: config.messageId });
    const errors = gwErrors(await gw.sync(), 'gw-1');
    assert.deepEqual(errors.map((x) => [x.error_type, x.mqtt_message_info?.packet_id]), [['GATEWAY_UNEXPECTED_PACKET_ID', config.messageId]]);
  });

  for (const cmd of ['pubrec', 'pubrel', 'pubcomp'] as const) {
    test(`GATEWAY_UNEXPECTED_MESSAGE_TYPE: ${cmd.toUpperCase()} on a gateway connection; the connection stays`, async () => {
      const e = await GwEnv.create();
      await e.add('gw-1', { gateway: 'ASSOCIATION_ONLY' });
      const gw = await e.gateway('gw-1');
      gw.send({ cmd, messageId: 99 });
      const errors = gwErrors(await gw.sync(), 'gw-1');
      assert.equal(errors.length, 1);
      assert.equal(errors[0]!.error_type, 'GATEWAY_UNEXPECTED_MESSAGE_TYPE');
      assert.equal(errors[0]!.device_id, 'gw-1');
      assert.deepEqual(errors[0]!.mqtt_message_info, { message_type: cmd.toUpperCase(), topic: '', packet_id: 99 });
      assert.equal(gw.open, true);
    });
  }

  test('UNKNOWN: an internal failure during attach; no PUBACK, the connection stays, the next attach works', async () => {
    const e = await GwEnv.create();
    await e.add('gw-1', { gateway: 'ASSOCIATION_ONLY' });
    await e.add('sensor-1');
    await e.bind('gw-1', 'sensor-1');
    const gw = await e.gateway('gw-1');
    const real = e.store.isBound.bind(e.store);
    e.store.isBound = () => Promise.reject(new Error('disk on fire'));
    gw.send(attach('sensor-1', 1));
    const out = await gw.sync();
    assert.deepEqual(pubacks(out), []);
    const errors = gwErrors(out, 'gw-1');
    assert.deepEqual(
      errors.map((x) => [x.error_type, x.device_id, x.mqtt_message_info]),
      [['UNKNOWN', 'sensor-1', { message_type: 'PUBLISH', topic: '/devices/sensor-1/attach', packet_id: 1 }]],
    );
    assert.equal(gw.open, true);
    e.store.isBound = real;
    await e.attached(gw, 'sensor-1', 2);
  });

  test('a server-only packet type (SUBACK) from a gateway is GATEWAY_UNEXPECTED_MESSAGE_TYPE too', async () => {
    const e = await GwEnv.create();
    await e.add('gw-1', { gateway: 'ASSOCIATION_ONLY' });
    const gw = await e.gateway('gw-1');
    gw.send({ cmd: 'suback', messageId: 5, granted: [0] });
    const errors = gwErrors(await gw.sync(), 'gw-1');
    assert.deepEqual(errors.map((x) => [x.error_type, x.mqtt_message_info?.message_type]), [['GATEWAY_UNEXPECTED_MESSAGE_TYPE', 'SUBACK']]);
    assert.equal(gw.open, true);
  });
});

describe('GATEWAY_DETACHMENT_DEVICE_ERROR (spec §6.3, §6.6, docs/compat.md C-GW-TAKEOVER)', () => {
  async function attachedSetup(): Promise<{ e: GwEnv; gw: Conn }> {
    const e = await GwEnv.create();
    await e.add('gw-1', { gateway: 'ASSOCIATION_ONLY' });
    await e.add('sensor-1');
    await e.bind('gw-1', 'sensor-1');
    const gw = await e.gateway('gw-1');
    await e.attached(gw, 'sensor-1', 1);
    return { e, gw };
  }

  function assertDetached(e: GwEnv, gw: Conn, out: readonly Packet[], description: RegExp): void {
    const errors = gwErrors(out, 'gw-1');
    assert.equal(errors.length, 1, JSON.stringify(out));
    const err = errors[0]!;
    assert.equal(err.error_type, 'GATEWAY_DETACHMENT_DEVICE_ERROR');
    assert.equal(err.device_id, 'sensor-1');
    assert.match(err.description, description);
    // Asynchronous detach errors carry no mqtt_message_info (spec §6.5).
    assert.equal('mqtt_message_info' in err, false);
    assert.equal(gw.session.slots.has('sensor-1'), false);
    assert.equal(gw.open, true, 'the gateway stays connected');
  }

  test('state faster than once per second by an attached device detaches it; the gateway stays', async () => {
    const { e, gw } = await attachedSetup();
    gw.send(pub('/devices/sensor-1/state', 's1', 1, 2));
    await gw.waitPuback(2);
    gw.transport.take();
    e.clock.advance(400);
    gw.send(pub('/devices/sensor-1/state', 's2', 1, 3));
    const out = await gw.sync();
    assert.deepEqual(pubacks(out), [], 'the violating state is not acknowledged');
    assertDetached(e, gw, out, /detached because of a device error: State updates are limited to one per second/);
    assert.equal(e.directory.get(e.numId('sensor-1')), undefined);
    const states = await e.store.listStates(e.numId('sensor-1'), 10);
    assert.deepEqual(states.map((s) => Buffer.from(s.binaryData).toString()), ['s1']);
    await assertLastError(e, 'sensor-1', 'GATEWAY_DETACHMENT_DEVICE_ERROR');
    // Now it is a device that is not attached.
    e.clock.advance(5000);
    gw.send(pub('/devices/sensor-1/state', 's3', 1, 4));
    assert.deepEqual(gwErrors(await gw.sync(), 'gw-1').map((x) => x.error_type), ['GATEWAY_DEVICE_NOT_FOUND']);
    // The gateway's own state rate is its own: the gateway is not affected.
    gw.send(pub('/devices/gw-1/state', 'gw', 1, 5));
    await gw.waitPuback(5);
  });

  test('state rates are per device: two attached devices may each report once within the same second', async () => {
    const { e, gw } = await attachedSetup();
    await e.add('sensor-2');
    await e.bind('gw-1', 'sensor-2');
    await e.attached(gw, 'sensor-2', 2);
    gw.send(pub('/devices/sensor-1/state', 'a', 1, 3), pub('/devices/sensor-2/state', 'b', 1, 4), pub('/devices/gw-1/state', 'c', 1, 5));
    await gw.waitPuback(3);
    await gw.waitPuback(4);
    await gw.waitPuback(5);
    assert.deepEqual(gwErrors(gw.transport.take(), 'gw-1'), []);
  });

  test('telemetry over the size limit by an attached device detaches it (docs/compat.md C-MQTT-SIZES)', async () => {
    const e = await GwEnv.create({ maxTelemetryBytes: 16 });
    await e.add('gw-1', { gateway: 'ASSOCIATION_ONLY' });
    await e.add('sensor-1');
    await e.bind('gw-1', 'sensor-1');
    const gw = await e.gateway('gw-1');
    await e.attached(gw, 'sensor-1', 1);
    gw.send(pub('/devices/sensor-1/events', Buffer.alloc(17), 1, 2));
    const out = await gw.sync();
    assert.deepEqual(pubacks(out), []);
    assertDetached(e, gw, out, /device error/);
    assert.equal(e.sink.stored.length, 0);
  });

  test('the device blocked (the session is told through end()) is detached', async () => {
    const { e, gw } = await attachedSetup();
    gw.session.end(e.numId('sensor-1'), 'device-blocked');
    assertDetached(e, gw, gw.transport.take(), /was detached: the device was blocked/);
    assert.equal(e.directory.get(e.numId('sensor-1')), undefined);
    await assertLastError(e, 'sensor-1', 'GATEWAY_DETACHMENT_DEVICE_ERROR');
  });

  test('the device deleted is detached', async () => {
    const { e, gw } = await attachedSetup();
    gw.session.end(e.numId('sensor-1'), 'device-deleted');
    assertDetached(e, gw, gw.transport.take(), /the device was deleted/);
  });

  test('the device unbound is detached (docs/compat.md C-GW-DISCONNECT); unbinding never closes the gateway itself', async () => {
    const { e, gw } = await attachedSetup();
    gw.session.end(e.numId('sensor-1'), 'device-unbound');
    assertDetached(e, gw, gw.transport.take(), /the device was unbound from the gateway/);
    gw.session.end(e.numId('gw-1'), 'device-unbound');
    assert.equal(gw.open, true);
  });

  test('the credential it attached with removed: detached (docs/compat.md C-MQTT-REVOKE)', async () => {
    const e = await GwEnv.create();
    await e.add('gw-1', { gateway: 'DEVICE_AUTH_TOKEN_ONLY' });
    await e.add('sensor-1');
    const gw = await e.gateway('gw-1');
    await e.attached(gw, 'sensor-1', 1, JSON.stringify({ authorization: await e.jwt('sensor-1') }));
    gw.session.end(e.numId('sensor-1'), 'credentials-changed');
    assertDetached(e, gw, gw.transport.take(), /the credential it attached with was removed/);
  });

  test('attached through a second gateway: latest wins, the first gateway gets the error', async () => {
    const e = await GwEnv.create();
    await e.add('gw-1', { gateway: 'ASSOCIATION_ONLY' });
    await e.add('gw-2', { gateway: 'ASSOCIATION_ONLY' });
    await e.add('sensor-1');
    await e.bind('gw-1', 'sensor-1');
    await e.bind('gw-2', 'sensor-1');
    const gw1 = await e.gateway('gw-1');
    const gw2 = await e.gateway('gw-2');
    await e.attached(gw1, 'sensor-1', 1);
    e.clock.advance(1000);
    await e.attached(gw2, 'sensor-1', 1);
    assertDetached(e, gw1, gw1.transport.take(), /attached to another gateway or connected directly/);
    assert.equal(e.directory.get(e.numId('sensor-1')), gw2.session);
    assert.equal(gwErrors(gw2.transport.take(), 'gw-2').length, 0);
    const stored = await eventually(() => e.store.getDeviceByNumId(e.numId('sensor-1')), (d) => d?.gatewayConfig.lastAccessedGatewayId === 'gw-2', 'gw-2 access');
    assert.equal(stored?.gatewayConfig.lastAccessedGatewayTime, T0 + 1000);
    // The first gateway no longer serves it; the second does.
    gw1.send(pub('/devices/sensor-1/events', 'x', 1, 2));
    assert.deepEqual(gwErrors(await gw1.sync(), 'gw-1').map((x) => x.error_type), ['GATEWAY_DEVICE_NOT_FOUND']);
    gw2.send(pub('/devices/sensor-1/events', 'y', 1, 2));
    await gw2.waitPuback(2);
    // The first gateway disconnecting does not release the device from the second.
    gw1.session.socketClosed('socket-closed');
    assert.equal(e.directory.get(e.numId('sensor-1')), gw2.session);
  });

  test('the attached device connecting directly takes over; the gateway gets the error', async () => {
    const { e, gw } = await attachedSetup();
    const direct = await e.connect('sensor-1');
    assertDetached(e, gw, gw.transport.take(), /attached to another gateway or connected directly/);
    assert.equal(e.directory.get(e.numId('sensor-1')), direct.session);
    assert.equal(direct.open, true);
  });

  test('attaching a device that is connected directly closes that connection (ALREADY_EXISTS)', async () => {
    const e = await GwEnv.create();
    await e.add('gw-1', { gateway: 'ASSOCIATION_ONLY' });
    await e.add('sensor-1');
    await e.bind('gw-1', 'sensor-1');
    const direct = await e.connect('sensor-1');
    const gw = await e.gateway('gw-1');
    await e.attached(gw, 'sensor-1', 1);
    assert.equal(direct.transport.closes, 1);
    assert.equal(direct.session.phase, 'closing');
    assert.equal(e.directory.get(e.numId('sensor-1')), gw.session);
    const d = await e.flushed('sensor-1');
    assert.equal(d.lastErrorStatus?.code, 6);
    // The direct connection's socket going away does not release the gateway's attachment.
    direct.session.socketClosed('socket-closed');
    assert.equal(e.directory.get(e.numId('sensor-1')), gw.session);
  });
});

describe('the errors topic (spec §6.5, docs/compat.md C-ERRORS-SUB)', () => {
  test('errors are published only while the gateway is subscribed; lastErrorStatus is kept either way', async () => {
    const e = await GwEnv.create();
    await e.add('gw-1', { gateway: 'ASSOCIATION_ONLY' });
    await e.add('sensor-1');
    const gw = await e.connect('gw-1');
    gw.send(attach('sensor-1', 1));
    assert.deepEqual(await gw.sync(), [], 'no PUBACK and, unsubscribed, no error message');
    await assertLastError(e, 'sensor-1', 'GATEWAY_ATTACHMENT_ERROR');

    // QoS 1 asked, QoS 0 granted.
    gw.send(sub(2, [errorsTopic('gw-1'), 1]));
    assert.deepEqual(gw.transport.take(), [{ cmd: 'suback', messageId: 2, granted: [0] }]);
    gw.send(attach('sensor-1', 3));
    assertAttachmentError(await gw.sync(), 'gw-1', 'sensor-1', 3);

    gw.send({ cmd: 'unsubscribe', messageId: 4, unsubscriptions: [errorsTopic('gw-1')] });
    assert.deepEqual(gw.transport.take(), [{ cmd: 'unsuback', messageId: 4, granted: [] }]);
    gw.send(attach('sensor-1', 5), pub('/devices/sensor-1/events', 'x', 1, 6));
    assert.deepEqual(await gw.sync(), []);
    assert.equal(gw.open, true);
  });

  test("an attached device's errors topic is granted QoS 0 but never carries the gateway's errors", async () => {
    const e = await GwEnv.create();
    await e.add('gw-1', { gateway: 'ASSOCIATION_ONLY' });
    await e.add('sensor-1');
    await e.bind('gw-1', 'sensor-1');
    const gw = await e.connect('gw-1');
    await e.attached(gw, 'sensor-1', 1);
    gw.send(sub(2, ['/devices/sensor-1/errors', 0]));
    const out = await gw.sync();
    assert.deepEqual(out, [{ cmd: 'suback', messageId: 2, granted: [0] }]);
    gw.send(pub('/devices/nobody/events', 'x', 1, 3));
    const after = await gw.sync();
    assert.deepEqual(after.filter((p) => p.cmd === 'publish'), []);
  });

  test('a non-gateway may subscribe to its own errors topic (QoS 0) and never gets anything', async () => {
    const e = await GwEnv.create();
    await e.add('dev-1');
    const d = await e.connect('dev-1');
    d.send(sub(1, ['/devices/dev-1/errors', 1]));
    assert.deepEqual(d.transport.take(), [{ cmd: 'suback', messageId: 1, granted: [0] }]);
    d.send({ cmd: 'puback', messageId: 77 });
    assert.deepEqual(await d.sync(), []);
    assert.equal(d.open, true);
  });
});

describe('ordering behind an attach (docs/compat.md C-GW-ATTACH)', () => {
  test('a publish for the device right after its attach, before the PUBACK, is served after the attach', async () => {
    const e = await GwEnv.create();
    // A token method: the attach verifies a signature, so it really is asynchronous.
    await e.add('gw-1', { gateway: 'DEVICE_AUTH_TOKEN_ONLY' });
    await e.add('sensor-1', { config: 'c1' });
    const gw = await e.gateway('gw-1');
    const token = await e.jwt('sensor-1');
    gw.send(
      attach('sensor-1', 1, JSON.stringify({ authorization: token })),
      pub('/devices/sensor-1/events', 'first', 1, 2),
      pub('/devices/sensor-1/state', 'st', 1, 3),
      sub(4, ['/devices/sensor-1/config', 0]),
    );
    // Nothing is answered before the attach is decided.
    assert.deepEqual(gw.transport.sent, []);
    await gw.waitPuback(2);
    await gw.waitPuback(3);
    await gw.waitFor((p) => p.cmd === 'publish' && p.topic === '/devices/sensor-1/config', 'config');
    const out = gw.transport.take();
    assert.deepEqual(out[0], { cmd: 'puback', messageId: 1 }, 'the attach is acknowledged first');
    assert.deepEqual(gwErrors(out, 'gw-1'), []);
    assert.deepEqual(out.find((p) => p.cmd === 'suback'), { cmd: 'suback', messageId: 4, granted: [0] });
    assert.equal(Buffer.from(e.sink.stored.find((m) => m.topic === TELEMETRY)!.data).toString(), 'first');
  });

  test('a publish right after a failed attach gets GATEWAY_DEVICE_NOT_FOUND, after the attachment error', async () => {
    const e = await GwEnv.create();
    await e.add('gw-1', { gateway: 'DEVICE_AUTH_TOKEN_ONLY' });
    await e.add('sensor-1');
    const gw = await e.gateway('gw-1');
    gw.send(attach('sensor-1', 1, JSON.stringify({ authorization: await e.jwt('sensor-1', { signer: 'gw-1' }) })), pub('/devices/sensor-1/events', 'x', 1, 2));
    const out = await gw.sync();
    assert.deepEqual(pubacks(out), []);
    assert.deepEqual(gwErrors(out, 'gw-1').map((x) => x.error_type), ['GATEWAY_ATTACHMENT_ERROR', 'GATEWAY_DEVICE_NOT_FOUND']);
  });

  test('attach and publish pipelined behind CONNECT are still handled in order (docs/compat.md C-MQTT-PIPELINE)', async () => {
    const e = await GwEnv.create();
    await e.add('gw-1', { gateway: 'ASSOCIATION_ONLY' });
    await e.add('sensor-1');
    await e.bind('gw-1', 'sensor-1');
    const transport = new RecordingTransport();
    const session = new MqttSession(e.env, transport, 'pipelined');
    const gw = new Conn(session, transport, 'gw-1');
    gw.send(
      connectPacket('gw-1', await e.jwt('gw-1')),
      sub(1, [errorsTopic('gw-1'), 0]),
      attach('sensor-1', 2),
      pub('/devices/sensor-1/events', 'x', 1, 3),
    );
    await gw.waitFor((p) => p.cmd === 'connack', 'CONNACK');
    await gw.waitPuback(3);
    const out = await gw.sync();
    assert.deepEqual(gwErrors(out, 'gw-1'), []);
    assert.deepEqual(out, [
      { cmd: 'connack', returnCode: 0, sessionPresent: false },
      { cmd: 'suback', messageId: 1, granted: [0] },
      { cmd: 'puback', messageId: 2 },
      { cmd: 'puback', messageId: 3 },
    ]);
  });

  test('a burst of attaches for unknown devices: every one is answered in order, the gateway keeps working', async () => {
    // The per-connection message rate (docs/compat.md C-MQTT-RATE) is off here: it is about the queue.
    const e = await GwEnv.create({ maxMessagesPerSecond: 0 });
    await e.add('gw-1', { gateway: 'ASSOCIATION_ONLY' });
    await e.add('sensor-1');
    await e.bind('gw-1', 'sensor-1');
    const gw = await e.gateway('gw-1');
    const n = 300;
    for (let i = 1; i <= n; i++) gw.send(attach(`ghost-${i}`, i));
    gw.send(attach('sensor-1', n + 1), pub('/devices/sensor-1/events', 'ok', 1, n + 2));
    await gw.waitPuback(n + 2);
    const out = await gw.sync();
    const errors = gwErrors(out, 'gw-1');
    assert.equal(errors.length, n);
    assert.deepEqual(
      errors.map((x) => x.device_id),
      Array.from({ length: n }, (_, i) => `ghost-${i + 1}`),
    );
    assert.ok(errors.every((x) => x.error_type === 'GATEWAY_ATTACHMENT_ERROR'));
    assert.deepEqual(pubacks(out), [n + 1, n + 2]);
    assert.equal(gw.open, true);
    // Reading was paused while the queue was long, and resumed.
    assert.ok(gw.transport.pauses >= 1);
    assert.equal(gw.transport.resumes, gw.transport.pauses);
  });
});

describe('the per-connection message rate and gateways (docs/compat.md C-MQTT-RATE)', () => {
  test('attach and detach do not count against maxMessagesPerSecond; other publishes do', async () => {
    const e = await GwEnv.create({ maxMessagesPerSecond: 5 });
    await e.add('gw-1', { gateway: 'ASSOCIATION_ONLY' });
    const gw = await e.gateway('gw-1');
    // A re-attach burst far over the limit: every attach is answered, the gateway stays.
    for (let i = 1; i <= 50; i++) gw.send(attach(`ghost-${i}`, i));
    assert.equal(gwErrors(await gw.sync(), 'gw-1').length, 50);
    assert.equal(gw.open, true);
    // Telemetry still counts: the sixth publish within the second closes the connection.
    for (let i = 1; i <= 5; i++) gw.send(pub('/devices/gw-1/events', 'x', 0));
    await gw.sync();
    assert.equal(gw.open, true);
    gw.send(pub('/devices/gw-1/events', 'x', 0));
    await until(() => gw.transport.closes > 0, 'close');
    // A second later the window starts again (checked on a fresh connection).
    const again = await e.gateway('gw-1');
    for (let i = 1; i <= 5; i++) again.send(pub('/devices/gw-1/events', 'x', 0));
    await again.sync();
    e.clock.advance(1000);
    again.send(pub('/devices/gw-1/events', 'x', 0));
    await again.sync();
    assert.equal(again.open, true);
  });
});

describe('connection-scoped attachments (spec §6.1, §6.4, docs/compat.md C-GW-DISCONNECT)', () => {
  test('the gateway disconnecting releases every attached device from the directory', async () => {
    const e = await GwEnv.create();
    await e.add('gw-1', { gateway: 'ASSOCIATION_ONLY' });
    for (const id of ['s-1', 's-2', 's-3']) {
      await e.add(id);
      await e.bind('gw-1', id);
    }
    const gw = await e.gateway('gw-1');
    for (const [i, id] of ['s-1', 's-2', 's-3'].entries()) await e.attached(gw, id, i + 1);
    assert.equal(e.directory.size, 4);
    gw.send({ cmd: 'disconnect' });
    gw.session.socketClosed('socket-closed');
    assert.equal(gw.session.phase, 'closed');
    assert.equal(e.directory.size, 0);
    for (const id of ['s-1', 's-2', 's-3']) assert.equal(e.directory.get(e.numId(id)), undefined);
    // Released devices connect directly without taking anything over.
    const direct = await e.connect('s-2');
    assert.equal(direct.open, true);
    // A new gateway connection starts with no attachment.
    const again = await e.gateway('gw-1');
    again.send(pub('/devices/s-1/events', 'x', 1, 9));
    assert.deepEqual(gwErrors(await again.sync(), 'gw-1').map((x) => x.error_type), ['GATEWAY_DEVICE_NOT_FOUND']);
  });

  test('the gateway blocked closes its connection; its attachments go with it', async () => {
    const e = await GwEnv.create();
    await e.add('gw-1', { gateway: 'ASSOCIATION_ONLY' });
    await e.add('sensor-1');
    await e.bind('gw-1', 'sensor-1');
    const gw = await e.gateway('gw-1');
    await e.attached(gw, 'sensor-1', 1);
    gw.session.end(e.numId('gw-1'), 'device-blocked');
    assert.equal(gw.transport.closes, 1);
    gw.session.socketClosed('socket-closed');
    assert.equal(e.directory.size, 0);
  });

  for (const [label, device] of [
    ['its own topic', 'dev-1'],
    ["another device's topic", 'dev-2'],
  ] as const) {
    test(`a non-gateway sending attach on ${label} is closed (spec §6.1)`, async () => {
      const e = await GwEnv.create();
      await e.add('dev-1');
      await e.add('dev-2');
      const d = await e.connect('dev-1');
      d.send(attach(device, 1));
      assert.deepEqual(d.transport.sent, []);
      assert.equal(d.transport.closes, 1);
      assert.equal(d.session.phase, 'closing');
      const stored = await e.flushed('dev-1');
      assert.deepEqual(stored.lastErrorStatus, { code: 3, message: 'mqtt: SERVER: Only gateways may send attach and detach messages.' });
      assert.equal(e.directory.get(e.numId('dev-2')), undefined);
    });
  }

  test('a non-gateway sending detach is closed', async () => {
    const e = await GwEnv.create();
    await e.add('dev-1');
    const d = await e.connect('dev-1');
    d.send(detach('dev-1', 1));
    assert.deepEqual(d.transport.sent, []);
    assert.equal(d.transport.closes, 1);
  });

  test('a non-gateway publishing for another device or to a bad topic is closed, not told on an errors topic', async () => {
    const e = await GwEnv.create();
    await e.add('dev-1');
    await e.add('dev-2');
    for (const topic of ['/devices/dev-2/events', '/devices/dev-1/bogus']) {
      const d = await e.connect('dev-1');
      d.send(sub(1, ['/devices/dev-1/errors', 0]));
      d.transport.take();
      d.send(pub(topic, 'x', 1, 2));
      assert.deepEqual(d.transport.sent, []);
      assert.equal(d.transport.closes, 1, topic);
    }
  });
});

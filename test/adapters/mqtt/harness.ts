import assert from 'node:assert/strict';
import mqttPacket, { type IConnectPacket, type Packet } from 'mqtt-packet';
import { pino } from 'pino';
import { MqttSession } from '../../../src/adapters/mqtt/session.js';
import { DEFAULT_MQTT_LIMITS, type MqttLimits, type SessionEnv, type SessionTransport } from '../../../src/adapters/mqtt/session-types.js';
import { DeviceTokenVerifier } from '../../../src/adapters/crypto/device-token-verifier.js';
import { MemoryStore } from '../../../src/adapters/store/memory/memory-store.js';
import type { Device, GatewayAuthMethod, Registry } from '../../../src/domain/model.js';
import { BridgeMetrics } from '../../../src/observability/metrics.js';
import { ActivityRecorder } from '../../../src/services/activity-recorder.js';
import { DeviceAuthenticator } from '../../../src/services/device-auth.js';
import type { Clock } from '../../../src/services/ports.js';
import { RegistryCache } from '../../../src/services/registry-cache.js';
import { SessionDirectory } from '../../../src/services/session-directory.js';
import { GatewayErrorHistory } from '../../../src/services/gateway-error-history.js';
import { ManualPorts } from './manual-ports.js';
import { makeDeviceKeys, type DeviceKeys, type KeyAlg } from '../../support/pki.js';
import { configV1, deviceInput, gatewayConfig } from '../../support/devices.js';
import { signRawJwt } from '../../support/mqtt-jwt.js';

/**
 * A socket-free MQTT session whose I/O the test carries out by hand. The session's requests
 * (authentication, store reads and writes, commits) are recorded by `ManualPorts`; the test answers
 * them when it chooses, with the real authenticator, token verifier and MemoryStore computing the
 * answer, and the session reacts synchronously to each answer fed in. A fake clock drives time, and
 * a transport records what the session does. Nothing here polls or sleeps.
 *
 * (`node --test dist/test/` runs this file too; it only declares things.)
 */

export const T0 = Date.UTC(2024, 0, 15, 12, 0, 0);
export const PROJECT = 'proj-unit';
export const LOCATION = 'us-central1';
export const REGISTRY = 'reg-unit';
export const TELEMETRY_TOPIC = `projects/${PROJECT}/topics/telemetry`;
export const ALERTS_TOPIC = `projects/${PROJECT}/topics/alerts`;
export const STATE_TOPIC = `projects/${PROJECT}/topics/state`;

export class FakeClock implements Clock {
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): number {
    this.t += ms;
    return this.t;
  }
}

/**
 * Records every call the session makes on its transport. Each packet is encoded as the real
 * connection would, so a packet mqtt-packet refuses (an empty SUBACK) throws here as it would there.
 */
export class RecordingTransport implements SessionTransport {
  readonly sent: Packet[] = [];
  closes = 0;
  pauses = 0;
  resumes = 0;
  send(packet: Packet): void {
    mqttPacket.generate(packet);
    this.sent.push(packet);
  }
  sendPuback(messageId: number): void {
    this.send({ cmd: 'puback', messageId });
  }
  sendPingresp(): void {
    this.send({ cmd: 'pingresp' });
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
  /** What was sent since the last call. */
  take(): Packet[] {
    return this.sent.splice(0);
  }
  get closed(): boolean {
    return this.closes > 0;
  }
}

/** BridgeMetrics that also remembers every close reason, in order. */
export class RecordingMetrics extends BridgeMetrics {
  readonly reasons: string[] = [];
  readonly authReasons: string[] = [];
  override disconnect(reason: string): void {
    this.reasons.push(reason);
    super.disconnect(reason);
  }
  override authFailure(reason: string): void {
    this.authReasons.push(reason);
    super.authFailure(reason);
  }
}

export interface HarnessDevice {
  device: Device;
  keys: DeviceKeys;
  clientId: string;
}

/** One session and its transport; `id` is the device it connects as. */
export class Conn {
  constructor(
    readonly session: MqttSession,
    readonly transport: RecordingTransport,
    readonly io: ManualPorts,
    readonly id: string,
  ) {}
  send(...packets: Packet[]): void {
    for (const p of packets) this.session.handle(p);
  }
  get open(): boolean {
    return this.session.phase === 'connected' && this.transport.closes === 0;
  }
  /** Answers every request made so far (and those the answers lead to); then `pred` must match something sent. */
  async expect(pred: (p: Packet) => boolean, what: string): Promise<void> {
    await this.io.answerAll();
    assert.ok(this.transport.sent.some(pred), `${this.id}: ${what}; sent: ${JSON.stringify(this.transport.sent.map((p) => p.cmd))}`);
  }
  async expectPuback(messageId: number): Promise<void> {
    await this.expect((p) => p.cmd === 'puback' && p.messageId === messageId, `PUBACK ${messageId}`);
  }
  /**
   * PINGREQ, then answers every request made so far and those the answers lead to: everything
   * handled before the PINGREQ (gateway attaches included, which later packets wait for) has had
   * its answer. Returns what was sent, without the PINGRESP.
   */
  async sync(): Promise<Packet[]> {
    this.send({ cmd: 'pingreq' });
    await this.io.answerAll();
    const all = this.transport.take();
    const i = all.findIndex((p) => p.cmd === 'pingresp');
    assert.notEqual(i, -1, `${this.id}: PINGRESP`);
    return [...all.slice(0, i), ...all.slice(i + 1)];
  }
}

export interface HarnessOptions {
  limits?: Partial<MqttLimits>;
  registry?: Partial<Registry>;
}

export interface DeviceOptions {
  alg?: KeyAlg;
  blocked?: boolean;
  /** Makes it a gateway; `true` means ASSOCIATION_ONLY. */
  gateway?: boolean | GatewayAuthMethod;
  config?: Uint8Array;
  keys?: DeviceKeys;
}

export interface TokenOptions {
  iat?: number;
  exp?: number;
  aud?: unknown;
  alg?: 'RS256' | 'ES256' | 'HS256' | 'none';
  /** Sign with this private key instead of the device's. */
  key?: string;
}

let connSeq = 0;

export class Harness {
  readonly clock = new FakeClock(T0);
  readonly store = new MemoryStore();
  readonly activity = new ActivityRecorder(this.store);
  readonly directory = new SessionDirectory();
  readonly gatewayErrors = new GatewayErrorHistory();
  readonly registries = new RegistryCache(this.store, this.clock, 30_000);
  readonly metrics = new RecordingMetrics();
  readonly auth = new DeviceAuthenticator(this.store, new DeviceTokenVerifier(), this.clock);
  /** The session's I/O, answered by the test. */
  readonly io = new ManualPorts(this.store, this.auth);
  readonly env: SessionEnv;
  readonly registry: Registry;
  private readonly devices = new Map<string, HarnessDevice>();

  constructor(opts: HarnessOptions = {}) {
    this.registry = {
      project: PROJECT,
      location: LOCATION,
      registry: REGISTRY,
      revision: 1,
      eventNotificationConfigs: [
        { pubsubTopicName: ALERTS_TOPIC, subfolderMatches: 'alerts' },
        { pubsubTopicName: TELEMETRY_TOPIC, subfolderMatches: '' },
      ],
      stateNotificationConfig: { pubsubTopicName: STATE_TOPIC },
      mqttEnabledState: 'MQTT_ENABLED',
      httpEnabledState: 'HTTP_ENABLED',
      logLevel: 'DEBUG',
      credentials: [],
      ...opts.registry,
    };
    this.env = {
      clock: this.clock,
      limits: { ...DEFAULT_MQTT_LIMITS, ...opts.limits },
      ports: this.io,
      store: this.store,
      registries: this.registries,
      directory: this.directory,
      activity: this.activity,
      gatewayErrors: this.gatewayErrors,
      metrics: this.metrics,
      log: pino({ level: 'silent' }),
    };
  }

  static async create(opts: HarnessOptions = {}): Promise<Harness> {
    const h = new Harness(opts);
    await h.store.createRegistry(h.registry);
    return h;
  }

  /** A device with its own key (a fresh EC key unless `keys` or `alg` say otherwise). */
  async addDevice(id: string, opts: DeviceOptions = {}): Promise<HarnessDevice> {
    const keys = opts.keys ?? (await makeDeviceKeys(opts.alg ?? 'ES256'));
    const { gateway } = opts;
    const device = await this.store.createDevice(
      deviceInput({ project: PROJECT, location: LOCATION, registry: REGISTRY }, id, configV1(this.clock.now(), opts.config), {
        credentials: [{ format: keys.rawFormat, key: keys.publicKeyPem, expirationTime: 0 }],
        blocked: opts.blocked ?? false,
        gatewayConfig: gateway
          ? gatewayConfig('GATEWAY', gateway === true ? 'ASSOCIATION_ONLY' : gateway)
          : gatewayConfig('NON_GATEWAY', 'GATEWAY_AUTH_METHOD_UNSPECIFIED'),
      }),
    );
    const d: HarnessDevice = { device, keys, clientId: clientIdOf(id) };
    this.devices.set(id, d);
    return d;
  }

  dev(id: string): HarnessDevice {
    const d = this.devices.get(id);
    if (!d) throw new Error(`no device ${id}`);
    return d;
  }

  numId(id: string): string {
    return this.dev(id).device.numId;
  }

  /** Binds `device` to `gateway` in the store, with limits no test reaches. */
  async bind(gateway: string, device: string): Promise<void> {
    await this.store.bind(this.numId(gateway), this.numId(device), { maxDevicesPerGateway: 10_000, maxGatewaysPerDevice: 10_000 });
  }

  /** A JWT for `id` relative to the fake clock; every claim can be overridden. */
  token(id: string, o: TokenOptions = {}): string {
    const d = this.dev(id);
    const nowS = Math.floor(this.clock.now() / 1000);
    const iat = o.iat ?? nowS;
    const payload = { aud: 'aud' in o ? o.aud : PROJECT, iat, exp: o.exp ?? iat + 3600 };
    const alg = o.alg ?? d.keys.alg;
    return signRawJwt(payload, { alg, key: alg === 'HS256' ? 'shared-secret' : (o.key ?? d.keys.privateKeyPem) });
  }

  /** A new session that has received nothing yet; `label` names it in timeout messages. */
  open(label = 'conn'): Conn {
    const transport = new RecordingTransport();
    return new Conn(new MqttSession(this.env, transport, `c${++connSeq}`), transport, this.io, label);
  }

  /** Opens a session, sends CONNECT and answers its authentication request, either way. */
  async connect(id: string, o: { token?: string; keepalive?: number; packet?: Partial<IConnectPacket> } = {}): Promise<Conn> {
    const c = this.open(id);
    c.session.handle(connectPacket(clientIdOf(id), o.token ?? this.token(id), o.keepalive ?? 60, o.packet));
    await this.io.answer(this.io.take('auth', c.session));
    assert.notEqual(c.session.phase, 'authenticating', `authentication of ${id} ended`);
    return c;
  }

  /** Connects and checks the CONNACK 0, leaving nothing else recorded. */
  async connected(id: string, o: { token?: string; keepalive?: number } = {}): Promise<Conn> {
    const c = await this.connect(id, o);
    assert.deepEqual(c.transport.take(), [connack(0)], `${id} connects`);
    assert.equal(c.session.phase, 'connected', `${id} connects`);
    return c;
  }

  /** Writes the recorded activity into the store and reads the device back. */
  async flushedDevice(id: string): Promise<Device> {
    await this.activity.flush();
    const d = await this.store.getDeviceByNumId(this.dev(id).device.numId);
    if (!d) throw new Error(`device ${id} is gone`);
    return d;
  }
}

/** The usual start: a harness with device dev-1 (created with `device`), connected. */
export async function connectedDevice(
  opts: HarnessOptions & { device?: DeviceOptions } = {},
): Promise<{ h: Harness; d: HarnessDevice; session: MqttSession; transport: RecordingTransport }> {
  const h = await Harness.create(opts);
  const d = await h.addDevice('dev-1', opts.device);
  const { session, transport } = await h.connected('dev-1');
  return { h, d, session, transport };
}

export const clientIdOf = (id: string): string => `projects/${PROJECT}/locations/${LOCATION}/registries/${REGISTRY}/devices/${id}`;

export function connectPacket(clientId: string, password: string | undefined, keepalive = 60, over: Partial<IConnectPacket> = {}): IConnectPacket {
  return {
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: true,
    clientId,
    keepalive,
    username: 'unused',
    ...(password === undefined ? {} : { password: Buffer.from(password) }),
    ...over,
  };
}

export const publish = (topic: string, payload: string | Buffer, qos: 0 | 1 | 2 = 0, messageId?: number): Packet => ({
  cmd: 'publish',
  topic,
  payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
  qos,
  dup: false,
  retain: false,
  ...(messageId === undefined ? {} : { messageId }),
});

export const subscribe = (messageId: number, ...subs: [string, 0 | 1 | 2][]): Packet => ({
  cmd: 'subscribe',
  messageId,
  subscriptions: subs.map(([topic, qos]) => ({ topic, qos })),
});

export const puback = (messageId: number): Packet => ({ cmd: 'puback', messageId });

/** Expected outbound PUBLISH exactly as the session builds it. */
export const outPublish = (topic: string, payload: string | Buffer, qos: 0 | 1, messageId?: number, dup = false): Packet => ({
  cmd: 'publish',
  topic,
  payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
  qos,
  ...(messageId === undefined ? {} : { messageId }),
  retain: false,
  dup,
});

export const connack = (returnCode: number): Packet => ({ cmd: 'connack', returnCode, sessionPresent: false });

import type { Packet } from 'mqtt-packet';
import type { Logger } from 'pino';
import { ENUM_NUMBERS, registryName, type Device, type LogLevel, type Registry } from '../../domain/model.js';
import { messageAttributes } from '../../domain/event-routing.js';
import { parsePublishTopic, type PublishTopic } from '../../domain/mqtt-topics.js';
import type { LiveSession } from '../../services/session-directory.js';
import type { StoredTarget } from '../../services/device-ingress.js';
import { handleConnect } from './handlers/connect.js';
import { handlePublish } from './handlers/publish.js';
import { handleSubscribe, handleUnsubscribe } from './handlers/subscribe.js';
import { handlePuback } from './handlers/puback.js';
import { deliverCommand, deliverLatestConfig, redeliverConfigs } from './outbound.js';
import { detachForError, gatewayError, handleControl } from './gateway.js';
import type { CloseReason, DeviceSlot, Outbound, Phase, SessionEnv, SessionTransport } from './session-types.js';

const NO_BYTES = new Uint8Array(0);

/**
 * What a live session keeps of its device: identity and settings, not the payloads, keys and
 * metadata (up to hundreds of KB) that it never reads again; config is re-read from the store
 * whenever it is delivered.
 */
function leanDevice(d: Device): Device {
  return { ...d, credentials: [], metadata: {}, config: { ...d.config, binaryData: NO_BYTES }, state: undefined };
}

/** The device's log level, or else its registry's, as its proto number (spec §1.8). */
function effectiveLogLevel(device: Device, registry: Registry): number {
  const configured: LogLevel = device.logLevel !== 'LOG_LEVEL_UNSPECIFIED' ? device.logLevel : registry.logLevel;
  return ENUM_NUMBERS.LogLevel![configured] ?? 0;
}

const deviceIdOf = (topic: string): string | undefined => /^\/devices\/([^/]+)/.exec(topic)?.[1];

const ALLOWED: Record<Phase, readonly Phase[]> = {
  'awaiting-connect': ['authenticating', 'closing'],
  authenticating: ['connected', 'closing'],
  connected: ['closing'],
  closing: ['closed'],
  closed: [],
};

/** Disconnect reasons a device log reports with a status (spec §5.2, §9). */
const CLOSE_STATUS: Partial<Record<CloseReason, { code: number; message: string }>> = {
  'session-taken-over': { code: 6, message: 'mqtt: SERVER: Another connection with the same device ID is active; this one was closed.' },
  'jwt-expired': { code: 16, message: 'mqtt: SERVER: The connection was closed because the authorization token expired.' },
  'no-event-route': { code: 9, message: 'mqtt: SERVER: Telemetry was published but the registry has no event notification config for it.' },
  'state-rate-exceeded': { code: 8, message: 'mqtt: SERVER: State updates are limited to one per second per device.' },
  'message-rate-exceeded': { code: 8, message: 'mqtt: SERVER: The connection exceeded its message rate limit.' },
  'payload-too-large': { code: 3, message: 'mqtt: SERVER: The message payload exceeds the size limit.' },
  'invalid-topic': { code: 3, message: 'mqtt: SERVER: Publish to a topic the device may not use.' },
  'qos2-publish': { code: 3, message: 'mqtt: SERVER: QoS 2 is not supported.' },
  'control-message-from-non-gateway': { code: 3, message: 'mqtt: SERVER: Only gateways may send attach and detach messages.' },
  'too-many-unacked-messages': { code: 8, message: 'mqtt: SERVER: Too many QoS 1 messages to the device await a PUBACK.' },
  'write-backlog-exceeded': { code: 8, message: 'mqtt: SERVER: The device did not read what the server sent it.' },
  'internal-error': { code: 13, message: 'mqtt: SERVER: Internal error.' },
  'server-shutdown': { code: 14, message: 'mqtt: SERVER: The server is shutting down.' },
};

/**
 * One MQTT connection's protocol state (spec §5). It never touches a socket or a timer: packets,
 * results and clock ticks come in as method calls, and packets go out through the transport. That
 * is what makes every rule testable without a network.
 */
export class MqttSession implements LiveSession, StoredTarget {
  phase: Phase = 'awaiting-connect';
  readonly openedAt: number;
  lastPacketAt: number;
  /** 0: no keep-alive. */
  keepaliveMs = 0;
  jwtDeadline = Infinity;
  /** Packets pipelined behind CONNECT, handled once authentication ends [MQTT-3.1.4-?]. */
  readonly pending: Packet[] = [];
  /** The connected device (undefined until authenticated). */
  own: DeviceSlot | undefined;
  /** Devices this connection serves, by string ID: the own device and, for gateways, attached ones. */
  readonly slots = new Map<string, DeviceSlot>();
  readonly outbound = new Map<number, Outbound>();
  private nextMessageId = 1;
  inflight = 0;
  rateWindowStart = 0;
  rateCount = 0;
  paused = false;
  /** numIds of devices named in gateway errors (null: no such device), so repeats cost no store read. */
  errorDevices: Map<string, string | null> | undefined;
  /** Parsed publish topics of this connection, made on the first PUBLISH (idle devices pay nothing). */
  private topics: Map<string, PublishTopic | undefined> | undefined;
  /** A gateway subscribed to its errors topic (spec §6.5). */
  errorsSubscribed = false;
  /** An attach is under way: later packets wait so that they see its outcome, in order. */
  private busy = false;
  /** Created on first use: most connections never log, and a child logger per connection costs memory. */
  private logger: Logger | undefined;
  private logBindings: Record<string, string>;
  readonly resumeFromSink = (): void => this.contain('resuming reads', () => this.resumeReading());

  constructor(
    readonly env: SessionEnv,
    readonly transport: SessionTransport,
    readonly connId: string,
  ) {
    this.openedAt = env.clock.now();
    this.lastPacketAt = this.openedAt;
    this.logBindings = { connId };
  }

  get log(): Logger {
    return (this.logger ??= this.env.log.child(this.logBindings));
  }

  /** Adds the device's identity to every later log line of the connection. */
  identify(deviceId: string, registry: string): void {
    this.logBindings = { ...this.logBindings, deviceId, registry };
    this.logger = undefined;
  }

  get isGateway(): boolean {
    return this.own?.device.gatewayConfig.gatewayType === 'GATEWAY';
  }

  transition(to: Phase, reason?: string): void {
    if (!ALLOWED[this.phase].includes(to)) {
      throw new Error(`MQTT session ${this.connId}: illegal transition ${this.phase} -> ${to} (${reason ?? ''})`);
    }
    this.phase = to;
  }

  // ---- inputs ----

  /** A decoded packet from the client. */
  handle(packet: Packet): void {
    if (this.phase === 'closing' || this.phase === 'closed') return;
    this.lastPacketAt = this.env.clock.now();
    if (this.phase === 'awaiting-connect') {
      // [MQTT-3.1.0-1] the first packet must be CONNECT.
      if (packet.cmd !== 'connect') return this.close('protocol-error');
      return handleConnect(this, packet);
    }
    if (this.phase === 'authenticating') {
      if (this.pending.length >= this.env.limits.maxPendingBeforeConnack) return this.close('too-many-pending-packets');
      this.pending.push(packet);
      return;
    }
    if (this.busy) {
      // Backpressure, not a violation: a gateway may pipeline a burst of attaches.
      this.pending.push(packet);
      if (this.pending.length >= this.env.limits.maxPendingBeforeConnack) this.pauseReading();
      return;
    }
    this.dispatch(packet);
  }

  /** Runs `work` before any later packet of this connection is handled. */
  serialise(work: Promise<void>): void {
    this.busy = true;
    work.then(
      () => {
        this.busy = false;
        this.contain('handling held packets', () => this.drainPending());
      },
      (err: unknown) => {
        this.busy = false;
        this.failed('serialised work', err);
      },
    );
  }

  /**
   * Runs a continuation of this connection (an auth result, a store read, a held packet): an
   * exception in it is our bug, and it ends this connection, never the process.
   */
  contain(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.failed(what, err);
    }
  }

  failed(what: string, err: unknown): void {
    this.log.error({ err }, `bug while ${what}; closing the connection`);
    try {
      this.close('internal-error');
    } catch (again) {
      this.log.error({ err: again }, 'bug while closing a connection');
    }
    // The close may have stopped half-way (its bookkeeping may be what failed): the socket goes
    // all the same.
    this.transport.close();
  }

  /**
   * Counts a PUBLISH, SUBSCRIBE or UNSUBSCRIBE against the per-connection rate; over it, the
   * connection is closed and false returned (docs/compat.md C-MQTT-RATE, spec U10).
   */
  withinRate(): boolean {
    const limit = this.env.limits.maxMessagesPerSecond;
    if (limit <= 0) return true;
    if (this.lastPacketAt - this.rateWindowStart >= 1000) {
      this.rateWindowStart = this.lastPacketAt;
      this.rateCount = 0;
    }
    if (++this.rateCount <= limit) return true;
    this.close('message-rate-exceeded');
    return false;
  }

  /** Handles held packets in order until one starts serialised work (an attach) or none are left. */
  drainPending(): void {
    while (!this.busy && this.pending.length > 0 && this.phase === 'connected') this.dispatch(this.pending.shift()!);
    if (!this.busy && this.pending.length === 0) this.resumeReading();
  }

  dispatch(packet: Packet): void {
    switch (packet.cmd) {
      case 'publish':
        return handlePublish(this, packet);
      case 'puback':
        return handlePuback(this, packet);
      case 'subscribe':
        return handleSubscribe(this, packet);
      case 'unsubscribe':
        return handleUnsubscribe(this, packet);
      case 'pingreq':
        if (this.own) this.env.activity.heartbeat(this.own.device.numId, this.lastPacketAt);
        return this.transport.send({ cmd: 'pingresp' });
      case 'disconnect':
        return this.close('client-disconnect');
      case 'connect':
        // [MQTT-3.1.0-2] a second CONNECT is a protocol violation.
        return this.close('protocol-error');
      default:
        // QoS 2 flow packets and server-to-client packet types (spec §6.6 for gateways).
        return this.unexpectedPacket(packet);
    }
  }

  /** Gateways get a GATEWAY_UNEXPECTED_MESSAGE_TYPE error (spec §6.6); a device is disconnected. */
  unexpectedPacket(packet: Packet): void {
    if (!this.isGateway) return this.close('protocol-error');
    gatewayError(this, 'GATEWAY_UNEXPECTED_MESSAGE_TYPE', this.own!.device.id, `Unexpected ${packet.cmd.toUpperCase()} packet on a gateway connection.`, packet);
  }

  /** The clock moved: enforce the connect timeout, keep-alive, idle cutoff, JWT expiry, redelivery. */
  tick(now: number): void {
    if (this.phase === 'closing' || this.phase === 'closed') return;
    if (this.phase === 'awaiting-connect' || this.phase === 'authenticating') {
      if (now - this.openedAt >= this.env.limits.connectTimeoutMs) this.close('connect-timeout');
      return;
    }
    if (now >= this.jwtDeadline) return this.close('jwt-expired');
    const silent = now - this.lastPacketAt;
    // [MQTT-3.1.2-24] one and a half keep-alive periods without a packet.
    if (this.keepaliveMs > 0 && silent >= this.keepaliveMs * 1.5) return this.close('keepalive-timeout');
    if (silent >= this.env.limits.idleTimeoutMs) return this.close('idle-timeout');
    redeliverConfigs(this, now);
    for (const [id, o] of this.outbound) {
      if (o.kind === 'command' && now >= o.deadline) {
        this.outbound.delete(id);
        o.resolve(true);
      } else if (o.kind === 'superseded' && now >= o.deadline) {
        this.outbound.delete(id);
      }
    }
  }

  /** The socket closed or failed underneath us. */
  socketClosed(reason: 'socket-closed' | 'socket-error'): void {
    if (this.phase === 'closed') return;
    if (this.phase !== 'closing') this.close(reason);
    this.finish();
  }

  // ---- LiveSession ----

  end(numId: string, reason: 'device-blocked' | 'device-deleted' | 'credentials-changed' | 'device-unbound' | 'session-taken-over'): void {
    // Called from other sessions and the API: a failure here is this session's, not the caller's.
    this.contain(`ending for ${reason}`, () => {
      if (this.own?.device.numId === numId && reason !== 'device-unbound') return this.close(reason);
      this.endAttached(numId, reason);
    });
  }

  /**
   * Publish to a topic outside the grammar: closes a device's connection (spec §5.3); a gateway
   * gets GATEWAY_INVALID_MQTT_TOPIC and keeps it (spec §6.6).
   */
  invalidPublishTopic(p: Packet): void {
    if (!this.isGateway) return this.close('invalid-topic');
    const topic = p.cmd === 'publish' ? p.topic : '';
    gatewayError(this, 'GATEWAY_INVALID_MQTT_TOPIC', deviceIdOf(topic) ?? this.own!.device.id, `"${topic.slice(0, 300)}" is not a topic of the MQTT bridge.`, p);
  }

  /**
   * Publish on the topic of a device this connection does not serve: another device's topic
   * closes a device's connection; for a gateway it is GATEWAY_DEVICE_NOT_FOUND, no PUBACK, the
   * connection stays (spec §6.3).
   */
  publishForUnknownDevice(p: Packet, device: string, kind: string): void {
    if (!this.isGateway) return this.close(kind === 'attach' || kind === 'detach' ? 'control-message-from-non-gateway' : 'invalid-topic');
    if (kind === 'attach' || kind === 'detach') return this.controlMessage(p, kind, device);
    gatewayError(this, 'GATEWAY_DEVICE_NOT_FOUND', device, `Device "${device}" is not attached to gateway "${this.own!.device.id}".`, p);
  }

  /** A subscription for a device the connection does not serve: 0x80; gateways are told why. */
  subscribeForUnknownDevice(p: Packet, device: string, filter: string): number {
    if (this.isGateway) {
      gatewayError(this, 'GATEWAY_DEVICE_NOT_FOUND', device, `Device "${device}" is not attached to gateway "${this.own!.device.id}".`, p, undefined, filter);
    }
    return 0x80;
  }

  /** The errors topic carries messages only for a gateway's own subscription (docs/compat.md C-ERRORS-SUB). */
  subscribeErrors(slot: DeviceSlot, qos: 0 | 1 | undefined): void {
    if (slot === this.own) this.errorsSubscribed = qos !== undefined;
  }

  /** attach/detach: only gateways may send them (spec §6.1). */
  controlMessage(p: Packet, kind: 'attach' | 'detach', device: string): void {
    if (!this.isGateway) return this.close('control-message-from-non-gateway');
    handleControl(this, p as Extract<Packet, { cmd: 'publish' }>, kind, device);
  }

  /**
   * A device broke a per-device rule: a direct device is disconnected (spec §5.7, §5.8); a
   * device attached to a gateway is detached with GATEWAY_DETACHMENT_DEVICE_ERROR (spec §6.3).
   */
  deviceViolation(slot: DeviceSlot, reason: CloseReason): void {
    if (slot === this.own) return this.close(reason);
    const status = CLOSE_STATUS[reason];
    detachForError(this, slot, `Device "${slot.device.id}" was detached because of a device error: ${status?.message.replace('mqtt: SERVER: ', '') ?? reason}`);
  }

  /** A PUBACK for nothing the bridge sent: ignored for a device; gateways are told (spec §6.6). */
  unexpectedPacketId(packet: Packet): void {
    if (this.isGateway) {
      const id = 'messageId' in packet ? String(packet.messageId) : '?';
      gatewayError(this, 'GATEWAY_UNEXPECTED_PACKET_ID', this.own!.device.id, `No message with packet ID ${id} awaits an acknowledgement.`, packet);
    }
  }

  /** An attached device is detached when the API blocks, deletes or unbinds it, or it moves away. */
  endAttached(numId: string, reason: string): void {
    const slot = this.slotByNumId(numId);
    if (!slot || slot === this.own) return;
    const why: Record<string, string> = {
      'device-blocked': 'the device was blocked',
      'device-deleted': 'the device was deleted',
      'credentials-changed': 'the credential it attached with was removed',
      'device-unbound': 'the device was unbound from the gateway',
      'session-taken-over': 'the device was attached to another gateway or connected directly',
    };
    detachForError(this, slot, `Device "${slot.device.id}" was detached: ${why[reason] ?? reason}.`);
  }

  configUpdated(numId: string): void {
    this.contain('delivering an updated config', () => {
      const slot = this.slotByNumId(numId);
      if (slot && slot.configQos !== undefined) deliverLatestConfig(this, slot);
    });
  }

  sendCommand(numId: string, subfolder: string, data: Uint8Array): Promise<boolean> {
    const slot = this.slotByNumId(numId);
    if (!slot || this.phase !== 'connected') return Promise.resolve(false);
    return deliverCommand(this, slot, subfolder, data);
  }

  credentialKey(numId: string): string | undefined {
    return this.slotByNumId(numId)?.credentialKey;
  }

  gatewayNumId(numId: string): string | undefined {
    return this.own && this.own.device.numId !== numId ? this.own.device.numId : undefined;
  }

  // ---- helpers for handlers ----

  slotByNumId(numId: string): DeviceSlot | undefined {
    for (const s of this.slots.values()) if (s.device.numId === numId) return s;
    return undefined;
  }

  makeSlot(device: Device, registry: Registry, credentialKey: string | undefined): DeviceSlot {
    return {
      device: leanDevice(device),
      registry,
      registryName: registryName(registry),
      attributes: new Map(),
      lastStateAt: -Infinity,
      configQos: undefined,
      sentConfigVersion: 0,
      pendingConfig: undefined,
      commandFilters: new Map(),
      credentialKey,
    };
  }

  /**
   * DEBUG device logging (every publish) is on, given the registry as `registryOf` just returned
   * it: registry level changes apply at once without another lookup per message.
   */
  debugLogging(slot: DeviceSlot, registry: Registry): boolean {
    return effectiveLogLevel(slot.device, registry) >= 40;
  }

  /** The registry as currently known (the API may have changed routing since connect). */
  registryOf(slot: DeviceSlot): Registry {
    const fresh = this.env.registries.peek(slot.registryName);
    if (fresh) slot.registry = fresh;
    return slot.registry;
  }

  attributesOf(slot: DeviceSlot, subfolder: string): Readonly<Record<string, string>> {
    let a = slot.attributes.get(subfolder);
    if (!a) {
      const d = slot.device;
      a = Object.freeze(
        messageAttributes(
          { deviceId: d.id, deviceNumId: d.numId, registry: d.registryKey.registry, location: d.registryKey.location, project: d.registryKey.project },
          subfolder,
        ),
      );
      // Bounded: a device inventing subfolders cannot grow this without limit.
      if (slot.attributes.size < 256) slot.attributes.set(subfolder, a);
    }
    return a;
  }

  allocateMessageId(): number {
    for (let i = 0; i < 65535; i++) {
      const id = this.nextMessageId;
      this.nextMessageId = id === 65535 ? 1 : id + 1;
      if (!this.outbound.has(id)) return id;
    }
    throw new Error('no free MQTT packet identifier');
  }

  /**
   * Devices publish to the same few topics over and over: parsing each once per connection takes
   * the topic grammar off the per-message path.
   */
  parseTopic(topic: string): PublishTopic | undefined {
    const topics = (this.topics ??= new Map());
    const hit = topics.get(topic);
    if (hit !== undefined || topics.has(topic)) return hit;
    const parsed = parsePublishTopic(topic);
    // Bounded: a client inventing topics cannot grow it.
    if (topics.size >= 32) topics.clear();
    topics.set(topic, parsed);
    return parsed;
  }

  /**
   * Re-reads the device once the session holds it in the directory: a block, delete or key
   * removal that the API made while authentication was under way found no session to end, and is
   * applied now (docs/compat.md C-MQTT-REVOKE).
   */
  recheckAfterClaim(numId: string): void {
    this.env.store.getDeviceByNumId(numId).then(
      (d) =>
        this.contain('re-checking a device', () => {
          if (this.env.directory.get(numId) !== this) return;
          const used = this.credentialKey(numId);
          if (!d) this.end(numId, 'device-deleted');
          else if (d.blocked) this.end(numId, 'device-blocked');
          else if (used !== undefined && !d.credentials.some((c) => c.key === used)) this.end(numId, 'credentials-changed');
        }),
      (err: unknown) => this.log.warn({ err }, 'could not re-check a device after connecting'),
    );
  }

  /** A message goes to the ingress: count it in flight and stop reading when the window is full. */
  beginIngest(): void {
    this.inflight++;
    if (this.inflight >= this.env.limits.maxInflightIngest) this.pauseReading();
    else if (this.env.ingress.holdIfSaturated(this.resumeFromSink)) this.pauseReading();
  }

  /**
   * StoredTarget: a message of this connection is committed (token = its packet ID for QoS 1,
   * 0 for QoS 0) or failed. Only now may the PUBACK go out (spec §5.4).
   */
  stored(token: number, error: unknown): void {
    this.contain('acknowledging a stored message', () => this.onStored(token, error));
  }

  private onStored(token: number, error: unknown): void {
    this.inflight--;
    if (error !== undefined) {
      // Not stored: no PUBACK. Closing makes the client resend what it has not had acknowledged.
      this.log.warn({ err: error }, 'a device message could not be stored');
      return this.close('sink-failed');
    }
    if (token !== 0 && this.phase === 'connected') this.transport.send({ cmd: 'puback', messageId: token });
    if (this.paused && !this.busy && !this.env.ingress.holdIfSaturated(this.resumeFromSink)) this.resumeReading();
  }

  pauseReading(): void {
    if (!this.paused) {
      this.paused = true;
      this.transport.pause();
    }
  }

  resumeReading(): void {
    if (this.paused && this.inflight < this.env.limits.maxInflightIngest && this.phase === 'connected') {
      this.paused = false;
      this.transport.resume();
    }
  }

  /** A device-log line, honouring the device's or else the registry's logLevel (spec §1.8, §9). */
  deviceLog(slot: DeviceSlot, level: 'ERROR' | 'INFO' | 'DEBUG', eventType: string, fields: Record<string, unknown> = {}): void {
    const have = effectiveLogLevel(slot.device, slot.registry);
    if (have < 20 || have < (ENUM_NUMBERS.LogLevel![level] ?? 40)) return;
    this.log.info({ deviceLog: true, eventType, protocol: 'MQTT', deviceId: slot.device.id, deviceNumId: slot.device.numId, ...fields }, `device ${eventType}`);
  }

  close(reason: CloseReason): void {
    if (this.phase === 'closing' || this.phase === 'closed') return;
    const wasConnected = this.phase === 'connected';
    this.transition('closing', reason);
    this.env.metrics.disconnect(reason);
    const status = CLOSE_STATUS[reason];
    const now = this.env.clock.now();
    if (this.own && wasConnected) {
      if (status) this.env.activity.error(this.own.device.numId, now, status);
      this.deviceLog(this.own, 'INFO', 'DISCONNECT', {
        disconnectType: reason === 'client-disconnect' || reason === 'socket-closed' ? 'CLIENT' : 'SERVER',
        reason,
        ...(status ? { status: { code: status.code, message: status.message } } : {}),
      });
    }
    // A child logger costs an allocation: thousands of sockets timing out at once must not pay it for nothing.
    if (this.env.log.isLevelEnabled('debug')) this.log.debug({ reason }, 'mqtt connection closing');
    this.transport.close();
  }

  /** Releases everything the session holds; called once the socket is gone. */
  finish(): void {
    if (this.phase === 'closed') return;
    if (this.phase !== 'closing') this.transition('closing', 'finish');
    this.transition('closed');
    for (const slot of this.slots.values()) this.env.directory.release(slot.device.numId, this);
    for (const o of this.outbound.values()) if (o.kind === 'command') o.resolve(true);
    this.outbound.clear();
    this.env.ingress.forget(this.resumeFromSink);
    this.slots.clear();
  }
}

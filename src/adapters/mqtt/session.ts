import type { IPublishPacket, Packet } from 'mqtt-packet';
import type { Logger } from 'pino';
import { type Device, type DeviceConfig, type Registry, type RegistryKey } from '../../domain/model.js';
import { parsePublishTopic, type PublishTopic } from '../../domain/mqtt-topics.js';
import type { AuthOutcome } from '../../services/device-auth.js';
import type { GatewayErrorRing } from '../../services/gateway-error-history.js';
import type { LiveSession } from '../../services/session-directory.js';
import type { ConnectContext, DeviceLogLevel, GatewayContext, PendingDeviceError, PubackContext, PublishContext, SubscribeContext } from './handlers/context.js';
import { authenticationEnded, authenticationFailed, handleConnect } from './handlers/connect.js';
import { handlePublish } from './handlers/publish.js';
import { handleSubscribe, handleUnsubscribe } from './handlers/subscribe.js';
import { handlePuback } from './handlers/puback.js';
import { deviceLogs } from '../../domain/device-log-level.js';
import { configLoaded, deliverCommand, deliverLatestConfig, redeliverConfigs, supersede } from './outbound.js';
import * as gateway from './gateway.js';
import {
  CLOSE_STATUS,
  type AttachLookup,
  type AttachRequest,
  type CloseReason,
  type DeviceSlot,
  type IoRequestKind,
  type Outbound,
  type Phase,
  type SessionCoreEnv,
  type SessionInputs,
  type SessionTransport,
} from './session-types.js';

const ALLOWED: Record<Phase, readonly Phase[]> = {
  'awaiting-connect': ['authenticating', 'closing'],
  authenticating: ['connected', 'closing'],
  connected: ['closing'],
  closing: ['closed'],
  closed: [],
};

/**
 * One MQTT connection's protocol state (spec §5). It never touches a socket, a timer or a promise:
 * packets, clock ticks and the answers to its I/O requests (authentication, store reads, commits)
 * come in as method calls; packets go out through the transport and requests through
 * `env.ports`, which answer later. Every rule is then testable without a network, synchronously.
 */
export class MqttSession
  implements LiveSession, SessionInputs, ConnectContext, PublishContext, SubscribeContext, PubackContext, GatewayContext
{
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
  /** QoS 1 deliveries awaiting their PUBACK, by packet ID; made on first use (see `outbound`). */
  private outboundById: Map<number, Outbound> | undefined;
  private nextMessageId = 1;
  inflight = 0;
  private rateWindowStart = 0;
  private rateCount = 0;
  paused = false;
  errorDevices: Map<string, string | null | PendingDeviceError> | undefined;
  errorRing: GatewayErrorRing | undefined;
  /** Parsed publish topics of this connection, made on the first PUBLISH (idle devices pay nothing). */
  private topics: Map<string, PublishTopic | undefined> | undefined;
  /** A gateway subscribed to its errors topic (spec §6.5). */
  errorsSubscribed = false;
  /** An attach is under way: later packets wait so that they see its outcome, in order. */
  attaching: { packet: IPublishPacket; deviceId: string } | undefined;
  /** The directory's revocation mark when the last device lookup (authentication, attach) began. */
  private lookupMark = 0;
  /** QoS 1 deliveries awaiting their PUBACK, by packet ID: most idle devices never have any, and pay nothing for the map. */
  get outbound(): Map<number, Outbound> {
    return (this.outboundById ??= new Map());
  }

  /** Created on first use: most connections never log, and a child logger per connection costs memory. */
  private logger: Logger | undefined;
  /** Made on first use, as the logger: most connections never wait for the sink. */
  private resumer: (() => void) | undefined;

  constructor(
    readonly env: SessionCoreEnv,
    readonly transport: SessionTransport,
    readonly connId: string,
  ) {
    this.openedAt = env.clock.now();
    this.lastPacketAt = this.openedAt;
  }

  /** The connection's logger: its connId and, once known, the device's identity on every line. */
  get log(): Logger {
    const own = this.own;
    return (this.logger ??= this.env.log.child(own === undefined ? { connId: this.connId } : { connId: this.connId, deviceId: own.device.id, registry: own.registry.registry }));
  }

  /** Called once the device is known (`own` set): later log lines name it. */
  identify(): void {
    this.logger = undefined;
  }

  /** Resumes reads once the sink has room again (handed to holdIfSaturated; the same function every time). */
  get resumeFromSink(): () => void {
    return (this.resumer ??= (): void => this.contain('resuming reads', () => this.resumeReading()));
  }

  send(packet: Packet): void {
    this.transport.send(packet);
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

  /**
   * A decoded packet from the client. `now`: the connection reads the clock once for all the
   * packets of a socket read.
   */
  handle(packet: Packet, now = this.env.clock.now()): void {
    if (this.phase === 'closing' || this.phase === 'closed') return;
    this.lastPacketAt = now;
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
    if (this.attaching) {
      // Backpressure, not a violation: a gateway may pipeline a burst of attaches.
      this.pending.push(packet);
      if (this.pending.length >= this.env.limits.maxPendingBeforeConnack) this.pauseReading();
      return;
    }
    this.dispatch(packet);
  }

  /**
   * Runs a step of this connection called from outside its own inputs (the ingress, the directory
   * and other sessions): an exception in it is our bug, and it ends this connection, never the
   * caller or the process.
   */
  contain(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.failed(what, err);
    }
  }

  /** Our bug while `what`: logged, and this connection (only) is closed (docs/compat.md C-MQTT-FAULTS). */
  failed(what: string, err: unknown): void {
    try {
      this.log.error({ err }, `bug while ${what}; closing the connection`);
      this.close('internal-error');
    } catch (again) {
      try {
        this.log.error({ err: again }, 'bug while closing a connection');
      } catch {
        // Not even the log works: the socket still goes below.
      }
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

  /** Handles held packets in order until one starts an attach or none are left. */
  drainPending(): void {
    while (!this.attaching && this.pending.length > 0 && this.phase === 'connected') this.dispatch(this.pending.shift()!);
    if (!this.attaching && this.pending.length === 0) this.resumeReading();
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
        return this.transport.sendPingresp();
      case 'disconnect':
        return this.close('client-disconnect');
      case 'connect':
        // [MQTT-3.1.0-2] a second CONNECT is a protocol violation.
        return this.close('protocol-error');
      default:
        // QoS 2 flow packets and server-to-client packet types (spec §6.6 for gateways).
        return gateway.unexpectedPacket(this, packet);
    }
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
    const outbound = this.outboundById;
    if (outbound === undefined) return;
    for (const [id, o] of outbound) {
      if (o.kind === 'command' && now >= o.deadline) {
        o.resolve(true);
        // The API caller stops waiting (docs/compat.md C-CMD-ACK); the device may still ack it.
        supersede(this, o.slot, id);
      } else if (o.kind === 'superseded' && now >= o.deadline) {
        outbound.delete(id);
      }
    }
  }

  /** The socket closed or failed underneath us. */
  socketClosed(reason: 'socket-closed' | 'socket-error'): void {
    if (this.phase === 'closed') return;
    if (this.phase !== 'closing') this.close(reason);
    this.finish();
  }

  // ---- answers to the session's requests (SessionInputs) ----

  authenticated(clientId: string, outcome: AuthOutcome): void {
    authenticationEnded(this, clientId, outcome);
  }

  configLoaded(numId: string, config: DeviceConfig | undefined): void {
    const slot = this.slotByNumId(numId);
    if (slot && config) configLoaded(this, slot, config);
  }

  /**
   * The device as stored once this session held it: a block, delete or key removal that the API
   * made while authentication (or an attach) was under way found no session to end, and is applied
   * now (docs/compat.md C-MQTT-REVOKE).
   */
  rechecked(numId: string, device: Device | undefined): void {
    if (!this.env.directory.holds(numId, this)) return;
    const used = this.credentialKey(numId);
    if (!device) this.end(numId, 'device-deleted');
    else if (device.blocked) this.end(numId, 'device-blocked');
    else if (used !== undefined && !device.credentials.some((c) => c.key === used)) this.end(numId, 'credentials-changed');
  }

  attachLookedUp(lookup: AttachLookup): void {
    gateway.attachLookedUp(this, lookup);
  }

  errorDeviceFound(deviceId: string, numId: string | undefined): void {
    gateway.errorDeviceFound(this, deviceId, numId);
  }

  ioFailed(kind: IoRequestKind, key: string, error: unknown): void {
    switch (kind) {
      case 'auth':
        this.log.error({ err: error }, 'mqtt authentication error');
        return authenticationFailed(this);
      case 'attach':
        this.log.warn({ err: error, deviceId: key }, 'attach failed');
        return gateway.attachLookupFailed(this);
      case 'error-device':
        return gateway.errorDeviceLookupFailed(this, key);
      case 'config':
        return this.log.warn({ err: error }, 'could not read the device config for delivery');
      case 'recheck':
        return this.log.warn({ err: error }, 'could not re-check a device after connecting');
      case 'config-ack':
        return this.log.warn({ err: error }, 'could not record a config acknowledgement');
      case 'gateway-access':
        return this.log.warn({ err: error }, 'could not record gateway access');
    }
  }

  answerCrashed(error: unknown): void {
    this.failed('handling an I/O answer', error);
  }

  // ---- LiveSession ----

  end(numId: string, reason: 'device-blocked' | 'device-deleted' | 'credentials-changed' | 'device-unbound' | 'session-taken-over'): void {
    // Called from other sessions and the API: a failure here is this session's, not the caller's.
    this.contain(`ending for ${reason}`, () => {
      if (this.own?.device.numId === numId && reason !== 'device-unbound') return this.close(reason);
      gateway.endAttached(this, numId, reason);
    });
  }

  // ---- rules whose breach closes a device's connection but only tells a gateway (gateway.ts) ----

  invalidPublishTopic(p: Packet): void {
    gateway.invalidPublishTopic(this, p);
  }

  publishForUnknownDevice(p: Packet, device: string, kind: string): void {
    gateway.publishForUnknownDevice(this, p, device, kind);
  }

  subscribeForUnknownDevice(p: Packet, device: string, filter: string): number {
    return gateway.subscribeForUnknownDevice(this, p, device, filter);
  }

  /** The errors topic carries messages only for a gateway's own subscription (docs/compat.md C-ERRORS-SUB). */
  subscribeErrors(slot: DeviceSlot, qos: 0 | 1 | undefined): void {
    if (slot === this.own) this.errorsSubscribed = qos !== undefined;
  }

  controlMessage(p: Packet, kind: 'attach' | 'detach', device: string): void {
    gateway.controlMessage(this, p, kind, device);
  }

  deviceViolation(slot: DeviceSlot, reason: CloseReason): void {
    gateway.deviceViolation(this, slot, reason);
  }

  unexpectedPacketId(packet: Packet): void {
    gateway.unexpectedPacketId(this, packet);
  }

  configUpdated(numId: string): void {
    this.contain('delivering an updated config', () => {
      const slot = this.slotByNumId(numId);
      if (slot && slot.configQos !== undefined && this.phase === 'connected') deliverLatestConfig(this, slot);
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

  // ---- requests (answered later as inputs) ----

  requestAuth(clientId: string, password: string | undefined): void {
    this.lookupMark = this.env.directory.revocationMark();
    this.env.ports.requestAuth(this, clientId, password);
  }

  requestConfig(numId: string): void {
    this.env.ports.requestConfig(this, numId);
  }

  requestAttachLookup(request: AttachRequest): void {
    this.lookupMark = this.env.directory.revocationMark();
    this.env.ports.requestAttachLookup(this, request);
  }

  requestErrorDevice(registryKey: RegistryKey, deviceId: string): void {
    this.env.ports.requestErrorDevice(this, registryKey, deviceId);
  }

  submitEvent(numId: string, topic: string, attributes: Readonly<Record<string, string>>, data: Uint8Array, at: number, token: number): void {
    this.env.ports.submitEvent(numId, topic, attributes, data, at, this, token);
  }

  submitState(numId: string, registry: Registry, attributes: Readonly<Record<string, string>>, data: Uint8Array, at: number, token: number): void {
    this.env.ports.submitState(numId, registry, attributes, data, at, this, token);
  }

  recordConfigAck(numId: string, version: number, at: number): void {
    this.env.ports.recordConfigAck(this, numId, version, at);
  }

  recordGatewayAccess(numId: string, gatewayId: string, at: number): void {
    this.env.ports.recordGatewayAccess(this, numId, gatewayId, at);
  }

  /**
   * Holds the device (its previous holder is ended by the directory) and, if a block, delete or
   * key change may have landed since it was looked up, re-reads it: `rechecked`.
   */
  claimDevice(numId: string): void {
    this.env.directory.claim(numId, this);
    if (!this.env.directory.unchangedSince(this.lookupMark)) this.env.ports.requestRecheck(this, numId);
  }

  releaseDevice(numId: string): void {
    this.env.directory.release(numId, this);
  }

  // ---- helpers for handlers ----

  slotByNumId(numId: string): DeviceSlot | undefined {
    for (const s of this.slots.values()) if (s.device.numId === numId) return s;
    return undefined;
  }

  /**
   * The registry as currently known (the API may have changed routing since connect); the last
   * packet's time stands for the clock.
   */
  registryOf(slot: DeviceSlot): Registry {
    const fresh = this.env.registries.peek(slot.registryName, this.lastPacketAt);
    if (fresh) slot.registry = fresh;
    return slot.registry;
  }

  allocateMessageId(): number {
    for (let i = 0; i < 65535; i++) {
      const id = this.nextMessageId;
      this.nextMessageId = id === 65535 ? 1 : id + 1;
      if (this.outboundById?.has(id) !== true) return id;
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

  /** A message goes to the ingress: count it in flight and stop reading when the window is full. */
  beginIngest(): void {
    this.inflight++;
    if (this.inflight >= this.env.limits.maxInflightIngest) this.pauseReading();
    else if (this.env.ports.holdIfSaturated(this.resumeFromSink)) this.pauseReading();
  }

  /**
   * StoredTarget: messages of this connection are committed (token = the packet ID for QoS 1, 0
   * for QoS 0) or failed. Only now may their PUBACKs go out (spec §5.4).
   */
  stored(tokens: readonly number[], from: number, to: number, error: unknown): void {
    // No closure per call (contain's): this runs for every run of messages a commit holds.
    try {
      this.onStored(tokens, from, to, error);
    } catch (err) {
      this.failed('acknowledging stored messages', err);
    }
  }

  private onStored(tokens: readonly number[], from: number, to: number, error: unknown): void {
    this.inflight -= to - from;
    if (error !== undefined) {
      // Not stored: no PUBACK. Closing makes the client resend what it has not had acknowledged.
      this.log.warn({ err: error }, 'device messages could not be stored');
      return this.close('sink-failed');
    }
    if (this.phase === 'connected') {
      for (let i = from; i < to; i++) {
        const token = tokens[i]!;
        if (token !== 0) this.transport.sendPuback(token);
      }
    }
    if (this.paused && !this.attaching && !this.env.ports.holdIfSaturated(this.resumeFromSink)) this.resumeReading();
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
  deviceLog(slot: DeviceSlot, level: DeviceLogLevel, eventType: string, fields: Record<string, unknown> = {}): void {
    if (!deviceLogs(slot.device, slot.registry, level)) return;
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
    if (this.own) this.env.metrics.sessionClosed(this.own);
    if (this.own && this.errorRing) this.env.gatewayErrors.close(this.own.device.numId, this.errorRing, this.env.clock.now());
    for (const slot of this.slots.values()) this.env.directory.release(slot.device.numId, this);
    for (const o of this.outboundById?.values() ?? []) if (o.kind === 'command') o.resolve(true);
    this.outboundById = undefined;
    if (this.resumer !== undefined) this.env.ports.forget(this.resumer);
    this.slots.clear();
  }
}

import type { IPublishPacket, Packet } from 'mqtt-packet';
import type { Logger } from 'pino';
import type { Registry, RegistryKey } from '../../../domain/model.js';
import type { GatewayErrorRing } from '../../../services/gateway-error-history.js';
import type { PublishTopic } from '../../../domain/mqtt-topics.js';
import type { AttachRequest, CloseReason, DeviceSlot, Outbound, Phase, SessionCoreEnv } from '../session-types.js';

/**
 * What the packet handlers (and the gateway and outbound rules) may read and do on their
 * connection: narrower than the session, which also owns the inputs, timers and LiveSession side.
 * Every request for I/O goes through a method here and is answered later as a session input; none
 * returns a promise.
 */

/** The synchronous services a handler uses directly; I/O and the directory only through the context. */
export type HandlerEnv = Pick<SessionCoreEnv, 'clock' | 'limits' | 'activity' | 'metrics' | 'registries' | 'gatewayErrors'>;

export type DeviceLogLevel = 'ERROR' | 'INFO' | 'DEBUG';

/** What every handler reads and may do. */
export interface HandlerContext {
  readonly env: HandlerEnv;
  readonly phase: Phase;
  /** The connected device (undefined until authenticated). */
  readonly own: DeviceSlot | undefined;
  /** Devices the connection serves, by string ID: the own device and, for gateways, attached ones. */
  readonly slots: ReadonlyMap<string, DeviceSlot>;
  readonly isGateway: boolean;
  readonly log: Logger;
  send(packet: Packet): void;
  close(reason: CloseReason): void;
  /** A device-log line, honouring the device's or else the registry's logLevel (spec §1.8, §9). */
  deviceLog(slot: DeviceSlot, level: DeviceLogLevel, eventType: string, fields?: Record<string, unknown>): void;
}

/** CONNECT and the end of authentication (handlers/connect.ts). */
export interface ConnectContext extends HandlerContext {
  own: DeviceSlot | undefined;
  readonly slots: Map<string, DeviceSlot>;
  keepaliveMs: number;
  jwtDeadline: number;
  transition(to: Phase, reason?: string): void;
  requestAuth(clientId: string, password: string | undefined): void;
  /** The device is known (`own` is set): later log lines of the connection name it. */
  identify(): void;
  /** Becomes the device's holder (ending the previous one) and re-reads the device if it may have changed. */
  claimDevice(numId: string): void;
  /** Handles the packets held so far, in order. */
  drainPending(): void;
}

/** Cloud-to-device deliveries (outbound.ts). */
export interface OutboundContext extends HandlerContext {
  /** Deliveries awaiting a PUBACK, by packet ID. */
  readonly outbound: Map<number, Outbound>;
  allocateMessageId(): number;
  /** The device's current config, answered by the session's `configLoaded` input. */
  requestConfig(numId: string): void;
}

/** PUBACK from the device (handlers/puback.ts). */
export interface PubackContext extends HandlerContext {
  readonly outbound: Map<number, Outbound>;
  unexpectedPacketId(packet: Packet): void;
  recordConfigAck(numId: string, version: number, at: number): void;
}

/** SUBSCRIBE and UNSUBSCRIBE (handlers/subscribe.ts). */
export interface SubscribeContext extends OutboundContext {
  /** Counts the request against the per-connection rate; false: over it, and the connection is closed. */
  withinRate(): boolean;
  /** The SUBACK code for a filter naming a device the connection does not serve. */
  subscribeForUnknownDevice(p: Packet, device: string, filter: string): number;
  subscribeErrors(slot: DeviceSlot, qos: 0 | 1 | undefined): void;
}

/** Device-to-cloud PUBLISH (handlers/publish.ts). */
export interface PublishContext extends HandlerContext {
  readonly lastPacketAt: number;
  /** Counts the request against the per-connection rate; false: over it, and the connection is closed. */
  withinRate(): boolean;
  parseTopic(topic: string): PublishTopic | undefined;
  invalidPublishTopic(p: Packet): void;
  publishForUnknownDevice(p: Packet, device: string, kind: string): void;
  controlMessage(p: Packet, kind: 'attach' | 'detach', device: string): void;
  deviceViolation(slot: DeviceSlot, reason: CloseReason): void;
  /** The registry as currently known (the API may have changed routing since connect). */
  registryOf(slot: DeviceSlot): Registry;
  /** Counts a message in flight to the ingress, pausing reads when the window is full. */
  beginIngest(): void;
  /** The answer is the session's `stored(tokens, …)`; a token is the packet ID for QoS 1, else 0. */
  submitEvent(numId: string, topic: string, attributes: Readonly<Record<string, string>>, data: Uint8Array, at: number, token: number): void;
  submitState(numId: string, registry: Registry, attributes: Readonly<Record<string, string>>, data: Uint8Array, at: number, token: number): void;
}

/** A gateway error whose device is being looked up: recorded on it once found. */
export interface PendingDeviceError {
  at: number;
  status: { code: number; message: string };
}

/** Gateways: attach, detach and the errors topic (gateway.ts). */
export interface GatewayContext extends OutboundContext {
  readonly slots: Map<string, DeviceSlot>;
  /** An attach under way: later packets wait for its outcome, in order. */
  attaching: { packet: IPublishPacket; deviceId: string } | undefined;
  /** A gateway subscribed to its errors topic (spec §6.5). */
  readonly errorsSubscribed: boolean;
  /**
   * Devices named in gateway errors, by string ID: numId, null for no such device, or the error to
   * record while the lookup is under way. Repeats cost no store read.
   */
  errorDevices: Map<string, string | null | PendingDeviceError> | undefined;
  /** The gateway's last errors, opened at its first (docs/compat.md C-CONSOLE-GATEWAY-ERRORS). */
  errorRing: GatewayErrorRing | undefined;
  registryOf(slot: DeviceSlot): Registry;
  claimDevice(numId: string): void;
  releaseDevice(numId: string): void;
  drainPending(): void;
  requestAttachLookup(request: AttachRequest): void;
  requestErrorDevice(registryKey: RegistryKey, deviceId: string): void;
  recordGatewayAccess(numId: string, gatewayId: string, at: number): void;
}

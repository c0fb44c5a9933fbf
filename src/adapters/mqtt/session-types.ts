import type { Packet } from 'mqtt-packet';
import type { Logger } from 'pino';
import type { TokenCheck } from '../../domain/gateway-attach.js';
import type { Device, DeviceConfig, GatewayAuthMethod, Registry, RegistryKey } from '../../domain/model.js';
import type { ActivityRecorder } from '../../services/activity-recorder.js';
import type { GatewayErrorHistory } from '../../services/gateway-error-history.js';
import type { AuthOutcome } from '../../services/device-auth.js';
import type { StoredTarget } from '../../services/device-ingress.js';
import type { Clock, Store } from '../../services/ports.js';
import type { RegistryCache } from '../../services/registry-cache.js';
import type { SessionRegistry } from '../../services/session-directory.js';
import type { BridgeMetrics, RegistryMeter } from '../../observability/metrics.js';

/** Lifecycle phases; changed only through `MqttSession.transition`. */
export type Phase = 'awaiting-connect' | 'authenticating' | 'connected' | 'closing' | 'closed';

/** Why a connection ended: every protocol violation and limit maps to one of these. */
export type CloseReason =
  | 'client-disconnect'
  | 'socket-closed'
  | 'socket-error'
  | 'protocol-error'
  | 'packet-too-large'
  | 'connect-timeout'
  | 'keepalive-timeout'
  | 'idle-timeout'
  | 'jwt-expired'
  | 'auth-failed'
  | 'unsupported-protocol'
  | 'session-taken-over'
  | 'invalid-topic'
  | 'qos2-publish'
  | 'no-event-route'
  | 'state-rate-exceeded'
  | 'message-rate-exceeded'
  | 'payload-too-large'
  | 'control-message-from-non-gateway'
  | 'too-many-pending-packets'
  | 'device-blocked'
  | 'device-deleted'
  | 'credentials-changed'
  | 'sink-failed'
  | 'too-many-unacked-messages'
  | 'write-backlog-exceeded'
  /** Our own bug, contained at the connection that hit it. */
  | 'internal-error'
  | 'server-shutdown';

/** Disconnect reasons a device log reports with a status (spec §5.2, §9). */
export const CLOSE_STATUS: Partial<Record<CloseReason, { code: number; message: string }>> = {
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

/** What the socket side does for the session; the session never sees a socket. */
export interface SessionTransport {
  send(packet: Packet): void;
  /** The PUBACK of a stored message (the hot path: no packet object, no generic encoder). */
  sendPuback(messageId: number): void;
  sendPingresp(): void;
  /** Ends the connection once what was sent has been written. */
  close(): void;
  pause(): void;
  resume(): void;
}

/** Limits of spec §2.2 and §5.8, with the reactions of docs/compat.md. */
export interface MqttLimits {
  connectTimeoutMs: number;
  /** Packets pipelined behind CONNECT that are held while authenticating. */
  maxPendingBeforeConnack: number;
  idleTimeoutMs: number;
  /** 0 disables the per-connection rate limit. */
  maxMessagesPerSecond: number;
  /** QoS 1 messages awaiting the sink before the connection stops reading. */
  maxInflightIngest: number;
  maxTelemetryBytes: number;
  maxStateBytes: number;
  stateMinIntervalMs: number;
  configRedeliveryMs: number;
  commandAckTimeoutMs: number;
  maxAttachedPerGateway: number;
  /** QoS 1 deliveries awaiting a PUBACK (configs, replaced configs, commands) per connection. */
  maxUnackedOutbound: number;
}

export const DEFAULT_MQTT_LIMITS: MqttLimits = {
  connectTimeoutMs: 10_000,
  maxPendingBeforeConnack: 64,
  idleTimeoutMs: 20 * 60_000,
  maxMessagesPerSecond: 100,
  maxInflightIngest: 64,
  maxTelemetryBytes: 256 * 1024,
  maxStateBytes: 64 * 1024,
  stateMinIntervalMs: 1000,
  configRedeliveryMs: 10_000,
  commandAckTimeoutMs: 2_000,
  maxAttachedPerGateway: 1000,
  // Room for a config and a command to every device a full gateway holds, far below the 65,535
  // packet IDs (docs/compat.md C-MQTT-UNACKED).
  maxUnackedOutbound: 4096,
};

/**
 * What the session asks of the outside world. Every call returns at once and never throws; each
 * answer comes back later as an input of `target` (`SessionInputs`), failures included, so the
 * session itself never awaits anything.
 */
export interface SessionPorts {
  /** Answered by `authenticated` (or `ioFailed('auth')`). */
  requestAuth(target: SessionInputs, clientId: string, password: string | undefined): void;
  /** The device's current config, for delivery: answered by `configLoaded`. */
  requestConfig(target: SessionInputs, numId: string): void;
  /** The device as stored now, once the session holds it: answered by `rechecked`. */
  requestRecheck(target: SessionInputs, numId: string): void;
  /** What an attach decision needs to know (spec §6.2): answered by `attachLookedUp`. */
  requestAttachLookup(target: SessionInputs, request: AttachRequest): void;
  /** Which device a gateway error names, by string ID: answered by `errorDeviceFound`. */
  requestErrorDevice(target: SessionInputs, registryKey: RegistryKey, deviceId: string): void;
  /**
   * Telemetry into the ingress: `target.stored(tokens, …)` once it is durably committed or failed.
   * The per-message path: no promise, closure or request object is made for it.
   */
  submitEvent(numId: string, topic: string, attributes: Readonly<Record<string, string>>, data: Uint8Array, at: number, target: StoredTarget, token: number): void;
  /** A state report into the store (and, best effort, the sink): `target.stored(tokens, …)` likewise. */
  submitState(numId: string, registry: Registry, attributes: Readonly<Record<string, string>>, data: Uint8Array, at: number, target: StoredTarget, token: number): void;
  /** Best effort: a failure comes back only as `ioFailed('config-ack')`, for the log. */
  recordConfigAck(target: SessionInputs, numId: string, version: number, at: number): void;
  /** Best effort, like `recordConfigAck`. */
  recordGatewayAccess(target: SessionInputs, numId: string, gatewayId: string, at: number): void;
  /** True while the sink wants reading stopped; `resume` is called once it drains. */
  holdIfSaturated(resume: () => void): boolean;
  forget(resume: () => void): void;
}

/** The kinds of request whose failure comes back through `SessionInputs.ioFailed`. */
export type IoRequestKind = 'auth' | 'config' | 'recheck' | 'attach' | 'error-device' | 'config-ack' | 'gateway-access';

/** The answers the ports feed back into a session: inputs like packets and clock ticks. */
export interface SessionInputs extends StoredTarget {
  /** The verdict on the CONNECT's client ID and password. */
  authenticated(clientId: string, outcome: AuthOutcome): void;
  /** `config` undefined: the device no longer exists. */
  configLoaded(numId: string, config: DeviceConfig | undefined): void;
  rechecked(numId: string, device: Device | undefined): void;
  attachLookedUp(lookup: AttachLookup): void;
  /** `numId` undefined: no device has that ID in the gateway's registry. */
  errorDeviceFound(deviceId: string, numId: string | undefined): void;
  /** A request could not be carried out (store or verifier unavailable); `key` names what it was about. */
  ioFailed(kind: IoRequestKind, key: string, error: unknown): void;
  /** A bug while handling an answer: the session ends rather than run on in an unknown state. */
  answerCrashed(error: unknown): void;
}

/** An attach to decide: what a gateway sent, and what the session knows of the gateway. */
export interface AttachRequest {
  gatewayNumId: string;
  /** The gateway's auth method as the session knows it, used if the gateway cannot be re-read. */
  knownMethod: GatewayAuthMethod;
  registry: Registry;
  deviceId: string;
  /** The device JWT of the attach payload ('' when none was given). */
  token: string;
}

/** What the store and the authenticator said about an attach (the facts of `decideAttach`). */
export interface AttachLookup {
  /** The gateway's auth method as stored now: the API may have changed it since CONNECT. */
  method: GatewayAuthMethod;
  device: Device | undefined;
  bound: boolean;
  token: TokenCheck;
  /** The credential the device's JWT verified with (undefined: no token was checked). */
  credentialKey: string | undefined;
}

/**
 * What a session may use: synchronous, in-memory services, and `ports` for everything that does
 * I/O. Nothing here returns a promise.
 */
export interface SessionCoreEnv {
  clock: Clock;
  limits: MqttLimits;
  ports: SessionPorts;
  registries: Pick<RegistryCache, 'peek'>;
  /** Where the bridge registers the sessions it serves (the LiveSessions service). */
  directory: SessionRegistry;
  activity: Pick<ActivityRecorder, 'heartbeat' | 'error' | 'configSent'>;
  /** Where gateways' errors-topic messages are kept for the API (docs/compat.md C-CONSOLE-GATEWAY-ERRORS). */
  gatewayErrors: Pick<GatewayErrorHistory, 'open' | 'close'>;
  metrics: BridgeMetrics;
  log: Logger;
}

/** The services of a bridge, shared by every connection: the sessions' and what the bridge itself uses. */
export interface SessionEnv extends SessionCoreEnv {
  store: Store;
  registries: RegistryCache;
  activity: ActivityRecorder;
}

export type QoS01 = 0 | 1;

/**
 * One device served by the connection: the connected device itself, or (for a gateway) a device
 * attached through it. Per-device rules (state rate, config delivery, commands) live here.
 */
export interface DeviceSlot {
  device: Device;
  registry: Registry;
  /** Cached so that routing a message builds no string. */
  registryName: string;
  /** Sink attributes by subfolder, built once per subfolder (made on the first message: idle devices pay nothing). */
  attributes: Map<string, Readonly<Record<string, string>>> | undefined;
  lastStateAt: number;
  configQos: QoS01 | undefined;
  /** Highest config version sent on this connection. */
  sentConfigVersion: number;
  pendingConfig: { messageId: number; version: number; sentAt: number; payload: Buffer } | undefined;
  /**
   * Config SUBSCRIBEs already answered whose delivery waits for the config read: each gets one
   * when it comes, even of a version already sent (spec §5.5).
   */
  subscribeDeliveries: number;
  /** A config read for a SUBSCRIBE is under way: later SUBSCRIBEs share it instead of reading again. */
  subscribeReadPending: boolean;
  /** Commands subscriptions by filter; made on the first. */
  commandFilters: Map<string, QoS01> | undefined;
  /** The PEM of the credential the device authenticated with (undefined: association only). */
  credentialKey: string | undefined;
  /** Metrics tallies of the device's registry, looked up at its first message (observability/metrics.ts). */
  meter?: RegistryMeter;
  /** The connection is counted as an open session of the registry. */
  sessionCounted?: boolean;
}

export type Outbound =
  | { kind: 'config'; slot: DeviceSlot; version: number }
  /** A config delivery a newer version replaced: its ID stays taken until the device acks it or the deadline passes. */
  | { kind: 'superseded'; slot: DeviceSlot; deadline: number }
  | { kind: 'command'; slot: DeviceSlot; resolve: (delivered: boolean) => void; deadline: number };

import type { Packet } from 'mqtt-packet';
import type { Logger } from 'pino';
import type { Device, Registry } from '../../domain/model.js';
import type { ActivityRecorder } from '../../services/activity-recorder.js';
import type { DeviceAuthenticator } from '../../services/device-auth.js';
import type { DeviceIngress } from '../../services/device-ingress.js';
import type { Clock, Store } from '../../services/ports.js';
import type { RegistryCache } from '../../services/registry-cache.js';
import type { SessionDirectory } from '../../services/session-directory.js';
import type { BridgeMetrics } from '../../observability/metrics.js';

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

/** What the socket side does for the session; the session never sees a socket. */
export interface SessionTransport {
  send(packet: Packet): void;
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

/** The services a session uses; shared by every connection of a bridge. */
export interface SessionEnv {
  clock: Clock;
  limits: MqttLimits;
  auth: DeviceAuthenticator;
  ingress: DeviceIngress;
  store: Store;
  registries: RegistryCache;
  directory: SessionDirectory;
  activity: ActivityRecorder;
  metrics: BridgeMetrics;
  log: Logger;
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
  /** Sink attributes by subfolder, built once per subfolder. */
  attributes: Map<string, Readonly<Record<string, string>>>;
  lastStateAt: number;
  configQos: QoS01 | undefined;
  /** Highest config version sent on this connection. */
  sentConfigVersion: number;
  pendingConfig: { messageId: number; version: number; sentAt: number; payload: Buffer } | undefined;
  commandFilters: Map<string, QoS01>;
  /** The PEM of the credential the device authenticated with (undefined: association only). */
  credentialKey: string | undefined;
}

export type Outbound =
  | { kind: 'config'; slot: DeviceSlot; version: number }
  /** A config delivery a newer version replaced: its ID stays taken until the device acks it or the deadline passes. */
  | { kind: 'superseded'; slot: DeviceSlot; deadline: number }
  | { kind: 'command'; slot: DeviceSlot; resolve: (delivered: boolean) => void; deadline: number };

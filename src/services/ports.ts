import type { PackedTelemetry } from './telemetry-packer.js';
import type { BindLimits } from '../domain/bindings.js';
import type { Page } from '../domain/paging.js';
import type { GatewayErrorRecord } from './gateway-error-history.js';
import type {
  Device,
  DeviceActivity,
  DeviceConfig,
  DeviceState,
  GatewayType,
  IamPolicy,
  NewDevice,
  NewRegistry,
  Registry,
  RegistryKey,
  X509Details,
  PublicKeyFormat,
} from '../domain/model.js';
import type { ServiceAccount, ServiceAccountKey } from '../domain/service-accounts.js';

/**
 * Ports: what the services need from the outside world. Everything that will one day have a
 * networked implementation is async from day one.
 */

export interface Clock {
  now(): number;
}

/** Timers through a port like the clock, so that tests move time instead of waiting. */
export interface Timers {
  /** Calls `fn` once, `delayMs` from now; returns a function that cancels it. Never keeps the process alive. */
  schedule(delayMs: number, fn: () => void): () => void;
}

export interface DeviceListFilter {
  deviceIds?: readonly string[];
  deviceNumIds?: readonly string[];
  gatewayType?: GatewayType;
  /** Only devices bound to this gateway (numId). */
  boundToGateway?: string;
  /** Only gateways this device (numId) is bound to. */
  gatewaysOfDevice?: string;
  /** Only devices whose ID starts with this (docs/compat.md C-CONSOLE-PREFIX). */
  idPrefix?: string;
  /** Only blocked (true) or only not blocked (false) devices (docs/compat.md C-CONSOLE-PREFIX). */
  blocked?: boolean;
}

/**
 * Where devices are connected right now, cluster-wide as far as this node knows (LiveSessions):
 * what the console's "online now" reads (docs/compat.md C-CONSOLE-CONNECTION).
 */
export interface Presence {
  isConnected(numId: string): boolean;
  /** The gateway (numId) a device is attached through, when its session is held on this node. */
  attachedThrough(numId: string): string | undefined;
}

/**
 * What the MQTT bridge reported on a gateway's errors topic, on any node (LiveSessions): what the
 * console's gateway page reads (docs/compat.md C-CONSOLE-GATEWAY-ERRORS).
 */
export interface GatewayErrorSource {
  /** Newest first; empty when none are known. */
  gatewayErrors(gatewayNumId: string): Promise<GatewayErrorRecord[]>;
}

export type { Page } from '../domain/paging.js';
export type { BindLimits } from '../domain/bindings.js';

/**
 * A device as a fleet import hands it to the store: its numId is the one it had before (an import
 * is the only way to choose one), its config the latest version as given. Activity is not imported.
 */
export type ImportedDevice = Omit<Device, 'revision'>;

/** A gateway binding of an import, by device IDs of the imported registry. */
export interface ImportedBinding {
  gatewayId: string;
  deviceId: string;
}

/** What one registry's import did; skipped items were already stored exactly as given. */
export interface ImportResult {
  registryCreated: boolean;
  devicesCreated: number;
  devicesSkipped: number;
  bindingsCreated: number;
  bindingsSkipped: number;
}

export interface ConfigUpdate {
  /** 0 = unconditional. */
  versionToUpdate: number;
  binaryData: Uint8Array;
  at: number;
  /** Minimum spacing between config versions of one device (spec §2.2). */
  minIntervalMs: number;
}

/** Patch of the activity timestamps; absent keys are left unchanged. */
export type ActivityPatch = Partial<DeviceActivity>;

/**
 * The registry store. Operations are coarse and atomic: each either happens whole or throws an
 * ApiError (ALREADY_EXISTS, NOT_FOUND, FAILED_PRECONDITION, RESOURCE_EXHAUSTED, ...) and changes
 * nothing. There is deliberately no generic transaction: writes that depend on what was read are
 * conditional instead (a registry's or device's `revision`, a policy's etag), and a store refuses
 * a write made from a stale read with ABORTED (reason REVISION_CONFLICT or ETAG_MISMATCH).
 */
export interface Store {
  /** Stores revision 1 and returns the registry as stored. */
  createRegistry(registry: NewRegistry): Promise<Registry>;
  getRegistry(key: RegistryKey): Promise<Registry | undefined>;
  /** Registries of one project/location ordered by ID, starting after `after`. */
  listRegistries(project: string, location: string, after: string | undefined, limit: number): Promise<Page<Registry>>;
  /**
   * Every registry of every project, ordered by (project, location, ID), starting after the
   * registry named `after` (`projects/p/locations/l/registries/r`, the `next` of a page). For work
   * done across the installation (creating the Pub/Sub topics registries name at start).
   */
  listAllRegistries(after: string | undefined, limit: number): Promise<Page<Registry>>;
  /**
   * Replaces the registry's mutable fields if `registry.revision` is still the stored one, and
   * returns it with the next revision. NOT_FOUND if absent; ABORTED (REVISION_CONFLICT) if stale.
   */
  updateRegistry(registry: Registry): Promise<Registry>;
  /** NOT_FOUND if absent; FAILED_PRECONDITION if it still has devices (docs/compat.md C-REG-DELETE). */
  deleteRegistry(key: RegistryKey): Promise<void>;

  /** Assigns the numId and revision 1; stores `device.config` as version 1. ALREADY_EXISTS on a duplicate ID. */
  createDevice(device: NewDevice): Promise<Device>;
  /** By string ID or numId (a string of digits that is not a valid device ID). */
  getDevice(key: RegistryKey, idOrNumId: string): Promise<Device | undefined>;
  getDeviceByNumId(numId: string): Promise<Device | undefined>;
  /** Devices of a registry ordered by ID, starting after ID `after`. */
  listDevices(key: RegistryKey, filter: DeviceListFilter, after: string | undefined, limit: number): Promise<Page<Device>>;
  /**
   * Replaces the mutable fields (credentials, blocked, logLevel, metadata,
   * gatewayConfig.gatewayAuthMethod) if `device.revision` is still the stored one, and returns the
   * device as stored. NOT_FOUND if absent; ABORTED (REVISION_CONFLICT) if stale.
   */
  updateDevice(device: Device): Promise<Device>;
  /** Removes the device, its config and state history and its bindings (docs/compat.md C-DEV-DELETE). */
  deleteDevice(numId: string): Promise<void>;

  /**
   * Adds a config version atomically: checks `versionToUpdate` (FAILED_PRECONDITION on mismatch)
   * and the rate (RESOURCE_EXHAUSTED), keeps the newest 10.
   */
  modifyConfig(numId: string, update: ConfigUpdate): Promise<DeviceConfig>;
  /** Newest first, at most `limit` (0 = all retained). */
  listConfigVersions(numId: string, limit: number): Promise<DeviceConfig[]>;
  /** Sets deviceAckTime of `version` (if still retained) and lastConfigAckTime. */
  ackConfig(numId: string, version: number, at: number): Promise<void>;

  /** Stores a state report as the latest state, keeps the newest 10, sets lastStateTime. */
  recordState(numId: string, state: DeviceState): Promise<void>;
  /** Newest first, at most `limit` (0 = all retained). */
  listStates(numId: string, limit: number): Promise<DeviceState[]>;

  /** Coalesced activity timestamps of many devices in one write. Unknown numIds are skipped. */
  recordActivity(patches: ReadonlyMap<string, ActivityPatch>): Promise<void>;
  /** Sets gatewayConfig.lastAccessedGatewayId/Time of a device. */
  recordGatewayAccess(numId: string, gatewayId: string, at: number): Promise<void>;

  /**
   * Imports one registry with its devices and bindings in one transaction (docs/compat.md
   * C-IMPORT-*): creates the registry if absent (an existing one must have identical settings);
   * creates each device under its given numId, skipping one already stored with the same numId, ID
   * and content, so a re-run resumes. Any numId or ID held by another device, any stored device
   * that differs, any binding that names no device of the registry: FAILED_PRECONDITION naming
   * every conflicting ID (domain/fleet-import-rules.ts), and nothing is written.
   */
  importRegistry(
    registry: NewRegistry,
    devices: readonly ImportedDevice[],
    bindings: readonly ImportedBinding[],
    /** Called every 1,000 devices written, from inside the transaction (for a progress bar). */
    onProgress?: (devicesDone: number) => void,
  ): Promise<ImportResult>;

  /** Applies domain/bindings.ts decideBind to the pair as stored; idempotent. */
  bind(gatewayNumId: string, deviceNumId: string, limits: BindLimits): Promise<void>;
  /**
   * Removes the binding; true if there was one. Unbinding a pair that is not bound succeeds
   * (docs/compat.md C-BIND); NOT_FOUND only when either device does not exist.
   */
  unbind(gatewayNumId: string, deviceNumId: string): Promise<boolean>;
  isBound(gatewayNumId: string, deviceNumId: string): Promise<boolean>;

  /** The stored policy, or domain/iam-policy.ts EMPTY_POLICY; NOT_FOUND without the registry. */
  getIamPolicy(key: RegistryKey): Promise<IamPolicy>;
  /**
   * Applies domain/iam-policy.ts nextPolicy to the stored policy atomically (so of two writers
   * holding the same etag, one gets ABORTED), and returns the policy as stored.
   */
  setIamPolicy(key: RegistryKey, policy: Omit<IamPolicy, 'etag'>, expectedEtag: Uint8Array | undefined): Promise<IamPolicy>;

  /** A project's own policy (roles on every registry of the project), or EMPTY_POLICY; any project has one. */
  getProjectIamPolicy(project: string): Promise<IamPolicy>;
  /** Like setIamPolicy, for the project's policy. */
  setProjectIamPolicy(project: string, policy: Omit<IamPolicy, 'etag'>, expectedEtag: Uint8Array | undefined): Promise<IamPolicy>;

  /**
   * Stores the account and, in the same write, binds `serviceAccount:EMAIL` to each of `projectRoles`
   * in its project's policy (a new etag). ALREADY_EXISTS (SERVICE_ACCOUNT_EXISTS) on a taken e-mail.
   */
  createServiceAccount(account: ServiceAccount, projectRoles: readonly string[]): Promise<ServiceAccount>;
  /** By e-mail, or by unique ID (21 digits). */
  getServiceAccount(emailOrUniqueId: string): Promise<ServiceAccount | undefined>;
  /** Accounts of a project ordered by e-mail, starting after `after`. */
  listServiceAccounts(project: string, after: string | undefined, limit: number): Promise<Page<ServiceAccount>>;
  /**
   * Removes the account, its keys, and its member from every project and registry policy, so that
   * an account created later under the same e-mail inherits no grant. NOT_FOUND if absent.
   */
  deleteServiceAccount(email: string): Promise<void>;
  /** NOT_FOUND without the account; FAILED_PRECONDITION (KEY_LIMIT) when it already has `maxKeys`. */
  createServiceAccountKey(key: ServiceAccountKey, maxKeys: number): Promise<ServiceAccountKey>;
  getServiceAccountKey(keyId: string): Promise<ServiceAccountKey | undefined>;
  /** The account's keys, oldest first; empty for an unknown account. */
  listServiceAccountKeys(email: string): Promise<ServiceAccountKey[]>;
  /** Returns the key as stored; NOT_FOUND (KEY_NOT_FOUND) if absent. */
  setServiceAccountKeyDisabled(keyId: string, disabled: boolean): Promise<ServiceAccountKey>;
  /** NOT_FOUND (KEY_NOT_FOUND) if absent. */
  deleteServiceAccountKey(keyId: string): Promise<void>;

  close(): Promise<void>;
}

/** What the services need to know about key material; implemented with node:crypto. */
export interface KeyInspector {
  /** Throws INVALID_ARGUMENT naming `field` when the PEM does not parse or does not match `format`. */
  checkDeviceKey(format: PublicKeyFormat, pem: string, field: string): void;
  /** Parses a registry CA certificate; throws INVALID_ARGUMENT naming `field`. */
  inspectCertificate(pem: string, field: string): X509Details;
  /** True if `devicePem` (an X.509 certificate) is signed directly by `caPem` and within its validity at `at`. */
  isSignedBy(devicePem: string, caPem: string, at: number): boolean;
}

/** A JWT split into its parts, before anything about it is trusted. */
export interface DecodedJwt {
  header: unknown;
  payload: unknown;
  /** `base64url(header).base64url(payload)`, the bytes the signature covers. */
  signingInput: string;
  signature: Uint8Array;
}

/** Service-account key material and random identifiers; implemented with node:crypto. */
export interface ServiceAccountCrypto {
  /** A new RSA 2048 key pair: PKCS#8 PEM private key, SPKI PEM public key. */
  newRsaKeyPair(): Promise<{ privateKeyPem: string; publicKeyPem: string }>;
  /** Undefined when the text is not a compact JWT of base64url JSON segments. */
  decodeJwt(token: string): DecodedJwt | undefined;
  /** True when `jwt`'s signature is a valid RSASSA-PKCS1-v1_5 SHA-256 signature by the key. */
  verifyRs256(jwt: DecodedJwt, publicKeyPem: string): boolean;
  /** `bytes` random bytes as lower-case hex. */
  randomHex(bytes: number): string;
  /** A decimal string of `digits` random digits, the first not 0. */
  randomDigits(digits: number): string;
  /** An unguessable token (256 bits, base64url). */
  randomToken(): string;
}

/** A telemetry or state message on its way to a Pub/Sub-like topic (spec §8.1). */
export interface SinkMessage {
  /** `projects/{p}/topics/{t}`. */
  topic: string;
  /** Shared, read-only: sinks must not mutate or keep a reference they then change. */
  attributes: Readonly<Record<string, string>>;
  data: Uint8Array;
  /** Epoch ms, set by the bridge when the message was received. */
  publishTime: number;
  /** Pub/Sub ordering key of an API Publish; device telemetry has none. */
  orderingKey?: string;
}

/**
 * Where device messages go. `append` resolves once every message of the call is durably stored
 * (that is what a QoS 1 PUBACK waits for) and rejects if the sink cannot take them; it never
 * buffers without bound: while `saturated()` is true callers stop reading from devices and wait
 * for `onDrain`.
 */
export interface Sink {
  /** Resolves to the assigned message IDs, in order. */
  append(messages: readonly SinkMessage[]): Promise<string[]>;
  /**
   * Device telemetry packed into one buffer (telemetry-packer.ts), committed like one `append`
   * call; for sinks that gain from it (the embedded log hands the buffer to its writer thread).
   * Message IDs are not reported. The caller gives up the buffer (it may be transferred).
   */
  appendPacked?(batch: PackedTelemetry): Promise<void>;
  saturated(): boolean;
  onDrain(listener: () => void): void;
  close(): Promise<void>;
}

/**
 * Notifications between the API and the device bridges, and between nodes. In-process by default;
 * a networked bus (NATS) carries the same events between nodes later, hence async and plain data
 * (every payload survives structured cloning; nothing may rely on sharing a reference).
 */
export type BusEvent =
  | { type: 'device-blocked'; numId: string }
  | { type: 'device-deleted'; numId: string }
  | { type: 'device-credentials-changed'; numId: string }
  | { type: 'config-updated'; numId: string; version: number }
  | { type: 'device-unbound'; numId: string; gatewayNumId: string }
  | { type: 'registry-changed'; registryName: string }
  /** A node now holds the device's session: any other node holding it lets go (takeover). */
  | { type: 'session-claimed'; numId: string; nodeId: string; at: number }
  | { type: 'session-released'; numId: string; nodeId: string }
  /** A node is alive (sent every heartbeat interval): one not heard from for a while is gone, and its sessions with it. */
  | { type: 'node-heartbeat'; nodeId: string; at: number; /** Random per process: tells two nodes given one ID apart. */ incarnation: string }
  /** A service-account key was disabled or deleted: every node forgets what it verified with it. */
  | { type: 'service-account-key-revoked'; keyId: string }
  /** A Pub/Sub subscription was updated, detached or its push config changed, through `nodeId`. */
  | { type: 'subscription-changed'; name: string; nodeId: string }
  | { type: 'subscription-deleted'; name: string; nodeId: string };

/** Requests one node makes of another, addressed by node ID. */
export type BusRequest =
  | { type: 'deliver-command'; numId: string; subfolder: string; data: Uint8Array }
  /** The gateway's errors-topic messages this node knows (docs/compat.md C-CONSOLE-GATEWAY-ERRORS). */
  | { type: 'gateway-errors'; numId: string };

export type BusReply = { type: 'command-outcome'; outcome: CommandOutcome } | { type: 'gateway-errors'; errors: GatewayErrorRecord[] };

/** What became of a command handed to the node holding the device (spec §3.7). */
export type CommandOutcome = 'delivered' | 'not-connected' | 'not-subscribed';

export interface Bus {
  /** Delivers to every subscriber, on this node and others, never inline in the caller. */
  publish(event: BusEvent): Promise<void>;
  /**
   * Returns an unsubscribe function. `onGap` is called once the subscription is back after a time
   * it was away (a networked bus reconnecting): events published meanwhile may never arrive, so
   * whatever follows them must be read again from where it is stored. A bus without gaps never
   * calls it.
   */
  subscribe(handler: (event: BusEvent) => void, onGap?: () => void): () => void;
  /**
   * Sends `request` to the responder at `address` and resolves with its reply. Rejects with
   * UNAVAILABLE (BUS_NO_RESPONDER) when nothing serves the address, DEADLINE_EXCEEDED
   * (BUS_TIMEOUT) when no reply came within `timeoutMs`, or the responder's own ApiError.
   */
  request(address: string, request: BusRequest, timeoutMs: number): Promise<BusReply>;
  /** Serves requests sent to `address` (one responder per address); returns a function that stops serving. */
  respond(address: string, handler: (request: BusRequest) => Promise<BusReply>): () => void;
  close(): Promise<void>;
}

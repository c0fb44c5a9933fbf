import type { Logger } from 'pino';
import { deviceLogs } from '../domain/device-log-level.js';
import { configReply, delegationOf, RateWindows, type ConfigReply, type GatewayInfo } from '../domain/device-http.js';
import { echo } from '../domain/echo.js';
import { ApiError, ERROR_KINDS, invalidArgument, type ErrorKind } from '../domain/errors.js';
import type { ErrorReason } from '../domain/error-reasons.js';
import { messageAttributes, selectEventTopic } from '../domain/event-routing.js';
import { isGateway, type Device, type Registry, type RegistryKey } from '../domain/model.js';
import { LIMITS } from '../domain/limits.js';
import type { ActivityRecorder } from './activity-recorder.js';
import type { AuthFailureReason, DeviceAuthenticator, RegistryLookup } from './device-auth.js';
import type { DeviceIngress, StoredTarget } from './device-ingress.js';
import type { Clock, Store } from './ports.js';

/** The device a request's path names (spec §7.1): its registry and its ID or numId. */
export interface DevicePath {
  registryKey: RegistryKey;
  device: string;
}

/** A request whose JWT authenticated the device in its path. */
export interface HttpCaller {
  readonly device: Device;
  readonly registry: Registry;
}

export interface PublishEventRequest {
  data: Uint8Array;
  subFolder: string;
  gatewayInfo: GatewayInfo | undefined;
}

export interface SetStateRequest {
  data: Uint8Array;
  gatewayInfo: GatewayInfo | undefined;
}

export interface GetConfigRequest {
  localVersion: number;
  gatewayInfo: GatewayInfo | undefined;
}

/** Metrics of the HTTP bridge's rules. */
export interface DeviceHttpObserver {
  authFailure(reason: AuthFailureReason): void;
}

export interface DeviceHttpLimits {
  /** Telemetry per device per minute (spec §2.2: 6,000). */
  eventsPerMinute: number;
  /** Least time between two states of one device (spec §2.2: 1 s). */
  stateMinIntervalMs: number;
  maxTelemetryBytes: number;
  maxStateBytes: number;
}

export const DEFAULT_DEVICE_HTTP_LIMITS: DeviceHttpLimits = {
  eventsPerMinute: 6000,
  stateMinIntervalMs: LIMITS.stateMinIntervalMs,
  maxTelemetryBytes: LIMITS.maxTelemetryBytes,
  maxStateBytes: LIMITS.maxStateBytes,
};

/** Pub/Sub refuses attribute values over 1,024 bytes; subFolder becomes one (spec §8.1). */
const MAX_SUBFOLDER_BYTES = 1024;

/** lastAccessedGatewayId is rewritten at most this often for one device while it keeps the same gateway. */
const GATEWAY_ACCESS_REWRITE_MS = 60_000;

export interface DeviceHttpBridgeDeps {
  auth: DeviceAuthenticator;
  store: Store;
  ingress: DeviceIngress;
  activity: ActivityRecorder;
  clock: Clock;
  observer: DeviceHttpObserver;
  /** Device logs (spec §9) go here, as over MQTT, with protocol HTTP. */
  log: Logger;
  limits?: DeviceHttpLimits;
  registries?: RegistryLookup;
}

/** Messages a device may read about a refused JWT: none says whether the device exists. */
const AUTH_MESSAGES: Partial<Record<AuthFailureReason, string>> = {
  'unknown-registry': 'The device is not known, or the JWT does not authenticate it.',
  'unknown-device': 'The device is not known, or the JWT does not authenticate it.',
  'bad-signature': 'The device is not known, or the JWT does not authenticate it.',
};

/**
 * The HTTP device bridge's rules (spec §7): every request is authenticated by its own JWT (no
 * sessions), acts for the path device or, through gatewayInfo, for a device bound to a gateway,
 * and is held to the same limits, routing and bookkeeping as over MQTT. Errors are ApiErrors;
 * the edge maps them to HTTP. A publish resolves only once the sink committed the message.
 */
export class DeviceHttpBridge {
  private readonly limits: DeviceHttpLimits;
  private readonly events: RateWindows;
  private readonly states: RateWindows;
  /** The gateway last recorded on each device reached through one, and when. */
  private readonly gatewayAccess = new Map<string, { gatewayId: string; at: number }>();

  constructor(private readonly deps: DeviceHttpBridgeDeps) {
    this.limits = deps.limits ?? DEFAULT_DEVICE_HTTP_LIMITS;
    this.events = new RateWindows(this.limits.eventsPerMinute, 60_000);
    this.states = new RateWindows(1, this.limits.stateMinIntervalMs);
  }

  /**
   * Checks the request's `Authorization` header as the path device's JWT (spec §4): a missing
   * header is UNAUTHENTICATED (401), every other failure PERMISSION_DENIED (403).
   */
  async authenticate(path: DevicePath, authorization: string | undefined): Promise<HttpCaller> {
    if (authorization === undefined || authorization.trim() === '') {
      throw new ApiError('UNAUTHENTICATED', 'The request has no Authorization header; send "Authorization: Bearer <device JWT>".', {
        reason: 'CREDENTIALS_MISSING',
      });
    }
    const m = /^\s*bearer\s+(\S+)\s*$/i.exec(authorization);
    const outcome = await this.deps.auth.authenticateRef(path.registryKey, path.device, m?.[1], 'http');
    if (!outcome.ok) {
      this.deps.observer.authFailure(m ? outcome.reason : 'malformed-jwt');
      const message = m ? (AUTH_MESSAGES[outcome.reason] ?? outcome.message) : 'The Authorization header is not "Bearer <device JWT>".';
      throw new ApiError('PERMISSION_DENIED', message, { reason: 'DEVICE_AUTH_FAILED' });
    }
    return { device: outcome.device, registry: outcome.registry };
  }

  async publishEvent(caller: HttpCaller, request: PublishEventRequest): Promise<void> {
    const { device, registry } = await this.target(caller, request.gatewayInfo);
    const now = this.deps.clock.now();
    if (request.data.length > this.limits.maxTelemetryBytes) {
      this.fail(device, registry, now, 'INVALID_ARGUMENT', `The event is ${request.data.length} bytes; at most ${this.limits.maxTelemetryBytes} are accepted.`, 'PAYLOAD_TOO_LARGE', 'binary_data');
    }
    if (Buffer.byteLength(request.subFolder) > MAX_SUBFOLDER_BYTES) {
      this.fail(device, registry, now, 'INVALID_ARGUMENT', `sub_folder is longer than ${MAX_SUBFOLDER_BYTES} bytes.`, 'INVALID_FIELD', 'sub_folder');
    }
    const topic = selectEventTopic(registry.eventNotificationConfigs, request.subFolder);
    // spec §7.2, §8.2: no route is an error (docs/compat.md C-HTTP-NO-ROUTE).
    if (topic === undefined) {
      this.fail(
        device,
        registry,
        now,
        'FAILED_PRECONDITION',
        request.subFolder === ''
          ? 'The registry has no event notification config for telemetry without a subfolder.'
          : `The registry has no event notification config for subfolder "${request.subFolder.slice(0, 64)}" and no default one.`,
        'NO_EVENT_ROUTE',
      );
    }
    if (!this.events.admit(device.numId, now)) {
      this.fail(device, registry, now, 'RESOURCE_EXHAUSTED', `More than ${this.limits.eventsPerMinute} events per minute from this device.`, 'TELEMETRY_RATE_EXCEEDED');
    }
    this.deviceLog(device, registry, 'DEBUG', 'PUBLISH', { subFolder: request.subFolder, bytes: request.data.length });
    await this.whenSinkHasRoom();
    const attributes = messageAttributes(
      { deviceId: device.id, deviceNumId: device.numId, registry: device.registryKey.registry, location: device.registryKey.location, project: device.registryKey.project },
      request.subFolder,
    );
    await new Promise<void>((resolve, reject) => {
      const target: StoredTarget = {
        stored: (_tokens, _from, _to, error) => (error === undefined ? resolve() : reject(storeFailed(error))),
      };
      this.deps.ingress.submitEvent(device.numId, topic!, attributes, request.data, now, target, 0);
    });
  }

  async setState(caller: HttpCaller, request: SetStateRequest): Promise<void> {
    const { device, registry } = await this.target(caller, request.gatewayInfo);
    const now = this.deps.clock.now();
    if (request.data.length > this.limits.maxStateBytes) {
      this.fail(device, registry, now, 'INVALID_ARGUMENT', `The state is ${request.data.length} bytes; at most ${this.limits.maxStateBytes} are accepted.`, 'PAYLOAD_TOO_LARGE', 'state.binary_data');
    }
    if (!this.states.admit(device.numId, now)) {
      this.fail(device, registry, now, 'RESOURCE_EXHAUSTED', 'More than one state per second from this device.', 'STATE_RATE_EXCEEDED');
    }
    this.deviceLog(device, registry, 'DEBUG', 'SET_STATE', { bytes: request.data.length });
    const attributes = messageAttributes(
      { deviceId: device.id, deviceNumId: device.numId, registry: device.registryKey.registry, location: device.registryKey.location, project: device.registryKey.project },
      '',
    );
    try {
      await this.deps.ingress.state(device.numId, registry, attributes, request.data, now);
    } catch (e) {
      throw storeFailed(e);
    }
  }

  async getConfig(caller: HttpCaller, request: GetConfigRequest): Promise<ConfigReply> {
    if (!Number.isSafeInteger(request.localVersion) || request.localVersion < 0) {
      throw invalidArgument('local_version', 'local_version must be a non-negative integer.');
    }
    const { device, registry } = await this.target(caller, request.gatewayInfo);
    const reply = configReply(device.config, request.localVersion);
    const now = this.deps.clock.now();
    // docs/compat.md C-HTTP-CONFIG: lastConfigSendTime when config data went out; never deviceAckTime.
    if (reply.binaryData !== undefined) this.deps.activity.configSent(device.numId, now);
    this.deviceLog(device, registry, 'DEBUG', 'GET_CONFIG', { localVersion: request.localVersion, version: reply.version });
    return reply;
  }

  /**
   * The device a request acts for (spec §7.3, docs/compat.md C-HTTP-GATEWAY): the path device, or
   * a device bound to the gateway on the other side of gatewayInfo. Over HTTP the binding is
   * always required, and the one JWT (the path device's) is enough, whatever the gateway's
   * gatewayAuthMethod.
   */
  private async target(caller: HttpCaller, info: GatewayInfo | undefined): Promise<{ device: Device; registry: Registry }> {
    const delegation = delegationOf(info, caller.device.id);
    if (delegation.kind === 'self') return caller;
    // The other side may be named by numId (as paths may); naming oneself so is still oneself.
    if ((delegation.kind === 'delegated' ? delegation.deviceId : delegation.gatewayId) === caller.device.numId) return caller;
    const { store } = this.deps;
    const key = caller.device.registryKey;
    let gateway: Device;
    let device: Device | undefined;
    if (delegation.kind === 'delegated') {
      gateway = caller.device;
      if (!isGateway(gateway)) throw gatewayDenied(`${echo(gateway.id)} is not a gateway; only a gateway may act for another device (gateway_info.delegated_device_id).`);
      device = await store.getDevice(key, delegation.deviceId);
      if (device === undefined) throw gatewayDenied(`Device "${delegation.deviceId.slice(0, 64)}" does not exist in the gateway's registry.`);
    } else {
      device = caller.device;
      const found = await store.getDevice(key, delegation.gatewayId);
      if (found === undefined || !isGateway(found)) throw gatewayDenied(`"${echo(delegation.gatewayId)}" is not a gateway of this registry (gateway_info.gateway_id).`);
      if (found.blocked) throw gatewayDenied(`The gateway ${found.id} is blocked.`);
      gateway = found;
    }
    if (isGateway(device)) throw gatewayDenied(`${device.id} is a gateway; a gateway cannot act through another gateway.`);
    if (device.blocked) throw gatewayDenied(`The device ${device.id} is blocked.`);
    if (!(await store.isBound(gateway.numId, device.numId))) throw gatewayDenied(`The device ${echo(device.id)} is not bound to the gateway ${echo(gateway.id)}.`);
    this.noteGatewayAccess(device.numId, gateway.id);
    return { device, registry: caller.registry };
  }

  /** spec §7.3: lastAccessedGatewayId on the device; rewritten when it changes, else at most once a minute. */
  private noteGatewayAccess(numId: string, gatewayId: string): void {
    const now = this.deps.clock.now();
    const last = this.gatewayAccess.get(numId);
    if (last && last.gatewayId === gatewayId && now - last.at < GATEWAY_ACCESS_REWRITE_MS) return;
    if (this.gatewayAccess.size >= 100_000) this.gatewayAccess.clear();
    this.gatewayAccess.set(numId, { gatewayId, at: now });
    this.deps.store.recordGatewayAccess(numId, gatewayId, now).catch((err: unknown) => {
      this.gatewayAccess.delete(numId);
      this.deps.log.warn({ err, numId }, 'recording the gateway a device was reached through failed');
    });
  }

  /** A refused request of an authenticated device: its lastErrorStatus and device log say why (as over MQTT). */
  private fail(device: Device, registry: Registry, now: number, kind: ErrorKind, message: string, reason: ErrorReason, field?: string): never {
    const status = { code: ERROR_KINDS[kind].grpc, message };
    this.deps.activity.error(device.numId, now, status);
    this.deviceLog(device, registry, 'ERROR', 'ERROR', { status });
    throw new ApiError(kind, message, { reason, ...(field !== undefined ? { field } : {}) });
  }

  private deviceLog(device: Device, registry: Registry, level: 'ERROR' | 'DEBUG', eventType: string, fields: Record<string, unknown>): void {
    if (!deviceLogs(device, registry, level)) return;
    this.deps.log.info({ deviceLog: true, eventType, protocol: 'HTTP', deviceId: device.id, deviceNumId: device.numId, ...fields }, `device ${eventType}`);
  }

  /** Backpressure: while the sink is saturated, requests wait rather than queue without bound. */
  private whenSinkHasRoom(): Promise<void> | undefined {
    let resume: (() => void) | undefined;
    const waiting = new Promise<void>((resolve) => (resume = resolve));
    return this.deps.ingress.holdIfSaturated(resume!) ? waiting : undefined;
  }
}

function gatewayDenied(message: string): ApiError {
  return new ApiError('PERMISSION_DENIED', message, { reason: 'GATEWAY_DENIED' });
}

function storeFailed(cause: unknown): ApiError {
  return new ApiError('UNAVAILABLE', 'The message could not be stored; retry.', { cause });
}

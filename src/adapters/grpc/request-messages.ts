import { invalidArgument } from '../../domain/errors.js';
import {
  ENUM_NUMBERS,
  type CertificateFormat,
  type GatewayAuthMethod,
  type GatewayType,
  type HttpState,
  type LogLevel,
  type MqttState,
  type PublicKeyFormat,
} from '../../domain/model.js';
import type {
  BindingRequest,
  CreateDeviceRegistryRequest,
  CreateDeviceRequest,
  DeviceMessage,
  GetDeviceRequest,
  GetIamPolicyRequest,
  ListConfigVersionsRequest,
  ListDeviceRegistriesRequest,
  ListDevicesRequest,
  ListStatesRequest,
  ModifyConfigRequest,
  NameRequest,
  PolicyMessage,
  RegistryMessage,
  SendCommandRequest,
  SetIamPolicyRequest,
  TestIamPermissionsRequest,
  UpdateDeviceRegistryRequest,
  UpdateDeviceRequest,
} from '../../services/device-manager-requests.js';

/*
 * cloudiot v1 request messages as proto-loader decodes them (protos.ts LOAD_OPTIONS) -> the
 * DeviceAdmin request types. Only the wire's own facts are settled here: an enum number the proto
 * does not define, an int64 or Timestamp out of range, and proto3's missing presence. Whether a
 * value is acceptable is the service's to decide, as for REST.
 */

/** An enum as decoded: its name, or the number when the proto does not define it. */
type PbEnum = string | number;

export interface PbTimestamp {
  /** int64, as a decimal string. */
  seconds?: string;
  nanos?: number;
}

interface PbFieldMask {
  paths?: string[];
}

export interface PbRegistry {
  id?: string;
  name?: string;
  eventNotificationConfigs?: { pubsubTopicName?: string; subfolderMatches?: string }[];
  stateNotificationConfig?: { pubsubTopicName?: string };
  mqttConfig?: { mqttEnabledState?: PbEnum };
  httpConfig?: { httpEnabledState?: PbEnum };
  logLevel?: PbEnum;
  credentials?: { publicKeyCertificate?: { format?: PbEnum; certificate?: string } }[];
}

export interface PbDevice {
  id?: string;
  name?: string;
  numId?: string;
  credentials?: { publicKey?: { format?: PbEnum; key?: string }; expirationTime?: PbTimestamp }[];
  blocked?: boolean;
  logLevel?: PbEnum;
  metadata?: Record<string, string>;
  gatewayConfig?: { gatewayType?: PbEnum; gatewayAuthMethod?: PbEnum };
  config?: { version?: string; binaryData?: Buffer };
}

export interface PbPolicy {
  version?: number;
  bindings?: { role?: string; members?: string[]; condition?: { expression?: string; title?: string; description?: string; location?: string } }[];
  etag?: Buffer;
}

export interface PbNameRequest {
  name?: string;
}

export interface PbCreateDeviceRegistryRequest {
  parent?: string;
  deviceRegistry?: PbRegistry;
}

export interface PbUpdateDeviceRegistryRequest {
  deviceRegistry?: PbRegistry;
  updateMask?: PbFieldMask;
}

export interface PbListDeviceRegistriesRequest {
  parent?: string;
  pageSize?: number;
  pageToken?: string;
}

export interface PbCreateDeviceRequest {
  parent?: string;
  device?: PbDevice;
}

export interface PbGetDeviceRequest {
  name?: string;
  fieldMask?: PbFieldMask;
}

export interface PbUpdateDeviceRequest {
  device?: PbDevice;
  updateMask?: PbFieldMask;
}

export interface PbListDevicesRequest {
  parent?: string;
  deviceNumIds?: string[];
  deviceIds?: string[];
  fieldMask?: PbFieldMask;
  gatewayListOptions?: { gatewayType?: PbEnum; associationsGatewayId?: string; associationsDeviceId?: string };
  pageSize?: number;
  pageToken?: string;
}

export interface PbModifyConfigRequest {
  name?: string;
  versionToUpdate?: string;
  binaryData?: Buffer;
}

export interface PbListConfigVersionsRequest {
  name?: string;
  numVersions?: number;
}

export interface PbListStatesRequest {
  name?: string;
  numStates?: number;
}

export interface PbSendCommandRequest {
  name?: string;
  binaryData?: Buffer;
  subfolder?: string;
}

export interface PbBindingRequest {
  parent?: string;
  gatewayId?: string;
  deviceId?: string;
}

export interface PbResourceRequest {
  resource?: string;
}

export interface PbSetIamPolicyRequest {
  resource?: string;
  policy?: PbPolicy;
}

export interface PbTestIamPermissionsRequest {
  resource?: string;
  permissions?: string[];
}

// ---- value readers ----

/** Drops undefined values so that a field absent from the wire stays absent in the request. */
function defined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

function enumValue<T extends string>(v: PbEnum | undefined, enumName: string, field: string): T | undefined {
  if (v === undefined) return undefined;
  const table = ENUM_NUMBERS[enumName]!;
  if (typeof v === 'string' && Object.hasOwn(table, v)) return v as T;
  throw invalidArgument(field, `Invalid value at '${field}': ${String(v)} is not one of ${Object.keys(table).join(', ')}.`);
}

/** int64 (a decimal string) as a number; beyond 2^53 it cannot be a version, a count or a size. */
function int64(v: string | undefined, field: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw invalidArgument(field, `Invalid value at '${field}': ${v} is out of range.`);
  return n;
}

/** The range google.protobuf.Timestamp allows: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z. */
const MIN_SECONDS = -62_135_596_800;
const MAX_SECONDS = 253_402_300_799;

/** google.protobuf.Timestamp -> epoch ms (sub-millisecond precision dropped, as in REST). */
export function timestampMs(t: PbTimestamp | undefined, field: string): number | undefined {
  if (t === undefined) return undefined;
  const seconds = Number(t.seconds ?? 0);
  const nanos = t.nanos ?? 0;
  if (!Number.isInteger(seconds) || seconds < MIN_SECONDS || seconds > MAX_SECONDS || !Number.isInteger(nanos) || nanos < 0 || nanos > 999_999_999) {
    throw invalidArgument(field, `Invalid value at '${field}': not a valid google.protobuf.Timestamp.`);
  }
  return seconds * 1000 + Math.floor(nanos / 1e6);
}

/**
 * proto3 bytes have no presence: an empty value is not sent, so "missing" cannot be told from
 * "empty" and is read as empty (docs/compat.md C-GRPC-PRESENCE).
 */
const bytes = (v: Buffer | undefined): Uint8Array => v ?? Buffer.alloc(0);

const mask = (m: PbFieldMask | undefined): string[] | undefined => m?.paths;

// ---- resources ----

export function registryMessage(pb: PbRegistry | undefined, prefix: string): RegistryMessage {
  const r = pb ?? {};
  return defined<RegistryMessage>({
    id: r.id,
    name: r.name,
    eventNotificationConfigs: r.eventNotificationConfigs?.map((e) => defined({ pubsubTopicName: e.pubsubTopicName, subfolderMatches: e.subfolderMatches })),
    stateNotificationConfig: r.stateNotificationConfig && defined({ pubsubTopicName: r.stateNotificationConfig.pubsubTopicName }),
    mqttConfig:
      r.mqttConfig && defined({ mqttEnabledState: enumValue<MqttState>(r.mqttConfig.mqttEnabledState, 'MqttState', `${prefix}.mqtt_config.mqtt_enabled_state`) }),
    httpConfig:
      r.httpConfig && defined({ httpEnabledState: enumValue<HttpState>(r.httpConfig.httpEnabledState, 'HttpState', `${prefix}.http_config.http_enabled_state`) }),
    logLevel: enumValue<LogLevel>(r.logLevel, 'LogLevel', `${prefix}.log_level`),
    credentials: r.credentials?.map((c, i) => {
      const cert = c.publicKeyCertificate;
      const f = `${prefix}.credentials[${i}].public_key_certificate`;
      return defined({
        publicKeyCertificate: cert && defined({ format: enumValue<CertificateFormat>(cert.format, 'CertificateFormat', `${f}.format`), certificate: cert.certificate }),
      });
    }),
  });
}

export function deviceMessage(pb: PbDevice | undefined): DeviceMessage {
  const d = pb ?? {};
  const gw = d.gatewayConfig;
  return defined<DeviceMessage>({
    id: d.id,
    name: d.name,
    numId: d.numId,
    credentials: d.credentials?.map((c, i) => {
      const f = `device.credentials[${i}]`;
      const pk = c.publicKey;
      return defined({
        publicKey:
          pk &&
          defined({
            format: enumValue<PublicKeyFormat | 'UNSPECIFIED_PUBLIC_KEY_FORMAT'>(pk.format, 'PublicKeyFormat', `${f}.public_key.format`),
            key: pk.key,
          }),
        expirationTime: timestampMs(c.expirationTime, `${f}.expiration_time`),
      });
    }),
    blocked: d.blocked,
    logLevel: enumValue<LogLevel>(d.logLevel, 'LogLevel', 'device.log_level'),
    metadata: d.metadata,
    gatewayConfig:
      gw &&
      defined({
        gatewayType: enumValue<GatewayType>(gw.gatewayType, 'GatewayType', 'device.gateway_config.gateway_type'),
        gatewayAuthMethod: enumValue<GatewayAuthMethod>(gw.gatewayAuthMethod, 'GatewayAuthMethod', 'device.gateway_config.gateway_auth_method'),
      }),
    config: d.config && defined({ version: int64(d.config.version, 'device.config.version'), binaryData: d.config.binaryData }),
  });
}

export function policyMessage(pb: PbPolicy | undefined): PolicyMessage {
  const p = pb ?? {};
  return defined<PolicyMessage>({
    version: p.version,
    bindings: p.bindings?.map((b) =>
      defined({
        role: b.role,
        members: b.members ?? [],
        condition: b.condition && { ...defined({ title: b.condition.title, description: b.condition.description, location: b.condition.location }), expression: b.condition.expression ?? '' },
      }),
    ),
    etag: p.etag,
  });
}

// ---- requests, one per method ----

export const nameRequest = (pb: PbNameRequest): NameRequest => defined({ name: pb.name });

export const createDeviceRegistryRequest = (pb: PbCreateDeviceRegistryRequest): CreateDeviceRegistryRequest =>
  defined({ parent: pb.parent, deviceRegistry: registryMessage(pb.deviceRegistry, 'device_registry') });

/** The registry is named inside the message (`device_registry.name`), not beside it as in REST. */
export const updateDeviceRegistryRequest = (pb: PbUpdateDeviceRegistryRequest): UpdateDeviceRegistryRequest =>
  defined({ deviceRegistry: registryMessage(pb.deviceRegistry, 'device_registry'), updateMask: mask(pb.updateMask) });

export const listDeviceRegistriesRequest = (pb: PbListDeviceRegistriesRequest): ListDeviceRegistriesRequest =>
  defined({ parent: pb.parent, pageSize: pb.pageSize, pageToken: pb.pageToken });

export const createDeviceRequest = (pb: PbCreateDeviceRequest): CreateDeviceRequest => defined({ parent: pb.parent, device: deviceMessage(pb.device) });

export const getDeviceRequest = (pb: PbGetDeviceRequest): GetDeviceRequest => defined({ name: pb.name, fieldMask: mask(pb.fieldMask) });

export const updateDeviceRequest = (pb: PbUpdateDeviceRequest): UpdateDeviceRequest =>
  defined({ device: deviceMessage(pb.device), updateMask: mask(pb.updateMask) });

export function listDevicesRequest(pb: PbListDevicesRequest): ListDevicesRequest {
  const o = pb.gatewayListOptions;
  return defined<ListDevicesRequest>({
    parent: pb.parent,
    deviceNumIds: pb.deviceNumIds,
    deviceIds: pb.deviceIds,
    fieldMask: mask(pb.fieldMask),
    gatewayListOptions:
      o &&
      defined({
        gatewayType: enumValue<GatewayType>(o.gatewayType, 'GatewayType', 'gateway_list_options.gateway_type'),
        associationsGatewayId: o.associationsGatewayId,
        associationsDeviceId: o.associationsDeviceId,
      }),
    pageSize: pb.pageSize,
    pageToken: pb.pageToken,
  });
}

export const modifyConfigRequest = (pb: PbModifyConfigRequest): ModifyConfigRequest =>
  defined({ name: pb.name, versionToUpdate: int64(pb.versionToUpdate, 'version_to_update'), binaryData: bytes(pb.binaryData) });

export const listConfigVersionsRequest = (pb: PbListConfigVersionsRequest): ListConfigVersionsRequest =>
  defined({ name: pb.name, numVersions: pb.numVersions });

export const listStatesRequest = (pb: PbListStatesRequest): ListStatesRequest => defined({ name: pb.name, numStates: pb.numStates });

export const sendCommandRequest = (pb: PbSendCommandRequest): SendCommandRequest =>
  defined({ name: pb.name, binaryData: bytes(pb.binaryData), subfolder: pb.subfolder });

export const bindingRequest = (pb: PbBindingRequest): BindingRequest => defined({ parent: pb.parent, gatewayId: pb.gatewayId, deviceId: pb.deviceId });

export const getIamPolicyRequest = (pb: PbResourceRequest): GetIamPolicyRequest => defined({ resource: pb.resource });

export const setIamPolicyRequest = (pb: PbSetIamPolicyRequest): SetIamPolicyRequest => defined({ resource: pb.resource, policy: policyMessage(pb.policy) });

export const testIamPermissionsRequest = (pb: PbTestIamPermissionsRequest): TestIamPermissionsRequest =>
  defined({ resource: pb.resource, permissions: pb.permissions });

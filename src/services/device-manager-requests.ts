import type {
  CertificateFormat,
  Device,
  GatewayAuthMethod,
  GatewayType,
  HttpState,
  IamBinding,
  LogLevel,
  MqttState,
  PublicKeyFormat,
  Registry,
} from '../domain/model.js';

/*
 * Device Manager requests as every edge hands them to the service: the cloudiot v1 request
 * messages (spec §3), decoded from their wire (JSON, protobuf) into these types but not yet
 * validated. Every field is optional because a client may leave any of them out; the service
 * decides what is required, what is defaulted and what is refused, naming the field.
 * Times are epoch milliseconds; bytes are Uint8Array; enums are their proto names.
 */

export interface RegistryMessage {
  id?: string;
  name?: string;
  eventNotificationConfigs?: { pubsubTopicName?: string; subfolderMatches?: string }[];
  stateNotificationConfig?: { pubsubTopicName?: string };
  mqttConfig?: { mqttEnabledState?: MqttState };
  httpConfig?: { httpEnabledState?: HttpState };
  logLevel?: LogLevel;
  credentials?: { publicKeyCertificate?: { format?: CertificateFormat; certificate?: string } }[];
}

export interface DeviceCredentialMessage {
  publicKey?: { format?: PublicKeyFormat | 'UNSPECIFIED_PUBLIC_KEY_FORMAT'; key?: string };
  expirationTime?: number;
}

export interface DeviceMessage {
  id?: string;
  name?: string;
  /** uint64 as a decimal string; "0" is the proto default (unset). */
  numId?: string;
  credentials?: DeviceCredentialMessage[];
  blocked?: boolean;
  logLevel?: LogLevel;
  metadata?: Record<string, string>;
  gatewayConfig?: { gatewayType?: GatewayType; gatewayAuthMethod?: GatewayAuthMethod };
  config?: { version?: number; binaryData?: Uint8Array };
}

export interface PolicyMessage {
  version?: number;
  bindings?: { role?: string; members?: string[]; condition?: IamBinding['condition'] }[];
  etag?: Uint8Array;
}

export interface NameRequest {
  name?: string;
}

export interface CreateDeviceRegistryRequest {
  parent?: string;
  deviceRegistry?: RegistryMessage;
}

export interface UpdateDeviceRegistryRequest {
  /** The registry's name: from the path (REST) or `device_registry.name` (gRPC). */
  name?: string;
  deviceRegistry?: RegistryMessage;
  updateMask?: string[];
  /** Write only if the registry is still at this revision (REST If-Match, docs/compat.md C-DEVICE-ETAG). */
  expectedRevision?: number;
}

export interface ListDeviceRegistriesRequest {
  parent?: string;
  pageSize?: number;
  pageToken?: string;
}

export interface CreateDeviceRequest {
  parent?: string;
  device?: DeviceMessage;
}

export interface GetDeviceRequest {
  name?: string;
  fieldMask?: string[];
}

export interface UpdateDeviceRequest {
  name?: string;
  device?: DeviceMessage;
  updateMask?: string[];
  /** Write only if the device is still at this revision (REST If-Match, docs/compat.md C-DEVICE-ETAG). */
  expectedRevision?: number;
}

export interface ListDevicesRequest {
  parent?: string;
  deviceNumIds?: string[];
  deviceIds?: string[];
  fieldMask?: string[];
  gatewayListOptions?: { gatewayType?: GatewayType; associationsGatewayId?: string; associationsDeviceId?: string };
  /** Bridgehead's extensions (docs/compat.md C-CONSOLE-PREFIX). */
  deviceIdPrefix?: string;
  blocked?: boolean;
  pageSize?: number;
  pageToken?: string;
}

/** Bridgehead's extension (docs/compat.md C-CONSOLE-CONNECTION): the live state of devices of one registry. */
export interface DeviceConnectionsRequest {
  parent?: string;
  deviceIds?: string[];
}

export interface DeviceConnection {
  deviceId: string;
  numId: string;
  connected: boolean;
  /** The gateway's device ID, when the device is attached through one (and its session is held on this node). */
  gatewayId?: string;
}

export interface ModifyConfigRequest {
  name?: string;
  versionToUpdate?: number;
  binaryData?: Uint8Array;
}

export interface ListConfigVersionsRequest {
  name?: string;
  numVersions?: number;
}

export interface ListStatesRequest {
  name?: string;
  numStates?: number;
}

export interface SendCommandRequest {
  name?: string;
  binaryData?: Uint8Array;
  subfolder?: string;
}

export interface BindingRequest {
  parent?: string;
  gatewayId?: string;
  deviceId?: string;
}

export interface GetIamPolicyRequest {
  resource?: string;
}

export interface SetIamPolicyRequest {
  resource?: string;
  policy?: PolicyMessage;
}

export interface TestIamPermissionsRequest {
  resource?: string;
  permissions?: string[];
}

/**
 * A device to show and which of its fields: `fields` undefined means all of them; otherwise the
 * top-level field paths (`config.version` style sub-paths allowed) the edge renders, nothing else.
 */
export interface DeviceView {
  device: Device;
  fields: readonly string[] | undefined;
}

export interface DeviceList {
  devices: Device[];
  fields: readonly string[];
  nextPageToken: string;
}

export interface RegistryList {
  deviceRegistries: Registry[];
  nextPageToken: string;
}

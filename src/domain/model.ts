/**
 * The cloudiot v1 resource model (spec §1), as Bridgehead holds it internally.
 * Times are epoch milliseconds; payloads are bytes; enums are their proto names.
 * The JSON/wire shapes live in the adapters (REST codec), not here.
 */

export const PUBLIC_KEY_FORMATS = ['RSA_X509_PEM', 'ES256_PEM', 'RSA_PEM', 'ES256_X509_PEM'] as const;
export type PublicKeyFormat = (typeof PUBLIC_KEY_FORMATS)[number];

export const GATEWAY_TYPES = ['GATEWAY_TYPE_UNSPECIFIED', 'GATEWAY', 'NON_GATEWAY'] as const;
export type GatewayType = (typeof GATEWAY_TYPES)[number];

export const GATEWAY_AUTH_METHODS = [
  'GATEWAY_AUTH_METHOD_UNSPECIFIED',
  'ASSOCIATION_ONLY',
  'DEVICE_AUTH_TOKEN_ONLY',
  'ASSOCIATION_AND_DEVICE_AUTH_TOKEN',
] as const;
export type GatewayAuthMethod = (typeof GATEWAY_AUTH_METHODS)[number];

export const LOG_LEVELS = ['LOG_LEVEL_UNSPECIFIED', 'NONE', 'ERROR', 'INFO', 'DEBUG'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const MQTT_STATES = ['MQTT_STATE_UNSPECIFIED', 'MQTT_ENABLED', 'MQTT_DISABLED'] as const;
export type MqttState = (typeof MQTT_STATES)[number];
export const HTTP_STATES = ['HTTP_STATE_UNSPECIFIED', 'HTTP_ENABLED', 'HTTP_DISABLED'] as const;
export type HttpState = (typeof HTTP_STATES)[number];

export const CERTIFICATE_FORMATS = ['UNSPECIFIED_PUBLIC_KEY_CERTIFICATE_FORMAT', 'X509_CERTIFICATE_PEM'] as const;
export type CertificateFormat = (typeof CERTIFICATE_FORMATS)[number];

/** Proto enum numbers, for `enum-encoding=int` and gRPC (note the non-sequential ones). */
export const ENUM_NUMBERS: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  PublicKeyFormat: { UNSPECIFIED_PUBLIC_KEY_FORMAT: 0, RSA_X509_PEM: 1, ES256_PEM: 2, RSA_PEM: 3, ES256_X509_PEM: 4 },
  GatewayType: { GATEWAY_TYPE_UNSPECIFIED: 0, GATEWAY: 1, NON_GATEWAY: 2 },
  GatewayAuthMethod: {
    GATEWAY_AUTH_METHOD_UNSPECIFIED: 0,
    ASSOCIATION_ONLY: 1,
    DEVICE_AUTH_TOKEN_ONLY: 2,
    ASSOCIATION_AND_DEVICE_AUTH_TOKEN: 3,
  },
  LogLevel: { LOG_LEVEL_UNSPECIFIED: 0, NONE: 10, ERROR: 20, INFO: 30, DEBUG: 40 },
  MqttState: { MQTT_STATE_UNSPECIFIED: 0, MQTT_ENABLED: 1, MQTT_DISABLED: 2 },
  HttpState: { HTTP_STATE_UNSPECIFIED: 0, HTTP_ENABLED: 1, HTTP_DISABLED: 2 },
  CertificateFormat: { UNSPECIFIED_PUBLIC_KEY_CERTIFICATE_FORMAT: 0, X509_CERTIFICATE_PEM: 1 },
};

export interface RegistryKey {
  readonly project: string;
  readonly location: string;
  readonly registry: string;
}

export interface EventNotificationConfig {
  pubsubTopicName: string;
  subfolderMatches: string;
}

export interface X509Details {
  issuer: string;
  subject: string;
  startTime: number;
  expiryTime: number;
  signatureAlgorithm: string;
  publicKeyType: string;
}

export interface RegistryCredential {
  format: 'X509_CERTIFICATE_PEM';
  certificate: string;
  x509Details: X509Details;
}

export interface Registry extends RegistryKey {
  /**
   * Bumped by the store on every update of the fields below: an update names the revision it was
   * made from and is refused when another write came first (optimistic concurrency).
   */
  revision: number;
  eventNotificationConfigs: EventNotificationConfig[];
  stateNotificationConfig: { pubsubTopicName: string } | undefined;
  mqttEnabledState: MqttState | undefined;
  httpEnabledState: HttpState | undefined;
  logLevel: LogLevel;
  credentials: RegistryCredential[];
}

export interface DeviceCredential {
  format: PublicKeyFormat;
  key: string;
  /** 0 = never expires (reported as 1970-01-01T00:00:00Z). */
  expirationTime: number;
}

export interface DeviceConfig {
  version: number;
  cloudUpdateTime: number;
  deviceAckTime: number | undefined;
  binaryData: Uint8Array;
}

export interface DeviceState {
  updateTime: number;
  binaryData: Uint8Array;
}

export interface GatewayConfig {
  gatewayType: GatewayType;
  gatewayAuthMethod: GatewayAuthMethod;
  lastAccessedGatewayId: string | undefined;
  lastAccessedGatewayTime: number | undefined;
}

export interface ErrorStatus {
  code: number;
  message: string;
}

/** Timestamps the bridges keep current; written coalesced, never per message. */
export interface DeviceActivity {
  lastHeartbeatTime: number | undefined;
  lastEventTime: number | undefined;
  lastStateTime: number | undefined;
  lastConfigAckTime: number | undefined;
  lastConfigSendTime: number | undefined;
  lastErrorTime: number | undefined;
  lastErrorStatus: ErrorStatus | undefined;
}

/** A device that has never been heard from. */
export const NO_ACTIVITY: Readonly<DeviceActivity> = Object.freeze({
  lastHeartbeatTime: undefined,
  lastEventTime: undefined,
  lastStateTime: undefined,
  lastConfigAckTime: undefined,
  lastConfigSendTime: undefined,
  lastErrorTime: undefined,
  lastErrorStatus: undefined,
});

export interface Device extends DeviceActivity {
  readonly registryKey: RegistryKey;
  readonly id: string;
  /** uint64 as a decimal string: it outgrows a JS number in principle, never do arithmetic on it. */
  readonly numId: string;
  /** Bumped by the store on every write of the mutable fields (credentials … gatewayAuthMethod). */
  revision: number;
  credentials: DeviceCredential[];
  blocked: boolean;
  logLevel: LogLevel;
  metadata: Record<string, string>;
  gatewayConfig: GatewayConfig;
  /** The latest config version (history lives in the store). */
  config: DeviceConfig;
  /** The latest reported state, if any. */
  state: DeviceState | undefined;
}

export interface IamBinding {
  role: string;
  members: string[];
  condition?: { expression: string; title?: string; description?: string; location?: string };
}

export interface IamPolicy {
  version: number;
  bindings: IamBinding[];
  /** Opaque; base64 in JSON. */
  etag: Uint8Array;
}

/** A registry as a create request hands it to the store, which assigns the revision. */
export type NewRegistry = Omit<Registry, 'revision'>;

/** A device as a create request hands it to the store, which assigns numId and revision. */
export type NewDevice = Omit<Device, 'numId' | 'revision'>;

export const registryName = (k: RegistryKey): string =>
  `projects/${k.project}/locations/${k.location}/registries/${k.registry}`;

export const deviceName = (d: Pick<Device, 'registryKey' | 'numId'>): string =>
  `${registryName(d.registryKey)}/devices/${d.numId}`;

export const isGateway = (d: Pick<Device, 'gatewayConfig'>): boolean => d.gatewayConfig.gatewayType === 'GATEWAY';

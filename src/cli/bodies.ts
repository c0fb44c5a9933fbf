import { InvalidArgumentError } from 'commander';
import { topicName, type EventConfigSpec, type PublicKeySpec } from './flags.js';
import type { JsonObject } from './output.js';

/**
 * Request bodies and update masks built from parsed flags. Pure: files are read through `read`,
 * so tests pass a map.
 */

export type ReadFile = (path: string, what: string) => string;

export interface RegistryFlags {
  eventNotificationConfig?: EventConfigSpec[];
  statePubsubTopic?: string;
  enableMqttConfig?: boolean;
  enableHttpConfig?: boolean;
  /** API enum name (already mapped from none|error|info|debug). */
  logLevel?: string;
  publicKeyPath?: string[];
}

/** Flag -> the registry's update-mask path it changes. */
export const REGISTRY_MASK_PATHS: Readonly<Record<keyof RegistryFlags, string>> = {
  eventNotificationConfig: 'eventNotificationConfigs',
  statePubsubTopic: 'stateNotificationConfig',
  enableMqttConfig: 'mqttConfig',
  enableHttpConfig: 'httpConfig',
  logLevel: 'logLevel',
  publicKeyPath: 'credentials',
};

export function registryBody(flags: RegistryFlags, project: string, read: ReadFile): JsonObject {
  const body: JsonObject = {};
  if (flags.eventNotificationConfig) {
    body.eventNotificationConfigs = flags.eventNotificationConfig.map((e) => {
      const out: JsonObject = { pubsubTopicName: topicName(e.pubsubTopicName, project, '--event-notification-config topic') };
      if (e.subfolderMatches) out.subfolderMatches = e.subfolderMatches;
      return out;
    });
  }
  if (flags.statePubsubTopic !== undefined) {
    body.stateNotificationConfig = { pubsubTopicName: topicName(flags.statePubsubTopic, project, '--state-pubsub-topic') };
  }
  if (flags.enableMqttConfig !== undefined) {
    body.mqttConfig = { mqttEnabledState: flags.enableMqttConfig ? 'MQTT_ENABLED' : 'MQTT_DISABLED' };
  }
  if (flags.enableHttpConfig !== undefined) {
    body.httpConfig = { httpEnabledState: flags.enableHttpConfig ? 'HTTP_ENABLED' : 'HTTP_DISABLED' };
  }
  if (flags.logLevel !== undefined) body.logLevel = flags.logLevel;
  if (flags.publicKeyPath) {
    body.credentials = flags.publicKeyPath.map((p) => ({
      publicKeyCertificate: { format: 'X509_CERTIFICATE_PEM', certificate: read(p, '--public-key-path') },
    }));
  }
  return body;
}

export interface DeviceFlags {
  publicKey?: PublicKeySpec[];
  /** GATEWAY | NON_GATEWAY. */
  deviceType?: string;
  /** GatewayAuthMethod enum name. */
  authMethod?: string;
  metadata?: Record<string, string>;
  /** `--metadata-from-file`: key -> the path whose text is the value. */
  metadataFromFile?: Record<string, string>;
  blocked?: boolean;
  logLevel?: string;
}

/** Flag -> the device's update-mask path it changes (device type is create-only). */
export const DEVICE_MASK_PATHS: Readonly<Partial<Record<keyof DeviceFlags, string>>> = {
  publicKey: 'credentials',
  blocked: 'blocked',
  metadata: 'metadata',
  metadataFromFile: 'metadata',
  logLevel: 'logLevel',
  authMethod: 'gatewayConfig.gatewayAuthMethod',
};

export function deviceBody(flags: DeviceFlags, read: ReadFile): JsonObject {
  const body: JsonObject = {};
  if (flags.publicKey) {
    body.credentials = flags.publicKey.map((k) => credentialBody(k, read, '--public-key path'));
  }
  if (flags.blocked !== undefined) body.blocked = flags.blocked;
  if (flags.logLevel !== undefined) body.logLevel = flags.logLevel;
  if (flags.metadata !== undefined || flags.metadataFromFile !== undefined) {
    const metadata: JsonObject = { ...flags.metadata };
    for (const [key, path] of Object.entries(flags.metadataFromFile ?? {})) {
      // As gcloud: a key is given by one of the two flags, never both.
      if (key in metadata) throw new InvalidArgumentError(`metadata key "${key}" is given in both --metadata and --metadata-from-file; give it once.`);
      metadata[key] = read(path, `--metadata-from-file ${key}=`);
    }
    body.metadata = metadata;
  }
  if (flags.deviceType !== undefined || flags.authMethod !== undefined) {
    const gw: JsonObject = {};
    if (flags.deviceType !== undefined) gw.gatewayType = flags.deviceType;
    if (flags.authMethod !== undefined) gw.gatewayAuthMethod = flags.authMethod;
    body.gatewayConfig = gw;
  }
  return body;
}

/** The API's limit on a device's credentials (spec §3.4); checked here too so the message says what to do. */
export const MAX_DEVICE_CREDENTIALS = 3;

/** One device credential as the API takes it, from `--path/--type/--expiration-time` or a `--public-key` spec. */
export function credentialBody(spec: PublicKeySpec, read: ReadFile, what = '--path'): JsonObject {
  const cred: JsonObject = { publicKey: { format: spec.format, key: read(spec.path, what) } };
  if (spec.expirationTime !== undefined) cred.expirationTime = spec.expirationTime;
  return cred;
}

/** A device's credentials with `cred` appended; a full list is refused with what to type instead. */
export function appendCredential(list: readonly JsonObject[], cred: JsonObject, deleteHint: string): JsonObject[] {
  if (list.length >= MAX_DEVICE_CREDENTIALS) {
    throw new CredentialIndexError(
      `the device already has ${list.length} credentials, the most a device can have; remove one first: ${deleteHint}`,
    );
  }
  return [...list, cred];
}

/** A credential index that does not exist on the device (or the list is full): exit 1, state not usage. */
export class CredentialIndexError extends Error {}

/** Checks `index` against the device's list; the message gives the valid range. */
export function checkCredentialIndex(list: readonly JsonObject[], index: number): void {
  if (index < list.length) return;
  throw new CredentialIndexError(
    list.length === 0
      ? `the device has no credentials, so there is no credential ${index}.`
      : `the device has ${list.length} credential${list.length === 1 ? '' : 's'} (indexes 0-${list.length - 1}); there is no credential ${index}.`,
  );
}

export function withoutCredential(list: readonly JsonObject[], index: number): JsonObject[] {
  checkCredentialIndex(list, index);
  return list.filter((_c, i) => i !== index);
}

export function withExpiration(list: readonly JsonObject[], index: number, expirationTime: string): JsonObject[] {
  checkCredentialIndex(list, index);
  return list.map((c, i) => (i === index ? { ...c, expirationTime } : c));
}

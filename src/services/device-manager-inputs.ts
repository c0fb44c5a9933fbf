import { invalidArgument } from '../domain/errors.js';
import { checkTopicName } from '../domain/names.js';
import { LIMITS } from '../domain/limits.js';
import type { RegistryMutable } from '../domain/field-mask.js';
import type { DeviceCredential, IamPolicy, NewRegistry, RegistryCredential, RegistryKey } from '../domain/model.js';
import { checkEventNotificationConfigs, checkMetadata } from '../domain/resource-rules.js';
import type { DeviceCredentialMessage, DeviceMessage, PolicyMessage, RegistryMessage } from './device-manager-requests.js';
import type { KeyInspector } from './ports.js';

/*
 * Request messages -> domain values: the required fields, the defaults and every value check of
 * spec §1-§3, with the proto field path of anything refused. Shared by every edge through the
 * DeviceAdmin service.
 */

/** A new registry `key` from a create (or import) message: every field applied onto the defaults. */
export function newRegistryFromMessage(key: RegistryKey, msg: RegistryMessage, keys: KeyInspector): NewRegistry {
  const registry: NewRegistry = {
    ...key,
    eventNotificationConfigs: [],
    stateNotificationConfig: undefined,
    mqttEnabledState: undefined,
    httpEnabledState: undefined,
    logLevel: 'LOG_LEVEL_UNSPECIFIED',
    credentials: [],
  };
  applyRegistryFields(registry, msg, undefined, keys);
  return registry;
}

/** Applies a registry message's fields (all, or those of an update mask) onto `registry`. */
export function applyRegistryFields(
  registry: NewRegistry,
  msg: RegistryMessage,
  mask: ReadonlySet<RegistryMutable> | undefined,
  keys: KeyInspector,
): void {
  const take = (f: RegistryMutable): boolean => (mask ? mask.has(f) : true);
  const prefix = 'device_registry';
  if (take('eventNotificationConfigs')) {
    const configs = (msg.eventNotificationConfigs ?? []).map((c) => ({
      pubsubTopicName: c.pubsubTopicName ?? '',
      subfolderMatches: c.subfolderMatches ?? '',
    }));
    checkEventNotificationConfigs(configs, `${prefix}.event_notification_configs`);
    registry.eventNotificationConfigs = configs;
  }
  if (take('stateNotificationConfig')) {
    const topic = msg.stateNotificationConfig?.pubsubTopicName ?? '';
    if (topic !== '') checkTopicName(topic, `${prefix}.state_notification_config.pubsub_topic_name`);
    registry.stateNotificationConfig = topic === '' ? undefined : { pubsubTopicName: topic };
  }
  if (take('mqttConfig')) registry.mqttEnabledState = msg.mqttConfig?.mqttEnabledState;
  if (take('httpConfig')) registry.httpEnabledState = msg.httpConfig?.httpEnabledState;
  if (take('logLevel')) registry.logLevel = msg.logLevel ?? 'LOG_LEVEL_UNSPECIFIED';
  if (take('credentials')) registry.credentials = registryCredentials(msg, keys);
}

function registryCredentials(msg: RegistryMessage, keys: KeyInspector): RegistryCredential[] {
  const creds = msg.credentials ?? [];
  if (creds.length > LIMITS.maxRegistryCredentials) {
    throw invalidArgument(
      'device_registry.credentials',
      `A registry can have at most ${LIMITS.maxRegistryCredentials} credentials, got ${creds.length}.`,
    );
  }
  return creds.map((c, i) => {
    const field = `device_registry.credentials[${i}].public_key_certificate`;
    const cert = c.publicKeyCertificate;
    if (!cert) throw invalidArgument(field, `${field} is required.`, 'REQUIRED_FIELD');
    if (cert.format !== 'X509_CERTIFICATE_PEM') {
      throw invalidArgument(`${field}.format`, `${field}.format must be X509_CERTIFICATE_PEM.`);
    }
    const certificate = cert.certificate ?? '';
    const x509Details = keys.inspectCertificate(certificate, `${field}.certificate`);
    return { format: 'X509_CERTIFICATE_PEM' as const, certificate, x509Details };
  });
}

/** Output-only and immutable fields a create or update must leave unset (spec §1.4). */
export function checkDeviceIdentity(msg: DeviceMessage, forCreate: boolean): void {
  if (forCreate && msg.name) throw invalidArgument('device.name', 'device.name must be empty when creating a device.');
  if (msg.numId !== undefined && msg.numId !== '' && msg.numId !== '0') {
    throw invalidArgument(
      'device.num_id',
      forCreate ? 'device.num_id is assigned by the server and must not be set.' : 'device.num_id must be empty in an update.',
    );
  }
  if (!forCreate && msg.id) throw invalidArgument('device.id', 'device.id must be empty in an update; the name identifies the device.');
}

export function deviceCredentials(msgs: readonly DeviceCredentialMessage[] | undefined, keys: KeyInspector): DeviceCredential[] {
  const list = msgs ?? [];
  if (list.length > LIMITS.maxDeviceCredentials) {
    throw invalidArgument('device.credentials', `A device can have at most ${LIMITS.maxDeviceCredentials} credentials, got ${list.length}.`);
  }
  return list.map((c, i) => {
    const f = `device.credentials[${i}]`;
    const pk = c.publicKey;
    if (!pk) throw invalidArgument(`${f}.public_key`, `${f}.public_key is required.`, 'REQUIRED_FIELD');
    const format = pk.format;
    if (!format || format === 'UNSPECIFIED_PUBLIC_KEY_FORMAT') {
      throw invalidArgument(`${f}.public_key.format`, `${f}.public_key.format must be one of RSA_PEM, RSA_X509_PEM, ES256_PEM, ES256_X509_PEM.`);
    }
    const key = pk.key;
    if (!key) throw invalidArgument(`${f}.public_key.key`, `${f}.public_key.key is required.`, 'REQUIRED_FIELD');
    keys.checkDeviceKey(format, key, `${f}.public_key.key`);
    return { format, key, expirationTime: c.expirationTime ?? 0 };
  });
}

export function deviceMetadata(metadata: Record<string, string> | undefined): Record<string, string> {
  const m = metadata ?? {};
  checkMetadata(m, 'device.metadata');
  return m;
}

export function policyFrom(msg: PolicyMessage | undefined): { policy: Omit<IamPolicy, 'etag'>; etag: Uint8Array | undefined } {
  const o = msg ?? {};
  const version = o.version ?? 0;
  if (![0, 1, 3].includes(version)) throw invalidArgument('policy.version', 'policy.version must be 0, 1 or 3.');
  const bindings = (o.bindings ?? []).map((b, i) => {
    const f = `policy.bindings[${i}]`;
    if (!b.role) throw invalidArgument(`${f}.role`, `${f}.role is required.`, 'REQUIRED_FIELD');
    const members = b.members ?? [];
    return b.condition ? { role: b.role, members, condition: b.condition } : { role: b.role, members };
  });
  return { policy: { version, bindings }, etag: o.etag };
}

import { invalidArgument } from '../../domain/errors.js';
import {
  deviceName,
  ENUM_NUMBERS,
  registryName,
  type Device,
  type DeviceConfig,
  type DeviceCredential,
  type DeviceState,
  type IamPolicy,
  type PublicKeyFormat,
  type Registry,
} from '../../domain/model.js';
import type { DeviceInput, RegistryInput } from '../../services/device-admin.js';
import {
  readArray,
  readBool,
  readBytes,
  readEnum,
  readInt,
  readObject,
  readString,
  readStringMap,
  readTimestamp,
  type Json,
  type JsonObject,
} from './json-read.js';

/** cloudiot v1 JSON <-> domain (spec §1, §1.9). Output follows proto3 JSON: defaults omitted. */

export interface Encoding {
  /** `$alt=json;enum-encoding=int`: the REST client asks for enum numbers. */
  enumsAsInt: boolean;
}

// ---- input ----

export function readRegistryInput(body: JsonObject | undefined, prefix: string): RegistryInput {
  const b = body ?? {};
  // `name` is output-only on create and comes from the path on update: read for its type only.
  readString(b.name, `${prefix}.name`);
  const out: RegistryInput = {};
  const id = readString(b.id, `${prefix}.id`);
  if (id !== undefined) out.id = id;
  const events = readArray(b.eventNotificationConfigs, `${prefix}.event_notification_configs`);
  if (events) {
    out.eventNotificationConfigs = events.map((e, i) => {
      const f = `${prefix}.event_notification_configs[${i}]`;
      const o = readObject(e, f) ?? {};
      return {
        pubsubTopicName: readString(o.pubsubTopicName, `${f}.pubsub_topic_name`) ?? '',
        subfolderMatches: readString(o.subfolderMatches, `${f}.subfolder_matches`) ?? '',
      };
    });
  }
  const state = readObject(b.stateNotificationConfig, `${prefix}.state_notification_config`);
  if (state) {
    out.stateNotificationConfig = {
      pubsubTopicName: readString(state.pubsubTopicName, `${prefix}.state_notification_config.pubsub_topic_name`) ?? '',
    };
  }
  const mqtt = readObject(b.mqttConfig, `${prefix}.mqtt_config`);
  const mqttState = readEnum<NonNullable<RegistryInput['mqttEnabledState']>>(mqtt?.mqttEnabledState, 'MqttState', `${prefix}.mqtt_config.mqtt_enabled_state`);
  if (mqttState) out.mqttEnabledState = mqttState;
  const http = readObject(b.httpConfig, `${prefix}.http_config`);
  const httpState = readEnum<NonNullable<RegistryInput['httpEnabledState']>>(http?.httpEnabledState, 'HttpState', `${prefix}.http_config.http_enabled_state`);
  if (httpState) out.httpEnabledState = httpState;
  const logLevel = readEnum<NonNullable<RegistryInput['logLevel']>>(b.logLevel, 'LogLevel', `${prefix}.log_level`);
  if (logLevel) out.logLevel = logLevel;
  const creds = readArray(b.credentials, `${prefix}.credentials`);
  if (creds) {
    out.credentials = creds.map((c, i) => {
      const f = `${prefix}.credentials[${i}].public_key_certificate`;
      const cert = readObject(readObject(c, `${prefix}.credentials[${i}]`)?.publicKeyCertificate, f);
      if (!cert) throw invalidArgument(f, `${f} is required.`);
      return {
        format: readEnum(cert.format, 'CertificateFormat', `${f}.format`) ?? 'UNSPECIFIED_PUBLIC_KEY_CERTIFICATE_FORMAT',
        certificate: readString(cert.certificate, `${f}.certificate`) ?? '',
      };
    });
  }
  return out;
}

export function readDeviceInput(body: JsonObject | undefined, forCreate: boolean): DeviceInput {
  const b = body ?? {};
  if (forCreate) {
    if (readString(b.name, 'device.name')) throw invalidArgument('device.name', 'device.name must be empty when creating a device.');
    if (b.numId !== undefined && b.numId !== '0' && b.numId !== 0) {
      throw invalidArgument('device.num_id', 'device.num_id is assigned by the server and must not be set.');
    }
  } else if (b.numId !== undefined && b.numId !== '0' && b.numId !== 0) {
    throw invalidArgument('device.num_id', 'device.num_id must be empty in an update.');
  }
  const out: DeviceInput = {};
  const id = readString(b.id, 'device.id');
  if (id !== undefined) out.id = id;
  const creds = readArray(b.credentials, 'device.credentials');
  if (creds) out.credentials = creds.map((c, i) => readDeviceCredential(c, i));
  const blocked = readBool(b.blocked, 'device.blocked');
  if (blocked !== undefined) out.blocked = blocked;
  const logLevel = readEnum<NonNullable<DeviceInput['logLevel']>>(b.logLevel, 'LogLevel', 'device.log_level');
  if (logLevel) out.logLevel = logLevel;
  const metadata = readStringMap(b.metadata, 'device.metadata');
  if (metadata) out.metadata = metadata;
  const gw = readObject(b.gatewayConfig, 'device.gateway_config');
  if (gw) {
    const type = readEnum<NonNullable<DeviceInput['gatewayType']>>(gw.gatewayType, 'GatewayType', 'device.gateway_config.gateway_type');
    if (type) out.gatewayType = type;
    const method = readEnum<NonNullable<DeviceInput['gatewayAuthMethod']>>(
      gw.gatewayAuthMethod,
      'GatewayAuthMethod',
      'device.gateway_config.gateway_auth_method',
    );
    if (method) out.gatewayAuthMethod = method;
  }
  const config = readObject(b.config, 'device.config');
  if (config) {
    out.config = {
      version: readInt(config.version, 'device.config.version') ?? 0,
      binaryData: readBytes(config.binaryData, 'device.config.binary_data') ?? new Uint8Array(0),
    };
  }
  return out;
}

function readDeviceCredential(c: Json, i: number): DeviceCredential {
  const f = `device.credentials[${i}]`;
  const o = readObject(c, f) ?? {};
  const pk = readObject(o.publicKey, `${f}.public_key`);
  if (!pk) throw invalidArgument(`${f}.public_key`, `${f}.public_key is required.`);
  const format = readEnum<PublicKeyFormat | 'UNSPECIFIED_PUBLIC_KEY_FORMAT'>(pk.format, 'PublicKeyFormat', `${f}.public_key.format`);
  if (!format || format === 'UNSPECIFIED_PUBLIC_KEY_FORMAT') {
    throw invalidArgument(`${f}.public_key.format`, `${f}.public_key.format must be one of RSA_PEM, RSA_X509_PEM, ES256_PEM, ES256_X509_PEM.`);
  }
  const key = readString(pk.key, `${f}.public_key.key`);
  if (!key) throw invalidArgument(`${f}.public_key.key`, `${f}.public_key.key is required.`);
  return { format, key, expirationTime: readTimestamp(o.expirationTime, `${f}.expiration_time`) ?? 0 };
}

// ---- output ----

export const timestamp = (ms: number): string => new Date(ms).toISOString();

const b64 = (data: Uint8Array): string => Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');

function en(name: string, enumName: string, enc: Encoding): string | number | undefined {
  const table = ENUM_NUMBERS[enumName]!;
  const num = Object.hasOwn(table, name) ? table[name]! : 0;
  if (num === 0) return undefined; // proto3 JSON omits the zero value
  return enc.enumsAsInt ? num : name;
}

/** Drops undefined values so that JSON matches proto3's "defaults omitted". */
function clean(o: Record<string, unknown>): JsonObject {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o as JsonObject;
}

export function registryJson(r: Registry, enc: Encoding): JsonObject {
  return clean({
    id: r.registry,
    name: registryName(r),
    eventNotificationConfigs: r.eventNotificationConfigs.length
      ? r.eventNotificationConfigs.map((e) => clean({ pubsubTopicName: e.pubsubTopicName, subfolderMatches: e.subfolderMatches || undefined }))
      : undefined,
    stateNotificationConfig: r.stateNotificationConfig ? { pubsubTopicName: r.stateNotificationConfig.pubsubTopicName } : undefined,
    mqttConfig: r.mqttEnabledState ? clean({ mqttEnabledState: en(r.mqttEnabledState, 'MqttState', enc) }) : undefined,
    httpConfig: r.httpEnabledState ? clean({ httpEnabledState: en(r.httpEnabledState, 'HttpState', enc) }) : undefined,
    logLevel: en(r.logLevel, 'LogLevel', enc),
    credentials: r.credentials.length
      ? r.credentials.map((c) => ({
          publicKeyCertificate: clean({
            format: en(c.format, 'CertificateFormat', enc),
            certificate: c.certificate,
            x509Details: {
              issuer: c.x509Details.issuer,
              subject: c.x509Details.subject,
              startTime: timestamp(c.x509Details.startTime),
              expiryTime: timestamp(c.x509Details.expiryTime),
              signatureAlgorithm: c.x509Details.signatureAlgorithm,
              publicKeyType: c.x509Details.publicKeyType,
            },
          }),
        }))
      : undefined,
  });
}

export function configJson(c: DeviceConfig): JsonObject {
  return clean({
    version: String(c.version),
    cloudUpdateTime: timestamp(c.cloudUpdateTime),
    deviceAckTime: c.deviceAckTime === undefined ? undefined : timestamp(c.deviceAckTime),
    binaryData: c.binaryData.byteLength ? b64(c.binaryData) : undefined,
  });
}

export function stateJson(s: DeviceState): JsonObject {
  return clean({ updateTime: timestamp(s.updateTime), binaryData: s.binaryData.byteLength ? b64(s.binaryData) : undefined });
}

const ts = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : timestamp(ms));

export function deviceJson(d: Device, enc: Encoding): JsonObject {
  return clean({
    id: d.id,
    name: deviceName(d),
    numId: d.numId,
    credentials: d.credentials.length
      ? d.credentials.map((c) => ({
          publicKey: { format: en(c.format, 'PublicKeyFormat', enc) ?? null, key: c.key },
          // Always present; epoch means "never" (spec §1.4).
          expirationTime: timestamp(c.expirationTime),
        }))
      : undefined,
    lastHeartbeatTime: ts(d.lastHeartbeatTime),
    lastEventTime: ts(d.lastEventTime),
    lastStateTime: ts(d.lastStateTime),
    lastConfigAckTime: ts(d.lastConfigAckTime),
    lastConfigSendTime: ts(d.lastConfigSendTime),
    blocked: d.blocked || undefined,
    lastErrorTime: ts(d.lastErrorTime),
    lastErrorStatus: d.lastErrorStatus && d.lastErrorStatus.code !== 0 ? { code: d.lastErrorStatus.code, message: d.lastErrorStatus.message } : undefined,
    config: configJson(d.config),
    state: d.state ? stateJson(d.state) : undefined,
    logLevel: en(d.logLevel, 'LogLevel', enc),
    metadata: Object.keys(d.metadata).length ? { ...d.metadata } : undefined,
    gatewayConfig: clean({
      gatewayType: en(d.gatewayConfig.gatewayType, 'GatewayType', enc),
      gatewayAuthMethod: en(d.gatewayConfig.gatewayAuthMethod, 'GatewayAuthMethod', enc),
      lastAccessedGatewayId: d.gatewayConfig.lastAccessedGatewayId,
      lastAccessedGatewayTime: ts(d.gatewayConfig.lastAccessedGatewayTime),
    }),
  });
}

export function policyJson(p: IamPolicy): JsonObject {
  return clean({
    version: p.version || undefined,
    bindings: p.bindings.length ? (p.bindings as unknown as Json[]) : undefined,
    etag: b64(p.etag),
  });
}

export function readPolicy(v: Json | undefined): { policy: Omit<IamPolicy, 'etag'>; etag: Uint8Array | undefined } {
  const o = readObject(v, 'policy') ?? {};
  const version = readInt(o.version, 'policy.version') ?? 0;
  if (![0, 1, 3].includes(version)) throw invalidArgument('policy.version', 'policy.version must be 0, 1 or 3.');
  const bindings = (readArray(o.bindings, 'policy.bindings') ?? []).map((b, i) => {
    const f = `policy.bindings[${i}]`;
    const bo = readObject(b, f) ?? {};
    const role = readString(bo.role, `${f}.role`);
    if (!role) throw invalidArgument(`${f}.role`, `${f}.role is required.`);
    const members = (readArray(bo.members, `${f}.members`) ?? []).map((m, j) => readString(m, `${f}.members[${j}]`) ?? '');
    const condition = readObject(bo.condition, `${f}.condition`);
    return condition
      ? { role, members, condition: { expression: readString(condition.expression, `${f}.condition.expression`) ?? '' } }
      : { role, members };
  });
  return { policy: { version, bindings }, etag: readBytes(o.etag, 'policy.etag') };
}

import {
  configMessage,
  deviceMessage,
  policyMessage,
  registryMessage,
  stateMessage,
  type WireCodec,
} from '../wire/resource-messages.js';
import {
  type CertificateFormat,
  type Device,
  type DeviceConfig,
  type DeviceState,
  type GatewayAuthMethod,
  type GatewayType,
  type HttpState,
  type IamPolicy,
  type LogLevel,
  type MqttState,
  type PublicKeyFormat,
  type Registry,
} from '../../domain/model.js';
import type { DeviceMessage, PolicyMessage, RegistryMessage } from '../../services/device-manager-requests.js';
import type { GatewayErrorRecord } from '../../services/gateway-error-history.js';
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
  readUint64String,
  type Json,
  type JsonObject,
} from './json-read.js';

/** cloudiot v1 JSON <-> domain (spec §1, §1.9). Output follows proto3 JSON: defaults omitted. */

export interface Encoding {
  /** `$alt=json;enum-encoding=int`: the REST client asks for enum numbers. */
  enumsAsInt: boolean;
}

// ---- input: JSON -> request messages (types only; the service validates) ----

/** Drops undefined values so that an absent JSON field stays absent in the message. */
function defined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

export function readRegistryMessage(body: JsonObject | undefined, prefix: string): RegistryMessage {
  const b = body ?? {};
  const events = readArray(b.eventNotificationConfigs, `${prefix}.event_notification_configs`);
  const state = readObject(b.stateNotificationConfig, `${prefix}.state_notification_config`);
  const mqtt = readObject(b.mqttConfig, `${prefix}.mqtt_config`);
  const http = readObject(b.httpConfig, `${prefix}.http_config`);
  const creds = readArray(b.credentials, `${prefix}.credentials`);
  return defined<RegistryMessage>({
    id: readString(b.id, `${prefix}.id`),
    name: readString(b.name, `${prefix}.name`),
    eventNotificationConfigs: events?.map((e, i) => {
      const f = `${prefix}.event_notification_configs[${i}]`;
      const o = readObject(e, f) ?? {};
      return defined({
        pubsubTopicName: readString(o.pubsubTopicName, `${f}.pubsub_topic_name`),
        subfolderMatches: readString(o.subfolderMatches, `${f}.subfolder_matches`),
      });
    }),
    stateNotificationConfig: state && defined({ pubsubTopicName: readString(state.pubsubTopicName, `${prefix}.state_notification_config.pubsub_topic_name`) }),
    mqttConfig: mqtt && defined({ mqttEnabledState: readEnum<MqttState>(mqtt.mqttEnabledState, 'MqttState', `${prefix}.mqtt_config.mqtt_enabled_state`) }),
    httpConfig: http && defined({ httpEnabledState: readEnum<HttpState>(http.httpEnabledState, 'HttpState', `${prefix}.http_config.http_enabled_state`) }),
    logLevel: readEnum<LogLevel>(b.logLevel, 'LogLevel', `${prefix}.log_level`),
    credentials: creds?.map((c, i) => {
      const f = `${prefix}.credentials[${i}]`;
      const cert = readObject(readObject(c, f)?.publicKeyCertificate, `${f}.public_key_certificate`);
      return defined({
        publicKeyCertificate:
          cert &&
          defined({
            format: readEnum<CertificateFormat>(cert.format, 'CertificateFormat', `${f}.public_key_certificate.format`),
            certificate: readString(cert.certificate, `${f}.public_key_certificate.certificate`),
          }),
      });
    }),
  });
}

export function readDeviceMessage(body: JsonObject | undefined): DeviceMessage {
  const b = body ?? {};
  const creds = readArray(b.credentials, 'device.credentials');
  const gw = readObject(b.gatewayConfig, 'device.gateway_config');
  const config = readObject(b.config, 'device.config');
  return defined<DeviceMessage>({
    id: readString(b.id, 'device.id'),
    name: readString(b.name, 'device.name'),
    numId: b.numId === undefined || b.numId === null ? undefined : readUint64String(b.numId, 'device.num_id'),
    credentials: creds?.map((c, i) => {
      const f = `device.credentials[${i}]`;
      const o = readObject(c, f) ?? {};
      const pk = readObject(o.publicKey, `${f}.public_key`);
      return defined({
        publicKey:
          pk &&
          defined({
            format: readEnum<PublicKeyFormat | 'UNSPECIFIED_PUBLIC_KEY_FORMAT'>(pk.format, 'PublicKeyFormat', `${f}.public_key.format`),
            key: readString(pk.key, `${f}.public_key.key`),
          }),
        expirationTime: readTimestamp(o.expirationTime, `${f}.expiration_time`),
      });
    }),
    blocked: readBool(b.blocked, 'device.blocked'),
    logLevel: readEnum<LogLevel>(b.logLevel, 'LogLevel', 'device.log_level'),
    metadata: readStringMap(b.metadata, 'device.metadata'),
    gatewayConfig:
      gw &&
      defined({
        gatewayType: readEnum<GatewayType>(gw.gatewayType, 'GatewayType', 'device.gateway_config.gateway_type'),
        gatewayAuthMethod: readEnum<GatewayAuthMethod>(gw.gatewayAuthMethod, 'GatewayAuthMethod', 'device.gateway_config.gateway_auth_method'),
      }),
    config:
      config &&
      defined({
        version: readInt(config.version, 'device.config.version'),
        binaryData: readBytes(config.binaryData, 'device.config.binary_data'),
      }),
  });
}

export function readPolicyMessage(v: Json | undefined): PolicyMessage {
  const o = readObject(v, 'policy') ?? {};
  const bindings = readArray(o.bindings, 'policy.bindings');
  return defined<PolicyMessage>({
    version: readInt(o.version, 'policy.version'),
    bindings: bindings?.map((b, i) => {
      const f = `policy.bindings[${i}]`;
      const bo = readObject(b, f) ?? {};
      const condition = readObject(bo.condition, `${f}.condition`);
      return defined({
        role: readString(bo.role, `${f}.role`),
        members: (readArray(bo.members, `${f}.members`) ?? []).map((m, j) => readString(m, `${f}.members[${j}]`) ?? ''),
        condition: condition && { expression: readString(condition.expression, `${f}.condition.expression`) ?? '' },
      });
    }),
    etag: readBytes(o.etag, 'policy.etag'),
  });
}

// ---- output: the shared resource messages, written as proto3 JSON ----

export const timestamp = (ms: number): string => new Date(ms).toISOString();

/**
 * One of a gateway's errors-topic messages (docs/compat.md C-CONSOLE-GATEWAY-ERRORS): the fields
 * the gateway was sent, in the API's camelCase, with when and whether it was sent.
 */
export function gatewayErrorJson(e: GatewayErrorRecord): JsonObject {
  const json: JsonObject = { time: timestamp(e.at), deviceId: e.deviceId, errorType: e.errorType, description: e.description };
  if (e.packet) json.mqttMessageInfo = { messageType: e.packet.messageType, topic: e.packet.topic, packetId: e.packet.packetId };
  json.delivered = e.delivered;
  return json;
}

const b64 = (data: Uint8Array): string => Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');

/** `$alt=json;enum-encoding=int` asks for enum numbers; otherwise names. */
const JSON_CODECS: Record<'names' | 'numbers', WireCodec> = {
  names: { timestamp, bytes: b64, enumValue: (name) => name },
  numbers: { timestamp, bytes: b64, enumValue: (_name, number) => number },
};

const codec = (enc: Encoding): WireCodec => JSON_CODECS[enc.enumsAsInt ? 'numbers' : 'names'];

export const registryJson = (r: Registry, enc: Encoding): JsonObject => registryMessage(r, codec(enc)) as JsonObject;

export const configJson = (c: DeviceConfig): JsonObject => configMessage(c, JSON_CODECS.names) as JsonObject;

export const stateJson = (s: DeviceState): JsonObject => stateMessage(s, JSON_CODECS.names) as JsonObject;

export const deviceJson = (d: Device, enc: Encoding): JsonObject => deviceMessage(d, codec(enc)) as JsonObject;

export const policyJson = (p: IamPolicy): JsonObject => policyMessage(p, JSON_CODECS.names) as JsonObject;

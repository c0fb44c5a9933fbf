import {
  deviceName,
  ENUM_NUMBERS,
  registryName,
  type Device,
  type DeviceConfig,
  type DeviceState,
  type IamPolicy,
  type Registry,
} from '../../domain/model.js';

/*
 * Domain -> cloudiot v1 resource messages, once for every edge. The edges differ only in how a
 * timestamp, bytes and an enum value are written (REST JSON: RFC 3339 strings, base64, names or
 * numbers; gRPC: {seconds, nanos}, Buffers, names), which each passes in as its codec. Every field
 * at its proto3 default is left out, as proto3 leaves defaults off the wire.
 */

export type Message = { [field: string]: unknown };

export interface WireCodec {
  timestamp(ms: number): unknown;
  bytes(data: Uint8Array): unknown;
  /** The value of a non-zero enum member (`enumName` as in ENUM_NUMBERS). */
  enumValue(name: string, number: number): unknown;
}

/** An enum field, left out at its zero value. */
function en(codec: WireCodec, name: string, enumName: string): unknown {
  const table = ENUM_NUMBERS[enumName]!;
  const number = Object.hasOwn(table, name) ? table[name]! : 0;
  return number === 0 ? undefined : codec.enumValue(name, number);
}

const ts = (codec: WireCodec, ms: number | undefined): unknown => (ms === undefined ? undefined : codec.timestamp(ms));

const someBytes = (codec: WireCodec, data: Uint8Array): unknown => (data.byteLength ? codec.bytes(data) : undefined);

/** Drops undefined values. */
export function clean<T extends Message>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

export function registryMessage(r: Registry, codec: WireCodec): Message {
  return clean({
    id: r.registry,
    name: registryName(r),
    eventNotificationConfigs: r.eventNotificationConfigs.length
      ? r.eventNotificationConfigs.map((e) => clean({ pubsubTopicName: e.pubsubTopicName, subfolderMatches: e.subfolderMatches || undefined }))
      : undefined,
    stateNotificationConfig: r.stateNotificationConfig ? { pubsubTopicName: r.stateNotificationConfig.pubsubTopicName } : undefined,
    // docs/compat.md C-REG-ECHO: echoed as stored, absent when never set.
    mqttConfig: r.mqttEnabledState ? clean({ mqttEnabledState: en(codec, r.mqttEnabledState, 'MqttState') }) : undefined,
    httpConfig: r.httpEnabledState ? clean({ httpEnabledState: en(codec, r.httpEnabledState, 'HttpState') }) : undefined,
    logLevel: en(codec, r.logLevel, 'LogLevel'),
    credentials: r.credentials.length
      ? r.credentials.map((c) => ({
          publicKeyCertificate: clean({
            format: en(codec, c.format, 'CertificateFormat'),
            certificate: c.certificate,
            x509Details: {
              issuer: c.x509Details.issuer,
              subject: c.x509Details.subject,
              startTime: codec.timestamp(c.x509Details.startTime),
              expiryTime: codec.timestamp(c.x509Details.expiryTime),
              signatureAlgorithm: c.x509Details.signatureAlgorithm,
              publicKeyType: c.x509Details.publicKeyType,
            },
          }),
        }))
      : undefined,
  });
}

export function configMessage(c: DeviceConfig, codec: WireCodec): Message {
  return clean({
    version: String(c.version),
    cloudUpdateTime: codec.timestamp(c.cloudUpdateTime),
    deviceAckTime: ts(codec, c.deviceAckTime),
    binaryData: someBytes(codec, c.binaryData),
  });
}

export function stateMessage(s: DeviceState, codec: WireCodec): Message {
  return clean({ updateTime: codec.timestamp(s.updateTime), binaryData: someBytes(codec, s.binaryData) });
}

export function deviceMessage(d: Device, codec: WireCodec): Message {
  return clean({
    id: d.id,
    name: deviceName(d),
    numId: d.numId,
    credentials: d.credentials.length
      ? d.credentials.map((c) => ({
          publicKey: clean({ format: en(codec, c.format, 'PublicKeyFormat'), key: c.key }),
          // Always present; the epoch means "never" (spec §1.4).
          expirationTime: codec.timestamp(c.expirationTime),
        }))
      : undefined,
    lastHeartbeatTime: ts(codec, d.lastHeartbeatTime),
    lastEventTime: ts(codec, d.lastEventTime),
    lastStateTime: ts(codec, d.lastStateTime),
    lastConfigAckTime: ts(codec, d.lastConfigAckTime),
    lastConfigSendTime: ts(codec, d.lastConfigSendTime),
    blocked: d.blocked || undefined,
    lastErrorTime: ts(codec, d.lastErrorTime),
    lastErrorStatus: d.lastErrorStatus && d.lastErrorStatus.code !== 0 ? { code: d.lastErrorStatus.code, message: d.lastErrorStatus.message } : undefined,
    config: configMessage(d.config, codec),
    state: d.state ? stateMessage(d.state, codec) : undefined,
    logLevel: en(codec, d.logLevel, 'LogLevel'),
    metadata: Object.keys(d.metadata).length ? { ...d.metadata } : undefined,
    gatewayConfig: clean({
      gatewayType: en(codec, d.gatewayConfig.gatewayType, 'GatewayType'),
      gatewayAuthMethod: en(codec, d.gatewayConfig.gatewayAuthMethod, 'GatewayAuthMethod'),
      lastAccessedGatewayId: d.gatewayConfig.lastAccessedGatewayId,
      lastAccessedGatewayTime: ts(codec, d.gatewayConfig.lastAccessedGatewayTime),
    }),
  });
}

/** The etag is always present, even empty: clients send it back as it came. */
export function policyMessage(p: IamPolicy, codec: WireCodec): Message {
  return clean({
    version: p.version || undefined,
    bindings: p.bindings.length ? p.bindings.map((b) => clean({ role: b.role, members: b.members, condition: b.condition })) : undefined,
    etag: codec.bytes(p.etag),
  });
}

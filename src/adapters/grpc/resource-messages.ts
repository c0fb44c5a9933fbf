import { project } from '../../domain/field-mask.js';
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
import type { DeviceList, DeviceView, RegistryList } from '../../services/device-manager-requests.js';

/*
 * Domain -> cloudiot v1 response messages as proto-loader encodes them: camelCase fields, enums by
 * name, int64 as decimal strings, bytes as Buffers, Timestamps as {seconds, nanos}. Like the REST
 * JSON (src/adapters/rest/resource-json.ts) every field at its proto3 default is left out, so a
 * client decoding either sees the same message.
 */

export type Message = { [field: string]: unknown };

export interface Timestamp {
  seconds: number;
  nanos: number;
}

export const timestamp = (ms: number): Timestamp => {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: (ms - seconds * 1000) * 1e6 };
};

const ts = (ms: number | undefined): Timestamp | undefined => (ms === undefined ? undefined : timestamp(ms));

const buffer = (data: Uint8Array): Buffer => Buffer.from(data.buffer, data.byteOffset, data.byteLength);

const bytes = (data: Uint8Array): Buffer | undefined => (data.byteLength ? buffer(data) : undefined);

/** An enum by name, left out at its zero value. */
function en(name: string, enumName: string): string | undefined {
  const table = ENUM_NUMBERS[enumName]!;
  return Object.hasOwn(table, name) && table[name] !== 0 ? name : undefined;
}

/** Drops undefined values, as proto3 leaves defaults off the wire. */
function clean(o: Message): Message {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

export function registryProto(r: Registry): Message {
  return clean({
    id: r.registry,
    name: registryName(r),
    eventNotificationConfigs: r.eventNotificationConfigs.length
      ? r.eventNotificationConfigs.map((e) => clean({ pubsubTopicName: e.pubsubTopicName, subfolderMatches: e.subfolderMatches || undefined }))
      : undefined,
    stateNotificationConfig: r.stateNotificationConfig ? { pubsubTopicName: r.stateNotificationConfig.pubsubTopicName } : undefined,
    // docs/compat.md C-REG-ECHO: echoed as stored, absent when never set.
    mqttConfig: r.mqttEnabledState ? clean({ mqttEnabledState: en(r.mqttEnabledState, 'MqttState') }) : undefined,
    httpConfig: r.httpEnabledState ? clean({ httpEnabledState: en(r.httpEnabledState, 'HttpState') }) : undefined,
    logLevel: en(r.logLevel, 'LogLevel'),
    credentials: r.credentials.length
      ? r.credentials.map((c) => ({
          publicKeyCertificate: clean({
            format: en(c.format, 'CertificateFormat'),
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

export function configProto(c: DeviceConfig): Message {
  return clean({
    version: String(c.version),
    cloudUpdateTime: timestamp(c.cloudUpdateTime),
    deviceAckTime: ts(c.deviceAckTime),
    binaryData: bytes(c.binaryData),
  });
}

export function stateProto(s: DeviceState): Message {
  return clean({ updateTime: timestamp(s.updateTime), binaryData: bytes(s.binaryData) });
}

export function deviceProto(d: Device): Message {
  return clean({
    id: d.id,
    name: deviceName(d),
    numId: d.numId,
    credentials: d.credentials.length
      ? d.credentials.map((c) => ({
          publicKey: clean({ format: en(c.format, 'PublicKeyFormat'), key: c.key }),
          // Always present; the epoch means "never" (spec §1.4).
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
    config: configProto(d.config),
    state: d.state ? stateProto(d.state) : undefined,
    logLevel: en(d.logLevel, 'LogLevel'),
    metadata: Object.keys(d.metadata).length ? { ...d.metadata } : undefined,
    gatewayConfig: clean({
      gatewayType: en(d.gatewayConfig.gatewayType, 'GatewayType'),
      gatewayAuthMethod: en(d.gatewayConfig.gatewayAuthMethod, 'GatewayAuthMethod'),
      lastAccessedGatewayId: d.gatewayConfig.lastAccessedGatewayId,
      lastAccessedGatewayTime: ts(d.gatewayConfig.lastAccessedGatewayTime),
    }),
  });
}

/**
 * Timestamps and bytes are single values to a field mask, as their strings are in REST JSON: a
 * path that reaches into one (`last_event_time.seconds`) selects all of it, not a piece.
 */
function projectDevice(device: Message, fields: readonly string[]): Message {
  return project(device, fields.map((p) => leafPath(device, p)), []);
}

function leafPath(message: Message, path: string): string {
  const segments = path.split('.');
  let value: unknown = message;
  for (let i = 0; i < segments.length; i++) {
    if (typeof value !== 'object' || value === null || Buffer.isBuffer(value) || isTimestamp(value)) return segments.slice(0, i).join('.');
    value = (value as Message)[segments[i]!];
  }
  return path;
}

/** Only timestamp() makes numeric `seconds` (a metadata map's values are strings). */
function isTimestamp(v: object): boolean {
  const keys = Object.keys(v);
  return keys.length === 2 && typeof (v as Partial<Timestamp>).seconds === 'number' && typeof (v as Partial<Timestamp>).nanos === 'number';
}

export function deviceViewProto(view: DeviceView): Message {
  const device = deviceProto(view.device);
  return view.fields ? projectDevice(device, view.fields) : device;
}

export function deviceListProto(list: DeviceList): Message {
  return clean({
    devices: list.devices.length ? list.devices.map((d) => projectDevice(deviceProto(d), list.fields)) : undefined,
    nextPageToken: list.nextPageToken || undefined,
  });
}

export function registryListProto(list: RegistryList): Message {
  return clean({
    deviceRegistries: list.deviceRegistries.length ? list.deviceRegistries.map(registryProto) : undefined,
    nextPageToken: list.nextPageToken || undefined,
  });
}

export function policyProto(p: IamPolicy): Message {
  return clean({
    version: p.version || undefined,
    bindings: p.bindings.length ? p.bindings.map((b) => clean({ role: b.role, members: b.members, condition: b.condition })) : undefined,
    etag: buffer(p.etag),
  });
}

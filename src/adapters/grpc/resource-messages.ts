import { project } from '../../domain/field-mask.js';
import type { Device, DeviceConfig, DeviceState, IamPolicy, Registry } from '../../domain/model.js';
import type { DeviceList, DeviceView, RegistryList } from '../../services/device-manager-requests.js';
import { clean, configMessage, deviceMessage, policyMessage, registryMessage, stateMessage, type Message, type WireCodec } from '../wire/resource-messages.js';

/*
 * Domain -> cloudiot v1 response messages as proto-loader encodes them: camelCase fields, enums by
 * name, int64 as decimal strings, bytes as Buffers, Timestamps as {seconds, nanos}. The messages
 * themselves are built once for every edge (src/adapters/wire/resource-messages.ts), so a client
 * decoding REST JSON or gRPC sees the same resource.
 */

export type { Message };

export interface Timestamp {
  seconds: number;
  nanos: number;
}

export const timestamp = (ms: number): Timestamp => {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: (ms - seconds * 1000) * 1e6 };
};

const buffer = (data: Uint8Array): Buffer => Buffer.from(data.buffer, data.byteOffset, data.byteLength);

/** proto-loader's encoding: Timestamps as {seconds, nanos}, bytes as Buffers, enums by name. */
const PROTO_CODEC: WireCodec = { timestamp, bytes: buffer, enumValue: (name) => name };

export const registryProto = (r: Registry): Message => registryMessage(r, PROTO_CODEC);
export const configProto = (c: DeviceConfig): Message => configMessage(c, PROTO_CODEC);
export const stateProto = (s: DeviceState): Message => stateMessage(s, PROTO_CODEC);
export const deviceProto = (d: Device): Message => deviceMessage(d, PROTO_CODEC);
export const policyProto = (p: IamPolicy): Message => policyMessage(p, PROTO_CODEC);

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

import { isApiError } from '../../domain/errors.js';
import { registryName, type Device, type DeviceState, type Registry } from '../../domain/model.js';
import { readBytes, readObject, readString, readTimestamp, type Json, type JsonObject } from '../../adapters/rest/json-read.js';
import { checkMessageJson } from '../../adapters/rest/proto-json-check.js';
import { DEVICE, DEVICE_REGISTRY } from '../../adapters/rest/proto-json-fields.js';
import { deviceJson, readDeviceMessage, readRegistryMessage, registryJson } from '../../adapters/rest/resource-json.js';
import { parseJsonBody } from '../../adapters/rest/strict-json.js';
import type { FleetProblem, FleetRecord } from '../../services/fleet-import.js';

/*
 * The fleet file format (docs/fleet-format.md) <-> fleet records. Every resource is read with the
 * REST API's own JSON checks and readers (unknown fields, types, enums), so an import accepts
 * exactly what a create call through the API would.
 */

export interface ReadResult {
  records: FleetRecord[];
  problems: FleetProblem[];
}

const NAMES = { device: '/devices/', registry: /^projects\/[^/]+\/locations\/[^/]+\/registries\/[^/]+$/ };

const problemOf = (where: string, e: unknown): FleetProblem =>
  isApiError(e) ? { where, field: e.field, message: e.message } : { where, field: undefined, message: e instanceof Error ? e.message : String(e) };

/** The registry part of a device name `projects/p/locations/l/registries/r/devices/d`. */
const registryOfDeviceName = (name: string | undefined): string | undefined => {
  const at = name?.indexOf('/devices/') ?? -1;
  return at > 0 ? name!.slice(0, at) : undefined;
};

function deviceRecord(where: string, body: JsonObject, registry: string | undefined): FleetRecord {
  const checked = checkMessageJson(body, DEVICE, 'device');
  const msg = readDeviceMessage(checked);
  const config = readObject(checked.config, 'device.config');
  const state = readObject(checked.state, 'device.state');
  let deviceState: DeviceState | undefined;
  if (state) {
    const updateTime = readTimestamp(state.updateTime, 'device.state.update_time');
    if (updateTime === undefined) throw new Error('device.state.update_time is required when device.state is given');
    deviceState = { updateTime, binaryData: readBytes(state.binaryData, 'device.state.binary_data') ?? new Uint8Array(0) };
  }
  return {
    kind: 'device',
    where,
    registry: registry ?? registryOfDeviceName(msg.name),
    msg,
    configTime: config ? readTimestamp(config.cloudUpdateTime, 'device.config.cloud_update_time') : undefined,
    state: deviceState,
  };
}

function registryRecord(where: string, body: JsonObject): FleetRecord {
  return { kind: 'registry', where, msg: readRegistryMessage(checkMessageJson(body, DEVICE_REGISTRY, 'device_registry'), 'device_registry') };
}

function withoutKeys(o: JsonObject, keys: readonly string[]): JsonObject {
  const copy: JsonObject = { ...o };
  for (const k of keys) delete copy[k];
  return copy;
}

/** A line (or a whole document) of one of the accepted shapes, as records. */
function recordsOf(value: Json, where: string, defaultRegistry: string | undefined, out: ReadResult): void {
  const fail = (e: unknown): void => {
    out.problems.push(problemOf(where, e));
  };
  if (Array.isArray(value)) {
    // gcloud `... list --format=json`: an array of registries or of devices.
    value.forEach((item, i) => recordsOf(item, `${where}[${i}]`, defaultRegistry, out));
    return;
  }
  if (value === null || typeof value !== 'object') {
    fail(new Error('expected a JSON object'));
    return;
  }
  try {
    if (Object.hasOwn(value, 'kind')) {
      const kind = value.kind;
      if (kind === 'registry') out.records.push(registryRecord(where, withoutKeys(value, ['kind'])));
      else if (kind === 'device') {
        const registry = readString(value.registry, 'registry');
        out.records.push(deviceRecord(where, withoutKeys(value, ['kind', 'registry']), registry ?? defaultRegistry));
      } else if (kind === 'binding') {
        const unknown = Object.keys(value).filter((k) => !['kind', 'registry', 'gatewayId', 'deviceId'].includes(k));
        if (unknown.length > 0) throw new Error(`unknown field "${unknown[0]}" in a binding (fields: kind, registry, gatewayId, deviceId)`);
        const get = (k: string): string => {
          const v = readString(value[k], k);
          if (!v) throw Object.assign(new Error(`${k} is required in a binding`), { field: k });
          return v;
        };
        const registry = readString(value.registry, 'registry') ?? defaultRegistry;
        if (!registry) throw new Error('registry is required in a binding');
        out.records.push({ kind: 'binding', where, registry, gatewayId: get('gatewayId'), deviceId: get('deviceId') });
      } else {
        throw new Error(`"kind" must be registry, device or binding, not ${JSON.stringify(kind)}`);
      }
      return;
    }
    // Cloud IoT API list responses, one page per line or the whole file.
    if (Object.hasOwn(value, 'devices') || Object.hasOwn(value, 'deviceRegistries')) {
      const unknown = Object.keys(value).filter((k) => !['devices', 'deviceRegistries', 'nextPageToken'].includes(k));
      if (unknown.length > 0) throw new Error(`unknown field "${unknown[0]}" in a list response (fields: devices, deviceRegistries, nextPageToken)`);
      for (const [field, list] of [['devices', value.devices], ['deviceRegistries', value.deviceRegistries]] as const) {
        if (list === undefined || list === null) continue;
        if (!Array.isArray(list)) throw new Error(`${field} must be a list`);
        list.forEach((item, i) => recordsOf(item, `${where}.${field}[${i}]`, defaultRegistry, out));
      }
      return;
    }
    // A bare resource, as gcloud lists them: a device has a numId (either spelling, as every field
    // may be: docs/fleet-format.md) or a device name.
    const name = typeof value.name === 'string' ? value.name : undefined;
    if (Object.hasOwn(value, 'numId') || Object.hasOwn(value, 'num_id') || (name !== undefined && name.includes(NAMES.device))) {
      out.records.push(deviceRecord(where, value, defaultRegistry));
    } else if (name !== undefined && NAMES.registry.test(name)) {
      out.records.push(registryRecord(where, value));
    } else {
      throw new Error(
        'not a fleet record: give "kind" (registry, device, binding); a bare device needs "numId" (or "num_id") or a full device "name", a bare registry its full "name" (projects/P/locations/L/registries/R)',
      );
    }
  } catch (e) {
    fail(e);
  }
}

/**
 * Reads one file: JSON Lines, or a single JSON document (a gcloud array, an API list response).
 * Problems carry `FILE:LINE`; a line that is not JSON (a truncated last line) is one of them.
 */
export function readFleetText(file: string, text: string, defaultRegistry: string | undefined, out: ReadResult = { records: [], problems: [] }): ReadResult {
  const trimmed = text.trimStart();
  const lines = text.split('\n');
  const firstLine = lines.findIndex((l) => l.trim() !== '');
  const parse = (s: string): Json | undefined => parseJsonBody(Buffer.from(s, 'utf8'));
  let whole: Json | undefined;
  if (trimmed.startsWith('[')) whole = wholeDocument(file, text, out);
  else if (firstLine >= 0) {
    try {
      parse(lines[firstLine]!);
    } catch {
      // Not one object per line: a pretty-printed document, or a broken first line.
      try {
        whole = parse(text);
      } catch {
        whole = undefined;
      }
    }
  }
  if (whole !== undefined) {
    recordsOf(whole, file, defaultRegistry, out);
    return out;
  }
  if (trimmed.startsWith('[')) return out;
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${file}:${i + 1}`;
    let value: Json | undefined;
    try {
      value = parse(line);
    } catch (e) {
      const last = i === lines.length - 1 || lines.slice(i + 1).every((l) => l.trim() === '');
      out.problems.push({ where, field: undefined, message: `${isApiError(e) ? e.message : String(e)}${last ? ' (truncated file?)' : ''}` });
      return;
    }
    if (value !== undefined) recordsOf(value, where, defaultRegistry, out);
  });
  return out;
}

function wholeDocument(file: string, text: string, out: ReadResult): Json | undefined {
  try {
    return parseJsonBody(Buffer.from(text, 'utf8'));
  } catch (e) {
    out.problems.push({ where: file, field: undefined, message: `${isApiError(e) ? e.message : String(e)} (truncated file?)` });
    return undefined;
  }
}

// ---- export ----

const ENC = { enumsAsInt: false };

/** A registry line: the API's JSON of it, without output-only details the import recomputes. */
export function registryLine(r: Registry): string {
  const json = registryJson(r, ENC);
  for (const c of (json.credentials as JsonObject[] | undefined) ?? []) delete (c.publicKeyCertificate as JsonObject).x509Details;
  return JSON.stringify({ kind: 'registry', ...json });
}

/** A device line: what an import sets, nothing of what the device did (activity is not imported). */
export function deviceLine(d: Device): string {
  const json = deviceJson(d, ENC);
  const config = json.config as JsonObject;
  const gateway = json.gatewayConfig as JsonObject;
  return JSON.stringify({
    kind: 'device',
    registry: registryName(d.registryKey),
    id: json.id,
    numId: json.numId,
    ...(json.credentials ? { credentials: json.credentials } : {}),
    ...(json.blocked ? { blocked: json.blocked } : {}),
    ...(json.logLevel ? { logLevel: json.logLevel } : {}),
    ...(json.metadata ? { metadata: json.metadata } : {}),
    gatewayConfig: { gatewayType: gateway.gatewayType, ...(gateway.gatewayAuthMethod ? { gatewayAuthMethod: gateway.gatewayAuthMethod } : {}) },
    config: { version: config.version, cloudUpdateTime: config.cloudUpdateTime, ...(config.binaryData ? { binaryData: config.binaryData } : {}) },
    ...(json.state ? { state: json.state } : {}),
  });
}

export const bindingLine = (registry: string, gatewayId: string, deviceId: string): string =>
  JSON.stringify({ kind: 'binding', registry, gatewayId, deviceId });

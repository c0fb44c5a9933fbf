import type {
  Device,
  DeviceConfig,
  DeviceState,
  ErrorStatus,
  GatewayAuthMethod,
  GatewayType,
  IamPolicy,
  Registry,
} from '../../../domain/model.js';

/**
 * Row <-> model mapping. Decoders build every field explicitly so optional values come back as
 * `undefined` keys (never null, never missing), matching what the memory store returns.
 */

export interface RegistryRow {
  project: string;
  location: string;
  id: string;
  doc: string;
  revision: number;
}

type RegistryDoc = Omit<Registry, 'project' | 'location' | 'registry' | 'revision'>;

export const encodeRegistry = (r: Omit<Registry, 'revision'>): string => {
  const doc: RegistryDoc = {
    eventNotificationConfigs: r.eventNotificationConfigs,
    stateNotificationConfig: r.stateNotificationConfig,
    mqttEnabledState: r.mqttEnabledState,
    httpEnabledState: r.httpEnabledState,
    logLevel: r.logLevel,
    credentials: r.credentials,
  };
  return JSON.stringify(doc);
};

export const decodeRegistry = (row: RegistryRow): Registry => {
  const doc = JSON.parse(row.doc) as RegistryDoc;
  return {
    project: row.project,
    location: row.location,
    registry: row.id,
    revision: row.revision,
    eventNotificationConfigs: doc.eventNotificationConfigs,
    stateNotificationConfig: doc.stateNotificationConfig ?? undefined,
    mqttEnabledState: doc.mqttEnabledState ?? undefined,
    httpEnabledState: doc.httpEnabledState ?? undefined,
    logLevel: doc.logLevel,
    credentials: doc.credentials,
  };
};

/** The mutable device fields that travel together as one JSON column. */
interface DeviceDoc {
  credentials: Device['credentials'];
  blocked: boolean;
  logLevel: Device['logLevel'];
  metadata: Record<string, string>;
  gatewayAuthMethod: GatewayAuthMethod;
}

export const encodeDeviceDoc = (d: Omit<Device, 'numId' | 'revision'>): string => {
  const doc: DeviceDoc = {
    credentials: d.credentials,
    blocked: d.blocked,
    logLevel: d.logLevel,
    metadata: d.metadata,
    gatewayAuthMethod: d.gatewayConfig.gatewayAuthMethod,
  };
  return JSON.stringify(doc);
};

/**
 * The devices-table columns that a device insert writes and a device read returns; `B` is the blob
 * type, since better-sqlite3 takes any Uint8Array but always reads back a Buffer.
 */
export interface DeviceColumns<B extends Uint8Array> {
  project: string;
  location: string;
  registry: string;
  id: string;
  gateway_type: string;
  doc: string;
  last_accessed_gateway_id: string | null;
  last_accessed_gateway_time: number | null;
  last_heartbeat_time: number | null;
  last_event_time: number | null;
  last_state_time: number | null;
  last_config_ack_time: number | null;
  last_config_send_time: number | null;
  last_error_time: number | null;
  last_error_status: string | null;
  state_update_time: number | null;
  state_data: B | null;
}

/** A DEVICE_SELECT row: the device columns plus the key and the joined latest config version. */
export interface DeviceRow extends DeviceColumns<Buffer> {
  num_id: number;
  revision: number;
  config_version: number;
  config_cloud_update_time: number;
  config_device_ack_time: number | null;
  config_data: Buffer;
}

/** Every device read joins the latest config version, which the device row points at. */
export const DEVICE_SELECT = `
  SELECT d.num_id, d.revision, d.project, d.location, d.registry, d.id, d.gateway_type, d.doc, d.config_version,
    d.last_accessed_gateway_id, d.last_accessed_gateway_time, d.last_heartbeat_time, d.last_event_time,
    d.last_state_time, d.last_config_ack_time, d.last_config_send_time, d.last_error_time,
    d.last_error_status, d.state_update_time, d.state_data,
    c.cloud_update_time AS config_cloud_update_time, c.device_ack_time AS config_device_ack_time,
    c.data AS config_data
  FROM devices d JOIN config_versions c ON c.num_id = d.num_id AND c.version = d.config_version`;

/** A Uint8Array view (not a Buffer) so values compare equal to what callers stored. */
export const bytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

const opt = <T>(v: T | null): T | undefined => v ?? undefined;

export const decodeDevice = (row: DeviceRow): Device => {
  const doc = JSON.parse(row.doc) as DeviceDoc;
  return {
    registryKey: { project: row.project, location: row.location, registry: row.registry },
    id: row.id,
    numId: String(row.num_id),
    revision: row.revision,
    credentials: doc.credentials,
    blocked: doc.blocked,
    logLevel: doc.logLevel,
    metadata: doc.metadata,
    gatewayConfig: {
      gatewayType: row.gateway_type as GatewayType,
      gatewayAuthMethod: doc.gatewayAuthMethod,
      lastAccessedGatewayId: opt(row.last_accessed_gateway_id),
      lastAccessedGatewayTime: opt(row.last_accessed_gateway_time),
    },
    config: {
      version: row.config_version,
      cloudUpdateTime: row.config_cloud_update_time,
      deviceAckTime: opt(row.config_device_ack_time),
      binaryData: bytes(row.config_data),
    },
    state:
      row.state_update_time === null || row.state_data === null
        ? undefined
        : { updateTime: row.state_update_time, binaryData: bytes(row.state_data) },
    lastHeartbeatTime: opt(row.last_heartbeat_time),
    lastEventTime: opt(row.last_event_time),
    lastStateTime: opt(row.last_state_time),
    lastConfigAckTime: opt(row.last_config_ack_time),
    lastConfigSendTime: opt(row.last_config_send_time),
    lastErrorTime: opt(row.last_error_time),
    lastErrorStatus: row.last_error_status === null ? undefined : decodeErrorStatus(row.last_error_status),
  };
};

export const encodeErrorStatus = (s: ErrorStatus | undefined): string | null =>
  s ? JSON.stringify({ code: s.code, message: s.message }) : null;

const decodeErrorStatus = (json: string): ErrorStatus => {
  const s = JSON.parse(json) as ErrorStatus;
  return { code: s.code, message: s.message };
};

export interface ConfigRow {
  version: number;
  cloud_update_time: number;
  device_ack_time: number | null;
  data: Buffer;
}

export const decodeConfig = (r: ConfigRow): DeviceConfig => ({
  version: r.version,
  cloudUpdateTime: r.cloud_update_time,
  deviceAckTime: opt(r.device_ack_time),
  binaryData: bytes(r.data),
});

export interface StateRow {
  update_time: number;
  data: Buffer;
}

export const decodeState = (r: StateRow): DeviceState => ({ updateTime: r.update_time, binaryData: bytes(r.data) });

export interface IamRow {
  version: number;
  bindings: string;
  etag: Buffer;
}

export const decodeIam = (r: IamRow): IamPolicy => ({
  version: r.version,
  bindings: JSON.parse(r.bindings) as IamPolicy['bindings'],
  etag: bytes(r.etag),
});

/**
 * numIds arrive as strings. Only the canonical decimal form of a safe integer can name a device;
 * anything else ("007", 20 digits) matches nothing, exactly as a string-keyed lookup would.
 */
export function parseNumId(s: string): number | undefined {
  if (!/^[1-9]\d{0,15}$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * LIKE pattern finding an IAM member inside a policy's bindings JSON (backslash escapes, for
 * `ESCAPE '\\'`). It only narrows the rows to read; withoutMember decides on the parsed bindings.
 * SQLite's LIKE ignores ASCII case, as IAM does; PostgreSQL's ILIKE too.
 */
export const likeMember = (member: string): string => `%"${member.replace(/[\\%_]/g, (c) => `\\${c}`)}"%`;

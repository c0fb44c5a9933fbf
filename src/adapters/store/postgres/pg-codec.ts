import pg from 'pg';
import type { Device, NewDevice, RegistryKey } from '../../../domain/model.js';
import type { ImportedDevice } from '../../../services/ports.js';
import { decodeDevice, encodeDeviceDoc, encodeErrorStatus, type DeviceRow } from '../sqlite/codec.js';

/**
 * What the PostgreSQL registry store adds to the row codec it shares with the SQLite store
 * (sqlite/codec.ts decodes rows of the same shape): result parsing that yields that shape, and the
 * parameter lists of device inserts.
 */

const INT8_OID = 20;
const parseInt8 = (s: string): number => Number(s);

/**
 * BIGINT columns (numIds, epoch-ms timestamps, counts) as numbers, the shape the shared decoders
 * take. Every stored numId is a safe integer (parseNumId, isImportableNumId) and so is every time.
 */
export const ROW_TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

/** A statement with a name, so each pooled connection parses and plans it once. */
export interface Sql {
  name: string;
  text: string;
}

export type Queryable = pg.Pool | pg.PoolClient;

export async function query<R extends pg.QueryResultRow>(db: Queryable, sql: Sql, values: readonly unknown[]): Promise<R[]> {
  const result = await db.query<R>({ name: sql.name, text: sql.text, values: values as unknown[], types: ROW_TYPES });
  return result.rows;
}

/** A Buffer copy, so that a caller changing its array later never changes what was sent. */
export const bytesParam = (b: Uint8Array): Buffer => Buffer.from(b);

/** The devices columns a create writes, in DEVICE_COLUMNS order, after num_id. */
export function deviceValues(k: RegistryKey, d: NewDevice): unknown[] {
  return [
    k.project,
    k.location,
    k.registry,
    d.id,
    d.gatewayConfig.gatewayType,
    encodeDeviceDoc(d),
    d.gatewayConfig.lastAccessedGatewayId ?? null,
    d.gatewayConfig.lastAccessedGatewayTime ?? null,
    d.lastHeartbeatTime ?? null,
    d.lastEventTime ?? null,
    d.lastStateTime ?? null,
    d.lastConfigAckTime ?? null,
    d.lastConfigSendTime ?? null,
    d.lastErrorTime ?? null,
    encodeErrorStatus(d.lastErrorStatus),
    d.state?.updateTime ?? null,
    d.state ? bytesParam(d.state.binaryData) : null,
  ];
}

/**
 * The device a create stored, decoded from the values it wrote exactly as a read would decode the
 * row, so that createDevice returns what getDevice returns without a second round trip.
 */
export function createdDevice(numId: number, k: RegistryKey, d: NewDevice): Device {
  const row: DeviceRow = {
    num_id: numId,
    revision: 1,
    project: k.project,
    location: k.location,
    registry: k.registry,
    id: d.id,
    gateway_type: d.gatewayConfig.gatewayType,
    doc: encodeDeviceDoc(d),
    config_version: 1,
    last_accessed_gateway_id: d.gatewayConfig.lastAccessedGatewayId ?? null,
    last_accessed_gateway_time: d.gatewayConfig.lastAccessedGatewayTime ?? null,
    last_heartbeat_time: d.lastHeartbeatTime ?? null,
    last_event_time: d.lastEventTime ?? null,
    last_state_time: d.lastStateTime ?? null,
    last_config_ack_time: d.lastConfigAckTime ?? null,
    last_config_send_time: d.lastConfigSendTime ?? null,
    last_error_time: d.lastErrorTime ?? null,
    last_error_status: encodeErrorStatus(d.lastErrorStatus),
    state_update_time: d.state?.updateTime ?? null,
    state_data: d.state ? bytesParam(d.state.binaryData) : null,
    config_cloud_update_time: d.config.cloudUpdateTime,
    config_device_ack_time: d.config.deviceAckTime ?? null,
    config_data: bytesParam(d.config.binaryData),
  };
  return decodeDevice(row);
}

/** Column arrays of one chunk of imported devices, for INSERT ... SELECT FROM unnest(...). */
export function importedDeviceArrays(rows: readonly { n: number; d: ImportedDevice }[]): {
  devices: unknown[][];
  configs: unknown[][];
  states: unknown[][];
} {
  const devices: unknown[][] = Array.from({ length: 16 }, () => []);
  const configs: unknown[][] = Array.from({ length: 5 }, () => []);
  const states: unknown[][] = Array.from({ length: 3 }, () => []);
  for (const { n, d } of rows) {
    const g = d.gatewayConfig;
    const values = [
      n,
      d.id,
      g.gatewayType,
      encodeDeviceDoc(d),
      d.config.version,
      g.lastAccessedGatewayId ?? null,
      g.lastAccessedGatewayTime ?? null,
      d.lastHeartbeatTime ?? null,
      d.lastEventTime ?? null,
      d.lastStateTime ?? null,
      d.lastConfigAckTime ?? null,
      d.lastConfigSendTime ?? null,
      d.lastErrorTime ?? null,
      encodeErrorStatus(d.lastErrorStatus),
      d.state?.updateTime ?? null,
      d.state ? bytesParam(d.state.binaryData) : null,
    ];
    values.forEach((v, i) => devices[i]!.push(v));
    [n, d.config.version, d.config.cloudUpdateTime, d.config.deviceAckTime ?? null, bytesParam(d.config.binaryData)].forEach((v, i) =>
      configs[i]!.push(v),
    );
    if (d.state) [n, d.state.updateTime, bytesParam(d.state.binaryData)].forEach((v, i) => states[i]!.push(v));
  }
  return { devices, configs, states };
}

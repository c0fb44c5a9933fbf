import type Database from 'better-sqlite3';
import type { DeviceActivity } from '../../../domain/model.js';
import type { ActivityPatch, DeviceListFilter } from '../../../services/ports.js';
import {
  DEVICE_SELECT,
  encodeErrorStatus,
  parseNumId,
  type ConfigRow,
  type DeviceColumns,
  type DeviceRow,
  type IamRow,
  type RegistryRow,
  type StateRow,
} from './codec.js';

type Key3 = [project: string, location: string, registry: string];
type Bytes = Uint8Array;

export type InsertDeviceParams = DeviceColumns<Bytes>;

/** The identifying columns only, for checks that need no JSON decoding or config join. */
export type BriefRow = Pick<DeviceRow, 'num_id' | 'project' | 'location' | 'registry' | 'id' | 'gateway_type' | 'revision'>;

const ACTIVITY_COLUMNS = {
  lastHeartbeatTime: 'last_heartbeat_time',
  lastEventTime: 'last_event_time',
  lastStateTime: 'last_state_time',
  lastConfigAckTime: 'last_config_ack_time',
  lastConfigSendTime: 'last_config_send_time',
  lastErrorTime: 'last_error_time',
  lastErrorStatus: 'last_error_status',
} as const satisfies Record<keyof DeviceActivity, string>;

type ActivityField = keyof typeof ACTIVITY_COLUMNS;
const ACTIVITY_FIELDS = Object.keys(ACTIVITY_COLUMNS) as ActivityField[];

// One statement serves every patch shape: a `set_*` flag per column says whether the patch has
// that key, so partial patches need neither dynamic SQL nor a read-modify-write.
const ACTIVITY_SQL = `UPDATE devices SET ${ACTIVITY_FIELDS.map((f) => {
  const c = ACTIVITY_COLUMNS[f];
  return `${c} = CASE WHEN @set_${c} THEN @${c} ELSE ${c} END`;
}).join(', ')} WHERE num_id = @num_id`;

export function activityParams(numId: number, patch: ActivityPatch): Record<string, number | string | null> {
  const params: Record<string, number | string | null> = { num_id: numId };
  for (const f of ACTIVITY_FIELDS) {
    const c = ACTIVITY_COLUMNS[f];
    const present = Object.hasOwn(patch, f);
    params[`set_${c}`] = present ? 1 : 0;
    params[c] = !present ? null : f === 'lastErrorStatus' ? encodeErrorStatus(patch[f]) : (patch[f] ?? null);
  }
  return params;
}

export function prepareStatements(db: Database.Database) {
  return {
    insertRegistry: db.prepare<[...Key3, string]>(
      'INSERT INTO registries (project, location, id, doc) VALUES (?, ?, ?, ?)',
    ),
    getRegistry: db.prepare<Key3, RegistryRow>(
      'SELECT project, location, id, doc, revision FROM registries WHERE project = ? AND location = ? AND id = ?',
    ),
    listRegistries: db.prepare<[string, string, string, number], RegistryRow>(
      'SELECT project, location, id, doc, revision FROM registries WHERE project = ? AND location = ? AND id > ? ORDER BY id LIMIT ?',
    ),
    listAllRegistries: db.prepare<[...Key3, number], RegistryRow>(
      'SELECT project, location, id, doc, revision FROM registries WHERE (project, location, id) > (?, ?, ?) ORDER BY project, location, id LIMIT ?',
    ),
    updateRegistry: db.prepare<[string, ...Key3, number]>(
      'UPDATE registries SET doc = ?, revision = revision + 1 WHERE project = ? AND location = ? AND id = ? AND revision = ?',
    ),
    deleteRegistry: db.prepare<Key3>('DELETE FROM registries WHERE project = ? AND location = ? AND id = ?'),
    registryHasDevices: db.prepare<Key3, { one: number }>(
      'SELECT 1 AS one FROM devices WHERE project = ? AND location = ? AND registry = ? LIMIT 1',
    ),

    insertDevice: db.prepare<InsertDeviceParams>(`INSERT INTO devices (project, location, registry, id,
        gateway_type, doc, config_version, last_accessed_gateway_id, last_accessed_gateway_time,
        last_heartbeat_time, last_event_time, last_state_time, last_config_ack_time, last_config_send_time,
        last_error_time, last_error_status, state_update_time, state_data)
      VALUES (@project, @location, @registry, @id, @gateway_type, @doc, 1, @last_accessed_gateway_id,
        @last_accessed_gateway_time, @last_heartbeat_time, @last_event_time, @last_state_time,
        @last_config_ack_time, @last_config_send_time, @last_error_time, @last_error_status,
        @state_update_time, @state_data)`),
    insertImportedDevice: db.prepare<InsertDeviceParams & { num_id: number; config_version: number }>(`INSERT INTO devices (num_id,
        project, location, registry, id, gateway_type, doc, config_version, last_accessed_gateway_id,
        last_accessed_gateway_time, last_heartbeat_time, last_event_time, last_state_time, last_config_ack_time,
        last_config_send_time, last_error_time, last_error_status, state_update_time, state_data)
      VALUES (@num_id, @project, @location, @registry, @id, @gateway_type, @doc, @config_version,
        @last_accessed_gateway_id, @last_accessed_gateway_time, @last_heartbeat_time, @last_event_time,
        @last_state_time, @last_config_ack_time, @last_config_send_time, @last_error_time, @last_error_status,
        @state_update_time, @state_data)`),
    registryDevices: db.prepare<Key3, DeviceRow>(`${DEVICE_SELECT} WHERE d.project = ? AND d.location = ? AND d.registry = ?`),
    deviceByNumId: db.prepare<[number], DeviceRow>(`${DEVICE_SELECT} WHERE d.num_id = ?`),
    deviceById: db.prepare<[...Key3, string], DeviceRow>(
      `${DEVICE_SELECT} WHERE d.project = ? AND d.location = ? AND d.registry = ? AND d.id = ?`,
    ),
    brief: db.prepare<[number], BriefRow>(
      'SELECT num_id, project, location, registry, id, gateway_type, revision FROM devices WHERE num_id = ?',
    ),
    updateDeviceDoc: db.prepare<[string, number, number]>(
      'UPDATE devices SET doc = ?, revision = revision + 1 WHERE num_id = ? AND revision = ?',
    ),
    deleteDevice: db.prepare<[number]>('DELETE FROM devices WHERE num_id = ?'),

    latestConfig: db.prepare<[number], { version: number; cloud_update_time: number }>(
      `SELECT c.version, c.cloud_update_time FROM devices d
       JOIN config_versions c ON c.num_id = d.num_id AND c.version = d.config_version WHERE d.num_id = ?`,
    ),
    insertConfig: db.prepare<[number, number, number, number | null, Bytes]>(
      'INSERT INTO config_versions (num_id, version, cloud_update_time, device_ack_time, data) VALUES (?, ?, ?, ?, ?)',
    ),
    pruneConfigs: db.prepare<[number, number]>('DELETE FROM config_versions WHERE num_id = ? AND version <= ?'),
    setConfigVersion: db.prepare<[number, number]>('UPDATE devices SET config_version = ? WHERE num_id = ?'),
    listConfigs: db.prepare<[number, number], ConfigRow>(
      `SELECT version, cloud_update_time, device_ack_time, data FROM config_versions
       WHERE num_id = ? ORDER BY version DESC LIMIT ?`,
    ),
    ackConfigVersion: db.prepare<[number, number, number]>(
      'UPDATE config_versions SET device_ack_time = ? WHERE num_id = ? AND version = ?',
    ),
    setConfigAckTime: db.prepare<[number, number]>('UPDATE devices SET last_config_ack_time = ? WHERE num_id = ?'),

    insertState: db.prepare<[number, number, Bytes]>(
      'INSERT INTO states (num_id, update_time, data) VALUES (?, ?, ?)',
    ),
    pruneStates: db.prepare<[number, number, number]>(
      `DELETE FROM states WHERE num_id = ? AND seq NOT IN
         (SELECT seq FROM states WHERE num_id = ? ORDER BY update_time DESC, seq DESC LIMIT ?)`,
    ),
    setLatestState: db.prepare<[number, Bytes, number, number]>(
      'UPDATE devices SET state_update_time = ?, state_data = ?, last_state_time = ? WHERE num_id = ?',
    ),
    listStates: db.prepare<[number, number], StateRow>(
      'SELECT update_time, data FROM states WHERE num_id = ? ORDER BY update_time DESC, seq DESC LIMIT ?',
    ),

    recordActivity: db.prepare<Record<string, number | string | null>>(ACTIVITY_SQL),
    recordGatewayAccess: db.prepare<[string, number, number]>(
      'UPDATE devices SET last_accessed_gateway_id = ?, last_accessed_gateway_time = ? WHERE num_id = ?',
    ),

    isBound: db.prepare<[number, number], { one: number }>(
      'SELECT 1 AS one FROM bindings WHERE gateway_num_id = ? AND device_num_id = ?',
    ),
    countDevicesOfGateway: db
      .prepare<[number], number>('SELECT COUNT(*) FROM bindings WHERE gateway_num_id = ?')
      .pluck(),
    countGatewaysOfDevice: db
      .prepare<[number], number>('SELECT COUNT(*) FROM bindings WHERE device_num_id = ?')
      .pluck(),
    insertBinding: db.prepare<[number, number]>(
      'INSERT INTO bindings (gateway_num_id, device_num_id) VALUES (?, ?)',
    ),
    deleteBinding: db.prepare<[number, number]>(
      'DELETE FROM bindings WHERE gateway_num_id = ? AND device_num_id = ?',
    ),

    getIam: db.prepare<Key3, IamRow>(
      'SELECT version, bindings, etag FROM iam_policies WHERE project = ? AND location = ? AND registry = ?',
    ),
    upsertIam: db.prepare<[...Key3, number, string, Bytes]>(
      `INSERT INTO iam_policies (project, location, registry, version, bindings, etag) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (project, location, registry) DO UPDATE
       SET version = excluded.version, bindings = excluded.bindings, etag = excluded.etag`,
    ),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;

/** Which optional clauses a list query needs; each distinct shape is one cached statement. */
export interface ListShape {
  ids: boolean;
  numIds: boolean;
  gatewayType: 'GATEWAY' | 'NON_GATEWAY' | undefined;
  boundToGateway: boolean;
  gatewaysOfDevice: boolean;
  idPrefix: boolean;
  blocked: boolean | undefined;
}

export const listShape = (f: DeviceListFilter): ListShape => ({
  // Empty lists mean "no filter", as an unset repeated proto field does.
  ids: (f.deviceIds?.length ?? 0) > 0,
  numIds: (f.deviceNumIds?.length ?? 0) > 0,
  gatewayType: f.gatewayType === 'GATEWAY' || f.gatewayType === 'NON_GATEWAY' ? f.gatewayType : undefined,
  boundToGateway: f.boundToGateway !== undefined,
  gatewaysOfDevice: f.gatewaysOfDevice !== undefined,
  idPrefix: (f.idPrefix ?? '') !== '',
  blocked: f.blocked,
});

/**
 * Keyset paging over the (project, location, registry, id) index: `id > @after` (with '' for the
 * first page, since IDs are never empty) and ORDER BY id, so every page costs O(page), never OFFSET.
 * The id/numId lists travel as one JSON parameter expanded by json_each, which keeps 10,000-entry
 * filters clear of SQLite's bound-variable limit.
 */
export function listDevicesSql(s: ListShape): string {
  const where = ['d.project = @project', 'd.location = @location', 'd.registry = @registry', 'd.id > @after'];
  if (s.ids) where.push('d.id IN (SELECT value FROM json_each(@ids))');
  if (s.numIds) where.push('d.num_id IN (SELECT value FROM json_each(@num_ids))');
  if (s.gatewayType === 'GATEWAY') where.push("d.gateway_type = 'GATEWAY'");
  if (s.gatewayType === 'NON_GATEWAY') where.push("d.gateway_type <> 'GATEWAY'");
  if (s.boundToGateway) {
    where.push('d.num_id IN (SELECT device_num_id FROM bindings WHERE gateway_num_id = @bound_to_gateway)');
  }
  if (s.gatewaysOfDevice) {
    where.push('d.num_id IN (SELECT gateway_num_id FROM bindings WHERE device_num_id = @gateways_of_device)');
  }
  // A range on the id index: every ID character sorts below U+007F.
  if (s.idPrefix) where.push('d.id >= @id_prefix AND d.id < @id_prefix_end');
  // `blocked` lives in the device's JSON document: a scan of the registry's rows, in id order.
  if (s.blocked === true) where.push("json_extract(d.doc, '$.blocked') = 1");
  if (s.blocked === false) where.push("coalesce(json_extract(d.doc, '$.blocked'), 0) = 0");
  return `${DEVICE_SELECT} WHERE ${where.join(' AND ')} ORDER BY d.id LIMIT @limit`;
}

export type ListParams = Record<string, string | number | null>;

export function listDevicesParams(
  key: { project: string; location: string; registry: string },
  f: DeviceListFilter,
  after: string | undefined,
  limit: number,
): ListParams {
  // An unparseable numId can name no device; 0 is never assigned, so it matches nothing.
  const num = (s: string | undefined): number | null => (s === undefined ? null : (parseNumId(s) ?? 0));
  const numIds = (f.deviceNumIds ?? []).map(parseNumId).filter((n) => n !== undefined);
  return {
    project: key.project,
    location: key.location,
    registry: key.registry,
    after: after ?? '',
    ids: JSON.stringify(f.deviceIds ?? []),
    num_ids: JSON.stringify(numIds),
    bound_to_gateway: num(f.boundToGateway),
    gateways_of_device: num(f.gatewaysOfDevice),
    id_prefix: f.idPrefix ?? '',
    id_prefix_end: `${f.idPrefix ?? ''}\u007f`,
    limit,
  };
}

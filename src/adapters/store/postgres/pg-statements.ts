import type { DeviceActivity } from '../../../domain/model.js';
import type { ActivityPatch, DeviceListFilter } from '../../../services/ports.js';
import { DEVICE_SELECT, encodeErrorStatus, parseNumId } from '../sqlite/codec.js';
import type { Sql } from './pg-codec.js';

/**
 * The registry store's SQL on PostgreSQL. Every statement is named (prepared once per pooled
 * connection). Parameters carry explicit casts where PostgreSQL could not infer their type.
 */

const sql = (name: string, text: string): Sql => ({ name: `bh_registry_${name}`, text });

/**
 * Advisory lock keys (the two-int4 key space, apart from the migrations' single-bigint one).
 * NUMBERING: createDevice holds it shared while it draws a numId, an import holds it exclusive
 * while it moves the sequence past the numIds it wrote, so the sequence never moves backwards under
 * a concurrent nextval. PROJECT_IAM: with hashtext(project), the project policy row may not exist
 * yet, so there is no row to lock.
 */
const LOCK_CLASS = 0x62680000; // "bh\0\0"
export const NUMBERING_LOCK = `${LOCK_CLASS}, 1`;
export const PROJECT_IAM_LOCK_CLASS = LOCK_CLASS + 2;

const REGISTRY_COLUMNS = 'project, location, id, doc, revision';
const KEY3 = 'project = $1 AND location = $2 AND id = $3';
const BRIEF_COLUMNS = 'num_id, project, location, registry, id, gateway_type, revision';

export const DEVICE_COLUMNS = `project, location, registry, id, gateway_type, doc, config_version,
  last_accessed_gateway_id, last_accessed_gateway_time, last_heartbeat_time, last_event_time, last_state_time,
  last_config_ack_time, last_config_send_time, last_error_time, last_error_status, state_update_time, state_data`;

export const Q = {
  insertRegistry: sql('insert_registry', 'INSERT INTO registries (project, location, id, doc) VALUES ($1, $2, $3, $4)'),
  getRegistry: sql('get_registry', `SELECT ${REGISTRY_COLUMNS} FROM registries WHERE ${KEY3}`),
  lockRegistry: sql('lock_registry', `SELECT 1 AS one FROM registries WHERE ${KEY3} FOR NO KEY UPDATE`),
  /** FOR UPDATE also waits for device inserts in flight (their foreign key check holds KEY SHARE). */
  lockRegistryForDelete: sql('lock_registry_for_delete', `SELECT 1 AS one FROM registries WHERE ${KEY3} FOR UPDATE`),
  listRegistries: sql('list_registries', `SELECT ${REGISTRY_COLUMNS} FROM registries WHERE project = $1 AND location = $2 AND id > $3 ORDER BY id LIMIT $4`),
  listAllRegistries: sql(
    'list_all_registries',
    `SELECT ${REGISTRY_COLUMNS} FROM registries WHERE (project, location, id) > ($1, $2, $3) ORDER BY project, location, id LIMIT $4`,
  ),
  updateRegistry: sql('update_registry', `UPDATE registries SET doc = $4, revision = revision + 1 WHERE ${KEY3} AND revision = $5 RETURNING revision`),
  registryExists: sql('registry_exists', `SELECT 1 AS one FROM registries WHERE ${KEY3}`),
  registryHasDevices: sql('registry_has_devices', 'SELECT 1 AS one FROM devices WHERE project = $1 AND location = $2 AND registry = $3 LIMIT 1'),
  deleteRegistry: sql('delete_registry', `DELETE FROM registries WHERE ${KEY3}`),

  /**
   * One statement: the numbering lock (shared), a numId, the device, its config version 1 and its
   * state. The lock subquery is the FROM of the insert, so it is taken before nextval runs. A numId
   * past 2^53−1 inserts nothing (and returns no row): it would not survive the trip as a JS number.
   */
  createDevice: sql(
    'create_device',
    `WITH d AS (
       INSERT INTO devices (num_id, ${DEVICE_COLUMNS})
       SELECT n, $1, $2, $3, $4, $5, $6, 1, $7, $8::bigint, $9::bigint, $10::bigint, $11::bigint,
         $12::bigint, $13::bigint, $14::bigint, $15, $16::bigint, $17::bytea
       FROM (SELECT nextval('device_num_ids') AS n FROM (SELECT pg_advisory_xact_lock_shared(${NUMBERING_LOCK})) AS numbering) AS drawn
       WHERE n <= ${Number.MAX_SAFE_INTEGER}
       RETURNING num_id),
     c AS (
       INSERT INTO config_versions (num_id, version, cloud_update_time, device_ack_time, data)
       SELECT num_id, 1, $18::bigint, $19::bigint, $20::bytea FROM d),
     s AS (
       INSERT INTO states (num_id, update_time, data)
       SELECT num_id, $16::bigint, $17::bytea FROM d WHERE $16::bigint IS NOT NULL)
     SELECT num_id FROM d`,
  ),
  deviceByNumId: sql('device_by_num_id', `${DEVICE_SELECT} WHERE d.num_id = $1`),
  deviceById: sql('device_by_id', `${DEVICE_SELECT} WHERE d.project = $1 AND d.location = $2 AND d.registry = $3 AND d.id = $4`),
  registryDevices: sql('registry_devices', `${DEVICE_SELECT} WHERE d.project = $1 AND d.location = $2 AND d.registry = $3`),
  brief: sql('brief', `SELECT ${BRIEF_COLUMNS} FROM devices WHERE num_id = $1`),
  briefs: sql('briefs', `SELECT ${BRIEF_COLUMNS} FROM devices WHERE num_id = ANY($1::bigint[])`),
  /** In numId order, so that two transactions locking overlapping pairs cannot deadlock. */
  lockBriefs: sql('lock_briefs', `SELECT ${BRIEF_COLUMNS} FROM devices WHERE num_id = ANY($1::bigint[]) ORDER BY num_id FOR NO KEY UPDATE`),
  updateDeviceDoc: sql('update_device_doc', 'UPDATE devices SET doc = $1, revision = revision + 1 WHERE num_id = $2 AND revision = $3 RETURNING num_id'),
  deleteDevice: sql('delete_device', 'DELETE FROM devices WHERE num_id = $1 RETURNING num_id'),

  lockConfigVersion: sql('lock_config_version', 'SELECT config_version FROM devices WHERE num_id = $1 FOR NO KEY UPDATE'),
  configTime: sql('config_time', 'SELECT cloud_update_time FROM config_versions WHERE num_id = $1 AND version = $2'),
  /** The prune ($5 = version - kept) never touches the version inserted by the same statement. */
  addConfig: sql(
    'add_config',
    `WITH ins AS (
       INSERT INTO config_versions (num_id, version, cloud_update_time, device_ack_time, data) VALUES ($1, $2, $3, NULL, $4)),
     pruned AS (DELETE FROM config_versions WHERE num_id = $1 AND version <= $5)
     UPDATE devices SET config_version = $2 WHERE num_id = $1`,
  ),
  /** LIMIT NULL is no limit. */
  listConfigs: sql(
    'list_configs',
    'SELECT version, cloud_update_time, device_ack_time, data FROM config_versions WHERE num_id = $1 ORDER BY version DESC LIMIT $2',
  ),
  ackConfig: sql(
    'ack_config',
    `WITH acked AS (UPDATE config_versions SET device_ack_time = $1 WHERE num_id = $2 AND version = $3)
     UPDATE devices SET last_config_ack_time = $1 WHERE num_id = $2 RETURNING num_id`,
  ),

  /** Also the lock that orders concurrent reports of one device. */
  setLatestState: sql(
    'set_latest_state',
    'UPDATE devices SET state_update_time = $1, state_data = $2, last_state_time = $1 WHERE num_id = $3 RETURNING num_id',
  ),
  /**
   * Adds a report and keeps the newest `$4` by (update_time, seq), in one statement. A DELETE cannot
   * see a row its own statement inserted, so the ranking is computed: the new report (highest seq)
   * ranks after the stored ones newer than it, and before every other; it is only inserted if it
   * ranks among the kept, and a stored one goes when it is pushed past them.
   */
  addState: sql(
    'add_state',
    `WITH ins AS (
       INSERT INTO states (num_id, update_time, data)
       SELECT $1::bigint, $2::bigint, $3::bytea WHERE (SELECT count(*) FROM states WHERE num_id = $1 AND update_time > $2) < $4::int)
     DELETE FROM states WHERE seq IN (
       SELECT seq FROM (
         SELECT seq, update_time, row_number() OVER (ORDER BY update_time DESC, seq DESC) AS rank FROM states WHERE num_id = $1) AS stored
       WHERE stored.rank + CASE WHEN $2 >= stored.update_time THEN 1 ELSE 0 END > $4)`,
  ),
  /** One row per state, or one row of NULLs for a device without states; no row: no device. */
  listStates: sql(
    'list_states',
    `SELECT s.update_time, s.data FROM devices d
     LEFT JOIN LATERAL (SELECT seq, update_time, data FROM states WHERE num_id = d.num_id ORDER BY update_time DESC, seq DESC LIMIT $2) s ON true
     WHERE d.num_id = $1 ORDER BY s.update_time DESC, s.seq DESC`,
  ),

  recordGatewayAccess: sql(
    'record_gateway_access',
    'UPDATE devices SET last_accessed_gateway_id = $1, last_accessed_gateway_time = $2 WHERE num_id = $3 RETURNING num_id',
  ),

  isBound: sql('is_bound', 'SELECT EXISTS (SELECT 1 FROM bindings WHERE gateway_num_id = $1 AND device_num_id = $2) AS bound'),
  bindCounts: sql(
    'bind_counts',
    `SELECT EXISTS (SELECT 1 FROM bindings WHERE gateway_num_id = $1 AND device_num_id = $2) AS bound,
       (SELECT count(*) FROM bindings WHERE gateway_num_id = $1) AS of_gateway,
       (SELECT count(*) FROM bindings WHERE device_num_id = $2) AS of_device`,
  ),
  insertBinding: sql('insert_binding', 'INSERT INTO bindings (gateway_num_id, device_num_id) VALUES ($1, $2)'),
  /** A missing device can have no binding, so deleting first and checking after changes nothing. */
  unbind: sql(
    'unbind',
    `WITH del AS (DELETE FROM bindings WHERE gateway_num_id = $1 AND device_num_id = $2 RETURNING 1)
     SELECT (SELECT count(*) FROM del) AS removed,
       EXISTS (SELECT 1 FROM devices WHERE num_id = $1) AS gateway_exists,
       EXISTS (SELECT 1 FROM devices WHERE num_id = $2) AS device_exists`,
  ),

  /** No row: no registry; NULL columns: no policy set. */
  registryIam: sql(
    'registry_iam',
    `SELECT p.version, p.bindings, p.etag FROM registries r
     LEFT JOIN iam_policies p ON p.project = r.project AND p.location = r.location AND p.registry = r.id
     WHERE r.project = $1 AND r.location = $2 AND r.id = $3`,
  ),
  getIam: sql('get_iam', 'SELECT version, bindings, etag FROM iam_policies WHERE project = $1 AND location = $2 AND registry = $3'),
  upsertIam: sql(
    'upsert_iam',
    `INSERT INTO iam_policies (project, location, registry, version, bindings, etag) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (project, location, registry) DO UPDATE SET version = excluded.version, bindings = excluded.bindings, etag = excluded.etag`,
  ),

  numberingLock: sql('numbering_lock', `SELECT pg_advisory_xact_lock(${NUMBERING_LOCK})`),
  /** Moves the sequence past `$1` unless nextval would already return more. */
  raiseNumbering: sql(
    'raise_numbering',
    `SELECT setval('device_num_ids', $1::bigint) FROM device_num_ids
     WHERE $1::bigint >= CASE WHEN is_called THEN last_value + 1 ELSE last_value END`,
  ),
  insertImportedDevices: sql(
    'insert_imported_devices',
    `INSERT INTO devices (num_id, ${DEVICE_COLUMNS})
     SELECT u.num_id, $1, $2, $3, u.id, u.gateway_type, u.doc, u.config_version, u.gw_id, u.gw_time, u.heartbeat, u.event,
       u.state_time, u.ack, u.send, u.error_time, u.error_status, u.state_update_time, u.state_data
     FROM unnest($4::bigint[], $5::text[], $6::text[], $7::text[], $8::int[], $9::text[], $10::bigint[], $11::bigint[],
       $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[], $17::text[], $18::bigint[], $19::bytea[])
       AS u(num_id, id, gateway_type, doc, config_version, gw_id, gw_time, heartbeat, event, state_time, ack, send,
         error_time, error_status, state_update_time, state_data)`,
  ),
  insertImportedConfigs: sql(
    'insert_imported_configs',
    `INSERT INTO config_versions (num_id, version, cloud_update_time, device_ack_time, data)
     SELECT * FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::bigint[], $5::bytea[])`,
  ),
  insertImportedStates: sql(
    'insert_imported_states',
    'INSERT INTO states (num_id, update_time, data) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bytea[])',
  ),
  insertImportedBindings: sql(
    'insert_imported_bindings',
    `INSERT INTO bindings (gateway_num_id, device_num_id) SELECT * FROM unnest($1::bigint[], $2::bigint[])
     ON CONFLICT DO NOTHING RETURNING 1`,
  ),
};

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

/**
 * Every patch of a flush in one UPDATE: per column an array of "has this key" flags and one of
 * values, unnested row by row, so partial patches need neither dynamic SQL nor a read first. The
 * `= ANY` makes the devices side an index lookup of the flushed numIds (without it the planner
 * hashes the whole table once the flush is a few hundred devices).
 */
export const RECORD_ACTIVITY: Sql = sql(
  'record_activity',
  `UPDATE devices d SET ${ACTIVITY_FIELDS.map((f) => {
    const c = ACTIVITY_COLUMNS[f];
    return `${c} = CASE WHEN p.set_${c} THEN p.${c} ELSE d.${c} END`;
  }).join(', ')}
   FROM unnest($1::bigint[], ${ACTIVITY_FIELDS.map((f, i) => `$${2 + 2 * i}::bool[], $${3 + 2 * i}::${f === 'lastErrorStatus' ? 'text' : 'bigint'}[]`).join(', ')})
     AS p(num_id, ${ACTIVITY_FIELDS.map((f) => `set_${ACTIVITY_COLUMNS[f]}, ${ACTIVITY_COLUMNS[f]}`).join(', ')})
   WHERE d.num_id = p.num_id AND d.num_id = ANY($1::bigint[])`,
);

/**
 * The RECORD_ACTIVITY parameters of a flush, in numId order: the update locks rows in the order it
 * reads the patches, so two nodes flushing overlapping devices queue instead of deadlocking.
 * Patches of numIds that name no device are left out.
 */
export function activityArrays(patches: ReadonlyMap<string, ActivityPatch>): unknown[][] {
  const rows: [number, ActivityPatch][] = [];
  for (const [numId, patch] of patches) {
    const n = parseNumId(numId);
    if (n !== undefined) rows.push([n, patch]);
  }
  rows.sort((x, y) => x[0] - y[0]);
  const arrays: unknown[][] = Array.from({ length: 1 + 2 * ACTIVITY_FIELDS.length }, () => []);
  for (const [n, patch] of rows) {
    arrays[0]!.push(n);
    ACTIVITY_FIELDS.forEach((f, i) => {
      const present = Object.hasOwn(patch, f);
      arrays[1 + 2 * i]!.push(present);
      arrays[2 + 2 * i]!.push(!present ? null : f === 'lastErrorStatus' ? encodeErrorStatus(patch[f]) : (patch[f] ?? null));
    });
  }
  return arrays;
}

/**
 * A device list query and its parameters, for one filter. Keyset paging over the
 * (project, location, registry, id) index with `id > after` and ORDER BY id, never OFFSET; the
 * id and numId filters are one array parameter each, whatever their length. Each filter shape is
 * its own named statement.
 */
export function listDevicesQuery(
  key: { project: string; location: string; registry: string },
  f: DeviceListFilter,
  after: string | undefined,
  limit: number,
): { sql: Sql; values: unknown[] } {
  const values: unknown[] = [key.project, key.location, key.registry, after ?? ''];
  const where = ['d.project = $1', 'd.location = $2', 'd.registry = $3', 'd.id > $4'];
  const shape: string[] = [];
  const param = (v: unknown, cast: string): string => {
    values.push(v);
    return `$${values.length}::${cast}`;
  };
  // An unparseable numId names no device; 0 is never assigned, so it matches nothing.
  const num = (s: string): number => parseNumId(s) ?? 0;
  // Empty lists mean "no filter", as an unset repeated proto field does.
  if ((f.deviceIds?.length ?? 0) > 0) {
    shape.push('ids');
    where.push(`d.id = ANY(${param(f.deviceIds, 'text[]')})`);
  }
  if ((f.deviceNumIds?.length ?? 0) > 0) {
    shape.push('numids');
    const numIds = (f.deviceNumIds ?? []).map(parseNumId).filter((n) => n !== undefined);
    where.push(`d.num_id = ANY(${param(numIds, 'bigint[]')})`);
  }
  if (f.gatewayType === 'GATEWAY') {
    shape.push('gw');
    where.push("d.gateway_type = 'GATEWAY'");
  } else if (f.gatewayType === 'NON_GATEWAY') {
    shape.push('nongw');
    where.push("d.gateway_type <> 'GATEWAY'");
  }
  if (f.boundToGateway !== undefined) {
    shape.push('bound');
    where.push(`d.num_id IN (SELECT device_num_id FROM bindings WHERE gateway_num_id = ${param(num(f.boundToGateway), 'bigint')})`);
  }
  if (f.gatewaysOfDevice !== undefined) {
    shape.push('gwof');
    where.push(`d.num_id IN (SELECT gateway_num_id FROM bindings WHERE device_num_id = ${param(num(f.gatewaysOfDevice), 'bigint')})`);
  }
  if (f.blocked !== undefined) {
    shape.push(f.blocked ? 'blocked' : 'unblocked');
    where.push(f.blocked ? "(d.doc::jsonb ->> 'blocked') = 'true'" : "coalesce(d.doc::jsonb ->> 'blocked', 'false') <> 'true'");
  }
  if (f.idPrefix) {
    shape.push('prefix');
    // starts_with, not a range: the column's collation need not sort IDs bytewise.
    where.push(`starts_with(d.id, ${param(f.idPrefix, 'text')})`);
  }
  const text = `${DEVICE_SELECT} WHERE ${where.join(' AND ')} ORDER BY d.id LIMIT ${param(limit, 'int')}`;
  return { sql: sql(`list_devices_${shape.join('_') || 'all'}`, text), values };
}

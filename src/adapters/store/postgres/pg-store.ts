import type pg from 'pg';
import { decideBind } from '../../../domain/bindings.js';
import { nextConfigVersion } from '../../../domain/config-versioning.js';
import { CONFLICT, importConflicts, sameImportedDevice, sameRegistrySettings } from '../../../domain/fleet-import-rules.js';
import { emptyPolicy, nextPolicy } from '../../../domain/iam-policy.js';
import { LIMITS } from '../../../domain/limits.js';
import {
  registryName,
  type Device,
  type DeviceConfig,
  type DeviceState,
  type IamPolicy,
  type NewDevice,
  type NewRegistry,
  type Registry,
  type RegistryKey,
} from '../../../domain/model.js';
import { isNumId, parseRegistryName } from '../../../domain/names.js';
import { pageOf } from '../../../domain/paging.js';
import type { ServiceAccount, ServiceAccountKey } from '../../../domain/service-accounts.js';
import type {
  ActivityPatch,
  BindLimits,
  ConfigUpdate,
  DeviceListFilter,
  ImportedBinding,
  ImportedDevice,
  ImportResult,
  Page,
  Store,
} from '../../../services/ports.js';
import {
  decodeConfig,
  decodeDevice,
  decodeIam,
  decodeRegistry,
  decodeState,
  encodeDeviceDoc,
  encodeRegistry,
  parseNumId,
  type ConfigRow,
  type DeviceRow,
  type IamRow,
  type RegistryRow,
  type StateRow,
} from '../sqlite/codec.js';
import * as err from '../store-errors.js';
import { bytesParam, createdDevice, deviceValues, importedDeviceArrays, query, type Queryable } from './pg-codec.js';
import { isRetryable, isUniqueViolation, pgErrorTranslator } from './pg-errors.js';
import { pgIam } from './pg-iam.js';
import { PgServerPresence } from './pg-offline-lock.js';
import { migratePostgres } from './pg-migrations.js';
import { inTransaction, openPgPool, type PgPoolOptions } from './pg-pool.js';
import { REGISTRY_MIGRATIONS } from './pg-store-migrations.js';
import { activityArrays, listDevicesQuery, Q, RECORD_ACTIVITY } from './pg-statements.js';

type BriefRow = Pick<DeviceRow, 'num_id' | 'project' | 'location' | 'registry' | 'id' | 'gateway_type' | 'revision'>;

const key3 = (k: RegistryKey): [string, string, string] => [k.project, k.location, k.registry];
const sameRegistry = (a: RegistryKey, b: RegistryKey): boolean =>
  a.project === b.project && a.location === b.location && a.registry === b.registry;
const bindParty = (b: BriefRow) => ({
  id: b.id,
  gatewayType: b.gateway_type as Device['gatewayConfig']['gatewayType'],
  registryKey: { project: b.project, location: b.location, registry: b.registry },
});
const pageSize = (limit: number): number => Math.max(1, Math.floor(limit));
/** LIMIT NULL is no limit: "0 = all retained". */
const historyLimit = (limit: number): number | null => (limit > 0 ? limit : null);
const constraintOf = (e: unknown): string | undefined => (e as { constraint?: unknown } | null)?.constraint as string | undefined;
const sqlStateOf = (e: unknown): string | undefined => (e as { code?: unknown } | null)?.code as string | undefined;

/** Rows written per INSERT of an import, and how often it reports progress. */
const IMPORT_CHUNK = 1000;
/** A deadlock or serialization failure rolls the whole call back, so the call is simply run again. */
const ATTEMPTS = 3;

export type PgStoreOptions = PgPoolOptions & {
  /** A pool owned by the caller: the store uses it and leaves it open on close(). */
  pool?: pg.Pool;
  /**
   * 'server' (default): the store announces a running server while open, so that an import refuses
   * the database, and it refuses to open while an import runs (pg-offline-lock.ts). 'none': an
   * import itself, or an export (which may run beside servers).
   */
  presence?: 'server' | 'none';
};

/** The URL as logs and errors show it: no password. */
function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}

/**
 * The Store port on PostgreSQL, for several nodes sharing one registry. Isolation is READ
 * COMMITTED throughout; every read-modify-write takes a row lock (SELECT ... FOR NO KEY UPDATE) or
 * an advisory lock first and reads what it decides on in a later statement, so two nodes racing
 * end as two calls on the SQLite store would. Never in the same statement: one that waited for a
 * lock still returns every other row from the snapshot it started with, before the holder's commit
 * (an etag read that way is stale and both writers win). Plain conditional writes (revisions) are
 * single UPDATEs with the condition in their WHERE: the loser re-checks the row after the winner
 * commits and matches none.
 */
export class PgStore implements Store {
  private closed = false;
  private readonly translate = pgErrorTranslator('registry store', true);

  private constructor(
    private readonly pool: pg.Pool,
    private readonly ownsPool: boolean,
    private readonly presence: PgServerPresence | undefined,
  ) {}

  /** Opens a pool (unless given one) and brings the `registry` schema up to date. */
  static async open(url: string, opts: PgStoreOptions = {}): Promise<PgStore> {
    const { pool: given, presence: role = 'server', ...poolOptions } = opts;
    const pool = given ?? openPgPool(url, { applicationName: 'bridgehead registry store', ...poolOptions });
    let presence: PgServerPresence | undefined;
    try {
      await migratePostgres(pool, 'registry', REGISTRY_MIGRATIONS);
      if (role === 'server') presence = await PgServerPresence.acquire(url, shownUrl(url), poolOptions.onIdleError);
    } catch (e) {
      if (!given) await pool.end().catch(() => undefined);
      throw e;
    }
    return new PgStore(pool, !given, presence);
  }

  async createRegistry(registry: NewRegistry): Promise<Registry> {
    await this.run(async (db) => {
      try {
        await query(db, Q.insertRegistry, [...key3(registry), encodeRegistry(registry)]);
      } catch (e) {
        throw isUniqueViolation(e) ? err.registryExists(registry) : e;
      }
    });
    return { ...registry, revision: 1 };
  }

  async getRegistry(key: RegistryKey): Promise<Registry | undefined> {
    return this.run(async (db) => {
      const [row] = await query<RegistryRow>(db, Q.getRegistry, key3(key));
      return row && decodeRegistry(row);
    });
  }

  async listRegistries(project: string, location: string, after: string | undefined, limit: number): Promise<Page<Registry>> {
    return this.run(async (db) => {
      const n = pageSize(limit);
      const rows = await query<RegistryRow>(db, Q.listRegistries, [project, location, after ?? '', n + 1]);
      return pageOf(rows.map(decodeRegistry), n, (r) => r.registry);
    });
  }

  async listAllRegistries(after: string | undefined, limit: number): Promise<Page<Registry>> {
    return this.run(async (db) => {
      const n = pageSize(limit);
      const from = after === undefined ? { project: '', location: '', registry: '' } : parseRegistryName(after, 'after');
      const rows = await query<RegistryRow>(db, Q.listAllRegistries, [...key3(from), n + 1]);
      return pageOf(rows.map(decodeRegistry), n, (r) => registryName(r));
    });
  }

  async updateRegistry(registry: Registry): Promise<Registry> {
    return this.run(async (db) => {
      const updated = await query(db, Q.updateRegistry, [...key3(registry), encodeRegistry(registry), registry.revision]);
      if (updated.length === 0) {
        if ((await query(db, Q.registryExists, key3(registry))).length === 0) throw err.registryNotFound(registry);
        throw err.revisionConflict(`Registry "${registry.registry}"`);
      }
      return { ...registry, revision: registry.revision + 1 };
    });
  }

  async deleteRegistry(key: RegistryKey): Promise<void> {
    await this.tx(async (c) => {
      if ((await query(c, Q.lockRegistryForDelete, key3(key))).length === 0) throw err.registryNotFound(key);
      if ((await query(c, Q.registryHasDevices, key3(key))).length > 0) throw err.registryNotEmpty(key);
      // The IAM policy goes with it through ON DELETE CASCADE.
      try {
        await query(c, Q.deleteRegistry, key3(key));
      } catch (e) {
        // A device created after the check (it cannot be, under the lock; kept as the last word).
        throw sqlStateOf(e) === '23503' ? err.registryNotEmpty(key) : e;
      }
    });
  }

  async createDevice(d: NewDevice): Promise<Device> {
    const k = d.registryKey;
    return this.run(async (db) => {
      let rows: { num_id: number }[];
      try {
        rows = await query<{ num_id: number }>(db, Q.createDevice, [
          ...deviceValues(k, d),
          d.config.cloudUpdateTime,
          d.config.deviceAckTime ?? null,
          bytesParam(d.config.binaryData),
        ]);
      } catch (e) {
        if (sqlStateOf(e) === '23503') throw err.registryNotFound(k);
        if (isUniqueViolation(e) && constraintOf(e) === 'devices_by_id') throw err.deviceExists(k, d.id);
        throw e;
      }
      // No row: the sequence passed 2^53−1 (the statement's WHERE), where numIds stop being exact.
      if (rows.length === 0) throw err.numIdsExhausted();
      return createdDevice(rows[0]!.num_id, k, d);
    });
  }

  async getDevice(key: RegistryKey, idOrNumId: string): Promise<Device | undefined> {
    return this.run(async (db) => {
      if (!isNumId(idOrNumId)) {
        const [row] = await query<DeviceRow>(db, Q.deviceById, [...key3(key), idOrNumId]);
        return row && decodeDevice(row);
      }
      const device = await this.loadDevice(db, parseNumId(idOrNumId));
      return device && sameRegistry(device.registryKey, key) ? device : undefined;
    });
  }

  async getDeviceByNumId(numId: string): Promise<Device | undefined> {
    return this.run((db) => this.loadDevice(db, parseNumId(numId)));
  }

  async listDevices(key: RegistryKey, filter: DeviceListFilter, after: string | undefined, limit: number): Promise<Page<Device>> {
    return this.run(async (db) => {
      const n = pageSize(limit);
      const { sql, values } = listDevicesQuery(key, filter, after, n + 1);
      const rows = await query<DeviceRow>(db, sql, values);
      return pageOf(rows.map(decodeDevice), n, (d) => d.id);
    });
  }

  async updateDevice(device: Device): Promise<Device> {
    const n = parseNumId(device.numId);
    return this.tx(async (c) => {
      if (n === undefined) throw err.deviceNotFound(device.numId);
      const updated = await query(c, Q.updateDeviceDoc, [encodeDeviceDoc(device), n, device.revision]);
      if (updated.length === 0) {
        const [brief] = await query<BriefRow>(c, Q.brief, [n]);
        if (!brief) throw err.deviceNotFound(device.numId);
        throw err.revisionConflict(`Device "${brief.id}"`);
      }
      // A later statement of the same transaction: it sees the config version as committed now,
      // which the UPDATE's own snapshot might not.
      return (await this.loadDevice(c, n))!;
    });
  }

  async deleteDevice(numId: string): Promise<void> {
    await this.run(async (db) => {
      // Config versions, states and bindings go with it through ON DELETE CASCADE.
      const n = parseNumId(numId);
      if (n === undefined || (await query(db, Q.deleteDevice, [n])).length === 0) throw err.deviceNotFound(numId);
    });
  }

  async modifyConfig(numId: string, update: ConfigUpdate): Promise<DeviceConfig> {
    const n = parseNumId(numId);
    return this.tx(async (c) => {
      const [locked] = n === undefined ? [] : await query<{ config_version: number }>(c, Q.lockConfigVersion, [n]);
      if (n === undefined || !locked) throw err.deviceNotFound(numId);
      const [latest] = await query<{ cloud_update_time: number }>(c, Q.configTime, [n, locked.config_version]);
      const version = nextConfigVersion(
        { version: locked.config_version, cloudUpdateTime: latest!.cloud_update_time },
        update.versionToUpdate,
        update.at,
        update.minIntervalMs,
      );
      await query(c, Q.addConfig, [n, version, update.at, bytesParam(update.binaryData), version - LIMITS.configVersionsKept]);
      return { version, cloudUpdateTime: update.at, deviceAckTime: undefined, binaryData: new Uint8Array(update.binaryData) };
    });
  }

  async listConfigVersions(numId: string, limit: number): Promise<DeviceConfig[]> {
    return this.run(async (db) => {
      const n = parseNumId(numId);
      // Every device has at least one config version: none means no device.
      const rows = n === undefined ? [] : await query<ConfigRow>(db, Q.listConfigs, [n, historyLimit(limit)]);
      if (rows.length === 0) throw err.deviceNotFound(numId);
      return rows.map(decodeConfig);
    });
  }

  async ackConfig(numId: string, version: number, at: number): Promise<void> {
    await this.run(async (db) => {
      const n = parseNumId(numId);
      if (n === undefined || (await query(db, Q.ackConfig, [at, n, version])).length === 0) throw err.deviceNotFound(numId);
    });
  }

  async recordState(numId: string, state: DeviceState): Promise<void> {
    const n = parseNumId(numId);
    await this.tx(async (c) => {
      const data = bytesParam(state.binaryData);
      if (n === undefined || (await query(c, Q.setLatestState, [state.updateTime, data, n])).length === 0) throw err.deviceNotFound(numId);
      await query(c, Q.addState, [n, state.updateTime, data, LIMITS.statesKept]);
    });
  }

  async listStates(numId: string, limit: number): Promise<DeviceState[]> {
    return this.run(async (db) => {
      const n = parseNumId(numId);
      const rows = n === undefined ? [] : await query<{ update_time: number | null; data: Buffer | null }>(db, Q.listStates, [n, historyLimit(limit)]);
      if (rows.length === 0) throw err.deviceNotFound(numId);
      return rows.filter((r): r is StateRow => r.update_time !== null).map(decodeState);
    });
  }

  async recordActivity(patches: ReadonlyMap<string, ActivityPatch>): Promise<void> {
    await this.run(async (db) => {
      const arrays = activityArrays(patches);
      // An unknown device matches no row, which is the "skipped silently" the port asks for.
      if (arrays[0]!.length > 0) await query(db, RECORD_ACTIVITY, arrays);
    });
  }

  async recordGatewayAccess(numId: string, gatewayId: string, at: number): Promise<void> {
    await this.run(async (db) => {
      const n = parseNumId(numId);
      if (n === undefined || (await query(db, Q.recordGatewayAccess, [gatewayId, at, n])).length === 0) throw err.deviceNotFound(numId);
    });
  }

  async importRegistry(
    input: NewRegistry,
    devices: readonly ImportedDevice[],
    bindings: readonly ImportedBinding[],
    onProgress?: (devicesDone: number) => void,
  ): Promise<ImportResult> {
    // One transaction: a conflict found anywhere throws, and the rollback leaves nothing. The
    // numbering lock (exclusive) holds device creation off until it commits, so nothing takes an
    // ID or numId between the checks and the writes, and the sequence moves past the numIds written.
    return this.tx(async (c) => {
      await query(c, Q.numberingLock, []);
      const k = key3(input);
      const [row] = await query<RegistryRow>(c, Q.getRegistry, k);
      const conflicts: string[] = [];
      if (row && !sameRegistrySettings(decodeRegistry(row), input)) conflicts.push(CONFLICT.registrySettings(input));
      const typeOf = new Map<string, { numId: number; gateway: boolean }>();
      // The registry's devices in one query: a re-run compares every one of them.
      const own = new Map<number, Device>();
      for (const r of row ? await query<DeviceRow>(c, Q.registryDevices, k) : []) {
        own.set(r.num_id, decodeDevice(r));
        typeOf.set(r.id, { numId: r.num_id, gateway: r.gateway_type === 'GATEWAY' });
      }
      // And every numId held outside it, in one more.
      const lookup = [...new Set(devices.map((d) => parseNumId(d.numId)).filter((n): n is number => n !== undefined && !own.has(n)))];
      const outside = new Map<number, BriefRow>();
      for (const b of lookup.length > 0 ? await query<BriefRow>(c, Q.briefs, [lookup]) : []) outside.set(b.num_id, b);

      const toCreate: { n: number; d: ImportedDevice }[] = [];
      const given = { numIds: new Set<string>(), ids: new Set<string>() };
      for (const d of devices) {
        const n = parseNumId(d.numId);
        if (n === undefined || given.numIds.has(d.numId) || given.ids.has(d.id)) {
          conflicts.push(CONFLICT.duplicate(d.id, d.numId));
          continue;
        }
        given.numIds.add(d.numId);
        given.ids.add(d.id);
        const holder = own.get(n);
        const elsewhere = holder ? undefined : outside.get(n);
        const stored = typeOf.get(d.id);
        if (elsewhere) {
          const where = `${elsewhere.id}" of registry "${registryName({ project: elsewhere.project, location: elsewhere.location, registry: elsewhere.registry })}`;
          conflicts.push(CONFLICT.numIdTaken(d.id, d.numId, where));
        } else if (holder) {
          if (holder.id !== d.id) conflicts.push(CONFLICT.numIdTaken(d.id, d.numId, holder.id));
          else if (!sameImportedDevice(holder, d)) conflicts.push(CONFLICT.differs(d.id, d.numId));
        } else if (stored !== undefined) {
          conflicts.push(CONFLICT.idTaken(d.id, d.numId, String(stored.numId)));
        } else {
          toCreate.push({ n, d });
          typeOf.set(d.id, { numId: n, gateway: d.gatewayConfig.gatewayType === 'GATEWAY' });
        }
      }
      const pairs: [number[], number[]] = [[], []];
      for (const b of bindings) {
        const gw = typeOf.get(b.gatewayId);
        const dev = typeOf.get(b.deviceId);
        if (!gw || !dev) conflicts.push(CONFLICT.unknownBindingSide(b.gatewayId, b.deviceId));
        else if (!gw.gateway) conflicts.push(CONFLICT.notGateway(b.gatewayId));
        else if (dev.gateway) conflicts.push(CONFLICT.gatewayAsDevice(b.deviceId));
        else {
          pairs[0].push(gw.numId);
          pairs[1].push(dev.numId);
        }
      }
      if (conflicts.length > 0) throw importConflicts(input, conflicts);

      if (!row) await query(c, Q.insertRegistry, [...k, encodeRegistry(input)]);
      for (let i = 0; i < toCreate.length; i += IMPORT_CHUNK) {
        const chunk = toCreate.slice(i, i + IMPORT_CHUNK);
        const arrays = importedDeviceArrays(chunk);
        await query(c, Q.insertImportedDevices, [...k, ...arrays.devices]);
        await query(c, Q.insertImportedConfigs, arrays.configs);
        if (arrays.states[0]!.length > 0) await query(c, Q.insertImportedStates, arrays.states);
        if (chunk.length === IMPORT_CHUNK) onProgress?.(i + IMPORT_CHUNK);
      }
      const bindingsCreated = pairs[0].length === 0 ? 0 : (await query(c, Q.insertImportedBindings, pairs)).length;
      // A loop, not Math.max(...): a spread of 100,000 arguments overflows the stack.
      const highest = toCreate.reduce((max, t) => (t.n > max ? t.n : max), 0);
      if (highest > 0) await query(c, Q.raiseNumbering, [highest]);
      return {
        registryCreated: !row,
        devicesCreated: toCreate.length,
        devicesSkipped: devices.length - toCreate.length,
        bindingsCreated,
        bindingsSkipped: pairs[0].length - bindingsCreated,
      };
    });
  }

  async bind(gatewayNumId: string, deviceNumId: string, limits: BindLimits): Promise<void> {
    await this.tx(async (c) => {
      const g = parseNumId(gatewayNumId);
      if (g === undefined) throw err.deviceNotFound(gatewayNumId);
      const d = parseNumId(deviceNumId);
      if (d === undefined) throw err.deviceNotFound(deviceNumId);
      // Both rows locked: binds of the same gateway (its device limit) and of the same device (its
      // gateway limit) queue here, and count in the next statement what the previous one committed.
      const locked = await query<BriefRow>(c, Q.lockBriefs, [[g, d]]);
      const gw = locked.find((r) => r.num_id === g);
      if (!gw) throw err.deviceNotFound(gatewayNumId);
      const dev = locked.find((r) => r.num_id === d);
      if (!dev) throw err.deviceNotFound(deviceNumId);
      const [counts] = await query<{ bound: boolean; of_gateway: number; of_device: number }>(c, Q.bindCounts, [g, d]);
      const decision = decideBind(
        bindParty(gw),
        bindParty(dev),
        { alreadyBound: counts!.bound, devicesOfGateway: counts!.of_gateway, gatewaysOfDevice: counts!.of_device },
        limits,
      );
      if (decision === 'insert') await query(c, Q.insertBinding, [g, d]);
    });
  }

  async unbind(gatewayNumId: string, deviceNumId: string): Promise<boolean> {
    return this.run(async (db) => {
      const g = parseNumId(gatewayNumId);
      if (g === undefined) throw err.deviceNotFound(gatewayNumId);
      const d = parseNumId(deviceNumId);
      if (d === undefined) throw err.deviceNotFound(deviceNumId);
      const [r] = await query<{ removed: number; gateway_exists: boolean; device_exists: boolean }>(db, Q.unbind, [g, d]);
      if (!r?.gateway_exists) throw err.deviceNotFound(gatewayNumId);
      if (!r.device_exists) throw err.deviceNotFound(deviceNumId);
      return r.removed > 0;
    });
  }

  async isBound(gatewayNumId: string, deviceNumId: string): Promise<boolean> {
    return this.run(async (db) => {
      const g = parseNumId(gatewayNumId);
      const d = parseNumId(deviceNumId);
      if (g === undefined || d === undefined) return false;
      const [r] = await query<{ bound: boolean }>(db, Q.isBound, [g, d]);
      return r?.bound === true;
    });
  }

  async getIamPolicy(key: RegistryKey): Promise<IamPolicy> {
    return this.run(async (db) => {
      const [row] = await query<{ version: number | null; bindings: string | null; etag: Buffer | null }>(db, Q.registryIam, key3(key));
      if (!row) throw err.registryNotFound(key);
      return row.etag === null ? emptyPolicy() : decodeIam(row as IamRow);
    });
  }

  async setIamPolicy(key: RegistryKey, policy: Omit<IamPolicy, 'etag'>, expectedEtag: Uint8Array | undefined): Promise<IamPolicy> {
    return this.tx(async (c) => {
      // The registry row is the lock: the policy row may not exist yet.
      if ((await query(c, Q.lockRegistry, key3(key))).length === 0) throw err.registryNotFound(key);
      const [row] = await query<IamRow>(c, Q.getIam, key3(key));
      const next = nextPolicy(row ? decodeIam(row) : emptyPolicy(), policy, expectedEtag);
      await query(c, Q.upsertIam, [...key3(key), next.version, JSON.stringify(next.bindings), Buffer.from(next.etag)]);
      return next;
    });
  }

  async getProjectIamPolicy(project: string): Promise<IamPolicy> {
    return this.run((db) => pgIam.getProjectIamPolicy(db, project));
  }

  async setProjectIamPolicy(project: string, policy: Omit<IamPolicy, 'etag'>, expectedEtag: Uint8Array | undefined): Promise<IamPolicy> {
    return this.tx((c) => pgIam.setProjectIamPolicy(c, project, policy, expectedEtag));
  }

  async createServiceAccount(account: ServiceAccount, projectRoles: readonly string[]): Promise<ServiceAccount> {
    return this.tx((c) => pgIam.createServiceAccount(c, account, projectRoles));
  }

  async getServiceAccount(emailOrUniqueId: string): Promise<ServiceAccount | undefined> {
    return this.run((db) => pgIam.getServiceAccount(db, emailOrUniqueId));
  }

  async listServiceAccounts(project: string, after: string | undefined, limit: number): Promise<Page<ServiceAccount>> {
    return this.run((db) => pgIam.listServiceAccounts(db, project, after, limit));
  }

  async deleteServiceAccount(email: string): Promise<void> {
    await this.tx((c) => pgIam.deleteServiceAccount(c, email));
  }

  async createServiceAccountKey(key: ServiceAccountKey, maxKeys: number): Promise<ServiceAccountKey> {
    return this.tx(async (c) => {
      try {
        return await pgIam.createServiceAccountKey(c, key, maxKeys);
      } catch (e) {
        throw isUniqueViolation(e) ? err.keyExists(key.keyId) : e;
      }
    });
  }

  async getServiceAccountKey(keyId: string): Promise<ServiceAccountKey | undefined> {
    return this.run((db) => pgIam.getServiceAccountKey(db, keyId));
  }

  async listServiceAccountKeys(email: string): Promise<ServiceAccountKey[]> {
    return this.run((db) => pgIam.listServiceAccountKeys(db, email));
  }

  async setServiceAccountKeyDisabled(keyId: string, disabled: boolean): Promise<ServiceAccountKey> {
    return this.run((db) => pgIam.setServiceAccountKeyDisabled(db, keyId, disabled));
  }

  async deleteServiceAccountKey(keyId: string): Promise<void> {
    await this.run((db) => pgIam.deleteServiceAccountKey(db, keyId));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.presence?.close();
    // Statements in flight finish first: pg-pool ends each checked-out connection on its release.
    if (this.ownsPool) await this.pool.end();
  }

  private async loadDevice(db: Queryable, numId: number | undefined): Promise<Device | undefined> {
    if (numId === undefined) return undefined;
    const [row] = await query<DeviceRow>(db, Q.deviceByNumId, [numId]);
    return row && decodeDevice(row);
  }

  /**
   * Every call goes through here: a closed store refuses, driver errors become ApiErrors, and a
   * call that PostgreSQL rolled back for a deadlock or serialization failure runs again.
   */
  private async run<T>(fn: (db: pg.Pool) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      if (this.closed) throw err.storeClosed();
      try {
        return await fn(this.pool);
      } catch (e) {
        if (this.closed) throw err.storeClosed();
        if (attempt < ATTEMPTS && isRetryable(e)) continue;
        throw this.translate(e);
      }
    }
  }

  private tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.run((pool) => inTransaction(pool, fn));
  }
}

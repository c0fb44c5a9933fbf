import Database from 'better-sqlite3';
import { decideBind } from '../../../domain/bindings.js';
import { nextConfigVersion } from '../../../domain/config-versioning.js';
import { emptyPolicy, nextPolicy } from '../../../domain/iam-policy.js';
import { pageOf } from '../../../domain/paging.js';
import { LIMITS } from '../../../domain/limits.js';
import { isNumId, parseRegistryName } from '../../../domain/names.js';
import { CONFLICT, importConflicts, sameImportedDevice, sameRegistrySettings } from '../../../domain/fleet-import-rules.js';
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
  encodeErrorStatus,
  encodeRegistry,
  parseNumId,
  type DeviceRow,
} from './codec.js';
import { migrate, MIGRATIONS } from './migrations.js';
import { isUniqueViolation, sqliteErrorTranslator, SqliteTransactions } from './sqlite-transactions.js';
import { SqliteIam } from './sqlite-iam.js';
import {
  activityParams,
  listDevicesParams,
  listDevicesSql,
  listShape,
  prepareStatements,
  type BriefRow,
  type ListParams,
  type Statements,
} from './statements.js';
import * as err from '../store-errors.js';



const key3 = (k: RegistryKey): [string, string, string] => [k.project, k.location, k.registry];
const sameRegistry = (a: RegistryKey, b: RegistryKey): boolean =>
  a.project === b.project && a.location === b.location && a.registry === b.registry;
const bindParty = (b: BriefRow) => ({
  id: b.id,
  gatewayType: b.gateway_type as Device['gatewayConfig']['gatewayType'],
  registryKey: { project: b.project, location: b.location, registry: b.registry },
});

/** The Store port on one SQLite file (better-sqlite3: synchronous, so each call is one atomic unit). */
export class SqliteStore implements Store {
  private readonly q: Statements;
  private readonly iam: SqliteIam;
  /** List statements by filter shape: prepared on first use, then reused like the fixed ones. */
  private readonly listStatements = new Map<string, Database.Statement<[ListParams], DeviceRow>>();

  private readonly tx: SqliteTransactions;

  private constructor(private readonly db: Database.Database) {
    this.tx = new SqliteTransactions(db, err.storeClosed, sqliteErrorTranslator('registry store', true));
    this.q = prepareStatements(db);
    this.iam = new SqliteIam(db);
  }

  /**
   * A read-only view of an existing store file, for an export next to a running server (WAL lets
   * it read a consistent snapshot without blocking the writer). Never migrates: a file of another
   * schema version is refused.
   */
  static openReadOnly(path: string): SqliteStore {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      db.pragma('busy_timeout = 5000');
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version !== MIGRATIONS.length) {
        throw new Error(`${path} has schema version ${version}; this Bridgehead reads version ${MIGRATIONS.length}. Start the server once to migrate it.`);
      }
      return new SqliteStore(db);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  static open(path: string): SqliteStore {
    const db = new Database(path);
    try {
      db.pragma('busy_timeout = 5000');
      db.pragma('journal_mode = WAL');
      // NORMAL in WAL mode can lose the last commits on power loss but never corrupts; the data here
      // (registry metadata, activity timestamps) tolerates that, and it saves an fsync per write.
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      migrate(db);
      return new SqliteStore(db);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  async createRegistry(registry: NewRegistry): Promise<Registry> {
    this.tx.write(() => {
      try {
        this.q.insertRegistry.run(...key3(registry), encodeRegistry(registry));
      } catch (e) {
        throw isUniqueViolation(e) ? err.registryExists(registry) : e;
      }
    });
    return { ...registry, revision: 1 };
  }

  async getRegistry(key: RegistryKey): Promise<Registry | undefined> {
    return this.tx.read(() => {
      const row = this.q.getRegistry.get(...key3(key));
      return row && decodeRegistry(row);
    });
  }

  async listRegistries(
    project: string,
    location: string,
    after: string | undefined,
    limit: number,
  ): Promise<Page<Registry>> {
    return this.tx.read(() => {
      const n = pageSize(limit);
      const rows = this.q.listRegistries.all(project, location, after ?? '', n + 1);
      return pageOf(rows.map(decodeRegistry), n, (r) => r.registry);
    });
  }

  async listAllRegistries(after: string | undefined, limit: number): Promise<Page<Registry>> {
    return this.tx.read(() => {
      const n = pageSize(limit);
      const from = after === undefined ? { project: '', location: '', registry: '' } : parseRegistryName(after, 'after');
      const rows = this.q.listAllRegistries.all(from.project, from.location, from.registry, n + 1);
      return pageOf(rows.map(decodeRegistry), n, (r) => registryName(r));
    });
  }

  async updateRegistry(registry: Registry): Promise<Registry> {
    return this.tx.write(() => {
      const changed = this.q.updateRegistry.run(encodeRegistry(registry), ...key3(registry), registry.revision).changes;
      if (changed === 0) {
        if (!this.q.getRegistry.get(...key3(registry))) throw err.registryNotFound(registry);
        throw err.revisionConflict(`Registry "${registry.registry}"`);
      }
      return { ...registry, revision: registry.revision + 1 };
    });
  }

  async deleteRegistry(key: RegistryKey): Promise<void> {
    this.tx.write(() => {
      if (!this.q.getRegistry.get(...key3(key))) throw err.registryNotFound(key);
      if (this.q.registryHasDevices.get(...key3(key))) throw err.registryNotEmpty(key);
      // The IAM policy goes with it through ON DELETE CASCADE.
      this.q.deleteRegistry.run(...key3(key));
    });
  }

  async createDevice(d: NewDevice): Promise<Device> {
    return this.tx.write(() => {
      const k = d.registryKey;
      if (!this.q.getRegistry.get(...key3(k))) throw err.registryNotFound(k);
      let numId: number;
      try {
        numId = Number(
          this.q.insertDevice.run(deviceRow(k, d)).lastInsertRowid,
        );
      } catch (e) {
        throw isUniqueViolation(e) ? err.deviceExists(k, d.id) : e;
      }
      // SQLite counts on to 2^63, but a numId past 2^53 loses digits as a number and would collide
      // with the next one; throwing rolls the row (and the sequence) back.
      if (!Number.isSafeInteger(numId)) throw err.numIdsExhausted();
      const c = d.config;
      this.q.insertConfig.run(numId, 1, c.cloudUpdateTime, c.deviceAckTime ?? null, c.binaryData);
      if (d.state) this.q.insertState.run(numId, d.state.updateTime, d.state.binaryData);
      return this.loadDevice(numId) as Device;
    });
  }

  // A single SELECT sees one snapshot by itself: the device reads that every connect makes skip
  // the BEGIN/COMMIT of a read transaction.
  async getDevice(key: RegistryKey, idOrNumId: string): Promise<Device | undefined> {
    return this.tx.guard(() => {
      if (!isNumId(idOrNumId)) {
        const row = this.q.deviceById.get(...key3(key), idOrNumId);
        return row && decodeDevice(row);
      }
      const device = this.loadDevice(parseNumId(idOrNumId));
      return device && sameRegistry(device.registryKey, key) ? device : undefined;
    });
  }

  async getDeviceByNumId(numId: string): Promise<Device | undefined> {
    return this.tx.guard(() => this.loadDevice(parseNumId(numId)));
  }

  async listDevices(
    key: RegistryKey,
    filter: DeviceListFilter,
    after: string | undefined,
    limit: number,
  ): Promise<Page<Device>> {
    return this.tx.read(() => {
      const n = pageSize(limit);
      const shape = listShape(filter);
      const cacheKey = JSON.stringify(shape);
      let stmt = this.listStatements.get(cacheKey);
      if (!stmt) {
        stmt = this.db.prepare<[ListParams], DeviceRow>(listDevicesSql(shape));
        this.listStatements.set(cacheKey, stmt);
      }
      const rows = stmt.all(listDevicesParams(key, filter, after, n + 1));
      return pageOf(rows.map(decodeDevice), n, (d) => d.id);
    });
  }

  async updateDevice(device: Device): Promise<Device> {
    return this.tx.write(() => {
      const brief = this.requireDevice(device.numId);
      if (this.q.updateDeviceDoc.run(encodeDeviceDoc(device), brief.num_id, device.revision).changes === 0) {
        throw err.revisionConflict(`Device "${brief.id}"`);
      }
      return this.loadDevice(brief.num_id) as Device;
    });
  }

  async deleteDevice(numId: string): Promise<void> {
    this.tx.write(() => {
      // Config versions, states and bindings go with it through ON DELETE CASCADE.
      this.q.deleteDevice.run(this.requireDevice(numId).num_id);
    });
  }

  async modifyConfig(numId: string, update: ConfigUpdate): Promise<DeviceConfig> {
    return this.tx.write(() => {
      const n = parseNumId(numId);
      const latest = n === undefined ? undefined : this.q.latestConfig.get(n);
      if (n === undefined || !latest) throw err.deviceNotFound(numId);
      const version = nextConfigVersion(
        { version: latest.version, cloudUpdateTime: latest.cloud_update_time },
        update.versionToUpdate,
        update.at,
        update.minIntervalMs,
      );
      this.q.insertConfig.run(n, version, update.at, null, update.binaryData);
      this.q.pruneConfigs.run(n, version - LIMITS.configVersionsKept);
      this.q.setConfigVersion.run(version, n);
      return { version, cloudUpdateTime: update.at, deviceAckTime: undefined, binaryData: new Uint8Array(update.binaryData) };
    });
  }

  async listConfigVersions(numId: string, limit: number): Promise<DeviceConfig[]> {
    return this.tx.read(() => {
      const n = this.requireDevice(numId).num_id;
      return this.q.listConfigs.all(n, limit > 0 ? limit : -1).map(decodeConfig);
    });
  }

  async ackConfig(numId: string, version: number, at: number): Promise<void> {
    this.tx.write(() => {
      const n = this.requireDevice(numId).num_id;
      this.q.ackConfigVersion.run(at, n, version);
      this.q.setConfigAckTime.run(at, n);
    });
  }

  async recordState(numId: string, state: DeviceState): Promise<void> {
    this.tx.write(() => {
      const n = this.requireDevice(numId).num_id;
      this.q.insertState.run(n, state.updateTime, state.binaryData);
      this.q.pruneStates.run(n, n, LIMITS.statesKept);
      this.q.setLatestState.run(state.updateTime, state.binaryData, state.updateTime, n);
    });
  }

  async listStates(numId: string, limit: number): Promise<DeviceState[]> {
    return this.tx.read(() => {
      const n = this.requireDevice(numId).num_id;
      return this.q.listStates.all(n, limit > 0 ? limit : -1).map(decodeState);
    });
  }

  async recordActivity(patches: ReadonlyMap<string, ActivityPatch>): Promise<void> {
    this.tx.write(() => {
      for (const [numId, patch] of patches) {
        const n = parseNumId(numId);
        // An unknown device updates no row, which is the "skipped silently" the port asks for.
        if (n !== undefined) this.q.recordActivity.run(activityParams(n, patch));
      }
    });
  }

  async recordGatewayAccess(numId: string, gatewayId: string, at: number): Promise<void> {
    this.tx.write(() => {
      this.q.recordGatewayAccess.run(gatewayId, at, this.requireDevice(numId).num_id);
    });
  }

  async importRegistry(
    input: NewRegistry,
    devices: readonly ImportedDevice[],
    bindings: readonly ImportedBinding[],
    onProgress?: (devicesDone: number) => void,
  ): Promise<ImportResult> {
    // One write transaction: a conflict found anywhere throws, and the rollback leaves nothing.
    return this.tx.write(() => {
      const k = key3(input);
      const row = this.q.getRegistry.get(...k);
      const conflicts: string[] = [];
      if (row && !sameRegistrySettings(decodeRegistry(row), input)) conflicts.push(CONFLICT.registrySettings(input));
      const typeOf = new Map<string, { numId: number; gateway: boolean }>();
      // The registry's devices in one query: a re-run compares every one of them.
      const own = new Map<number, Device>();
      for (const r of row ? this.q.registryDevices.iterate(...k) : []) {
        own.set(r.num_id, decodeDevice(r));
        typeOf.set(r.id, { numId: r.num_id, gateway: r.gateway_type === 'GATEWAY' });
      }
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
        const elsewhere = holder ? undefined : this.q.brief.get(n);
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
      const pairs: [number, number][] = [];
      for (const b of bindings) {
        const gw = typeOf.get(b.gatewayId);
        const dev = typeOf.get(b.deviceId);
        if (!gw || !dev) conflicts.push(CONFLICT.unknownBindingSide(b.gatewayId, b.deviceId));
        else if (!gw.gateway) conflicts.push(CONFLICT.notGateway(b.gatewayId));
        else if (dev.gateway) conflicts.push(CONFLICT.gatewayAsDevice(b.deviceId));
        else pairs.push([gw.numId, dev.numId]);
      }
      if (conflicts.length > 0) throw importConflicts(input, conflicts);

      if (!row) this.q.insertRegistry.run(...k, encodeRegistry(input));
      // An explicit rowid above sqlite_sequence raises it (AUTOINCREMENT), so createDevice never
      // hands an imported numId out again.
      let written = 0;
      for (const { n, d } of toCreate) {
        if (++written % 1000 === 0) onProgress?.(written);
        this.q.insertImportedDevice.run({ ...deviceRow(input, d), num_id: n, config_version: d.config.version });
        const c = d.config;
        this.q.insertConfig.run(n, c.version, c.cloudUpdateTime, c.deviceAckTime ?? null, c.binaryData);
        if (d.state) this.q.insertState.run(n, d.state.updateTime, d.state.binaryData);
      }
      let bindingsCreated = 0;
      for (const [gw, dev] of pairs) {
        if (this.q.isBound.get(gw, dev) !== undefined) continue;
        this.q.insertBinding.run(gw, dev);
        bindingsCreated++;
      }
      return {
        registryCreated: !row,
        devicesCreated: toCreate.length,
        devicesSkipped: devices.length - toCreate.length,
        bindingsCreated,
        bindingsSkipped: pairs.length - bindingsCreated,
      };
    });
  }

  async bind(gatewayNumId: string, deviceNumId: string, limits: BindLimits): Promise<void> {
    this.tx.write(() => {
      const gw = this.requireDevice(gatewayNumId);
      const dev = this.requireDevice(deviceNumId);
      const counts = {
        alreadyBound: this.q.isBound.get(gw.num_id, dev.num_id) !== undefined,
        devicesOfGateway: this.q.countDevicesOfGateway.get(gw.num_id) ?? 0,
        gatewaysOfDevice: this.q.countGatewaysOfDevice.get(dev.num_id) ?? 0,
      };
      if (decideBind(bindParty(gw), bindParty(dev), counts, limits) === 'insert') this.q.insertBinding.run(gw.num_id, dev.num_id);
    });
  }

  async unbind(gatewayNumId: string, deviceNumId: string): Promise<boolean> {
    return this.tx.write(() => {
      const gw = this.requireDevice(gatewayNumId);
      const dev = this.requireDevice(deviceNumId);
      return this.q.deleteBinding.run(gw.num_id, dev.num_id).changes > 0;
    });
  }

  async isBound(gatewayNumId: string, deviceNumId: string): Promise<boolean> {
    return this.tx.read(() => {
      const gw = parseNumId(gatewayNumId);
      const dev = parseNumId(deviceNumId);
      return gw !== undefined && dev !== undefined && this.q.isBound.get(gw, dev) !== undefined;
    });
  }

  async getIamPolicy(key: RegistryKey): Promise<IamPolicy> {
    return this.tx.read(() => this.currentPolicy(key));
  }

  async setIamPolicy(key: RegistryKey, policy: Omit<IamPolicy, 'etag'>, expectedEtag: Uint8Array | undefined): Promise<IamPolicy> {
    return this.tx.write(() => {
      const next = nextPolicy(this.currentPolicy(key), policy, expectedEtag);
      this.q.upsertIam.run(...key3(key), next.version, JSON.stringify(next.bindings), next.etag);
      return next;
    });
  }

  private currentPolicy(key: RegistryKey): IamPolicy {
    if (!this.q.getRegistry.get(...key3(key))) throw err.registryNotFound(key);
    const row = this.q.getIam.get(...key3(key));
    return row ? decodeIam(row) : emptyPolicy();
  }

  async getProjectIamPolicy(project: string): Promise<IamPolicy> {
    return this.tx.read(() => this.iam.getProjectIamPolicy(project));
  }

  async setProjectIamPolicy(project: string, policy: Omit<IamPolicy, 'etag'>, expectedEtag: Uint8Array | undefined): Promise<IamPolicy> {
    return this.tx.write(() => this.iam.setProjectIamPolicy(project, policy, expectedEtag));
  }

  async createServiceAccount(account: ServiceAccount, projectRoles: readonly string[]): Promise<ServiceAccount> {
    return this.tx.write(() => this.iam.createServiceAccount(account, projectRoles));
  }

  async getServiceAccount(emailOrUniqueId: string): Promise<ServiceAccount | undefined> {
    return this.tx.read(() => this.iam.getServiceAccount(emailOrUniqueId));
  }

  async listServiceAccounts(project: string, after: string | undefined, limit: number): Promise<Page<ServiceAccount>> {
    return this.tx.read(() => this.iam.listServiceAccounts(project, after, limit));
  }

  async deleteServiceAccount(email: string): Promise<void> {
    this.tx.write(() => this.iam.deleteServiceAccount(email));
  }

  async createServiceAccountKey(key: ServiceAccountKey, maxKeys: number): Promise<ServiceAccountKey> {
    return this.tx.write(() => this.iam.createServiceAccountKey(key, maxKeys));
  }

  async getServiceAccountKey(keyId: string): Promise<ServiceAccountKey | undefined> {
    return this.tx.read(() => this.iam.getServiceAccountKey(keyId));
  }

  async listServiceAccountKeys(email: string): Promise<ServiceAccountKey[]> {
    return this.tx.read(() => this.iam.listServiceAccountKeys(email));
  }

  async setServiceAccountKeyDisabled(keyId: string, disabled: boolean): Promise<ServiceAccountKey> {
    return this.tx.write(() => this.iam.setServiceAccountKeyDisabled(keyId, disabled));
  }

  async deleteServiceAccountKey(keyId: string): Promise<void> {
    this.tx.write(() => this.iam.deleteServiceAccountKey(keyId));
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }


  private loadDevice(numId: number | undefined): Device | undefined {
    const row = numId === undefined ? undefined : this.q.deviceByNumId.get(numId);
    return row && decodeDevice(row);
  }

  private requireDevice(numId: string): BriefRow {
    const n = parseNumId(numId);
    const row = n === undefined ? undefined : this.q.brief.get(n);
    if (!row) throw err.deviceNotFound(numId);
    return row;
  }
}

const pageSize = (limit: number): number => Math.max(1, Math.floor(limit));

/** The devices row of a new or imported device (its numId, when given, is the caller's to add). */
function deviceRow(k: RegistryKey, d: NewDevice) {
  return {
    project: k.project,
    location: k.location,
    registry: k.registry,
    id: d.id,
    gateway_type: d.gatewayConfig.gatewayType,
    doc: encodeDeviceDoc(d),
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
    state_data: d.state?.binaryData ?? null,
  };
}

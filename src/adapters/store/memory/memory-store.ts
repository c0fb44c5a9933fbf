import { decideBind } from '../../../domain/bindings.js';
import { nextConfigVersion } from '../../../domain/config-versioning.js';
import { EMPTY_POLICY, nextPolicy } from '../../../domain/iam-policy.js';
import { pageOf } from '../../../domain/paging.js';
import { LIMITS } from '../../../domain/limits.js';
import { CONFLICT, importConflicts, sameImportedDevice, sameRegistrySettings } from '../../../domain/fleet-import-rules.js';
import { isNumId, parseRegistryName } from '../../../domain/names.js';
import {
  isGateway,
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
import { copyBytes, copyConfig, copyDevice, copyIamPolicy, copyMutable, copyRegistry, copyState } from './copies.js';
import { MemoryIam } from './memory-iam.js';
import * as err from '../store-errors.js';

/** Cloud IoT numIds were 16-digit numbers; this keeps ours looking alike and far below 2^53. */
const FIRST_NUM_ID = 2_000_000_000_000_001;

interface RegistryEntry {
  registry: Registry;
  /** Device IDs in ascending order, for keyset paging without sorting per request. */
  ids: string[];
  byId: Map<string, string>;
  iam: IamPolicy | undefined;
}

interface DeviceEntry {
  /** `device.config` is always the same object as `configs[0]`, so an ack of the latest shows on both. */
  device: Device;
  /** Newest first. */
  configs: DeviceConfig[];
  /** Newest first by (updateTime, seq). */
  states: { seq: number; state: DeviceState }[];
}

const keyOf = (k: RegistryKey): string => JSON.stringify([k.project, k.location, k.registry]);

/** Index of the first element greater than `after` (or equal to it when `inclusive`). */
function bound(sorted: readonly string[], after: string, inclusive = false): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const v = sorted[mid] as string;
    if (v < after || (!inclusive && v === after)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const EMPTY: ReadonlySet<string> = new Set();

/** The Store port in process memory: for tests and single-process trials; nothing survives a restart. */
export class MemoryStore implements Store {
  private readonly registries = new Map<string, RegistryEntry>();
  private readonly devices = new Map<string, DeviceEntry>();
  private readonly devicesOfGateway = new Map<string, Set<string>>();
  private readonly gatewaysOfDevice = new Map<string, Set<string>>();
  private readonly iam = new MemoryIam(() => this.registries.values());
  private nextNumId = FIRST_NUM_ID;
  private nextStateSeq = 1;
  private closed = false;

  // Every method validates before its first mutation and never awaits in between, which is what
  // makes each operation atomic and leaves the store untouched when it throws.

  async createRegistry(input: NewRegistry): Promise<Registry> {
    this.assertOpen();
    const k = keyOf(input);
    if (this.registries.has(k)) throw err.registryExists(input);
    const registry = copyRegistry({ ...input, revision: 1 });
    this.registries.set(k, { registry, ids: [], byId: new Map(), iam: undefined });
    return copyRegistry(registry);
  }

  async getRegistry(key: RegistryKey): Promise<Registry | undefined> {
    this.assertOpen();
    const e = this.registries.get(keyOf(key));
    return e && copyRegistry(e.registry);
  }

  async listRegistries(
    project: string,
    location: string,
    after: string | undefined,
    limit: number,
  ): Promise<Page<Registry>> {
    this.assertOpen();
    const matching = [...this.registries.values()]
      .map((e) => e.registry)
      .filter((r) => r.project === project && r.location === location && r.registry > (after ?? ''))
      .sort((a, b) => (a.registry < b.registry ? -1 : a.registry > b.registry ? 1 : 0));
    const page = pageOf(matching, limit, (r) => r.registry);
    return { items: page.items.map(copyRegistry), next: page.next };
  }

  async listAllRegistries(after: string | undefined, limit: number): Promise<Page<Registry>> {
    this.assertOpen();
    const from = after === undefined ? undefined : parseRegistryName(after, 'after');
    const cmp = (a: RegistryKey, b: RegistryKey): number =>
      compare(a.project, b.project) || compare(a.location, b.location) || compare(a.registry, b.registry);
    const matching = [...this.registries.values()]
      .map((e) => e.registry)
      .filter((r) => from === undefined || cmp(r, from) > 0)
      .sort(cmp);
    const page = pageOf(matching, limit, (r) => registryName(r));
    return { items: page.items.map(copyRegistry), next: page.next };
  }

  async updateRegistry(registry: Registry): Promise<Registry> {
    this.assertOpen();
    const e = this.registries.get(keyOf(registry));
    if (!e) throw err.registryNotFound(registry);
    if (e.registry.revision !== registry.revision) throw err.revisionConflict(`Registry "${registry.registry}"`);
    e.registry = copyRegistry({ ...registry, revision: registry.revision + 1 });
    return copyRegistry(e.registry);
  }

  async deleteRegistry(key: RegistryKey): Promise<void> {
    this.assertOpen();
    const k = keyOf(key);
    const e = this.registries.get(k);
    if (!e) throw err.registryNotFound(key);
    if (e.ids.length > 0) throw err.registryNotEmpty(key);
    this.registries.delete(k);
  }

  async createDevice(input: NewDevice): Promise<Device> {
    this.assertOpen();
    const reg = this.registries.get(keyOf(input.registryKey));
    if (!reg) throw err.registryNotFound(input.registryKey);
    if (reg.byId.has(input.id)) throw err.deviceExists(input.registryKey, input.id);
    if (!Number.isSafeInteger(this.nextNumId)) throw err.numIdsExhausted();
    const numId = String(this.nextNumId++);
    const device = copyDevice({ ...input, numId, revision: 1 });
    device.config.version = 1;
    const entry: DeviceEntry = { device, configs: [device.config], states: [] };
    if (device.state) entry.states.push({ seq: this.nextStateSeq++, state: device.state });
    this.devices.set(numId, entry);
    reg.byId.set(device.id, numId);
    reg.ids.splice(bound(reg.ids, device.id), 0, device.id);
    return copyDevice(device);
  }

  async getDevice(key: RegistryKey, idOrNumId: string): Promise<Device | undefined> {
    this.assertOpen();
    const reg = this.registries.get(keyOf(key));
    if (!reg) return undefined;
    const numId = isNumId(idOrNumId) ? idOrNumId : reg.byId.get(idOrNumId);
    const e = numId === undefined ? undefined : this.devices.get(numId);
    if (!e || keyOf(e.device.registryKey) !== keyOf(key)) return undefined;
    return copyDevice(e.device);
  }

  async getDeviceByNumId(numId: string): Promise<Device | undefined> {
    this.assertOpen();
    const e = this.devices.get(numId);
    return e && copyDevice(e.device);
  }

  async listDevices(
    key: RegistryKey,
    filter: DeviceListFilter,
    after: string | undefined,
    limit: number,
  ): Promise<Page<Device>> {
    this.assertOpen();
    const reg = this.registries.get(keyOf(key));
    if (!reg) return { items: [], next: undefined };
    const page = pageOf(this.matching(reg, filter, after ?? ''), limit, (d) => d.id);
    return { items: page.items.map(copyDevice), next: page.next };
  }

  private *matching(reg: RegistryEntry, filter: DeviceListFilter, after: string): Generator<Device> {
    // Empty lists mean "no filter", as an unset repeated proto field does.
    const ids = filter.deviceIds?.length ? new Set(filter.deviceIds) : undefined;
    const numIds = filter.deviceNumIds?.length ? new Set(filter.deviceNumIds) : undefined;
    const boundTo =
      filter.boundToGateway === undefined ? undefined : (this.devicesOfGateway.get(filter.boundToGateway) ?? EMPTY);
    const gatewaysOf =
      filter.gatewaysOfDevice === undefined ? undefined : (this.gatewaysOfDevice.get(filter.gatewaysOfDevice) ?? EMPTY);
    const type = filter.gatewayType;
    for (let i = bound(reg.ids, after); i < reg.ids.length; i++) {
      const id = reg.ids[i] as string;
      if (ids && !ids.has(id)) continue;
      if (filter.idPrefix && !id.startsWith(filter.idPrefix)) continue;
      const numId = reg.byId.get(id) as string;
      if (numIds && !numIds.has(numId)) continue;
      if (boundTo && !boundTo.has(numId)) continue;
      if (gatewaysOf && !gatewaysOf.has(numId)) continue;
      const device = (this.devices.get(numId) as DeviceEntry).device;
      if (type === 'GATEWAY' && !isGateway(device)) continue;
      if (type === 'NON_GATEWAY' && isGateway(device)) continue;
      if (filter.blocked !== undefined && device.blocked !== filter.blocked) continue;
      yield device;
    }
  }

  async updateDevice(device: Device): Promise<Device> {
    this.assertOpen();
    const e = this.entry(device.numId);
    if (e.device.revision !== device.revision) throw err.revisionConflict(`Device "${e.device.id}"`);
    Object.assign(e.device, copyMutable(device));
    e.device.gatewayConfig.gatewayAuthMethod = device.gatewayConfig.gatewayAuthMethod;
    e.device.revision++;
    return copyDevice(e.device);
  }

  async deleteDevice(numId: string): Promise<void> {
    this.assertOpen();
    const e = this.entry(numId);
    const reg = this.registries.get(keyOf(e.device.registryKey)) as RegistryEntry;
    reg.byId.delete(e.device.id);
    reg.ids.splice(bound(reg.ids, e.device.id, true), 1);
    this.devices.delete(numId);
    for (const dev of this.devicesOfGateway.get(numId) ?? EMPTY) this.unlink(numId, dev);
    for (const gw of this.gatewaysOfDevice.get(numId) ?? EMPTY) this.unlink(gw, numId);
  }

  async modifyConfig(numId: string, update: ConfigUpdate): Promise<DeviceConfig> {
    this.assertOpen();
    const e = this.entry(numId);
    const version = nextConfigVersion(e.device.config, update.versionToUpdate, update.at, update.minIntervalMs);
    const config: DeviceConfig = {
      version,
      cloudUpdateTime: update.at,
      deviceAckTime: undefined,
      binaryData: copyBytes(update.binaryData),
    };
    e.configs.unshift(config);
    e.configs.length = Math.min(e.configs.length, LIMITS.configVersionsKept);
    e.device.config = config;
    return copyConfig(config);
  }

  async listConfigVersions(numId: string, limit: number): Promise<DeviceConfig[]> {
    this.assertOpen();
    return this.entry(numId).configs.slice(0, limit > 0 ? limit : undefined).map(copyConfig);
  }

  async ackConfig(numId: string, version: number, at: number): Promise<void> {
    this.assertOpen();
    const e = this.entry(numId);
    const config = e.configs.find((c) => c.version === version);
    if (config) config.deviceAckTime = at;
    e.device.lastConfigAckTime = at;
  }

  async recordState(numId: string, state: DeviceState): Promise<void> {
    this.assertOpen();
    const e = this.entry(numId);
    const s = copyState(state);
    // The new report has the highest seq, so it goes before every report not newer than it.
    const at = e.states.findIndex((x) => x.state.updateTime <= s.updateTime);
    e.states.splice(at < 0 ? e.states.length : at, 0, { seq: this.nextStateSeq++, state: s });
    e.states.length = Math.min(e.states.length, LIMITS.statesKept);
    e.device.state = s;
    e.device.lastStateTime = s.updateTime;
  }

  async listStates(numId: string, limit: number): Promise<DeviceState[]> {
    this.assertOpen();
    return this.entry(numId)
      .states.slice(0, limit > 0 ? limit : undefined)
      .map((x) => copyState(x.state));
  }

  async recordActivity(patches: ReadonlyMap<string, ActivityPatch>): Promise<void> {
    this.assertOpen();
    for (const [numId, p] of patches) {
      const d = this.devices.get(numId)?.device;
      if (!d) continue;
      // A key that is present applies even when its value is undefined: that is how a patch clears.
      const has = (k: keyof ActivityPatch): boolean => Object.hasOwn(p, k);
      if (has('lastHeartbeatTime')) d.lastHeartbeatTime = p.lastHeartbeatTime;
      if (has('lastEventTime')) d.lastEventTime = p.lastEventTime;
      if (has('lastStateTime')) d.lastStateTime = p.lastStateTime;
      if (has('lastConfigAckTime')) d.lastConfigAckTime = p.lastConfigAckTime;
      if (has('lastConfigSendTime')) d.lastConfigSendTime = p.lastConfigSendTime;
      if (has('lastErrorTime')) d.lastErrorTime = p.lastErrorTime;
      if (has('lastErrorStatus')) {
        d.lastErrorStatus = p.lastErrorStatus
          ? { code: p.lastErrorStatus.code, message: p.lastErrorStatus.message }
          : undefined;
      }
    }
  }

  async recordGatewayAccess(numId: string, gatewayId: string, at: number): Promise<void> {
    this.assertOpen();
    const g = this.entry(numId).device.gatewayConfig;
    g.lastAccessedGatewayId = gatewayId;
    g.lastAccessedGatewayTime = at;
  }

  async importRegistry(
    input: NewRegistry,
    devices: readonly ImportedDevice[],
    bindings: readonly ImportedBinding[],
    onProgress?: (devicesDone: number) => void,
  ): Promise<ImportResult> {
    this.assertOpen();
    const k = keyOf(input);
    const existing = this.registries.get(k);
    const conflicts: string[] = [];
    if (existing && !sameRegistrySettings(existing.registry, input)) conflicts.push(CONFLICT.registrySettings(input));
    const toCreate: ImportedDevice[] = [];
    // The registry's devices after the import, by ID: what the bindings may name.
    const typeOf = new Map<string, { numId: string; gateway: boolean }>();
    for (const [id, numId] of existing?.byId ?? []) {
      typeOf.set(id, { numId, gateway: isGateway((this.devices.get(numId) as DeviceEntry).device) });
    }
    const given = { numIds: new Set<string>(), ids: new Set<string>() };
    for (const d of devices) {
      if (given.numIds.has(d.numId) || given.ids.has(d.id)) {
        conflicts.push(CONFLICT.duplicate(d.id, d.numId));
        continue;
      }
      given.numIds.add(d.numId);
      given.ids.add(d.id);
      const holder = this.devices.get(d.numId)?.device;
      const storedNumId = existing?.byId.get(d.id);
      if (holder) {
        if (holder.id !== d.id || keyOf(holder.registryKey) !== k) conflicts.push(CONFLICT.numIdTaken(d.id, d.numId, holderName(holder, input)));
        else if (!sameImportedDevice(holder, d)) conflicts.push(CONFLICT.differs(d.id, d.numId));
      } else if (storedNumId !== undefined) {
        conflicts.push(CONFLICT.idTaken(d.id, d.numId, storedNumId));
      } else {
        toCreate.push(d);
        typeOf.set(d.id, { numId: d.numId, gateway: isGateway(d) });
      }
    }
    const pairs: [string, string][] = [];
    for (const b of bindings) {
      const gw = typeOf.get(b.gatewayId);
      const dev = typeOf.get(b.deviceId);
      if (!gw || !dev) conflicts.push(CONFLICT.unknownBindingSide(b.gatewayId, b.deviceId));
      else if (!gw.gateway) conflicts.push(CONFLICT.notGateway(b.gatewayId));
      else if (dev.gateway) conflicts.push(CONFLICT.gatewayAsDevice(b.deviceId));
      else pairs.push([gw.numId, dev.numId]);
    }
    if (conflicts.length > 0) throw importConflicts(input, conflicts);

    // Everything checked: from here on nothing throws, which keeps the import atomic.
    let reg = existing;
    if (!reg) {
      reg = { registry: copyRegistry({ ...input, revision: 1 }), ids: [], byId: new Map(), iam: undefined };
      this.registries.set(k, reg);
    }
    let written = 0;
    for (const d of toCreate) {
      if (++written % 1000 === 0) onProgress?.(written);
      const device = copyDevice({ ...d, registryKey: { project: input.project, location: input.location, registry: input.registry }, revision: 1 });
      const entry: DeviceEntry = { device, configs: [device.config], states: [] };
      if (device.state) entry.states.push({ seq: this.nextStateSeq++, state: device.state });
      this.devices.set(device.numId, entry);
      reg.byId.set(device.id, device.numId);
      // Numbers after every imported numId, so a later createDevice never hands one out again.
      this.nextNumId = Math.max(this.nextNumId, Number(device.numId) + 1);
    }
    if (toCreate.length > 0) reg.ids = [...reg.byId.keys()].sort(compare);
    let bindingsCreated = 0;
    for (const [gw, dev] of pairs) {
      const set = this.devicesOfGateway.get(gw) ?? new Set<string>();
      if (set.has(dev)) continue;
      this.devicesOfGateway.set(gw, set.add(dev));
      this.gatewaysOfDevice.set(dev, (this.gatewaysOfDevice.get(dev) ?? new Set<string>()).add(gw));
      bindingsCreated++;
    }
    return {
      registryCreated: !existing,
      devicesCreated: toCreate.length,
      devicesSkipped: devices.length - toCreate.length,
      bindingsCreated,
      bindingsSkipped: pairs.length - bindingsCreated,
    };
  }

  async bind(gatewayNumId: string, deviceNumId: string, limits: BindLimits): Promise<void> {
    this.assertOpen();
    const gw = this.entry(gatewayNumId).device;
    const dev = this.entry(deviceNumId).device;
    const devices = this.devicesOfGateway.get(gatewayNumId) ?? new Set<string>();
    const gateways = this.gatewaysOfDevice.get(deviceNumId) ?? new Set<string>();
    const party = (d: Device) => ({ id: d.id, gatewayType: d.gatewayConfig.gatewayType, registryKey: d.registryKey });
    const counts = { alreadyBound: devices.has(deviceNumId), devicesOfGateway: devices.size, gatewaysOfDevice: gateways.size };
    if (decideBind(party(gw), party(dev), counts, limits) === 'already-bound') return;
    this.devicesOfGateway.set(gatewayNumId, devices.add(deviceNumId));
    this.gatewaysOfDevice.set(deviceNumId, gateways.add(gatewayNumId));
  }

  async unbind(gatewayNumId: string, deviceNumId: string): Promise<boolean> {
    this.assertOpen();
    this.entry(gatewayNumId);
    this.entry(deviceNumId);
    if (!this.devicesOfGateway.get(gatewayNumId)?.has(deviceNumId)) return false;
    this.unlink(gatewayNumId, deviceNumId);
    return true;
  }

  async isBound(gatewayNumId: string, deviceNumId: string): Promise<boolean> {
    this.assertOpen();
    return this.devicesOfGateway.get(gatewayNumId)?.has(deviceNumId) ?? false;
  }

  async getIamPolicy(key: RegistryKey): Promise<IamPolicy> {
    this.assertOpen();
    const e = this.registries.get(keyOf(key));
    if (!e) throw err.registryNotFound(key);
    return copyIamPolicy(e.iam ?? EMPTY_POLICY);
  }

  async setIamPolicy(key: RegistryKey, policy: Omit<IamPolicy, 'etag'>, expectedEtag: Uint8Array | undefined): Promise<IamPolicy> {
    this.assertOpen();
    const e = this.registries.get(keyOf(key));
    if (!e) throw err.registryNotFound(key);
    e.iam = copyIamPolicy(nextPolicy(e.iam ?? EMPTY_POLICY, policy, expectedEtag));
    return copyIamPolicy(e.iam);
  }

  async getProjectIamPolicy(project: string): Promise<IamPolicy> {
    this.assertOpen();
    return this.iam.getProjectIamPolicy(project);
  }

  async setProjectIamPolicy(project: string, policy: Omit<IamPolicy, 'etag'>, expectedEtag: Uint8Array | undefined): Promise<IamPolicy> {
    this.assertOpen();
    return this.iam.setProjectIamPolicy(project, policy, expectedEtag);
  }

  async createServiceAccount(account: ServiceAccount, projectRoles: readonly string[]): Promise<ServiceAccount> {
    this.assertOpen();
    return this.iam.createServiceAccount(account, projectRoles);
  }

  async getServiceAccount(emailOrUniqueId: string): Promise<ServiceAccount | undefined> {
    this.assertOpen();
    return this.iam.getServiceAccount(emailOrUniqueId);
  }

  async listServiceAccounts(project: string, after: string | undefined, limit: number): Promise<Page<ServiceAccount>> {
    this.assertOpen();
    return this.iam.listServiceAccounts(project, after, limit);
  }

  async deleteServiceAccount(email: string): Promise<void> {
    this.assertOpen();
    this.iam.deleteServiceAccount(email);
  }

  async createServiceAccountKey(key: ServiceAccountKey, maxKeys: number): Promise<ServiceAccountKey> {
    this.assertOpen();
    return this.iam.createServiceAccountKey(key, maxKeys);
  }

  async getServiceAccountKey(keyId: string): Promise<ServiceAccountKey | undefined> {
    this.assertOpen();
    return this.iam.getServiceAccountKey(keyId);
  }

  async listServiceAccountKeys(email: string): Promise<ServiceAccountKey[]> {
    this.assertOpen();
    return this.iam.listServiceAccountKeys(email);
  }

  async setServiceAccountKeyDisabled(keyId: string, disabled: boolean): Promise<ServiceAccountKey> {
    this.assertOpen();
    return this.iam.setServiceAccountKeyDisabled(keyId, disabled);
  }

  async deleteServiceAccountKey(keyId: string): Promise<void> {
    this.assertOpen();
    this.iam.deleteServiceAccountKey(keyId);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private assertOpen(): void {
    if (this.closed) throw err.storeClosed();
  }

  private entry(numId: string): DeviceEntry {
    const e = this.devices.get(numId);
    if (!e) throw err.deviceNotFound(numId);
    return e;
  }

  private unlink(gatewayNumId: string, deviceNumId: string): void {
    const devices = this.devicesOfGateway.get(gatewayNumId);
    devices?.delete(deviceNumId);
    if (devices?.size === 0) this.devicesOfGateway.delete(gatewayNumId);
    const gateways = this.gatewaysOfDevice.get(deviceNumId);
    gateways?.delete(gatewayNumId);
    if (gateways?.size === 0) this.gatewaysOfDevice.delete(deviceNumId);
  }
}

/** The holder of a numId, by its ID, and by its registry too when that is another one. */
const holderName = (holder: Device, importing: RegistryKey): string =>
  keyOf(holder.registryKey) === keyOf(importing) ? holder.id : `${holder.id}" of registry "${registryName(holder.registryKey)}`;

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

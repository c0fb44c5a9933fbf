import { isApiError } from '../domain/errors.js';
import { CONFLICT, isImportableNumId, MAX_IMPORTED_NUM_ID, sameImportedDevice, sameRegistrySettings } from '../domain/fleet-import-rules.js';
import { checkResourceId } from '../domain/ids.js';
import { LIMITS } from '../domain/limits.js';
import {
  NO_ACTIVITY,
  registryName,
  type Device,
  type DeviceState,
  type NewRegistry,
  type Registry,
  type RegistryKey,
} from '../domain/model.js';
import { parseRegistryName } from '../domain/names.js';
import { checkPayloadSize, newGatewayConfig } from '../domain/resource-rules.js';
import { deviceCredentials, deviceMetadata, newRegistryFromMessage } from './device-manager-inputs.js';
import type { DeviceMessage, RegistryMessage } from './device-manager-requests.js';
import type { ImportedBinding, ImportedDevice, ImportResult, KeyInspector, Store } from './ports.js';

/*
 * A fleet import (docs/fleet-format.md): records read from the files (by the JSON adapter, into
 * the request messages of the API) become a plan, checked whole before anything is written, with
 * the same rules as the API's create calls (device-manager-inputs.ts); then each registry is
 * written in one Store.importRegistry transaction.
 */

/** One record of an import file; `where` is `FILE:LINE` (or `FILE[index]` in a JSON array). */
export type FleetRecord =
  | { kind: 'registry'; where: string; msg: RegistryMessage }
  | {
      kind: 'device';
      where: string;
      /** `projects/p/locations/l/registries/r`, from the record, its `name` or the command line. */
      registry: string | undefined;
      msg: DeviceMessage;
      /** config.cloudUpdateTime, which the API's device message does not read. */
      configTime: number | undefined;
      state: DeviceState | undefined;
    }
  | { kind: 'binding'; where: string; registry: string; gatewayId: string; deviceId: string };

export interface FleetProblem {
  where: string;
  field: string | undefined;
  message: string;
}

export interface RegistryPlan {
  registry: NewRegistry;
  /** False when the files only name it and it is taken from the store. */
  inFile: boolean;
  devices: ImportedDevice[];
  bindings: ImportedBinding[];
}

export interface FleetPlan {
  registries: RegistryPlan[];
  problems: FleetProblem[];
  devices: number;
  /**
   * Devices whose record gave no config, or a config without cloudUpdateTime: on a re-run the
   * stored config (or its time) stands, so that such a file stays idempotent (C-IMPORT-CONFIG).
   */
  configUnset: Set<ImportedDevice>;
  configTimeUnset: Set<ImportedDevice>;
}

export interface PlanOptions {
  keys: KeyInspector;
  /** For devices without a config time, and for the progress rate. */
  now: number;
  /** Registries devices name but the files do not define. */
  storedRegistry: (key: RegistryKey) => Promise<Registry | undefined>;
  /** Called every so many records while checking. */
  onRecord?: (done: number) => void;
}

const problemOf = (where: string, e: unknown): FleetProblem =>
  isApiError(e) ? { where, field: e.field, message: e.message } : { where, field: undefined, message: e instanceof Error ? e.message : String(e) };

/** Runs `fn`, recording what it throws as a problem at `where`; undefined then. */
function attempt<T>(problems: FleetProblem[], where: string, fn: () => T): T | undefined {
  try {
    return fn();
  } catch (e) {
    problems.push(problemOf(where, e));
    return undefined;
  }
}

function registryFrom(msg: RegistryMessage, keys: KeyInspector): NewRegistry {
  if (!msg.name) {
    const id = msg.id ? `projects/PROJECT/locations/REGION/registries/${msg.id}` : 'projects/PROJECT/locations/REGION/registries/ID';
    throw new Error(`a registry needs its full name ("name": "${id}")`);
  }
  const key = parseRegistryName(msg.name, 'device_registry.name');
  if (msg.id && msg.id !== key.registry) throw new Error(`device_registry.id "${msg.id}" does not match its name "${msg.name}"`);
  checkResourceId(key.registry, 'device_registry.name', 'registry');
  return newRegistryFromMessage(key, msg, keys);
}

/** A device record to what the store imports, every field checked as createDevice checks it; problems collected. */
function deviceFrom(
  rec: Extract<FleetRecord, { kind: 'device' }>,
  key: RegistryKey,
  opts: PlanOptions,
  problems: FleetProblem[],
): ImportedDevice | undefined {
  const { msg, where } = rec;
  const before = problems.length;
  const id = attempt(problems, where, () => checkResourceId(msg.id, 'device.id', 'device'));
  const numId = attempt(problems, where, () => {
    if (msg.numId === undefined) throw new Error("device.num_id is required: an import keeps every device's numId");
    if (!isImportableNumId(msg.numId)) {
      throw new Error(`device.num_id ${msg.numId} is out of range (1 to ${MAX_IMPORTED_NUM_ID}, so that devices created later still get numIds)`);
    }
    return msg.numId;
  });
  if (msg.name && id !== undefined && numId !== undefined) {
    const base = `${registryName(key)}/devices/`;
    if (msg.name !== base + id && msg.name !== base + numId) {
      problems.push({ where, field: 'device.name', message: `device.name "${msg.name}" is not ${base}${id} or ${base}${numId}` });
    }
  }
  const credentials = attempt(problems, where, () => deviceCredentials(msg.credentials, opts.keys));
  const metadata = attempt(problems, where, () => deviceMetadata(msg.metadata));
  const data = msg.config?.binaryData ?? new Uint8Array(0);
  attempt(problems, where, () => checkPayloadSize(data, LIMITS.maxConfigBytes, 'device.config.binary_data', 'config'));
  if (rec.state) attempt(problems, where, () => checkPayloadSize(rec.state!.binaryData, LIMITS.maxStateBytes, 'device.state.binary_data', 'state'));
  if (problems.length > before || id === undefined || numId === undefined || !credentials || !metadata) return undefined;
  const type = msg.gatewayConfig?.gatewayType;
  return {
    registryKey: key,
    id,
    numId,
    credentials,
    blocked: msg.blocked ?? false,
    logLevel: msg.logLevel ?? 'LOG_LEVEL_UNSPECIFIED',
    metadata,
    gatewayConfig: newGatewayConfig(type, msg.gatewayConfig?.gatewayAuthMethod),
    // docs/compat.md C-IMPORT-CONFIG: the latest version as given; a device without one gets version 1.
    config: {
      version: msg.config?.version && msg.config.version > 0 ? msg.config.version : 1,
      cloudUpdateTime: rec.configTime ?? opts.now,
      deviceAckTime: undefined,
      binaryData: data,
    },
    state: rec.state,
    ...NO_ACTIVITY,
  };
}

/**
 * Every record checked, alone and against the others (IDs and numIds given twice, bindings naming
 * devices the files do not hold); `problems` lists everything wrong. Nothing is read from the store
 * but the registries that devices name and the files do not define.
 */
export async function planImport(records: readonly FleetRecord[], opts: PlanOptions): Promise<FleetPlan> {
  const problems: FleetProblem[] = [];
  const plans = new Map<string, RegistryPlan>();
  const registryWhere = new Map<string, string>();
  /** Registries of the files refused for problems of their own. */
  const refused = new Set<string>();
  let done = 0;
  const tick = (): void => {
    if (++done % 1000 === 0) opts.onRecord?.(done);
  };

  for (const rec of records) {
    if (rec.kind !== 'registry') continue;
    tick();
    const registry = attempt(problems, rec.where, () => registryFrom(rec.msg, opts.keys));
    if (!registry) {
      // Its devices are not reported again as naming an unknown registry.
      const named = attempt([], rec.where, () => registryName(parseRegistryName(rec.msg.name ?? '', 'name')));
      if (named !== undefined) refused.add(named);
      continue;
    }
    const name = registryName(registry);
    const earlier = plans.get(name);
    if (earlier) {
      if (!sameRegistrySettings(earlier.registry, registry)) {
        problems.push({ where: rec.where, field: 'device_registry.name', message: `registry ${name} is given twice with different settings (first at ${registryWhere.get(name)})` });
      }
      continue;
    }
    plans.set(name, { registry, inFile: true, devices: [], bindings: [] });
    registryWhere.set(name, rec.where);
  }

  const missing = new Set<string>();
  const planFor = async (where: string, name: string | undefined, field: string): Promise<RegistryPlan | undefined> => {
    if (name === undefined) {
      problems.push({ where, field, message: 'the device names no registry: give "registry" (or a full "name"), or --registry for a gcloud/API list' });
      return undefined;
    }
    let key: RegistryKey;
    try {
      key = parseRegistryName(name, field);
    } catch (e) {
      problems.push(problemOf(where, e));
      return undefined;
    }
    const canonical = registryName(key);
    let plan = plans.get(canonical);
    if (!plan) {
      const stored = refused.has(canonical) ? undefined : await opts.storedRegistry(key);
      if (!stored) {
        if (!refused.has(canonical)) {
          problems.push({ where, field, message: `registry ${canonical} is neither in the files nor in the data directory` });
        }
        // Recorded once: later records of the same registry add nothing new.
        plan = { registry: { ...key } as NewRegistry, inFile: refused.has(canonical), devices: [], bindings: [] };
        plans.set(canonical, plan);
        missing.add(canonical);
        return plan;
      }
      const { revision: _revision, ...registry } = stored;
      plan = { registry, inFile: false, devices: [], bindings: [] };
      plans.set(canonical, plan);
    }
    // A registry that is refused or missing still gets its devices checked: every problem at once.
    return plan;
  };

  const numIdWhere = new Map<string, string>();
  const idWhere = new Map<string, string>();
  const byId = new Map<string, ImportedDevice>();
  const configUnset = new Set<ImportedDevice>();
  const configTimeUnset = new Set<ImportedDevice>();
  for (const rec of records) {
    if (rec.kind !== 'device') continue;
    tick();
    const plan = await planFor(rec.where, rec.registry, 'registry');
    if (!plan) continue;
    const device = deviceFrom(rec, plan.registry, opts, problems);
    if (!device) continue;
    const firstNum = numIdWhere.get(device.numId);
    const idKey = `${registryName(plan.registry)}/${device.id}`;
    const firstId = idWhere.get(idKey);
    if (firstNum !== undefined) {
      problems.push({ where: rec.where, field: 'device.num_id', message: `numId ${device.numId} (device "${device.id}") is given twice (first at ${firstNum})` });
    }
    if (firstId !== undefined) {
      problems.push({ where: rec.where, field: 'device.id', message: `device "${device.id}" is given twice in ${registryName(plan.registry)} (first at ${firstId})` });
    }
    if (firstNum !== undefined || firstId !== undefined) continue;
    numIdWhere.set(device.numId, rec.where);
    idWhere.set(idKey, rec.where);
    plan.devices.push(device);
    byId.set(idKey, device);
    if (!rec.msg.config) configUnset.add(device);
    else if (rec.configTime === undefined) configTimeUnset.add(device);
  }

  const counts = { perGateway: new Map<string, number>(), perDevice: new Map<string, number>() };
  const pairs = new Set<string>();
  for (const rec of records) {
    if (rec.kind !== 'binding') continue;
    tick();
    const plan = await planFor(rec.where, rec.registry, 'registry');
    if (!plan) continue;
    const name = registryName(plan.registry);
    const find = (id: string): ImportedDevice | undefined => byId.get(`${name}/${id}`);
    const gw = find(rec.gatewayId);
    const dev = find(rec.deviceId);
    // A binding may name devices already in the data directory; the store checks those.
    if (plan.inFile && (!gw || !dev)) {
      const absent = !gw ? rec.gatewayId : rec.deviceId;
      problems.push({ where: rec.where, field: !gw ? 'gatewayId' : 'deviceId', message: `device "${absent}" is not in ${name} in the files` });
      continue;
    }
    if (gw && gw.gatewayConfig.gatewayType !== 'GATEWAY') {
      problems.push({ where: rec.where, field: 'gatewayId', message: CONFLICT.notGateway(rec.gatewayId) });
      continue;
    }
    if (dev && dev.gatewayConfig.gatewayType === 'GATEWAY') {
      problems.push({ where: rec.where, field: 'deviceId', message: CONFLICT.gatewayAsDevice(rec.deviceId) });
      continue;
    }
    const pair = `${name}/${rec.gatewayId}/${rec.deviceId}`;
    if (pairs.has(pair)) continue;
    pairs.add(pair);
    const g = (counts.perGateway.get(`${name}/${rec.gatewayId}`) ?? 0) + 1;
    const d = (counts.perDevice.get(`${name}/${rec.deviceId}`) ?? 0) + 1;
    counts.perGateway.set(`${name}/${rec.gatewayId}`, g);
    counts.perDevice.set(`${name}/${rec.deviceId}`, d);
    if (g === LIMITS.maxDevicesPerGateway + 1) {
      problems.push({ where: rec.where, field: 'gatewayId', message: `gateway "${rec.gatewayId}" would have more than ${LIMITS.maxDevicesPerGateway} bound devices` });
    }
    if (d === LIMITS.maxGatewaysPerDevice + 1) {
      problems.push({ where: rec.where, field: 'deviceId', message: `device "${rec.deviceId}" would be bound to more than ${LIMITS.maxGatewaysPerDevice} gateways` });
    }
    plan.bindings.push({ gatewayId: rec.gatewayId, deviceId: rec.deviceId });
  }

  const registries = [...plans.entries()].filter(([name]) => !missing.has(name)).map(([, p]) => p);
  return { registries, problems, devices: registries.reduce((n, p) => n + p.devices.length, 0), configUnset, configTimeUnset };
}

/** What the store holds of a plan: its conflicts, and what an import would leave as it is. */
export interface StoreComparison {
  problems: FleetProblem[];
  /** Registries of the plan that exist already. */
  registriesStored: number;
  /** Devices stored with the same numId, ID and content: an import skips them. */
  devicesUnchanged: number;
}

/**
 * What the store would refuse, for every registry at once (and the stored config adopted where the
 * files give none, see FleetPlan.configUnset), so that one conflict anywhere leaves
 * every registry unwritten (the store checks again inside each transaction, which is what counts).
 */
export async function conflictsWithStore(store: Store, plan: FleetPlan, onDevice?: (done: number) => void): Promise<StoreComparison> {
  const result: StoreComparison = { problems: [], registriesStored: 0, devicesUnchanged: 0 };
  const { problems } = result;
  // An empty data directory holds nothing to conflict with (the usual first import).
  if ((await store.listAllRegistries(undefined, 1)).items.length === 0) return result;
  let done = 0;
  for (const p of plan.registries) {
    const where = registryName(p.registry);
    const stored = await store.getRegistry(p.registry);
    if (stored) result.registriesStored++;
    if (stored && p.inFile && !sameRegistrySettings(stored, p.registry)) {
      problems.push({ where, field: undefined, message: CONFLICT.registrySettings(p.registry) });
    }
    // The registry's stored devices a page at a time, rather than a lookup per device (a re-run).
    const own = new Map<string, Device>();
    const numIdOfId = new Map<string, string>();
    for (let after: string | undefined; stored; ) {
      const page = await store.listDevices(p.registry, {}, after, 1000);
      for (const d of page.items) {
        own.set(d.numId, d);
        numIdOfId.set(d.id, d.numId);
      }
      if (page.next === undefined) break;
      after = page.next;
    }
    for (const d of p.devices) {
      if (++done % 1000 === 0) onDevice?.(done);
      const holder = own.get(d.numId) ?? (await store.getDeviceByNumId(d.numId));
      if (holder && holder.id === d.id && registryName(holder.registryKey) === where) {
        if (plan.configUnset.has(d)) d.config = holder.config;
        else if (plan.configTimeUnset.has(d)) d.config.cloudUpdateTime = holder.config.cloudUpdateTime;
      }
      if (holder) {
        if (holder.id !== d.id || registryName(holder.registryKey) !== where) {
          problems.push({ where, field: undefined, message: CONFLICT.numIdTaken(d.id, d.numId, `${holder.id}" of registry "${registryName(holder.registryKey)}`) });
        } else if (!sameImportedDevice(holder, d)) {
          problems.push({ where, field: undefined, message: CONFLICT.differs(d.id, d.numId) });
        } else result.devicesUnchanged++;
        continue;
      }
      const storedNumId = numIdOfId.get(d.id);
      if (storedNumId !== undefined) problems.push({ where, field: undefined, message: CONFLICT.idTaken(d.id, d.numId, storedNumId) });
    }
  }
  return result;
}

export interface RegistryOutcome extends ImportResult {
  name: string;
}

/** Writes the plan, one transaction per registry, in file order. */
export async function runImport(
  store: Store,
  plan: FleetPlan,
  onRegistry?: (outcome: RegistryOutcome, devicesDone: number) => void,
  onDevices?: (devicesDone: number) => void,
): Promise<RegistryOutcome[]> {
  const outcomes: RegistryOutcome[] = [];
  let devicesDone = 0;
  for (const p of plan.registries) {
    const before = devicesDone;
    const result = await store.importRegistry(p.registry, p.devices, p.bindings, (n) => onDevices?.(before + n));
    devicesDone += p.devices.length;
    const outcome = { name: registryName(p.registry), ...result };
    outcomes.push(outcome);
    onRegistry?.(outcome, devicesDone);
  }
  return outcomes;
}

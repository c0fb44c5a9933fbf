import { echo, ECHO_MAX_PATH_CHARS } from '../domain/echo.js';
import { retryOnConflict } from './conflict-retry.js';
import { ApiError, invalidArgument, notFound } from '../domain/errors.js';
import { notificationTopics } from '../domain/event-routing.js';
import { checkReadMask, DEVICE_FIELDS, parseDeviceUpdateMask, parseMask, parseRegistryUpdateMask } from '../domain/field-mask.js';
import { checkCommandSubfolder, checkResourceId } from '../domain/ids.js';
import { LIMITS } from '../domain/limits.js';
import {
  NO_ACTIVITY,
  registryName,
  type Device,
  type DeviceConfig,
  type DeviceCredential,
  type DeviceState,
  type IamPolicy,
  type Registry,
  type RegistryKey,
} from '../domain/model.js';
import { parseDeviceName, parseLocationName, parseRegistryName, type DeviceRef } from '../domain/names.js';
import { checkPageSize, decodePageToken, encodePageToken } from '../domain/page-token.js';
import { isKnownPermission, PERMISSIONS, type DeviceManagerMethod } from '../domain/permissions.js';
import { checkPayloadSize, credentialNotVerified, isX509Format, newCredentialIndexes, newGatewayConfig } from '../domain/resource-rules.js';
import type { ApiAuth, Principal } from './api-auth.js';
import type { CommandSender } from './command-sender.js';
import { applyRegistryFields, checkDeviceIdentity, deviceCredentials, deviceMetadata, newRegistryFromMessage, policyFrom } from './device-manager-inputs.js';
import type {
  BindingRequest,
  CreateDeviceRegistryRequest,
  CreateDeviceRequest,
  DeviceConnection,
  DeviceConnectionsRequest,
  DeviceList,
  DeviceView,
  GetDeviceRequest,
  GetIamPolicyRequest,
  ListConfigVersionsRequest,
  ListDeviceRegistriesRequest,
  ListDevicesRequest,
  ListStatesRequest,
  ModifyConfigRequest,
  NameRequest,
  RegistryList,
  SendCommandRequest,
  SetIamPolicyRequest,
  TestIamPermissionsRequest,
  UpdateDeviceRegistryRequest,
  UpdateDeviceRequest,
} from './device-manager-requests.js';
import type { GatewayErrorRecord } from './gateway-error-history.js';
import type { Bus, BusEvent, Clock, DeviceListFilter, GatewayErrorSource, KeyInspector, Presence, Store } from './ports.js';

/** What creates the Pub/Sub topics registries route to (PubSubAdmin). */
export interface TopicProvisioner {
  /** Creates those of `names` that do not exist; INVALID_ARGUMENT for a name Pub/Sub refuses. */
  ensureTopics(names: readonly string[]): Promise<void>;
}

/** Fields every listed device shows whatever the mask (docs/compat.md C-LIST-PROJECTION). */
const LISTED_ALWAYS = ['id', 'name', 'numId'] as const;

/**
 * The Device Manager (spec §3) for every edge: requests arrive decoded from their wire but not
 * validated; this service authorizes the caller, validates every field (naming it), applies
 * defaults and the field masks, and runs the use case over the Store port. Edges only translate.
 */
export class DeviceAdmin {
  constructor(
    private readonly store: Store,
    private readonly keys: KeyInspector,
    private readonly clock: Clock,
    /** Told of changes live sessions must follow, after the store has committed them. */
    private readonly bus: Pick<Bus, 'publish'>,
    private readonly commands: CommandSender,
    private readonly auth: Pick<ApiAuth, 'authorize' | 'allowed'>,
    /**
     * Creates the Pub/Sub topics a registry names that do not exist yet (docs/compat.md
     * C-PS-AUTO-TOPICS); absent when pubsubAutoCreateTopics is off.
     */
    private readonly topics?: TopicProvisioner,
    /** Live connection state (docs/compat.md C-CONSOLE-CONNECTION); absent: every device reads as offline. */
    private readonly presence?: Presence,
    /** Gateways' errors-topic messages (docs/compat.md C-CONSOLE-GATEWAY-ERRORS); absent: none are known. */
    private readonly gatewayErrors?: GatewayErrorSource,
  ) {}

  // ---- registries ----

  async createDeviceRegistry(caller: Principal, req: CreateDeviceRegistryRequest): Promise<Registry> {
    const parent = parseLocationName(req.parent ?? '', 'parent');
    await this.authorize(caller, 'createDeviceRegistry', req.parent!);
    const msg = req.deviceRegistry ?? {};
    // Spec §3.3: the server derives the name; one given is refused, as for devices.
    if (msg.name) throw invalidArgument('device_registry.name', 'device_registry.name must be empty when creating a registry.');
    const id = checkResourceId(msg.id, 'device_registry.id', 'registry');
    const registry = newRegistryFromMessage({ ...parent, registry: id }, msg, this.keys);
    await this.checkForeignTopics(caller, registry, undefined);
    // Before the registry: a registry whose topics could not be made must not exist half-routed.
    await this.topics?.ensureTopics(notificationTopics(registry));
    return this.store.createRegistry(registry);
  }

  async getDeviceRegistry(caller: Principal, req: NameRequest): Promise<Registry> {
    const key = await this.registryTarget(caller, 'getDeviceRegistry', req.name);
    return this.requireRegistry(key);
  }

  async listDeviceRegistries(caller: Principal, req: ListDeviceRegistriesRequest): Promise<RegistryList> {
    const parent = parseLocationName(req.parent ?? '', 'parent');
    await this.authorize(caller, 'listDeviceRegistries', req.parent!);
    const limit = checkPageSize(req.pageSize ?? 0, LIMITS.maxPageSize, LIMITS.defaultPageSize);
    const page = await this.store.listRegistries(parent.project, parent.location, decodePageToken(req.pageToken), limit);
    return { deviceRegistries: page.items, nextPageToken: page.next === undefined ? '' : encodePageToken(page.next) };
  }

  async updateDeviceRegistry(caller: Principal, req: UpdateDeviceRegistryRequest): Promise<Registry> {
    const key = await this.registryTarget(caller, 'updateDeviceRegistry', req.name ?? req.deviceRegistry?.name, 'device_registry.name');
    const msg = req.deviceRegistry ?? {};
    if (msg.id) throw invalidArgument('device_registry.id', 'device_registry.id must be empty in an update; the name identifies the registry.');
    const mask = parseRegistryUpdateMask(req.updateMask);
    const updated = await retryOnConflict(async () => {
      const registry = await this.requireRegistry(key);
      checkExpectedRevision('registry', registry.revision, req.expectedRevision);
      const topicsBefore = notificationTopics(registry);
      applyRegistryFields(registry, msg, mask, this.keys);
      if (mask.has('eventNotificationConfigs') || mask.has('stateNotificationConfig')) {
        await this.checkForeignTopics(caller, registry, topicsBefore);
        await this.topics?.ensureTopics(notificationTopics(registry));
      }
      return this.store.updateRegistry(registry);
    });
    this.announce({ type: 'registry-changed', registryName: registryName(key) });
    return updated;
  }

  async deleteDeviceRegistry(caller: Principal, req: NameRequest): Promise<void> {
    const key = await this.registryTarget(caller, 'deleteDeviceRegistry', req.name);
    await this.store.deleteRegistry(key);
    this.announce({ type: 'registry-changed', registryName: registryName(key) });
  }

  // ---- devices ----

  async createDevice(caller: Principal, req: CreateDeviceRequest): Promise<Device> {
    const key = await this.registryTarget(caller, 'createDevice', req.parent, 'parent');
    const msg = req.device ?? {};
    checkDeviceIdentity(msg, true);
    const id = checkResourceId(msg.id, 'device.id', 'device');
    const registry = await this.requireRegistry(key);
    const now = this.clock.now();
    const credentials = deviceCredentials(msg.credentials, this.keys);
    this.checkAgainstRegistryCa(registry, credentials, [], now);
    const metadata = deviceMetadata(msg.metadata);
    let data: Uint8Array = new Uint8Array(0);
    if (msg.config) {
      if ((msg.config.version ?? 0) !== 0) {
        throw invalidArgument('device.config.version', 'device.config.version must be 0 (unset) when creating a device.');
      }
      data = msg.config.binaryData ?? data;
      checkPayloadSize(data, LIMITS.maxConfigBytes, 'device.config.binary_data', 'config');
    }
    const type = msg.gatewayConfig?.gatewayType;
    return this.store.createDevice({
      registryKey: key,
      id,
      credentials,
      blocked: msg.blocked ?? false,
      logLevel: msg.logLevel ?? 'LOG_LEVEL_UNSPECIFIED',
      metadata,
      gatewayConfig: newGatewayConfig(type, msg.gatewayConfig?.gatewayAuthMethod),
      config: { version: 1, cloudUpdateTime: now, deviceAckTime: undefined, binaryData: data },
      state: undefined,
      ...NO_ACTIVITY,
    });
  }

  async getDevice(caller: Principal, req: GetDeviceRequest): Promise<DeviceView> {
    const ref = await this.deviceTarget(caller, 'getDevice', req.name);
    const fields = parseMask(req.fieldMask);
    checkReadMask(fields, DEVICE_FIELDS, 'field_mask');
    return { device: await this.requireDevice(ref), fields: fields.length ? fields : undefined };
  }

  async listDevices(caller: Principal, req: ListDevicesRequest): Promise<DeviceList> {
    const key = await this.registryTarget(caller, 'listDevices', req.parent, 'parent');
    const fields = parseMask(req.fieldMask);
    checkReadMask(fields, DEVICE_FIELDS, 'field_mask');
    const limit = checkPageSize(req.pageSize ?? 0, LIMITS.maxPageSize, LIMITS.defaultPageSize);
    const after = decodePageToken(req.pageToken);
    const filter = await this.deviceFilter(key, req);
    const shown = [...LISTED_ALWAYS, ...fields];
    if (filter === undefined) return { devices: [], fields: shown, nextPageToken: '' };
    const page = await this.store.listDevices(key, filter, after, limit);
    return { devices: page.items, fields: shown, nextPageToken: page.next === undefined ? '' : encodePageToken(page.next) };
  }

  /** The store filter of a list request; undefined when it can match nothing (an unknown gateway). */
  private async deviceFilter(key: RegistryKey, req: ListDevicesRequest): Promise<DeviceListFilter | undefined> {
    await this.requireRegistry(key);
    const filter: DeviceListFilter = {};
    for (const [name, list] of [
      ['device_ids', req.deviceIds],
      ['device_num_ids', req.deviceNumIds],
    ] as const) {
      if (list && list.length > LIMITS.maxListFilterEntries) {
        throw invalidArgument(name, `At most ${LIMITS.maxListFilterEntries} entries are allowed in ${name}.`);
      }
    }
    if (req.deviceIds?.length) filter.deviceIds = req.deviceIds;
    if (req.deviceIdPrefix) filter.idPrefix = checkIdPrefix(req.deviceIdPrefix);
    if (req.blocked !== undefined) filter.blocked = req.blocked;
    if (req.deviceNumIds?.length) filter.deviceNumIds = req.deviceNumIds;
    const o = req.gatewayListOptions ?? {};
    const gatewayType = o.gatewayType === 'GATEWAY_TYPE_UNSPECIFIED' ? undefined : o.gatewayType;
    const chosen = [gatewayType, o.associationsGatewayId, o.associationsDeviceId].filter((v) => v !== undefined && v !== '');
    if (chosen.length > 1) {
      throw invalidArgument('gateway_list_options', 'Only one of gateway_type, associations_gateway_id and associations_device_id may be set.');
    }
    if (gatewayType) filter.gatewayType = gatewayType;
    if (o.associationsGatewayId) {
      const gw = await this.store.getDevice(key, o.associationsGatewayId);
      if (!gw) return undefined;
      filter.boundToGateway = gw.numId;
    }
    if (o.associationsDeviceId) {
      const dev = await this.store.getDevice(key, o.associationsDeviceId);
      if (!dev) return undefined;
      filter.gatewaysOfDevice = dev.numId;
    }
    return filter;
  }

  /**
   * Bridgehead's extension (docs/compat.md C-CONSOLE-CONNECTION): whether each named device (at
   * most a page's worth) has a live session now, and through which gateway. Unknown IDs are left out.
   */
  async getDeviceConnections(caller: Principal, req: DeviceConnectionsRequest): Promise<DeviceConnection[]> {
    const key = await this.registryTarget(caller, 'listDevices', req.parent, 'parent');
    await this.requireRegistry(key);
    const ids = req.deviceIds ?? [];
    if (ids.length === 0) throw invalidArgument('device_ids', 'device_ids must name at least one device.');
    if (ids.length > LIMITS.maxPageSize) throw invalidArgument('device_ids', `At most ${LIMITS.maxPageSize} entries are allowed in device_ids.`);
    const page = await this.store.listDevices(key, { deviceIds: ids }, undefined, ids.length);
    const gateways = new Map<string, string | undefined>();
    const out: DeviceConnection[] = [];
    for (const d of page.items) {
      const connected = this.presence?.isConnected(d.numId) ?? false;
      const through = connected ? this.presence?.attachedThrough(d.numId) : undefined;
      let gatewayId: string | undefined;
      if (through !== undefined) {
        if (!gateways.has(through)) gateways.set(through, (await this.store.getDeviceByNumId(through))?.id);
        gatewayId = gateways.get(through);
      }
      out.push({ deviceId: d.id, numId: d.numId, connected, ...(gatewayId === undefined ? {} : { gatewayId }) });
    }
    return out;
  }

  async updateDevice(caller: Principal, req: UpdateDeviceRequest): Promise<Device> {
    const ref = await this.deviceTarget(caller, 'updateDevice', req.name ?? req.device?.name, 'device.name');
    const msg = req.device ?? {};
    checkDeviceIdentity(msg, false);
    const mask = parseDeviceUpdateMask(req.updateMask);
    const credentials = mask.has('credentials') ? deviceCredentials(msg.credentials, this.keys) : undefined;
    const metadata = mask.has('metadata') ? deviceMetadata(msg.metadata) : undefined;
    return retryOnConflict(async () => {
      const device = await this.requireDevice(ref);
      checkExpectedRevision('device', device.revision, req.expectedRevision);
      const wasBlocked = device.blocked;
      if (credentials) {
        const registry = await this.requireRegistry(ref.registryKey);
        this.checkAgainstRegistryCa(registry, credentials, device.credentials, this.clock.now());
        device.credentials = credentials;
      }
      if (mask.has('blocked')) device.blocked = msg.blocked ?? false;
      if (mask.has('logLevel')) device.logLevel = msg.logLevel ?? 'LOG_LEVEL_UNSPECIFIED';
      if (metadata) device.metadata = metadata;
      if (mask.has('gatewayConfig.gatewayAuthMethod')) {
        device.gatewayConfig.gatewayAuthMethod = msg.gatewayConfig?.gatewayAuthMethod ?? 'GATEWAY_AUTH_METHOD_UNSPECIFIED';
      }
      // Conditional on the revision read above: a concurrent update of another field is re-read
      // and kept, never overwritten with this request's stale copy.
      const saved = await this.store.updateDevice(device);
      if (saved.blocked && !wasBlocked) this.announce({ type: 'device-blocked', numId: saved.numId });
      else if (credentials) this.announce({ type: 'device-credentials-changed', numId: saved.numId });
      return saved;
    });
  }

  async deleteDevice(caller: Principal, req: NameRequest): Promise<void> {
    const ref = await this.deviceTarget(caller, 'deleteDevice', req.name);
    const device = await this.requireDevice(ref);
    await this.store.deleteDevice(device.numId);
    this.announce({ type: 'device-deleted', numId: device.numId });
  }

  /** docs/compat.md C-CRED-CA: new credentials of a registry with CA certificates must chain to one. */
  private checkAgainstRegistryCa(registry: Registry, next: DeviceCredential[], previous: DeviceCredential[], now: number): void {
    if (registry.credentials.length === 0) return;
    for (const i of newCredentialIndexes(next, previous)) {
      const cred = next[i]!;
      if (!isX509Format(cred.format)) {
        throw credentialNotVerified(i, 'the registry has CA certificates, so device credentials must be X.509 certificates');
      }
      if (registry.credentials.some((rc) => rc.certificate.trim() === cred.key.trim())) {
        throw credentialNotVerified(i, 'a device credential must differ from the registry certificates');
      }
      if (!registry.credentials.some((rc) => this.keys.isSignedBy(cred.key, rc.certificate, now))) {
        throw credentialNotVerified(i, 'its signature does not verify with any valid registry certificate');
      }
    }
  }

  // ---- config, state, commands ----

  async modifyCloudToDeviceConfig(caller: Principal, req: ModifyConfigRequest): Promise<DeviceConfig> {
    const ref = await this.deviceTarget(caller, 'modifyCloudToDeviceConfig', req.name);
    // docs/compat.md C-CONFIG-EMPTY: required, but may be empty.
    if (req.binaryData === undefined) throw invalidArgument('binary_data', 'binary_data is required.', 'REQUIRED_FIELD');
    checkPayloadSize(req.binaryData, LIMITS.maxConfigBytes, 'binary_data', 'config');
    const versionToUpdate = req.versionToUpdate ?? 0;
    if (!Number.isSafeInteger(versionToUpdate) || versionToUpdate < 0) {
      throw invalidArgument('version_to_update', 'version_to_update must be a non-negative integer.');
    }
    const device = await this.requireDevice(ref);
    const config = await this.store.modifyConfig(device.numId, {
      versionToUpdate,
      binaryData: req.binaryData,
      at: this.clock.now(),
      minIntervalMs: LIMITS.configMinIntervalMs,
    });
    this.announce({ type: 'config-updated', numId: device.numId, version: config.version });
    return config;
  }

  async listDeviceConfigVersions(caller: Principal, req: ListConfigVersionsRequest): Promise<DeviceConfig[]> {
    const ref = await this.deviceTarget(caller, 'listDeviceConfigVersions', req.name);
    const n = nonNegative(req.numVersions, 'num_versions');
    return this.store.listConfigVersions((await this.requireDevice(ref)).numId, n);
  }

  async listDeviceStates(caller: Principal, req: ListStatesRequest): Promise<DeviceState[]> {
    const ref = await this.deviceTarget(caller, 'listDeviceStates', req.name);
    const n = nonNegative(req.numStates, 'num_states');
    return this.store.listStates((await this.requireDevice(ref)).numId, n);
  }

  async sendCommandToDevice(caller: Principal, req: SendCommandRequest): Promise<void> {
    const ref = await this.deviceTarget(caller, 'sendCommandToDevice', req.name);
    if (req.binaryData === undefined) throw invalidArgument('binary_data', 'binary_data is required.', 'REQUIRED_FIELD');
    checkPayloadSize(req.binaryData, LIMITS.maxCommandBytes, 'binary_data', 'command');
    const subfolder = req.subfolder ?? '';
    checkCommandSubfolder(subfolder, 'subfolder');
    const device = await this.requireDevice(ref);
    await this.commands.send(device, req.binaryData, subfolder);
  }

  // ---- gateways ----

  /**
   * Bridgehead's extension (docs/compat.md C-CONSOLE-GATEWAY-ERRORS): what the MQTT bridge
   * reported on the gateway's errors topic lately, newest first. Readable by whoever may get the device.
   */
  async getGatewayErrors(caller: Principal, req: NameRequest): Promise<GatewayErrorRecord[]> {
    const device = await this.requireDevice(await this.deviceTarget(caller, 'getDevice', req.name));
    if (device.gatewayConfig.gatewayType !== 'GATEWAY') {
      throw new ApiError('FAILED_PRECONDITION', `Device "${echo(device.id)}" is not a gateway (gateway_config.gateway_type is not GATEWAY).`, {
        field: 'name',
        reason: 'NOT_A_GATEWAY',
      });
    }
    return (await this.gatewayErrors?.gatewayErrors(device.numId)) ?? [];
  }

  async bindDeviceToGateway(caller: Principal, req: BindingRequest): Promise<void> {
    const [gw, dev] = await this.resolvePair(caller, 'bindDeviceToGateway', req);
    if (gw.gatewayConfig.gatewayType !== 'GATEWAY') {
      throw new ApiError('FAILED_PRECONDITION', `Device "${echo(gw.id)}" is not a gateway (gateway_config.gateway_type is not GATEWAY).`, {
        field: 'gateway_id',
        reason: 'NOT_A_GATEWAY',
      });
    }
    await this.store.bind(gw.numId, dev.numId, {
      maxDevicesPerGateway: LIMITS.maxDevicesPerGateway,
      maxGatewaysPerDevice: LIMITS.maxGatewaysPerDevice,
    });
  }

  async unbindDeviceFromGateway(caller: Principal, req: BindingRequest): Promise<void> {
    const [gw, dev] = await this.resolvePair(caller, 'unbindDeviceFromGateway', req);
    // docs/compat.md C-BIND: a pair that is not bound is already what the caller asked for. Only a
    // binding that existed ends attachments: a DEVICE_AUTH_TOKEN_ONLY device attached unbound stays.
    if (await this.store.unbind(gw.numId, dev.numId)) {
      this.announce({ type: 'device-unbound', numId: dev.numId, gatewayNumId: gw.numId });
    }
  }

  private async resolvePair(caller: Principal, method: DeviceManagerMethod, req: BindingRequest): Promise<[Device, Device]> {
    const key = await this.registryTarget(caller, method, req.parent, 'parent');
    if (!req.gatewayId) throw invalidArgument('gateway_id', 'gateway_id is required.', 'REQUIRED_FIELD');
    if (!req.deviceId) throw invalidArgument('device_id', 'device_id is required.', 'REQUIRED_FIELD');
    await this.requireRegistry(key);
    const gw = await this.store.getDevice(key, req.gatewayId);
    if (!gw) throw notFound(`Gateway "${echo(req.gatewayId)}" not found in registry "${echo(registryName(key), ECHO_MAX_PATH_CHARS)}".`, 'DEVICE_NOT_FOUND');
    const dev = await this.store.getDevice(key, req.deviceId);
    if (!dev) throw notFound(`Device "${echo(req.deviceId)}" not found in registry "${echo(registryName(key), ECHO_MAX_PATH_CHARS)}".`, 'DEVICE_NOT_FOUND');
    return [gw, dev];
  }

  // ---- IAM (docs/compat.md C-IAM) ----

  async getIamPolicy(caller: Principal, req: GetIamPolicyRequest): Promise<IamPolicy> {
    const key = await this.registryTarget(caller, 'getIamPolicy', req.resource, 'resource');
    return this.store.getIamPolicy(key);
  }

  async setIamPolicy(caller: Principal, req: SetIamPolicyRequest): Promise<IamPolicy> {
    const key = await this.registryTarget(caller, 'setIamPolicy', req.resource, 'resource');
    const { policy, etag } = policyFrom(req.policy);
    // The etag is compared inside the store's write: of two callers holding one etag, one is ABORTED.
    return this.store.setIamPolicy(key, policy, etag);
  }

  /** The requested permissions the caller holds on an existing registry (spec §3.9). */
  async testIamPermissions(caller: Principal, req: TestIamPermissionsRequest): Promise<string[]> {
    const key = parseRegistryName(req.resource ?? '', 'resource');
    const requested = req.permissions ?? [];
    if (!(await this.store.getRegistry(key))) return [];
    const granted: string[] = [];
    for (const p of requested) {
      if (isKnownPermission(p) && (await this.auth.allowed(caller, p, req.resource!))) granted.push(p);
    }
    return granted;
  }

  // ---- helpers ----

  /**
   * A registry routes its devices' messages into the topics it names. One of another project than
   * the registry's takes pubsub.topics.publish on it, as the caller would need to publish there
   * itself (docs/compat.md C-PS-AUTO-TOPICS); topics of the registry's own project ride on the
   * registry permission, as on Google. Topics the registry named before are not asked again.
   */
  private async checkForeignTopics(caller: Principal, registry: Pick<Registry, 'project' | 'eventNotificationConfigs' | 'stateNotificationConfig'>, before: readonly string[] | undefined): Promise<void> {
    for (const topic of notificationTopics(registry)) {
      if (before?.includes(topic) || topic.startsWith(`projects/${registry.project}/`)) continue;
      await this.auth.authorize(caller, 'pubsub.topics.publish', topic);
    }
  }

  private async authorize(caller: Principal, method: DeviceManagerMethod, resource: string): Promise<void> {
    await this.auth.authorize(caller, PERMISSIONS[method], resource);
  }

  /** Parses a registry name (refused naming `field`) and authorizes the method on it. */
  private async registryTarget(caller: Principal, method: DeviceManagerMethod, name: string | undefined, field = 'name'): Promise<RegistryKey> {
    const key = parseRegistryName(name ?? '', field);
    await this.authorize(caller, method, registryName(key));
    return key;
  }

  /** Parses a device name and authorizes the method on its registry (IAM policies live there). */
  private async deviceTarget(caller: Principal, method: DeviceManagerMethod, name: string | undefined, field = 'name'): Promise<DeviceRef> {
    const ref = parseDeviceName(name ?? '', field);
    await this.authorize(caller, method, registryName(ref.registryKey));
    return ref;
  }

  private async requireRegistry(key: RegistryKey): Promise<Registry> {
    const registry = await this.store.getRegistry(key);
    if (!registry) throw notFound(`Registry "${echo(registryName(key), ECHO_MAX_PATH_CHARS)}" not found.`, 'REGISTRY_NOT_FOUND');
    return registry;
  }

  private async requireDevice(ref: DeviceRef): Promise<Device> {
    const device = await this.store.getDevice(ref.registryKey, ref.device);
    if (!device) {
      const where = echo(registryName(ref.registryKey), ECHO_MAX_PATH_CHARS);
      throw notFound(`Device "${echo(ref.device)}" not found in registry "${where}".`, 'DEVICE_NOT_FOUND');
    }
    return device;
  }

  /** The API call has succeeded whatever happens to the notification; the bus reports its own failures. */
  private announce(event: BusEvent): void {
    this.bus.publish(event).catch(() => undefined);
  }
}

function nonNegative(v: number | undefined, field: string): number {
  const n = v ?? 0;
  if (!Number.isInteger(n) || n < 0) throw invalidArgument(field, `${field} must be a non-negative integer.`);
  return n;
}

/**
 * A write conditional on the caller's read (REST If-Match, docs/compat.md C-DEVICE-ETAG): when
 * the resource moved on, re-applying the change to the newer one is the caller's decision (a
 * credential list edited by index may mean another key now), not ours.
 */
function checkExpectedRevision(what: 'device' | 'registry', revision: number, expected: number | undefined): void {
  if (expected === undefined || revision === expected) return;
  throw new ApiError('ABORTED', `The ${what} changed since it was read (revision ${revision}, expected ${expected}); read it again and retry.`, {
    reason: 'ETAG_MISMATCH',
  });
}

/** A device ID prefix: the characters an ID may hold, so that a prefix that can match nothing is said so. */
function checkIdPrefix(prefix: string): string {
  if (prefix.length > 256 || !/^[a-zA-Z0-9._%+~-]+$/.test(prefix)) {
    throw invalidArgument('device_id_prefix', `device_id_prefix may hold only the characters of a device ID (letters, digits, . _ % + ~ -), at most 256, got ${echo(prefix)}.`);
  }
  return prefix;
}

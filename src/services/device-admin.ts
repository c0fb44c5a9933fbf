import { echo, ECHO_MAX_PATH_CHARS } from '../domain/echo.js';
import { ApiError, invalidArgument, notFound } from '../domain/errors.js';
import { checkResourceId } from '../domain/ids.js';
import { LIMITS } from '../domain/limits.js';
import type {
  Device,
  DeviceConfig,
  DeviceCredential,
  DeviceState,
  EventNotificationConfig,
  GatewayAuthMethod,
  GatewayType,
  HttpState,
  IamPolicy,
  LogLevel,
  MqttState,
  Registry,
  RegistryKey,
} from '../domain/model.js';
import { NO_ACTIVITY, registryName } from '../domain/model.js';
import type { DeviceMutable, RegistryMutable } from '../domain/field-mask.js';
import type { LocationKey } from '../domain/names.js';
import { checkPageSize, decodePageToken, encodePageToken } from '../domain/page-token.js';
import {
  checkDeviceCredentialCount,
  checkEventNotificationConfigs,
  checkMetadata,
  checkPayloadSize,
  credentialNotVerified,
  isX509Format,
  newCredentialIndexes,
} from '../domain/resource-rules.js';
import { checkTopicName } from '../domain/names.js';
import type { Bus, BusEvent, Clock, DeviceListFilter, KeyInspector, Store } from './ports.js';
import type { CommandSender } from './command-sender.js';

/** Registry fields as a request carries them (already type-checked by the edge). */
export interface RegistryInput {
  id?: string;
  eventNotificationConfigs?: EventNotificationConfig[];
  stateNotificationConfig?: { pubsubTopicName: string };
  mqttEnabledState?: MqttState;
  httpEnabledState?: HttpState;
  logLevel?: LogLevel;
  credentials?: { format: string; certificate: string }[];
}

export interface DeviceInput {
  id?: string;
  credentials?: DeviceCredential[];
  blocked?: boolean;
  logLevel?: LogLevel;
  metadata?: Record<string, string>;
  gatewayType?: GatewayType;
  gatewayAuthMethod?: GatewayAuthMethod;
  config?: { version: number; binaryData: Uint8Array };
}

export interface DeviceRefInput {
  registryKey: RegistryKey;
  device: string;
}

export interface ListPage<T> {
  items: T[];
  nextPageToken: string;
}

/**
 * The Device Manager use cases (spec §3) over the Store port. Edges decode requests into the
 * inputs above; this service applies the rules and never sees HTTP or JSON.
 */
export class DeviceAdmin {
  constructor(
    private readonly store: Store,
    private readonly keys: KeyInspector,
    private readonly clock: Clock,
    /** Told of changes live sessions must follow, after the store has committed them. */
    private readonly bus: Pick<Bus, 'publish'>,
    private readonly commands: CommandSender,
  ) {}

  /** The API call has succeeded whatever happens to the notification; the bus reports its own failures. */
  private announce(event: BusEvent): void {
    this.bus.publish(event).catch(() => undefined);
  }

  // ---- registries ----

  async createRegistry(parent: LocationKey, input: RegistryInput): Promise<Registry> {
    const id = checkResourceId(input.id, 'device_registry.id', 'registry');
    const registry: Registry = {
      project: parent.project,
      location: parent.location,
      registry: id,
      eventNotificationConfigs: [],
      stateNotificationConfig: undefined,
      mqttEnabledState: undefined,
      httpEnabledState: undefined,
      logLevel: 'LOG_LEVEL_UNSPECIFIED',
      credentials: [],
    };
    this.applyRegistryFields(registry, input, undefined);
    await this.store.createRegistry(registry);
    return registry;
  }

  async getRegistry(key: RegistryKey): Promise<Registry> {
    const registry = await this.store.getRegistry(key);
    if (!registry) throw notFound(`Registry "${echo(registryName(key), ECHO_MAX_PATH_CHARS)}" not found.`);
    return registry;
  }

  async listRegistries(parent: LocationKey, pageSize: number, pageToken: string | undefined): Promise<ListPage<Registry>> {
    const limit = checkPageSize(pageSize, LIMITS.maxPageSize, LIMITS.defaultPageSize);
    const page = await this.store.listRegistries(parent.project, parent.location, decodePageToken(pageToken), limit);
    return { items: page.items, nextPageToken: page.next === undefined ? '' : encodePageToken(page.next) };
  }

  async updateRegistry(key: RegistryKey, input: RegistryInput, mask: Set<RegistryMutable>): Promise<Registry> {
    if (input.id !== undefined && input.id !== '') {
      throw invalidArgument('device_registry.id', 'device_registry.id must be empty in an update; the name identifies the registry.');
    }
    const registry = await this.getRegistry(key);
    this.applyRegistryFields(registry, input, mask);
    await this.store.updateRegistry(registry);
    this.announce({ type: 'registry-changed', registryName: registryName(key) });
    return registry;
  }

  async deleteRegistry(key: RegistryKey): Promise<void> {
    await this.store.deleteRegistry(key);
    this.announce({ type: 'registry-changed', registryName: registryName(key) });
  }

  private applyRegistryFields(registry: Registry, input: RegistryInput, mask: Set<RegistryMutable> | undefined): void {
    const take = (f: RegistryMutable): boolean => (mask ? mask.has(f) : true);
    if (take('eventNotificationConfigs')) {
      const configs = input.eventNotificationConfigs ?? [];
      checkEventNotificationConfigs(configs, 'device_registry.event_notification_configs');
      registry.eventNotificationConfigs = configs;
    }
    if (take('stateNotificationConfig')) {
      const topic = input.stateNotificationConfig?.pubsubTopicName ?? '';
      if (topic !== '') checkTopicName(topic, 'device_registry.state_notification_config.pubsub_topic_name');
      registry.stateNotificationConfig = topic === '' ? undefined : { pubsubTopicName: topic };
    }
    if (take('mqttConfig')) registry.mqttEnabledState = input.mqttEnabledState;
    if (take('httpConfig')) registry.httpEnabledState = input.httpEnabledState;
    if (take('logLevel')) registry.logLevel = input.logLevel ?? 'LOG_LEVEL_UNSPECIFIED';
    if (take('credentials')) {
      const creds = input.credentials ?? [];
      if (creds.length > LIMITS.maxRegistryCredentials) {
        throw invalidArgument(
          'device_registry.credentials',
          `A registry can have at most ${LIMITS.maxRegistryCredentials} credentials, got ${creds.length}.`,
        );
      }
      registry.credentials = creds.map((c, i) => {
        const field = `device_registry.credentials[${i}].public_key_certificate`;
        if (c.format !== 'X509_CERTIFICATE_PEM') {
          throw invalidArgument(`${field}.format`, `${field}.format must be X509_CERTIFICATE_PEM.`);
        }
        const x509Details = this.keys.inspectCertificate(c.certificate, `${field}.certificate`);
        return { format: 'X509_CERTIFICATE_PEM' as const, certificate: c.certificate, x509Details };
      });
    }
  }

  // ---- devices ----

  async createDevice(key: RegistryKey, input: DeviceInput): Promise<Device> {
    const id = checkResourceId(input.id, 'device.id', 'device');
    const registry = await this.getRegistry(key);
    const now = this.clock.now();
    const credentials = input.credentials ?? [];
    this.checkCredentials(registry, credentials, [], now);
    const metadata = input.metadata ?? {};
    checkMetadata(metadata, 'device.metadata');
    let data: Uint8Array = new Uint8Array(0);
    if (input.config) {
      if (input.config.version !== 0) {
        throw invalidArgument('device.config.version', 'device.config.version must be 0 (unset) when creating a device.');
      }
      checkPayloadSize(input.config.binaryData, LIMITS.maxConfigBytes, 'device.config.binary_data', 'config');
      data = input.config.binaryData;
    }
    return this.store.createDevice({
      registryKey: key,
      id,
      credentials,
      blocked: input.blocked ?? false,
      logLevel: input.logLevel ?? 'LOG_LEVEL_UNSPECIFIED',
      metadata,
      gatewayConfig: {
        // docs/compat.md C-GW-DEFAULT: devices created without a type report NON_GATEWAY.
        gatewayType: input.gatewayType === undefined || input.gatewayType === 'GATEWAY_TYPE_UNSPECIFIED' ? 'NON_GATEWAY' : input.gatewayType,
        gatewayAuthMethod: input.gatewayAuthMethod ?? 'GATEWAY_AUTH_METHOD_UNSPECIFIED',
        lastAccessedGatewayId: undefined,
        lastAccessedGatewayTime: undefined,
      },
      config: { version: 1, cloudUpdateTime: now, deviceAckTime: undefined, binaryData: data },
      state: undefined,
      ...NO_ACTIVITY,
    });
  }

  async getDevice(ref: DeviceRefInput): Promise<Device> {
    const device = await this.store.getDevice(ref.registryKey, ref.device);
    if (!device) {
      throw notFound(`Device "${echo(ref.device)}" not found in registry "${echo(registryName(ref.registryKey), ECHO_MAX_PATH_CHARS)}".`);
    }
    return device;
  }

  async listDevices(key: RegistryKey, filter: DeviceListFilterInput, pageSize: number, pageToken: string | undefined): Promise<ListPage<Device>> {
    const limit = checkPageSize(pageSize, LIMITS.maxPageSize, LIMITS.defaultPageSize);
    const after = decodePageToken(pageToken);
    await this.getRegistry(key);
    const storeFilter: DeviceListFilter = {};
    if (filter.deviceIds?.length) storeFilter.deviceIds = filter.deviceIds;
    if (filter.deviceNumIds?.length) storeFilter.deviceNumIds = filter.deviceNumIds;
    if (filter.gatewayType) storeFilter.gatewayType = filter.gatewayType;
    for (const [name, list] of [
      ['device_ids', filter.deviceIds],
      ['device_num_ids', filter.deviceNumIds],
    ] as const) {
      if (list && list.length > LIMITS.maxListFilterEntries) {
        throw invalidArgument(name, `At most ${LIMITS.maxListFilterEntries} entries are allowed in ${name}.`);
      }
    }
    const chosen = [filter.gatewayType, filter.associationsGatewayId, filter.associationsDeviceId].filter((v) => v !== undefined && v !== '');
    if (chosen.length > 1) {
      throw invalidArgument('gateway_list_options', 'Only one of gateway_type, associations_gateway_id and associations_device_id may be set.');
    }
    if (filter.associationsGatewayId) {
      const gw = await this.store.getDevice(key, filter.associationsGatewayId);
      if (!gw) return { items: [], nextPageToken: '' };
      storeFilter.boundToGateway = gw.numId;
    }
    if (filter.associationsDeviceId) {
      const dev = await this.store.getDevice(key, filter.associationsDeviceId);
      if (!dev) return { items: [], nextPageToken: '' };
      storeFilter.gatewaysOfDevice = dev.numId;
    }
    const page = await this.store.listDevices(key, storeFilter, after, limit);
    return { items: page.items, nextPageToken: page.next === undefined ? '' : encodePageToken(page.next) };
  }

  async updateDevice(ref: DeviceRefInput, input: DeviceInput, mask: Set<DeviceMutable>): Promise<Device> {
    if (input.id !== undefined && input.id !== '') {
      throw invalidArgument('device.id', 'device.id must be empty in an update; the name identifies the device.');
    }
    const device = await this.getDevice(ref);
    const before = { blocked: device.blocked, credentials: device.credentials };
    if (mask.has('credentials')) {
      const credentials = input.credentials ?? [];
      const registry = await this.getRegistry(ref.registryKey);
      this.checkCredentials(registry, credentials, device.credentials, this.clock.now());
      device.credentials = credentials;
    }
    if (mask.has('blocked')) device.blocked = input.blocked ?? false;
    if (mask.has('logLevel')) device.logLevel = input.logLevel ?? 'LOG_LEVEL_UNSPECIFIED';
    if (mask.has('metadata')) {
      const metadata = input.metadata ?? {};
      checkMetadata(metadata, 'device.metadata');
      device.metadata = metadata;
    }
    if (mask.has('gatewayConfig.gatewayAuthMethod')) {
      device.gatewayConfig.gatewayAuthMethod = input.gatewayAuthMethod ?? 'GATEWAY_AUTH_METHOD_UNSPECIFIED';
    }
    await this.store.updateDevice(device);
    if (device.blocked && !before.blocked) this.announce({ type: 'device-blocked', numId: device.numId });
    else if (mask.has('credentials')) this.announce({ type: 'device-credentials-changed', numId: device.numId });
    return device;
  }

  async deleteDevice(ref: DeviceRefInput): Promise<void> {
    const device = await this.getDevice(ref);
    await this.store.deleteDevice(device.numId);
    this.announce({ type: 'device-deleted', numId: device.numId });
  }

  private checkCredentials(registry: Registry, next: DeviceCredential[], previous: DeviceCredential[], now: number): void {
    checkDeviceCredentialCount(next, 'device.credentials');
    next.forEach((c, i) => {
      this.keys.checkDeviceKey(c.format, c.key, `device.credentials[${i}].public_key.key`);
    });
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

  async modifyConfig(ref: DeviceRefInput, versionToUpdate: number, binaryData: Uint8Array): Promise<DeviceConfig> {
    checkPayloadSize(binaryData, LIMITS.maxConfigBytes, 'binary_data', 'config');
    const device = await this.getDevice(ref);
    const config = await this.store.modifyConfig(device.numId, {
      versionToUpdate,
      binaryData,
      at: this.clock.now(),
      minIntervalMs: LIMITS.configMinIntervalMs,
    });
    this.announce({ type: 'config-updated', numId: device.numId, version: config.version });
    return config;
  }

  async listConfigVersions(ref: DeviceRefInput, numVersions: number): Promise<DeviceConfig[]> {
    if (!Number.isInteger(numVersions) || numVersions < 0) throw invalidArgument('num_versions', 'num_versions must be a non-negative integer.');
    const device = await this.getDevice(ref);
    return this.store.listConfigVersions(device.numId, numVersions);
  }

  async listStates(ref: DeviceRefInput, numStates: number): Promise<DeviceState[]> {
    if (!Number.isInteger(numStates) || numStates < 0) throw invalidArgument('num_states', 'num_states must be a non-negative integer.');
    const device = await this.getDevice(ref);
    return this.store.listStates(device.numId, numStates);
  }

  async sendCommand(ref: DeviceRefInput, binaryData: Uint8Array, subfolder: string): Promise<void> {
    checkPayloadSize(binaryData, LIMITS.maxCommandBytes, 'binary_data', 'command');
    const device = await this.getDevice(ref);
    await this.commands.send(device, binaryData, subfolder);
  }

  // ---- gateways ----

  async bind(key: RegistryKey, gatewayId: string, deviceId: string): Promise<void> {
    const [gw, dev] = await this.resolvePair(key, gatewayId, deviceId);
    if (gw.gatewayConfig.gatewayType !== 'GATEWAY') {
      throw new ApiError('FAILED_PRECONDITION', `Device "${gw.id}" is not a gateway (gateway_config.gateway_type is not GATEWAY).`, {
        field: 'gateway_id',
      });
    }
    await this.store.bind(gw.numId, dev.numId, {
      maxDevicesPerGateway: LIMITS.maxDevicesPerGateway,
      maxGatewaysPerDevice: LIMITS.maxGatewaysPerDevice,
    });
  }

  async unbind(key: RegistryKey, gatewayId: string, deviceId: string): Promise<void> {
    const [gw, dev] = await this.resolvePair(key, gatewayId, deviceId);
    await this.store.unbind(gw.numId, dev.numId);
    this.announce({ type: 'device-unbound', numId: dev.numId, gatewayNumId: gw.numId });
  }

  private async resolvePair(key: RegistryKey, gatewayId: string, deviceId: string): Promise<[Device, Device]> {
    if (!gatewayId) throw invalidArgument('gateway_id', 'gateway_id is required.');
    if (!deviceId) throw invalidArgument('device_id', 'device_id is required.');
    await this.getRegistry(key);
    const gw = await this.store.getDevice(key, gatewayId);
    if (!gw) throw notFound(`Gateway "${echo(gatewayId)}" not found in registry "${echo(registryName(key), ECHO_MAX_PATH_CHARS)}".`);
    const dev = await this.store.getDevice(key, deviceId);
    if (!dev) throw notFound(`Device "${echo(deviceId)}" not found in registry "${echo(registryName(key), ECHO_MAX_PATH_CHARS)}".`);
    return [gw, dev];
  }

  // ---- IAM (stored, not enforced: docs/compat.md C-IAM) ----

  async getIamPolicy(key: RegistryKey): Promise<IamPolicy> {
    await this.getRegistry(key);
    return (await this.store.getIamPolicy(key)) ?? { version: 0, bindings: [], etag: new Uint8Array([0x41, 0x43, 0x41, 0x42]) };
  }

  async setIamPolicy(key: RegistryKey, policy: Omit<IamPolicy, 'etag'>, etag: Uint8Array | undefined): Promise<IamPolicy> {
    const current = await this.getIamPolicy(key);
    if (etag && etag.length > 0 && !sameBytes(etag, current.etag)) {
      throw new ApiError('ABORTED', 'The policy was changed since it was read (etag mismatch); read it again and retry.', { field: 'policy.etag' });
    }
    const next: IamPolicy = { ...policy, etag: nextEtag(current.etag) };
    await this.store.setIamPolicy(key, next);
    return next;
  }

  async testIamPermissions(key: RegistryKey, permissions: string[]): Promise<string[]> {
    // Policies are not enforced: a caller holding the admin token holds every permission it asks about.
    const registry = await this.store.getRegistry(key);
    return registry ? permissions.filter((p) => p.startsWith('cloudiot.')) : [];
  }
}

export interface DeviceListFilterInput {
  deviceIds?: string[];
  deviceNumIds?: string[];
  gatewayType?: GatewayType;
  associationsGatewayId?: string;
  associationsDeviceId?: string;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function nextEtag(previous: Uint8Array): Uint8Array {
  // A counter is enough for optimistic concurrency; etags are opaque to clients.
  const view = new DataView(new ArrayBuffer(8));
  const prev = previous.length === 8 ? new DataView(previous.buffer, previous.byteOffset, 8).getBigUint64(0) : 0n;
  view.setBigUint64(0, prev + 1n);
  return new Uint8Array(view.buffer);
}

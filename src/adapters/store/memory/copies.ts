import type { Device, DeviceConfig, DeviceState, IamPolicy, Registry } from '../../../domain/model.js';

/**
 * Deep copies for the memory store. Everything crossing the store boundary is copied so callers can
 * never alias stored state. The copies are built field by field (rather than structuredClone) so the
 * result has exactly the shape the SQLite store rebuilds from rows, including `undefined` keys, and
 * so a Buffer slice of a pooled allocation is copied as its own bytes, not the whole pool.
 */

export const copyBytes = (b: Uint8Array): Uint8Array => new Uint8Array(b);

export const copyConfig = (c: DeviceConfig): DeviceConfig => ({
  version: c.version,
  cloudUpdateTime: c.cloudUpdateTime,
  deviceAckTime: c.deviceAckTime ?? undefined,
  binaryData: copyBytes(c.binaryData),
});

export const copyState = (s: DeviceState): DeviceState => ({
  updateTime: s.updateTime,
  binaryData: copyBytes(s.binaryData),
});

export const copyRegistry = (r: Registry): Registry => ({
  project: r.project,
  location: r.location,
  registry: r.registry,
  revision: r.revision,
  eventNotificationConfigs: r.eventNotificationConfigs.map((c) => ({
    pubsubTopicName: c.pubsubTopicName,
    subfolderMatches: c.subfolderMatches,
  })),
  stateNotificationConfig: r.stateNotificationConfig
    ? { pubsubTopicName: r.stateNotificationConfig.pubsubTopicName }
    : undefined,
  mqttEnabledState: r.mqttEnabledState ?? undefined,
  httpEnabledState: r.httpEnabledState ?? undefined,
  logLevel: r.logLevel,
  credentials: r.credentials.map((c) => ({
    format: c.format,
    certificate: c.certificate,
    x509Details: { ...c.x509Details },
  })),
});

/** The mutable part of a device as updateDevice replaces it. */
export const copyMutable = (d: Device): Pick<Device, 'credentials' | 'blocked' | 'logLevel' | 'metadata'> => ({
  credentials: d.credentials.map((c) => ({ format: c.format, key: c.key, expirationTime: c.expirationTime })),
  blocked: d.blocked,
  logLevel: d.logLevel,
  metadata: { ...d.metadata },
});

export const copyDevice = (d: Device): Device => ({
  registryKey: { project: d.registryKey.project, location: d.registryKey.location, registry: d.registryKey.registry },
  id: d.id,
  numId: d.numId,
  revision: d.revision,
  ...copyMutable(d),
  gatewayConfig: {
    gatewayType: d.gatewayConfig.gatewayType,
    gatewayAuthMethod: d.gatewayConfig.gatewayAuthMethod,
    lastAccessedGatewayId: d.gatewayConfig.lastAccessedGatewayId ?? undefined,
    lastAccessedGatewayTime: d.gatewayConfig.lastAccessedGatewayTime ?? undefined,
  },
  config: copyConfig(d.config),
  state: d.state ? copyState(d.state) : undefined,
  lastHeartbeatTime: d.lastHeartbeatTime ?? undefined,
  lastEventTime: d.lastEventTime ?? undefined,
  lastStateTime: d.lastStateTime ?? undefined,
  lastConfigAckTime: d.lastConfigAckTime ?? undefined,
  lastConfigSendTime: d.lastConfigSendTime ?? undefined,
  lastErrorTime: d.lastErrorTime ?? undefined,
  lastErrorStatus: d.lastErrorStatus
    ? { code: d.lastErrorStatus.code, message: d.lastErrorStatus.message }
    : undefined,
});

/** JSON round trip, like the SQLite store, so optional `undefined` keys vanish the same way in both. */
export const copyIamPolicy = (p: IamPolicy): IamPolicy => ({
  version: p.version,
  bindings: JSON.parse(JSON.stringify(p.bindings)) as IamPolicy['bindings'],
  etag: copyBytes(p.etag),
});

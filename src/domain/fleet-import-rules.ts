import { ApiError } from './errors.js';
import { registryName, type Device, type NewRegistry, type RegistryKey } from './model.js';

/**
 * What a fleet import decides against what a store already holds (docs/compat.md C-IMPORT-*).
 * Pure, so that both stores decide alike inside their own transaction.
 */

/** Conflicts listed in one error before "and N more". */
export const MAX_CONFLICTS_LISTED = 20;

/** The largest numId any store holds: numIds travel as JS numbers, which are exact up to here. */
export const MAX_NUM_ID = Number.MAX_SAFE_INTEGER;

/**
 * The largest numId an import keeps (docs/compat.md C-IMPORT-NUMID). Devices created later get
 * numIds above every imported one, so an import up to MAX_NUM_ID would leave none for them; 2^20
 * stay free. Cloud IoT's numIds (16 digits, below 3·10^15) are far below.
 */
export const MAX_IMPORTED_NUM_ID = 2 ** 53 - 2 ** 20;

/** The numId of an imported device is kept: a positive integer no larger than MAX_IMPORTED_NUM_ID. */
export const isImportableNumId = (s: string): boolean => /^[1-9]\d{0,15}$/.test(s) && Number(s) <= MAX_IMPORTED_NUM_ID;

const json = (v: unknown): string => JSON.stringify(v);

/** The settings an import compares: everything of a registry but its key and revision. */
function registrySettings(r: NewRegistry): unknown {
  return [
    r.eventNotificationConfigs.map((c) => [c.pubsubTopicName, c.subfolderMatches]),
    r.stateNotificationConfig?.pubsubTopicName ?? '',
    r.mqttEnabledState ?? 'MQTT_STATE_UNSPECIFIED',
    r.httpEnabledState ?? 'HTTP_STATE_UNSPECIFIED',
    r.logLevel,
    r.credentials.map((c) => c.certificate),
  ];
}

export const sameRegistrySettings = (stored: NewRegistry, imported: NewRegistry): boolean =>
  json(registrySettings(stored)) === json(registrySettings(imported));

/**
 * The part of a device an import sets. Activity, acknowledgements and gateway access are what the
 * device did since, not what the import says, so a re-run after the server ran still matches.
 */
function importedContent(d: Omit<Device, 'revision'>): unknown {
  return [
    d.id,
    d.numId,
    d.credentials.map((c) => [c.format, c.key, c.expirationTime]),
    d.blocked,
    d.logLevel,
    Object.entries(d.metadata).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    d.gatewayConfig.gatewayType,
    d.gatewayConfig.gatewayAuthMethod,
    d.config.version,
    d.config.cloudUpdateTime,
    Array.from(d.config.binaryData),
  ];
}

export const sameImportedDevice = (stored: Omit<Device, 'revision'>, imported: Omit<Device, 'revision'>): boolean =>
  json(importedContent(stored)) === json(importedContent(imported));

/** One error naming every conflict (capped), so that the operator fixes them all in one go. */
export function importConflicts(key: RegistryKey, conflicts: readonly string[]): ApiError {
  const shown = conflicts.slice(0, MAX_CONFLICTS_LISTED);
  const more = conflicts.length - shown.length;
  return new ApiError(
    'FAILED_PRECONDITION',
    `Import of registry "${registryName(key)}" refused, nothing written: ${shown.join('; ')}${more > 0 ? `; and ${more} more` : ''}.`,
  );
}

/** Conflict texts, shared by both stores so that they name conflicts alike. */
export const CONFLICT = {
  registrySettings: (key: RegistryKey): string =>
    `registry "${registryName(key)}" exists with other settings (delete it or import identical settings)`,
  numIdTaken: (id: string, numId: string, holder: string): string =>
    `device "${id}": numId ${numId} is already used by device "${holder}"`,
  idTaken: (id: string, numId: string, storedNumId: string): string =>
    `device "${id}": numId ${numId} given, but the device exists with numId ${storedNumId}`,
  differs: (id: string, numId: string): string =>
    `device "${id}" (numId ${numId}) exists with other content (changed since the last import?)`,
  duplicate: (id: string, numId: string): string => `device "${id}" (numId ${numId}): given twice`,
  unknownBindingSide: (gatewayId: string, deviceId: string): string =>
    `binding ${gatewayId} -> ${deviceId}: no such device in the registry`,
  notGateway: (gatewayId: string): string => `binding: device "${gatewayId}" is not a gateway`,
  gatewayAsDevice: (deviceId: string): string => `binding: device "${deviceId}" is a gateway and cannot be bound`,
} as const;

import { ApiError, invalidArgument } from './errors.js';
import { checkMetadata, checkSubfolderMatches } from './ids.js';
import { LIMITS } from './limits.js';
import type { DeviceCredential, EventNotificationConfig, GatewayAuthMethod, GatewayConfig, GatewayType, PublicKeyFormat } from './model.js';
import { checkTopicName } from './names.js';

/** Pure checks of registry and device field values (spec §1, §2, §3.3, §3.4). */

export function checkEventNotificationConfigs(configs: readonly EventNotificationConfig[], field: string): void {
  if (configs.length > LIMITS.maxEventNotificationConfigs) {
    throw invalidArgument(field, `At most ${LIMITS.maxEventNotificationConfigs} event notification configs are allowed, got ${configs.length}.`);
  }
  configs.forEach((c, i) => {
    checkTopicName(c.pubsubTopicName, `${field}[${i}].pubsub_topic_name`);
    checkSubfolderMatches(c.subfolderMatches, `${field}[${i}].subfolder_matches`);
  });
}

export function checkDeviceCredentialCount(credentials: readonly DeviceCredential[], field: string): void {
  if (credentials.length > LIMITS.maxDeviceCredentials) {
    throw invalidArgument(field, `A device can have at most ${LIMITS.maxDeviceCredentials} credentials, got ${credentials.length}.`);
  }
}

export const isX509Format = (f: PublicKeyFormat): boolean => f === 'RSA_X509_PEM' || f === 'ES256_X509_PEM';

/** A credential is "new" unless an identical one (same format and key) was already on the device. */
export function newCredentialIndexes(next: readonly DeviceCredential[], previous: readonly DeviceCredential[]): number[] {
  const had = new Set(previous.map((c) => `${c.format}\n${c.key.trim()}`));
  const out: number[] = [];
  next.forEach((c, i) => {
    if (!had.has(`${c.format}\n${c.key.trim()}`)) out.push(i);
  });
  return out;
}

export function credentialNotVerified(index: number, reason: string): ApiError {
  // Observed: PERMISSION_DENIED naming the credential index (spec §3.4).
  return new ApiError(
    'PERMISSION_DENIED',
    `The credential at index ${index} could not be verified against any certificate of the registry: ${reason}.`,
    { field: `device.credentials[${index}]`, reason: 'CREDENTIAL_NOT_VERIFIED' },
  );
}

export function checkPayloadSize(data: Uint8Array, max: number, field: string, what: string): void {
  if (data.byteLength > max) throw invalidArgument(field, `The ${what} is ${data.byteLength} bytes; at most ${max} are allowed.`);
}

export { checkMetadata };

/** A new device's gateway settings; docs/compat.md C-GW-DEFAULT: no type (or UNSPECIFIED) is NON_GATEWAY. */
export function newGatewayConfig(type: GatewayType | undefined, authMethod: GatewayAuthMethod | undefined): GatewayConfig {
  return {
    gatewayType: type === undefined || type === 'GATEWAY_TYPE_UNSPECIFIED' ? 'NON_GATEWAY' : type,
    gatewayAuthMethod: authMethod ?? 'GATEWAY_AUTH_METHOD_UNSPECIFIED',
    lastAccessedGatewayId: undefined,
    lastAccessedGatewayTime: undefined,
  };
}

import type {
  DeviceConfig,
  GatewayAuthMethod,
  GatewayConfig,
  GatewayType,
  NewDevice,
  RegistryKey,
} from '../../src/domain/model.js';
import { NO_ACTIVITY } from '../../src/domain/model.js';

/*
 * Device literals for tests that build devices by hand (store contracts, the MQTT harness, the
 * authenticator, REST JSON). Every optional field is spelled out as an explicit `undefined`, as the
 * stores return them, so deepEqual against a stored device compares like with like.
 */

export type DeviceInput = NewDevice;

/** A device's first config version, written at `cloudUpdateTime` and not yet acknowledged. */
export const configV1 = (cloudUpdateTime: number, binaryData: Uint8Array = new Uint8Array()): DeviceConfig => ({
  version: 1,
  cloudUpdateTime,
  deviceAckTime: undefined,
  binaryData,
});

/** A gateway config never accessed through a gateway. */
export const gatewayConfig = (gatewayType: GatewayType, gatewayAuthMethod: GatewayAuthMethod): GatewayConfig => ({
  gatewayType,
  gatewayAuthMethod,
  lastAccessedGatewayId: undefined,
  lastAccessedGatewayTime: undefined,
});

/**
 * A device as Store.createDevice takes it: no credentials, not blocked, not a gateway, no metadata,
 * config `config`, no state and no activity. `over` replaces whole top-level fields.
 */
export const deviceInput = (
  registryKey: RegistryKey,
  id: string,
  config: DeviceConfig,
  over: Partial<DeviceInput> = {},
): DeviceInput => ({
  registryKey,
  id,
  credentials: [],
  blocked: false,
  logLevel: 'LOG_LEVEL_UNSPECIFIED',
  metadata: {},
  gatewayConfig: gatewayConfig('NON_GATEWAY', 'GATEWAY_AUTH_METHOD_UNSPECIFIED'),
  config,
  state: undefined,
  ...NO_ACTIVITY,
  ...over,
});

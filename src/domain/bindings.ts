import { echo } from './echo.js';
import { ApiError } from './errors.js';
import type { GatewayType, RegistryKey } from './model.js';

/** What the bind rules need to know of each side of a binding. */
export interface BindParty {
  id: string;
  gatewayType: GatewayType;
  registryKey: RegistryKey;
}

/** What the store counts for the pair, read in the same atomic section that writes the binding. */
export interface BindCounts {
  alreadyBound: boolean;
  devicesOfGateway: number;
  gatewaysOfDevice: number;
}

export interface BindLimits {
  maxDevicesPerGateway: number;
  maxGatewaysPerDevice: number;
}

const sameRegistry = (a: RegistryKey, b: RegistryKey): boolean =>
  a.project === b.project && a.location === b.location && a.registry === b.registry;

/**
 * Decides a bindDeviceToGateway (spec §3.9, docs/compat.md C-BIND): throws the refusal, or says
 * whether a new binding row is needed. Pure: every store calls it inside its own atomic section.
 */
export function decideBind(gateway: BindParty, device: BindParty, counts: BindCounts, limits: BindLimits): 'insert' | 'already-bound' {
  if (gateway.gatewayType !== 'GATEWAY') {
    throw new ApiError('FAILED_PRECONDITION', `Device "${echo(gateway.id)}" is not a gateway.`, { reason: 'NOT_A_GATEWAY' });
  }
  if (device.gatewayType === 'GATEWAY') {
    throw new ApiError('FAILED_PRECONDITION', `Device "${echo(device.id)}" is a gateway; a gateway cannot be bound to another gateway.`, {
      reason: 'GATEWAY_AS_DEVICE',
    });
  }
  if (!sameRegistry(gateway.registryKey, device.registryKey)) {
    throw new ApiError('FAILED_PRECONDITION', `Gateway "${echo(gateway.id)}" and device "${echo(device.id)}" are in different registries.`, {
      reason: 'DIFFERENT_REGISTRIES',
    });
  }
  if (counts.alreadyBound) return 'already-bound';
  if (counts.devicesOfGateway >= limits.maxDevicesPerGateway) {
    throw new ApiError('RESOURCE_EXHAUSTED', `Gateway "${echo(gateway.id)}" already has the maximum of ${limits.maxDevicesPerGateway} bound devices.`, {
      reason: 'GATEWAY_FULL',
    });
  }
  if (counts.gatewaysOfDevice >= limits.maxGatewaysPerDevice) {
    throw new ApiError('RESOURCE_EXHAUSTED', `Device "${device.id}" is already bound to the maximum of ${limits.maxGatewaysPerDevice} gateways.`, {
      reason: 'DEVICE_FULL',
    });
  }
  return 'insert';
}

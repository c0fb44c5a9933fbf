import { ApiError } from './errors.js';
import type { DeviceConfig } from './model.js';

/**
 * Decides the next config version (spec §3.5). Pure: the stores call it inside their own atomic
 * section with the latest stored version.
 */
export function nextConfigVersion(
  latest: Pick<DeviceConfig, 'version' | 'cloudUpdateTime'>,
  versionToUpdate: number,
  at: number,
  minIntervalMs: number,
): number {
  if (versionToUpdate !== 0 && versionToUpdate !== latest.version) {
    // docs/compat.md C-CONFIG-STALE (spec U1)
    throw new ApiError(
      'FAILED_PRECONDITION',
      `The config version to update (${versionToUpdate}) does not match the current version (${latest.version}).`,
      { field: 'version_to_update', reason: 'CONFIG_VERSION_MISMATCH' },
    );
  }
  // Version 1 comes from device creation, not from an update: a backend that creates a device
  // and sets its config straight away is not throttled (docs/compat.md C-CONFIG-RATE).
  if (latest.version > 1 && at - latest.cloudUpdateTime < minIntervalMs) {
    // docs/compat.md C-CONFIG-RATE (spec U2): one update per second per device.
    throw new ApiError('RESOURCE_EXHAUSTED', 'Too many config updates for this device: at most one per second.', { reason: 'CONFIG_RATE_EXCEEDED' });
  }
  return latest.version + 1;
}

import type { RegistryKey } from './model.js';
import { parseDeviceName } from './names.js';

/**
 * MQTT client IDs are full device names (spec §5.2):
 * `projects/{p}/locations/{l}/registries/{r}/devices/{d}`; `{d}` may be the numId (docs/compat.md
 * C-MQTT-NUMID).
 */
export function parseClientId(clientId: string): { registryKey: RegistryKey; device: string } | undefined {
  try {
    return parseDeviceName(clientId, 'client_id');
  } catch {
    return undefined;
  }
}

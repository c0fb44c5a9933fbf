import { messageAttributes } from '../../domain/event-routing.js';
import { effectiveLogLevel } from '../../domain/device-log-level.js';
import { registryName, type Device, type Registry } from '../../domain/model.js';
import type { DeviceSlot } from './session-types.js';

/** Rules about one device served by a connection that need nothing but its slot. */

const NO_BYTES = new Uint8Array(0);

/**
 * What a live session keeps of its device: identity and settings, not the payloads, keys and
 * metadata (up to hundreds of KB) that it never reads again; config is re-read from the store
 * whenever it is delivered.
 */
function leanDevice(d: Device): Device {
  return { ...d, credentials: [], metadata: {}, config: { ...d.config, binaryData: NO_BYTES }, state: undefined };
}

export function newSlot(device: Device, registry: Registry, credentialKey: string | undefined): DeviceSlot {
  return {
    device: leanDevice(device),
    registry,
    registryName: registryName(registry),
    attributes: undefined,
    lastStateAt: -Infinity,
    configQos: undefined,
    sentConfigVersion: 0,
    pendingConfig: undefined,
    subscribeDeliveries: 0,
    subscribeReadPending: false,
    commandFilters: undefined,
    credentialKey,
    // Present from the start: every slot keeps one shape for the handlers' property reads.
    meter: undefined,
    sessionCounted: false,
  };
}


/**
 * DEBUG device logging (every publish) is on, given the registry as just looked up: registry
 * level changes apply at once without another lookup per message.
 */
export function debugLogging(slot: DeviceSlot, registry: Registry): boolean {
  return effectiveLogLevel(slot.device, registry) >= 40;
}

/** Sink attributes of the device's messages to `subfolder`, built once per subfolder. */
export function attributesOf(slot: DeviceSlot, subfolder: string): Readonly<Record<string, string>> {
  let a = slot.attributes?.get(subfolder);
  if (!a) {
    const d = slot.device;
    a = Object.freeze(
      messageAttributes(
        { deviceId: d.id, deviceNumId: d.numId, registry: d.registryKey.registry, location: d.registryKey.location, project: d.registryKey.project },
        subfolder,
      ),
    );
    // Bounded: a device inventing subfolders cannot grow this without limit.
    const kept = (slot.attributes ??= new Map());
    if (kept.size < 256) kept.set(subfolder, a);
  }
  return a;
}

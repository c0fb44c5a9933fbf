import { ApiError, invalidArgument } from './errors.js';
import type { DeviceConfig } from './model.js';

/**
 * Rules of the HTTP device bridge (spec §7) that need no I/O: who a request acts for, what
 * getConfig answers, and the per-device request windows.
 */

/** `gatewayInfo` of a request (spec §7.3): a oneof, so at most one of the two is set. */
export interface GatewayInfo {
  gatewayId?: string | undefined;
  delegatedDeviceId?: string | undefined;
}

/**
 * Who a request is for, given that its JWT authenticated the device in its path:
 * - self: that device, for itself;
 * - delegated: the path device is a gateway acting for `deviceId` (the gateway's JWT);
 * - via-gateway: the path device sends through gateway `gatewayId` (the device's own JWT).
 */
export type Delegation =
  | { kind: 'self' }
  | { kind: 'delegated'; deviceId: string }
  | { kind: 'via-gateway'; gatewayId: string };

export function delegationOf(info: GatewayInfo | undefined, pathDeviceId: string): Delegation {
  const gatewayId = info?.gatewayId ?? '';
  const delegated = info?.delegatedDeviceId ?? '';
  if (gatewayId !== '' && delegated !== '') {
    throw invalidArgument('gateway_info', 'gateway_info is a oneof: give gateway_id or delegated_device_id, not both.');
  }
  // A gateway naming itself acts for itself.
  if (delegated !== '' && delegated !== pathDeviceId) return { kind: 'delegated', deviceId: delegated };
  if (gatewayId !== '' && gatewayId !== pathDeviceId) return { kind: 'via-gateway', gatewayId };
  return { kind: 'self' };
}

/** getConfig's answer (spec §7.2): proto3 JSON of google.cloud.iot.v1.DeviceConfig, minus what stays unset. */
export interface ConfigReply {
  version: number;
  cloudUpdateTime?: number;
  binaryData?: Uint8Array;
}

/**
 * spec §7.2: localVersion 0 (or absent) gets the current config; N below the current version gets
 * the current config; N equal to it gets the version alone (U14, docs/compat.md C-HTTP-CONFIG);
 * N above it is OUT_OF_RANGE.
 */
export function configReply(config: DeviceConfig, localVersion: number): ConfigReply {
  if (localVersion > config.version) {
    throw new ApiError(
      'OUT_OF_RANGE',
      `local_version ${localVersion} is greater than the device's latest config version ${config.version}.`,
      { reason: 'OUT_OF_RANGE' },
    );
  }
  if (localVersion !== 0 && localVersion === config.version) return { version: config.version };
  return { version: config.version, cloudUpdateTime: config.cloudUpdateTime, binaryData: config.binaryData };
}

/** One key's window: when it opened and how many it admitted. */
interface Window {
  start: number;
  count: number;
}

/**
 * Fixed windows per key (device numId): at most `limit` admitted per `windowMs`. Bounded memory:
 * once more than `sweepAt` keys are held, windows that have ended are dropped.
 */
export class RateWindows {
  private readonly windows = new Map<string, Window>();
  private sweepAt: number;

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    sweepAt = 10_000,
  ) {
    this.sweepAt = sweepAt;
  }

  /** Counts one request of `key` at `now`; false: over the limit (and not counted). */
  admit(key: string, now: number): boolean {
    let w = this.windows.get(key);
    if (w === undefined || now - w.start >= this.windowMs) {
      if (w === undefined && this.windows.size >= this.sweepAt) this.sweep(now);
      w = { start: now, count: 0 };
      this.windows.set(key, w);
    }
    if (w.count >= this.limit) return false;
    w.count++;
    return true;
  }

  get size(): number {
    return this.windows.size;
  }

  private sweep(now: number): void {
    for (const [key, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(key);
    // Still full of live windows: room for twice as many before the next sweep.
    this.sweepAt = Math.max(this.sweepAt, this.windows.size * 2);
  }
}

import type { Device, RegistryKey } from '../domain/model.js';

/**
 * Changes made through the API that live sessions must react to (disconnect a blocked device,
 * push a new config, detach an unbound device). Delivered after the store has committed.
 */
export type DeviceChange =
  | { kind: 'blocked'; device: Device }
  | { kind: 'deleted'; device: Device }
  | { kind: 'credentials-changed'; device: Device }
  | { kind: 'config-updated'; device: Device }
  | { kind: 'unbound'; device: Device; gatewayNumId: string }
  | { kind: 'registry-changed'; registryKey: RegistryKey };

export interface DeviceChangeListener {
  deviceChanged(change: DeviceChange): void;
}

/** Fans changes out to any number of listeners; a throwing listener does not stop the others. */
export class DeviceChangeHub implements DeviceChangeListener {
  private readonly listeners: DeviceChangeListener[] = [];

  subscribe(listener: DeviceChangeListener): void {
    this.listeners.push(listener);
  }

  deviceChanged(change: DeviceChange): void {
    for (const l of this.listeners) {
      try {
        l.deviceChanged(change);
      } catch {
        // A listener's own failure is its own to log; the API call already succeeded.
      }
    }
  }
}

import { ENUM_NUMBERS, type Device, type LogLevel, type Registry } from './model.js';

/** The device's log level, or else its registry's, as its proto number (spec §1.8). */
export function effectiveLogLevel(device: Pick<Device, 'logLevel'>, registry: Pick<Registry, 'logLevel'>): number {
  const configured: LogLevel = device.logLevel !== 'LOG_LEVEL_UNSPECIFIED' ? device.logLevel : registry.logLevel;
  return ENUM_NUMBERS.LogLevel![configured] ?? 0;
}

/** Whether a device-log entry of `level` is written (spec §9): NONE writes nothing, else entries at or above. */
export function deviceLogs(device: Pick<Device, 'logLevel'>, registry: Pick<Registry, 'logLevel'>, level: 'ERROR' | 'INFO' | 'DEBUG'): boolean {
  const have = effectiveLogLevel(device, registry);
  return have >= 20 && have >= (ENUM_NUMBERS.LogLevel![level] ?? 40);
}

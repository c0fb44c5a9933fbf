import { echo } from './echo.js';
import { invalidArgument } from './errors.js';

/**
 * FieldMask paths (spec §1.9, §3.3, §3.4). Paths arrive in snake_case or camelCase and are
 * normalised to camelCase, the form the JSON output uses.
 */

export const snakeToCamel = (s: string): string => s.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

export function parseMask(value: string | readonly string[] | undefined): string[] {
  if (value === undefined) return [];
  const parts = typeof value === 'string' ? [value] : value;
  const out: string[] = [];
  for (const p of parts) {
    for (const raw of p.split(',')) {
      const path = raw.trim();
      if (path !== '') out.push(path.split('.').map(snakeToCamel).join('.'));
    }
  }
  return out;
}

/** Top-level Device fields, for `fieldMask` on get/list. */
export const DEVICE_FIELDS = [
  'id',
  'name',
  'numId',
  'credentials',
  'lastHeartbeatTime',
  'lastEventTime',
  'lastStateTime',
  'lastConfigAckTime',
  'lastConfigSendTime',
  'blocked',
  'lastErrorTime',
  'lastErrorStatus',
  'config',
  'state',
  'logLevel',
  'metadata',
  'gatewayConfig',
] as const;

/** Checks read masks: every path's first segment must be a known field. */
export function checkReadMask(paths: readonly string[], known: readonly string[], field: string): void {
  for (const p of paths) {
    const top = p.split('.')[0]!;
    if (!known.includes(top)) throw invalidArgument(field, `Invalid ${field}: unknown field path "${echo(p)}".`, 'INVALID_FIELD_MASK');
  }
}

/** Device fields updateDevice may change (spec §3.4). */
export const DEVICE_MUTABLE = ['blocked', 'credentials', 'gatewayConfig.gatewayAuthMethod', 'logLevel', 'metadata'] as const;
export type DeviceMutable = (typeof DEVICE_MUTABLE)[number];

/** Registry fields updateDeviceRegistry may change (spec §3.3, docs/compat.md C-REG-MUTABLE). */
export const REGISTRY_MUTABLE = [
  'eventNotificationConfigs',
  'stateNotificationConfig',
  'mqttConfig',
  'httpConfig',
  'credentials',
  'logLevel',
] as const;
export type RegistryMutable = (typeof REGISTRY_MUTABLE)[number];

const REGISTRY_ALIASES: Record<string, RegistryMutable> = {
  // The proto comment spells it in the singular; clients copied that.
  eventNotificationConfig: 'eventNotificationConfigs',
  'mqttConfig.mqttEnabledState': 'mqttConfig',
  'httpConfig.httpEnabledState': 'httpConfig',
  'stateNotificationConfig.pubsubTopicName': 'stateNotificationConfig',
};

const DEVICE_ALIASES: Record<string, DeviceMutable> = {
  gatewayConfig: 'gatewayConfig.gatewayAuthMethod',
};

export function parseUpdateMask<T extends string>(
  value: string | readonly string[] | undefined,
  allowed: readonly T[],
  aliases: Record<string, T>,
  what: string,
): Set<T> {
  const paths = parseMask(value);
  if (paths.length === 0) throw invalidArgument('update_mask', `update_mask is required and must name at least one field of the ${what}.`, 'INVALID_FIELD_MASK');
  const out = new Set<T>();
  for (const p of paths) {
    const resolved = (allowed as readonly string[]).includes(p) ? (p as T) : aliases[p];
    if (resolved === undefined) {
      throw invalidArgument(
        'update_mask',
        `Invalid update_mask path "${echo(p)}": only ${allowed.join(', ')} can be updated on a ${what}.`,
        'INVALID_FIELD_MASK',
      );
    }
    out.add(resolved);
  }
  return out;
}

export const parseDeviceUpdateMask = (v: string | readonly string[] | undefined): Set<DeviceMutable> =>
  parseUpdateMask(v, DEVICE_MUTABLE, DEVICE_ALIASES, 'device');

export const parseRegistryUpdateMask = (v: string | readonly string[] | undefined): Set<RegistryMutable> =>
  parseUpdateMask(v, REGISTRY_MUTABLE, REGISTRY_ALIASES, 'registry');

/**
 * Projects a JSON object onto paths (`a`, `a.b`). Used on output objects so that the mask applies
 * to exactly what the client would have seen.
 */
export function project(obj: Record<string, unknown>, paths: readonly string[], always: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of always) if (obj[k] !== undefined) out[k] = obj[k];
  for (const p of paths) copyPath(obj, out, p.split('.'));
  return out;
}

function copyPath(src: Record<string, unknown>, dst: Record<string, unknown>, segs: string[]): void {
  const [head, ...rest] = segs;
  // Own properties only: a mask path such as `config.constructor` must name nothing.
  if (head === undefined || !Object.hasOwn(src, head)) return;
  const v = src[head];
  if (v === undefined) return;
  if (rest.length === 0 || typeof v !== 'object' || v === null || Array.isArray(v)) {
    dst[head] = v;
    return;
  }
  const child = (typeof dst[head] === 'object' && dst[head] !== null ? dst[head] : {}) as Record<string, unknown>;
  copyPath(v as Record<string, unknown>, child, rest);
  if (Object.keys(child).length > 0) dst[head] = child;
}

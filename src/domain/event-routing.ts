import type { EventNotificationConfig, Registry } from './model.js';

/**
 * Chooses the Pub/Sub topic of a telemetry message (spec §8.2): the first config whose
 * `subfolderMatches` is empty or equals the subfolder exactly. Undefined: no route.
 */
export function selectEventTopic(configs: readonly EventNotificationConfig[], subfolder: string): string | undefined {
  for (const c of configs) {
    if (c.subfolderMatches === '' || c.subfolderMatches === subfolder) return c.pubsubTopicName;
  }
  return undefined;
}

/** Identity attributes of a device's messages (spec §8.1); exact casing matters to consumers. */
export function messageAttributes(
  ids: { deviceId: string; deviceNumId: string; registry: string; location: string; project: string },
  subfolder: string,
): Record<string, string> {
  const a: Record<string, string> = {
    deviceId: ids.deviceId,
    deviceNumId: ids.deviceNumId,
    deviceRegistryId: ids.registry,
    deviceRegistryLocation: ids.location,
    projectId: ids.project,
  };
  // docs/compat.md C-SUBFOLDER-ATTR: absent when there is no subfolder (spec U13).
  if (subfolder !== '') a.subFolder = subfolder;
  return a;
}

/** Every Pub/Sub topic a registry routes to (telemetry and state), each once, in config order. */
export function notificationTopics(registry: Pick<Registry, 'eventNotificationConfigs' | 'stateNotificationConfig'>): string[] {
  const names = registry.eventNotificationConfigs.map((c) => c.pubsubTopicName);
  if (registry.stateNotificationConfig) names.push(registry.stateNotificationConfig.pubsubTopicName);
  return [...new Set(names.filter((n) => n !== ''))];
}

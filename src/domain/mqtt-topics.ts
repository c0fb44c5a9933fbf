import { isResourceId } from './ids.js';

/**
 * The MQTT bridge's topic grammar (spec §5.3, §6). Topics always start with `/devices/{id}/`;
 * the device segment is the string device ID.
 */

export type PublishTopic =
  | { kind: 'events'; device: string; subfolder: string }
  | { kind: 'state'; device: string }
  | { kind: 'attach'; device: string }
  | { kind: 'detach'; device: string };

export type SubscribeFilter =
  | { kind: 'config'; device: string }
  | { kind: 'commands'; device: string; filter: string }
  | { kind: 'errors'; device: string };

const PREFIX = '/devices/';

function splitDevice(topic: string): { device: string; rest: string } | undefined {
  if (!topic.startsWith(PREFIX)) return undefined;
  const slash = topic.indexOf('/', PREFIX.length);
  if (slash < 0) return undefined;
  const device = topic.slice(PREFIX.length, slash);
  if (!isResourceId(device)) return undefined;
  return { device, rest: topic.slice(slash + 1) };
}

/** Undefined when the topic is not one a device may publish to. */
export function parsePublishTopic(topic: string): PublishTopic | undefined {
  const parts = splitDevice(topic);
  if (!parts) return undefined;
  const { device, rest } = parts;
  if (rest === 'events') return { kind: 'events', device, subfolder: '' };
  if (rest.startsWith('events/')) {
    // Everything after `events/` is the subfolder, copied verbatim (spec §8.1).
    const subfolder = rest.slice('events/'.length);
    if (subfolder.includes('+') || subfolder.includes('#')) return undefined;
    return { kind: 'events', device, subfolder };
  }
  if (rest === 'state') return { kind: 'state', device };
  if (rest === 'attach') return { kind: 'attach', device };
  if (rest === 'detach') return { kind: 'detach', device };
  return undefined;
}

/** Undefined when the filter is not one the bridge serves (SUBACK 0x80). */
export function parseSubscribeFilter(filter: string): SubscribeFilter | undefined {
  const parts = splitDevice(filter);
  if (!parts) return undefined;
  const { device, rest } = parts;
  if (rest === 'config') return { kind: 'config', device };
  if (rest === 'errors') return { kind: 'errors', device };
  if (rest === 'commands' || rest.startsWith('commands/')) {
    // Wildcards: `#` only as the whole last level, `+` only as a whole level [MQTT-4.7.1-2/3].
    const levels = rest.split('/');
    for (let i = 1; i < levels.length; i++) {
      const l = levels[i]!;
      if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) return undefined;
      if (l.includes('+') && l !== '+') return undefined;
    }
    return { kind: 'commands', device, filter };
  }
  return undefined;
}

/** Standard MQTT topic matching of a (validated) filter against a topic name. */
export function topicMatches(filter: string, topic: string): boolean {
  if (filter === topic) return true;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === '#') return true;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}

export const commandTopic = (device: string, subfolder: string): string =>
  subfolder === '' ? `${PREFIX}${device}/commands` : `${PREFIX}${device}/commands/${subfolder}`;

export const configTopic = (device: string): string => `${PREFIX}${device}/config`;
export const errorsTopic = (device: string): string => `${PREFIX}${device}/errors`;

import type { Command } from 'commander';
import { apiContext, devicePath, UsageError, type ApiContext } from './context.js';

/**
 * Full resource names wherever the CLI takes an ID, as gcloud accepts them:
 * `projects/P/locations/L/registries/R[/devices/D]` in a device argument, `--registry`,
 * `--device` or `--gateway`. A name fixes the project, region and registry; a flag typed with a
 * different value is a usage error naming both, since silently picking one of two would act on
 * the wrong fleet.
 */

export interface NameParts {
  project?: string;
  region?: string;
  registry?: string;
  device?: string;
}

/** Where a value came from, for messages: `--registry`, `the device argument`, ... */
export interface NameSource {
  label: string;
  text: string;
  parts: NameParts;
}

const REGISTRY_NAME = /^projects\/([^/]+)\/locations\/([^/]+)\/registries\/([^/]+)$/;
const DEVICE_NAME = /^projects\/([^/]+)\/locations\/([^/]+)\/registries\/([^/]+)\/devices\/([^/]+)$/;

/** Users paste names from API responses and URLs: `/v1/`, the API host and a leading slash are dropped. */
function stripPrefix(text: string): string {
  return text.replace(/^(https?:)?\/\/cloudiot\.googleapis\.com/, '').replace(/^\/?(v1\/)?/, '');
}

/** A registry name or a bare registry ID. */
export function parseRegistryRef(text: string, label: string): NameSource {
  if (!text.includes('/')) return { label, text, parts: { registry: text } };
  const m = REGISTRY_NAME.exec(stripPrefix(text));
  if (!m) {
    throw new UsageError(`${label} must be a registry ID or projects/PROJECT/locations/REGION/registries/REGISTRY, got "${text}".`);
  }
  return { label, text, parts: { project: m[1]!, region: m[2]!, registry: m[3]! } };
}

/** A device name or a bare device ID / numeric ID. */
export function parseDeviceRef(text: string, label: string): NameSource {
  if (!text.includes('/')) return { label, text, parts: { device: text } };
  const m = DEVICE_NAME.exec(stripPrefix(text));
  if (!m) {
    throw new UsageError(
      `${label} must be a device ID, a numeric ID or projects/PROJECT/locations/REGION/registries/REGISTRY/devices/DEVICE, got "${text}".`,
    );
  }
  return { label, text, parts: { project: m[1]!, region: m[2]!, registry: m[3]!, device: m[4]! } };
}

const FIELD_NAMES: Record<keyof NameParts, string> = { project: 'project', region: 'region', registry: 'registry', device: 'device' };

/** `--registry "r"`, or for a full name `the device argument "projects/…" (registry "r")`. */
function describeSource(s: NameSource, key: keyof NameParts): string {
  const v = s.parts[key]!;
  return s.text === v ? `${s.label} "${v}"` : `${s.label} "${s.text}" (${FIELD_NAMES[key]} "${v}")`;
}

/** One value per field from all sources; two sources disagreeing is a usage error naming both. */
export function mergeNames(sources: readonly NameSource[]): NameParts {
  const out: NameParts = {};
  const from: Partial<Record<keyof NameParts, NameSource>> = {};
  for (const s of sources) {
    for (const key of Object.keys(FIELD_NAMES) as (keyof NameParts)[]) {
      const v = s.parts[key];
      if (v === undefined) continue;
      const prev = from[key];
      if (prev !== undefined && out[key] !== v) {
        throw new UsageError(`${describeSource(prev, key)} conflicts with ${describeSource(s, key)}; give only one, or make them agree.`);
      }
      out[key] = v;
      from[key] = s;
    }
  }
  return out;
}

/**
 * The project and region flags as sources, but only when typed on the command line: a value from
 * the environment or a saved default is what a full name overrides (as gcloud's properties are).
 */
export function typedScope(cmd: Command): NameSource[] {
  const out: NameSource[] = [];
  const opts = cmd.opts<{ project?: string; region?: string }>();
  if (cmd.getOptionValueSource('project') === 'cli' && opts.project !== undefined) {
    out.push({ label: '--project', text: opts.project, parts: { project: opts.project } });
  }
  if (cmd.getOptionValueSource('region') === 'cli' && opts.region !== undefined) {
    out.push({ label: '--region', text: opts.region, parts: { region: opts.region } });
  }
  return out;
}

/**
 * Merges `sources` with the typed --project/--region and writes a project or region that came
 * from a name back into the command's options, so that apiContext (which reads the options)
 * builds paths under that name's location.
 */
export function resolveScope(cmd: Command, sources: readonly NameSource[]): NameParts {
  const merged = mergeNames([...typedScope(cmd), ...sources]);
  if (merged.project !== undefined) cmd.setOptionValueWithSource('project', merged.project, 'cli');
  if (merged.region !== undefined) cmd.setOptionValueWithSource('region', merged.region, 'cli');
  return merged;
}

/** The registry of `parts`, or a usage error saying how to give one. */
export function requireRegistry(parts: NameParts, what: string): string {
  if (parts.registry === undefined) {
    throw new UsageError(`--registry is required (a registry ID or projects/P/locations/L/registries/R), or give ${what} as a full name.`);
  }
  return parts.registry;
}

/** A device command's target: the API context (under the name's location) and the device's path. */
export interface DeviceTarget {
  ctx: ApiContext;
  registry: string;
  device: string;
  path: string;
}

/** `--registry` (ID or name) of `cmd`, if given, as a source. */
function registrySources(cmd: Command): NameSource[] {
  const registry = cmd.opts<{ registry?: string }>().registry;
  return registry === undefined ? [] : [parseRegistryRef(registry, '--registry')];
}

/** The device named by `deviceText` (ID, numeric ID or full name) in the registry of --registry or the name. */
export function deviceTarget(cmd: Command, deviceText: string, label: string): DeviceTarget {
  const parts = resolveScope(cmd, [...registrySources(cmd), parseDeviceRef(deviceText, label)]);
  const registry = requireRegistry(parts, label);
  const ctx = apiContext(cmd);
  return { ctx, registry, device: parts.device!, path: devicePath(ctx, registry, parts.device!) };
}

/** The registry of --registry (ID or name), with `extra` (e.g. --gateway, --device names) merged in. */
export function registryTarget(cmd: Command, extra: readonly NameSource[] = []): { ctx: ApiContext; registry: string; parts: NameParts } {
  const parts = resolveScope(cmd, [...registrySources(cmd), ...extra]);
  const registry = requireRegistry(parts, extra.map((s) => s.label).join(' or ') || 'the registry');
  return { ctx: apiContext(cmd), registry, parts };
}

/** The device of a command that takes it as `[device]` or `--device` (gcloud's spelling), exactly one. */
export function deviceOperand(cmd: Command, positional: string | undefined): { text: string; label: string } {
  const flag = cmd.opts<{ device?: string }>().device;
  if (positional !== undefined && flag !== undefined && positional !== flag) {
    throw new UsageError(`the device is given twice ("${positional}" and --device "${flag}"); give it once.`);
  }
  const text = flag ?? positional;
  if (text === undefined) throw new UsageError('which device? Give --device DEVICE (an ID, a numeric ID or a full name).');
  return { text, label: flag !== undefined ? '--device' : 'the device argument' };
}

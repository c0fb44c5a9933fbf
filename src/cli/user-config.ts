import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * The per-user settings `bridgehead config set` writes (like `gcloud config set`):
 * `$XDG_CONFIG_HOME/bridgehead/config.json`, else `~/.config/bridgehead/config.json`, mode 0600.
 * They rank below flags and environment variables and above built-in defaults.
 */

export const CONFIG_KEYS = ['project', 'region', 'endpoint', 'key-file'] as const;
export type ConfigKey = (typeof CONFIG_KEYS)[number];
export type UserConfig = Partial<Record<ConfigKey, string>>;

/** What each key stands in for, for `config list` and help. */
export const CONFIG_KEY_FLAGS: Readonly<Record<ConfigKey, string>> = {
  project: '--project (BRIDGEHEAD_PROJECT)',
  region: '--region (BRIDGEHEAD_REGION)',
  endpoint: '--api (BRIDGEHEAD_API)',
  'key-file': '--key-file (GOOGLE_APPLICATION_CREDENTIALS)',
};

export class UserConfigError extends Error {}

export function isConfigKey(key: string): key is ConfigKey {
  return (CONFIG_KEYS as readonly string[]).includes(key);
}

export function userConfigPath(env: NodeJS.ProcessEnv = process.env, home: () => string = homedir): string {
  const xdg = env.XDG_CONFIG_HOME;
  // The XDG spec says a relative value is invalid and must be ignored.
  const base = xdg !== undefined && xdg.startsWith('/') ? xdg : join(home(), '.config');
  return join(base, 'bridgehead', 'config.json');
}

/** The settings in `path`; a missing file is no settings, a damaged one is an error naming it. */
export function readUserConfig(path: string = userConfigPath()): UserConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new UserConfigError(`cannot read the user config ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new UserConfigError(`the user config ${path} is not JSON (${e instanceof Error ? e.message : String(e)}); fix it or remove it.`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new UserConfigError(`the user config ${path} must hold a JSON object; fix it or remove it.`);
  const out: UserConfig = {};
  // Unknown keys are kept on disk (a newer version may have written them) but not used.
  for (const [k, v] of Object.entries(doc)) {
    if (!isConfigKey(k)) continue;
    if (typeof v !== 'string') throw new UserConfigError(`the user config ${path}: "${k}" must be a string; run bridgehead config set ${k} VALUE.`);
    out[k] = v;
  }
  return out;
}

/** Writes `config` atomically with mode 0600 (a key-file path is not a secret, but the file is the user's). */
export function writeUserConfig(config: UserConfig, path: string = userConfigPath()): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let kept: Record<string, unknown> = {};
  try {
    const raw = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) kept = raw as Record<string, unknown>;
  } catch {
    // missing or damaged: replaced
  }
  for (const k of CONFIG_KEYS) delete kept[k];
  const doc = { ...kept, ...Object.fromEntries(CONFIG_KEYS.filter((k) => config[k] !== undefined).map((k) => [k, config[k]])) };
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** Flag or environment variable (commander's value when its source is `cli`/`env`), else user config, else default. */
export function resolveSetting<T extends string | undefined>(
  fromFlagOrEnv: { value: string | undefined; source: string | undefined },
  fromConfig: string | undefined,
  fallback: T,
): string | T {
  if ((fromFlagOrEnv.source === 'cli' || fromFlagOrEnv.source === 'env') && fromFlagOrEnv.value !== undefined) return fromFlagOrEnv.value;
  if (fromConfig !== undefined && fromConfig !== '') return fromConfig;
  return fallback;
}

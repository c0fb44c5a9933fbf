import { readFileSync } from 'node:fs';
import { ConfigError, DEFAULTS, KEYS, validateConfig, type Config, type RawConfig } from './schema.js';

/**
 * Merges defaults < config file < BRIDGEHEAD_* environment < flags. This is the only module that
 * reads the environment.
 */
export function loadConfig(flags: RawConfig & { configFile?: string }, env: NodeJS.ProcessEnv = process.env): Config {
  const { configFile: flagFile, ...flagValues } = flags;
  const configFile = flagFile ?? env.BRIDGEHEAD_CONFIG;
  const fromFile = configFile ? readConfigFile(configFile) : {};
  const fromEnv: RawConfig = {};
  for (const { key, env: name } of KEYS) {
    const v = env[name];
    if (v !== undefined && v !== '') fromEnv[key] = v;
  }
  const fromFlags: RawConfig = {};
  for (const [k, v] of Object.entries(flagValues)) if (v !== undefined) (fromFlags as Record<string, unknown>)[k] = v;
  return validateConfig({ ...DEFAULTS, ...fromFile, ...fromEnv, ...fromFlags });
}

function readConfigFile(path: string): RawConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError([`config file ${path}: ${(e as Error).message}`]);
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed as RawConfig;
  } catch (e) {
    throw new ConfigError([`config file ${path}: ${(e as Error).message}`]);
  }
}

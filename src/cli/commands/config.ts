import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { arg, formatArg, group, printer, run, UsageError } from '../context.js';
import { FORMAT_HELP, type JsonObject } from '../output.js';
import { CONFIG_KEY_FLAGS, CONFIG_KEYS, isConfigKey, readUserConfig, userConfigPath, UserConfigError, writeUserConfig, type ConfigKey, type UserConfig } from '../user-config.js';

/** `bridgehead config set|get|unset|list`: gcloud config, for the settings every admin command needs. */

function keyOf(text: string): ConfigKey {
  if (!isConfigKey(text)) throw new UsageError(`unknown config key "${text}"; the keys are ${CONFIG_KEYS.join(', ')} (e.g. bridgehead config set project my-project).`);
  return text;
}

/** Checks a value the way the flag it stands for would be checked; key-file becomes an absolute path. */
export function normalizeValue(key: ConfigKey, value: string, cwd: string = process.cwd(), exists: (p: string) => boolean = existsSync): string {
  const v = value.trim();
  if (v === '') throw new UsageError(`an empty ${key}: to remove the setting run bridgehead config unset ${key}.`);
  switch (key) {
    case 'project':
    case 'region':
      if (/[/\s]/.test(v)) throw new UsageError(`${key} must be an ID such as ${key === 'project' ? 'my-project' : 'us-central1'}, got "${value}".`);
      return v;
    case 'endpoint': {
      let url: URL | undefined;
      try {
        url = new URL(v);
      } catch {
        url = undefined;
      }
      if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
        throw new UsageError(`endpoint must be the API base URL such as https://bridgehead.example.com:8443, got "${value}".`);
      }
      return v;
    }
    case 'key-file': {
      const path = resolve(cwd, v);
      if (!exists(path)) throw new UsageError(`key-file ${path} does not exist; give the path of a service-account key file.`);
      return path;
    }
  }
}

function load(): UserConfig {
  try {
    return readUserConfig(userConfigPath());
  } catch (e) {
    if (e instanceof UserConfigError) throw new UsageError(e.message);
    throw e;
  }
}

function configLeaf(parent: Command, nameAndArgs: string, description: string): Command {
  return parent
    .command(nameAndArgs)
    .description(description)
    .addOption(new Option('--format <format>', `output format: ${FORMAT_HELP}`).default('text').argParser(formatArg));
}

export function registerConfig(program: Command): void {
  const config = group(
    program,
    'config',
    `per-user settings in ${userConfigPath()} (${CONFIG_KEYS.join(', ')}); flags and environment variables win over them`,
  );

  configLeaf(config, 'set <key> <value>', `set ${CONFIG_KEYS.join('|')}`).action(
    run(async (cmd) => {
      const key = keyOf(arg(cmd, 0));
      const current = load();
      writeUserConfig({ ...current, [key]: normalizeValue(key, arg(cmd, 1)) });
      printer(cmd).status(`Updated property [${key}].`);
    }),
  );

  configLeaf(config, 'get <key>', 'print one setting').action(
    run(async (cmd) => {
      const key = keyOf(arg(cmd, 0));
      const value = load()[key];
      const out = printer(cmd);
      if (value === undefined) process.stderr.write('(unset)\n');
      else out.value(value, { [key]: value });
    }),
  );

  configLeaf(config, 'unset <key>', 'remove one setting').action(
    run(async (cmd) => {
      const key = keyOf(arg(cmd, 0));
      const current = load();
      delete current[key];
      writeUserConfig(current);
      printer(cmd).status(`Unset property [${key}].`);
    }),
  );

  configLeaf(config, 'list', 'print every setting').action(
    run(async (cmd) => {
      const current = load();
      const doc: JsonObject = {};
      for (const k of CONFIG_KEYS) if (current[k] !== undefined) doc[k] = current[k];
      const out = printer(cmd);
      out.resource(doc);
      out.status(`Settings file: ${userConfigPath()}; each stands in for ${CONFIG_KEYS.map((k) => `${k} = ${CONFIG_KEY_FLAGS[k]}`).join(', ')}.`);
    }),
  );
}

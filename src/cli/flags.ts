import { InvalidArgumentError } from 'commander';

/**
 * Pure parsing of the admin CLI's flag values (gcloud iot's syntax). Every parser throws
 * InvalidArgumentError, which commander reports as a usage error naming the flag.
 */

export type PublicKeyFormat = 'RSA_PEM' | 'ES256_PEM' | 'RSA_X509_PEM' | 'ES256_X509_PEM';

/** gcloud's `type=` values (and the obvious aliases) -> PublicKeyFormat. */
export const KEY_TYPES: Readonly<Record<string, PublicKeyFormat>> = {
  rs256: 'RSA_PEM',
  'rsa-pem': 'RSA_PEM',
  es256: 'ES256_PEM',
  'es256-pem': 'ES256_PEM',
  'rsa-x509-pem': 'RSA_X509_PEM',
  'es256-x509-pem': 'ES256_X509_PEM',
};

export const LOG_LEVELS: Readonly<Record<string, string>> = { none: 'NONE', error: 'ERROR', info: 'INFO', debug: 'DEBUG' };
export const DEVICE_TYPES: Readonly<Record<string, string>> = { gateway: 'GATEWAY', 'non-gateway': 'NON_GATEWAY' };
export const AUTH_METHODS: Readonly<Record<string, string>> = {
  'association-only': 'ASSOCIATION_ONLY',
  'device-auth-token-only': 'DEVICE_AUTH_TOKEN_ONLY',
  'association-and-device-auth-token': 'ASSOCIATION_AND_DEVICE_AUTH_TOKEN',
};

export interface PublicKeySpec {
  path: string;
  format: PublicKeyFormat;
  /** RFC 3339, as given. */
  expirationTime?: string;
}

export interface EventConfigSpec {
  pubsubTopicName: string;
  subfolderMatches?: string;
}

/** A correct use of each KEY=VALUE flag, shown when one is malformed. */
export const FLAG_EXAMPLES: Readonly<Record<string, string>> = {
  '--public-key': '--public-key path=ec_public.pem,type=es256,expiration-time=2030-01-01T00:00:00Z',
  '--metadata': '--metadata location=lab,owner=ops',
  '--metadata-from-file': '--metadata-from-file notes=./notes.txt',
  '--event-notification-config': '--event-notification-config topic=projects/my-project/topics/telemetry,subfolder=alerts',
};

/** ` For example: …` for flags that have an example, else empty. */
export function exampleOf(flag: string): string {
  const ex = FLAG_EXAMPLES[flag];
  return ex === undefined ? '' : ` For example: ${ex}`;
}

/**
 * `k=v,k2=v2` -> ordered pairs. A value keeps any further `=`; keys must be unique and non-empty
 * and, when `allowed` is given, one of those.
 */
export function parseKeyValues(text: string, flag: string, allowed?: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  const seen = new Set<string>();
  for (const part of text.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`expected KEY=VALUE in ${flag}, got "${part}".${exampleOf(flag)}`);
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1);
    if (allowed && !allowed.includes(key)) {
      throw new InvalidArgumentError(`unknown key "${key}" in ${flag}; expected ${allowed.join(', ')}.${exampleOf(flag)}`);
    }
    if (seen.has(key)) throw new InvalidArgumentError(`key "${key}" given twice in ${flag}.`);
    seen.add(key);
    out.push([key, value]);
  }
  return out;
}

/** `--public-key path=FILE,type=TYPE[,expiration-time=RFC3339]`. */
export function parsePublicKey(text: string): PublicKeySpec {
  const kv = new Map(parseKeyValues(text, '--public-key', ['path', 'type', 'expiration-time']));
  const path = kv.get('path');
  const type = kv.get('type');
  if (!path) throw new InvalidArgumentError(`--public-key needs path=FILE.${exampleOf('--public-key')}`);
  if (!type) throw new InvalidArgumentError(`--public-key needs type=${Object.keys(KEY_TYPES).join('|')}.${exampleOf('--public-key')}`);
  const spec: PublicKeySpec = { path, format: parseKeyType(type, '--public-key type') };
  const exp = kv.get('expiration-time');
  if (exp !== undefined) spec.expirationTime = parseTimestamp(exp, '--public-key expiration-time');
  return spec;
}

/** gcloud's `--type` of `devices credentials create` (and `type=` of --public-key). */
export function parseKeyType(text: string, flag = '--type'): PublicKeyFormat {
  const format = KEY_TYPES[text.toLowerCase()];
  if (!format) {
    throw new InvalidArgumentError(`${flag}: unknown key type "${text}"; expected one of ${Object.keys(KEY_TYPES).join(', ')} (e.g. ${flag === '--type' ? '--type es256' : 'type=es256'}).`);
  }
  return format;
}

/** A credential INDEX as `devices credentials list` shows it: 0, 1 or 2. */
export function parseIndex(text: string): number {
  if (!/^\d+$/.test(text.trim())) {
    throw new InvalidArgumentError(`INDEX must be a credential's index as \`devices credentials list\` shows it (0, 1 or 2), got "${text}".`);
  }
  return Number(text.trim());
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

export function parseTimestamp(text: string, flag: string): string {
  if (!RFC3339.test(text) || Number.isNaN(Date.parse(text))) {
    throw new InvalidArgumentError(`${flag} must be an RFC 3339 timestamp such as 2030-01-01T00:00:00Z, got "${text}".`);
  }
  return text;
}

/** A full topic name, or a bare topic ID completed with the project (as gcloud does). */
export function topicName(topic: string, project: string | undefined, flag: string): string {
  if (/^projects\/[^/]+\/topics\/[^/]+$/.test(topic)) return topic;
  if (topic.includes('/') || topic === '') {
    throw new InvalidArgumentError(`${flag} must be projects/PROJECT/topics/TOPIC or a topic ID, got "${topic}".`);
  }
  if (!project) throw new InvalidArgumentError(`${flag}: a bare topic ID needs --project; give projects/PROJECT/topics/${topic}.`);
  return `projects/${project}/topics/${topic}`;
}

/** `--event-notification-config topic=T[,subfolder=S]`; the topic is completed later with topicName. */
export function parseEventConfig(text: string): EventConfigSpec {
  const kv = new Map(parseKeyValues(text, '--event-notification-config', ['topic', 'subfolder']));
  const topic = kv.get('topic');
  if (!topic) throw new InvalidArgumentError('--event-notification-config needs topic=projects/P/topics/T.');
  const spec: EventConfigSpec = { pubsubTopicName: topic };
  const subfolder = kv.get('subfolder');
  if (subfolder) spec.subfolderMatches = subfolder;
  return spec;
}

/** `--metadata k=v,k2=v2` (repeatable; later flags add keys). */
export function parseMetadata(text: string, previous: Record<string, string> = {}): Record<string, string> {
  const out = { ...previous };
  for (const [k, v] of parseKeyValues(text, '--metadata')) {
    if (k in out) throw new InvalidArgumentError(`metadata key "${k}" given twice.`);
    out[k] = v;
  }
  return out;
}

/** `--metadata-from-file k=PATH,k2=PATH2` (gcloud's): key -> path; read when the command runs. */
export function parseMetadataFiles(text: string, previous: Record<string, string> = {}): Record<string, string> {
  const out = { ...previous };
  for (const [k, path] of parseKeyValues(text, '--metadata-from-file')) {
    if (k in out) throw new InvalidArgumentError(`metadata key "${k}" given twice.`);
    if (path === '') throw new InvalidArgumentError(`--metadata-from-file ${k}= needs a file path, e.g. --metadata-from-file ${k}=./value.txt`);
    out[k] = path;
  }
  return out;
}

/** `a,b` -> ['a', 'b'], appended to earlier occurrences of the flag. */
export function parseList(text: string, previous: string[] = []): string[] {
  return [...previous, ...text.split(',').map((s) => s.trim()).filter((s) => s !== '')];
}

/** Builds a repeatable-flag collector around a single-value parser. */
export function collect<T>(parse: (text: string) => T): (text: string, previous: T[] | undefined) => T[] {
  return (text, previous) => [...(previous ?? []), parse(text)];
}

/** A lower-case choice mapped to its API enum name. */
export function enumParser(table: Readonly<Record<string, string>>, flag: string): (text: string) => string {
  return (text) => {
    const v = table[text.toLowerCase()];
    if (v === undefined) {
      const choices = Object.keys(table);
      throw new InvalidArgumentError(`${flag} must be one of ${choices.join(', ')}, got "${text}" (e.g. ${flag} ${choices[0]!}).`);
    }
    return v;
  };
}

export function intParser(flag: string, min: number): (text: string) => number {
  return (text) => {
    if (!/^\d+$/.test(text.trim())) throw new InvalidArgumentError(`${flag} must be a whole number, got "${text}" (e.g. ${flag} ${Math.max(min, 10)}).`);
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${flag} must be at least ${min}, got "${text}".`);
    return n;
  };
}

/**
 * An update mask from the flags given: each entry maps a flag's presence to its mask path.
 * Order follows the table, so masks are stable.
 */
export function buildUpdateMask(given: Readonly<Record<string, unknown>>, paths: Readonly<Record<string, string>>): string[] {
  const mask: string[] = [];
  for (const [flag, path] of Object.entries(paths)) {
    if (given[flag] !== undefined && !mask.includes(path)) mask.push(path);
  }
  return mask;
}

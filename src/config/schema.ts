/**
 * The one configuration schema. Every source (defaults, file, BRIDGEHEAD_* environment, flags)
 * produces a partial `RawConfig`; `validateConfig` checks the merged result once, reports every
 * problem together and returns a frozen `Config`.
 */

export interface ListenAddress {
  host: string;
  port: number;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type ServerLogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  dataDir: string;
  apiListen: ListenAddress;
  /** Undefined: generated on first start into `<dataDir>/admin-token`. */
  adminToken: string | undefined;
  logLevel: ServerLogLevel;
  /** Largest accepted REST request body. */
  apiBodyLimitBytes: number;
}

/** Every key as a string or already typed; what sources provide before validation. */
export type RawConfig = { [K in keyof Config]?: unknown };

export const DEFAULTS: RawConfig = {
  dataDir: './data',
  apiListen: '127.0.0.1:8080',
  adminToken: undefined,
  logLevel: 'info',
  apiBodyLimitBytes: 2 * 1024 * 1024,
};

/** Keys a user may set, with the environment variable and flag that set them. */
export const KEYS: ReadonlyArray<{ key: keyof Config; env: string; secret?: boolean }> = [
  { key: 'dataDir', env: 'BRIDGEHEAD_DATA_DIR' },
  { key: 'apiListen', env: 'BRIDGEHEAD_API_LISTEN' },
  { key: 'adminToken', env: 'BRIDGEHEAD_ADMIN_TOKEN', secret: true },
  { key: 'logLevel', env: 'BRIDGEHEAD_LOG_LEVEL' },
  { key: 'apiBodyLimitBytes', env: 'BRIDGEHEAD_API_BODY_LIMIT_BYTES' },
];

export function parseListen(value: unknown, name: string, problems: string[]): ListenAddress {
  const s = typeof value === 'string' ? value : '';
  // [::1]:8080, 127.0.0.1:8080, :8080
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    problems.push(`${name}: expected HOST:PORT (port 0-65535), got ${JSON.stringify(value)}`);
    return { host: '127.0.0.1', port: 0 };
  }
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

function positiveInt(value: unknown, name: string, problems: string[]): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) problems.push(`${name}: expected a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

export function validateConfig(raw: RawConfig): Config {
  const problems: string[] = [];
  const unknown = Object.keys(raw).filter((k) => !(k in DEFAULTS));
  for (const k of unknown) problems.push(`${k}: unknown setting`);

  const dataDir = raw.dataDir;
  if (typeof dataDir !== 'string' || dataDir === '') problems.push('dataDir: expected a non-empty path');
  const apiListen =
    typeof raw.apiListen === 'object' && raw.apiListen !== null
      ? (raw.apiListen as ListenAddress)
      : parseListen(raw.apiListen, 'apiListen', problems);
  const adminToken = raw.adminToken;
  if (adminToken !== undefined && (typeof adminToken !== 'string' || adminToken.length < 16)) {
    problems.push('adminToken: expected a string of at least 16 characters');
  }
  const logLevel = raw.logLevel;
  if (!LOG_LEVELS.includes(logLevel as ServerLogLevel)) {
    problems.push(`logLevel: expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);
  }
  const apiBodyLimitBytes = positiveInt(raw.apiBodyLimitBytes, 'apiBodyLimitBytes', problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({
    dataDir: dataDir as string,
    apiListen: Object.freeze(apiListen),
    adminToken: adminToken as string | undefined,
    logLevel: logLevel as ServerLogLevel,
    apiBodyLimitBytes,
  });
}

/** For logs and the `listening` line: secrets never leave the process. */
export function redactConfig(config: Config): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  for (const { key, secret } of KEYS) if (secret && out[key] !== undefined) out[key] = '[redacted]';
  return out;
}

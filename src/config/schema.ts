/**
 * The one configuration schema. Every source (defaults, file, BRIDGEHEAD_* environment, flags)
 * produces a partial `RawConfig`; `validateConfig` checks the merged result once, reports every
 * problem together and returns a frozen `Config`.
 */

import { checkTlsFiles } from './tls-files.js';
import { parsePubsubForwarding, type ForwardingRule } from './pubsub-forwarding.js';
import { parseTlsSni, type SniEntry } from './tls-sni.js';

export interface ListenAddress {
  host: string;
  port: number;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type ServerLogLevel = (typeof LOG_LEVELS)[number];

/**
 * Who may read `/metrics` (docs/compat.md C-METRICS-ACCESS). loopback: callers on a loopback
 * address freely, anyone else with the admin token; token: the admin token always; public: anyone.
 */
export const METRICS_ACCESS = ['loopback', 'token', 'public'] as const;
export type MetricsAccess = (typeof METRICS_ACCESS)[number];

export interface Config {
  dataDir: string;
  apiListen: ListenAddress;
  /** Undefined: generated on first start into `<dataDir>/admin-token`. */
  adminToken: string | undefined;
  logLevel: ServerLogLevel;
  /** Largest accepted REST request body. */
  apiBodyLimitBytes: number;
  metricsAccess: MetricsAccess;
  /** MQTT over TLS listeners (8883, and often 443). */
  mqttListen: ListenAddress[];
  /** Plain-TCP MQTT listeners, for TLS terminated in front of Bridgehead, and for local tests. */
  mqttPlainListen: ListenAddress[];
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  /** Extra names for the generated server certificate, besides localhost, 127.0.0.1 and ::1. */
  tlsHostnames: string[];
  /** Per-name certificates chosen by SNI on every TLS listener; other names get the default one. */
  tlsSni: SniEntry[];
  /**
   * The Device Manager over gRPC and REST on one TLS port (what cloudiot.googleapis.com:443 was),
   * chosen per connection by ALPN and per HTTP/2 stream by content type; credentials always required.
   */
  apiTlsListen: ListenAddress | undefined;
  /** Plaintext gRPC (h2c): behind a TLS-terminating proxy, local development, CI. */
  grpcListen: ListenAddress | undefined;
  /** The HTTP device bridge over TLS (what cloudiotdevice.googleapis.com:443 was); off unless set. */
  httpBridgeListen: ListenAddress | undefined;
  /** The HTTP device bridge in plaintext HTTP/1.1, for a TLS-terminating proxy and local tests. */
  httpBridgePlainListen: ListenAddress | undefined;
  /** Open connections per HTTP bridge listener; past it new ones are closed at once. */
  httpBridgeMaxConnections: number;
  /** HTTP bridge: request line and headers must arrive within this (slow-loris headers). */
  httpBridgeHeadersTimeoutMs: number;
  /** HTTP bridge: the whole request, body included, must arrive within this. */
  httpBridgeRequestTimeoutMs: number;
  /** HTTP bridge: an idle keep-alive connection is closed after this. */
  httpBridgeKeepAliveTimeoutMs: number;
  /** Calls without credentials on `grpcListen` get full rights (the emulator convention). */
  grpcAnonymous: boolean;
  /** Per-connection inbound message limit (spec §2.2: 100/s); 0 disables it. */
  mqttMaxMessagesPerSecond: number;
  mqttMaxConnections: number;
  /** New MQTT connections let in per second (EMQX's max_conn_rate); 0: no cap (docs/compat.md C-MQTT-ADMISSION). */
  mqttMaxConnectionRate: number;
  mqttMaxPacketBytes: number;
  /** How long the embedded log keeps messages. */
  eventRetentionHours: number;
  /** FULL: a PUBACK survives power loss; NORMAL: it survives a process crash only. */
  eventLogSync: 'FULL' | 'NORMAL';
  /**
   * The scheduling priority of the helper threads Node starts (V8's garbage collector, libuv's
   * pool), so that they yield to the threads serving the devices (Linux; src/main/helper-threads.ts).
   */
  helperThreadPriority: 'idle' | 'low' | 'normal';
  /**
   * The token endpoint URL written into new key files as token_uri (e.g. https://iot.example.com/token);
   * undefined: the URL the client creating the key reached the API at, plus /token.
   */
  tokenUri: string | undefined;
  /**
   * Pub/Sub topics a registry names are created when the registry is created or updated (and, at
   * start, for existing registries). Off: Google's strictness, a missing topic is a delivery error
   * on the device (spec §8.3, docs/compat.md C-PS-AUTO-TOPICS).
   */
  pubsubAutoCreateTopics: boolean;
  /** Push subscriptions: POSTs in flight per subscription (its consumer's maxOutstandingMessages). */
  pushMaxOutstandingPerSubscription: number;
  /** Sockets open to all push endpoints together. */
  pushMaxSockets: number;
  /** `iss` of the OIDC-style tokens push requests carry (docs/compat.md C-PS-PUSH-TOKEN). */
  pushTokenIssuer: string;
  /** Local topics republished to Google Pub/Sub. */
  pubsubForwarding: ForwardingRule[];
  /**
   * Every this many seconds each open StreamingPull is authenticated and authorized again, so that
   * a revoked key or role ends it (docs/compat.md C-PS-STREAM-AUTH).
   */
  pubsubStreamRecheckSeconds: number;
  /**
   * Undefined: the embedded SQLite stores in the data directory. A `postgres://` URL: the registry
   * and Pub/Sub resources in PostgreSQL, shared by every node of a cluster (issue 12).
   */
  store: string | undefined;
  /**
   * NATS servers (`nats://host:4222`): the bus between nodes and JetStream as the durable event log.
   * Needs a shared store (PostgreSQL); empty: one node, in-process bus, embedded log.
   */
  nats: string[];
  /** This node's name among the cluster's; unique per node. Default: host name plus a random suffix. */
  nodeId: string | undefined;
  /** First token of every subject and the bus's subjects, so installations can share a NATS account. */
  natsPrefix: string;
  /** Replicas of each project's JetStream stream (1, or 3 on a 3-node NATS cluster). */
  jetstreamReplicas: number;
  /** Bytes a project's stream keeps at most, oldest discarded first; 0 = no limit (retention by age only). */
  jetstreamMaxBytes: number;
}

/** Every key as a string or already typed; what sources provide before validation. */
export type RawConfig = { [K in keyof Config]?: unknown };

export const DEFAULTS: RawConfig = {
  dataDir: './data',
  apiListen: '127.0.0.1:8080',
  adminToken: undefined,
  logLevel: 'info',
  apiBodyLimitBytes: 2 * 1024 * 1024,
  metricsAccess: 'loopback',
  mqttListen: ['0.0.0.0:8883'],
  mqttPlainListen: [],
  tlsCert: undefined,
  tlsKey: undefined,
  tlsHostnames: [],
  tlsSni: [],
  apiTlsListen: undefined,
  grpcListen: undefined,
  httpBridgeListen: undefined,
  httpBridgePlainListen: undefined,
  httpBridgeMaxConnections: 10_000,
  httpBridgeHeadersTimeoutMs: 10_000,
  httpBridgeRequestTimeoutMs: 30_000,
  httpBridgeKeepAliveTimeoutMs: 60_000,
  grpcAnonymous: false,
  mqttMaxMessagesPerSecond: 100,
  mqttMaxConnections: 10_000,
  mqttMaxConnectionRate: 1000,
  mqttMaxPacketBytes: 256 * 1024 + 4096,
  eventRetentionHours: 7 * 24,
  eventLogSync: 'FULL',
  helperThreadPriority: 'idle',
  tokenUri: undefined,
  pubsubAutoCreateTopics: true,
  pushMaxOutstandingPerSubscription: 10,
  pushMaxSockets: 100,
  pushTokenIssuer: 'https://accounts.google.com',
  pubsubForwarding: [],
  pubsubStreamRecheckSeconds: 30,
  store: undefined,
  nats: [],
  nodeId: undefined,
  natsPrefix: 'bh',
  jetstreamReplicas: 1,
  jetstreamMaxBytes: 0,
};

/** Keys a user may set, with the environment variable and flag that set them. */
export const KEYS: ReadonlyArray<{ key: keyof Config; env: string; secret?: boolean }> = [
  { key: 'dataDir', env: 'BRIDGEHEAD_DATA_DIR' },
  { key: 'apiListen', env: 'BRIDGEHEAD_API_LISTEN' },
  { key: 'adminToken', env: 'BRIDGEHEAD_ADMIN_TOKEN', secret: true },
  { key: 'logLevel', env: 'BRIDGEHEAD_LOG_LEVEL' },
  { key: 'apiBodyLimitBytes', env: 'BRIDGEHEAD_API_BODY_LIMIT_BYTES' },
  { key: 'metricsAccess', env: 'BRIDGEHEAD_METRICS_ACCESS' },
  { key: 'mqttListen', env: 'BRIDGEHEAD_MQTT_LISTEN' },
  { key: 'mqttPlainListen', env: 'BRIDGEHEAD_MQTT_PLAIN_LISTEN' },
  { key: 'tlsCert', env: 'BRIDGEHEAD_TLS_CERT' },
  { key: 'tlsKey', env: 'BRIDGEHEAD_TLS_KEY' },
  { key: 'tlsHostnames', env: 'BRIDGEHEAD_TLS_HOSTNAMES' },
  { key: 'tlsSni', env: 'BRIDGEHEAD_TLS_SNI' },
  { key: 'apiTlsListen', env: 'BRIDGEHEAD_API_TLS_LISTEN' },
  { key: 'grpcListen', env: 'BRIDGEHEAD_GRPC_LISTEN' },
  { key: 'httpBridgeListen', env: 'BRIDGEHEAD_HTTP_BRIDGE_LISTEN' },
  { key: 'httpBridgePlainListen', env: 'BRIDGEHEAD_HTTP_BRIDGE_PLAIN_LISTEN' },
  { key: 'httpBridgeMaxConnections', env: 'BRIDGEHEAD_HTTP_BRIDGE_MAX_CONNECTIONS' },
  { key: 'httpBridgeHeadersTimeoutMs', env: 'BRIDGEHEAD_HTTP_BRIDGE_HEADERS_TIMEOUT_MS' },
  { key: 'httpBridgeRequestTimeoutMs', env: 'BRIDGEHEAD_HTTP_BRIDGE_REQUEST_TIMEOUT_MS' },
  { key: 'httpBridgeKeepAliveTimeoutMs', env: 'BRIDGEHEAD_HTTP_BRIDGE_KEEP_ALIVE_TIMEOUT_MS' },
  { key: 'grpcAnonymous', env: 'BRIDGEHEAD_GRPC_ANONYMOUS' },
  { key: 'mqttMaxMessagesPerSecond', env: 'BRIDGEHEAD_MQTT_MAX_MESSAGES_PER_SECOND' },
  { key: 'mqttMaxConnections', env: 'BRIDGEHEAD_MQTT_MAX_CONNECTIONS' },
  { key: 'mqttMaxConnectionRate', env: 'BRIDGEHEAD_MQTT_MAX_CONNECTION_RATE' },
  { key: 'mqttMaxPacketBytes', env: 'BRIDGEHEAD_MQTT_MAX_PACKET_BYTES' },
  { key: 'eventRetentionHours', env: 'BRIDGEHEAD_EVENT_RETENTION_HOURS' },
  { key: 'eventLogSync', env: 'BRIDGEHEAD_EVENT_LOG_SYNC' },
  { key: 'helperThreadPriority', env: 'BRIDGEHEAD_HELPER_THREAD_PRIORITY' },
  { key: 'tokenUri', env: 'BRIDGEHEAD_TOKEN_URI' },
  { key: 'pubsubAutoCreateTopics', env: 'BRIDGEHEAD_PUBSUB_AUTO_CREATE_TOPICS' },
  { key: 'pushMaxOutstandingPerSubscription', env: 'BRIDGEHEAD_PUSH_MAX_OUTSTANDING_PER_SUBSCRIPTION' },
  { key: 'pushMaxSockets', env: 'BRIDGEHEAD_PUSH_MAX_SOCKETS' },
  { key: 'pushTokenIssuer', env: 'BRIDGEHEAD_PUSH_TOKEN_ISSUER' },
  { key: 'pubsubForwarding', env: 'BRIDGEHEAD_PUBSUB_FORWARDING' },
  { key: 'pubsubStreamRecheckSeconds', env: 'BRIDGEHEAD_PUBSUB_STREAM_RECHECK_SECONDS' },
  // Secret: a PostgreSQL URL usually carries the password.
  { key: 'store', env: 'BRIDGEHEAD_STORE', secret: true },
  { key: 'nats', env: 'BRIDGEHEAD_NATS', secret: true },
  { key: 'nodeId', env: 'BRIDGEHEAD_NODE_ID' },
  { key: 'natsPrefix', env: 'BRIDGEHEAD_NATS_PREFIX' },
  { key: 'jetstreamReplicas', env: 'BRIDGEHEAD_JETSTREAM_REPLICAS' },
  { key: 'jetstreamMaxBytes', env: 'BRIDGEHEAD_JETSTREAM_MAX_BYTES' },
];

export function parseListen(value: unknown, name: string, problems: string[]): ListenAddress {
  if (typeof value === 'object' && value !== null) {
    // A config file may give {host, port}; it gets the same checks as the string form.
    const { host, port } = value as { host?: unknown; port?: unknown };
    if (typeof host === 'string' && host !== '' && Number.isInteger(port) && (port as number) >= 0 && (port as number) <= 65535) {
      return { host, port: port as number };
    }
    problems.push(`${name}: expected {"host": string, "port": 0-65535}, got ${JSON.stringify(value)}`);
    return { host: '127.0.0.1', port: 0 };
  }
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

/** Whether a listen host reaches this machine only (what makes anonymous access tolerable). */
export const isLoopbackHost = (host: string): boolean => host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);

function positiveInt(value: unknown, name: string, problems: string[], allowZero = false): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < (allowZero ? 0 : 1)) {
    problems.push(`${name}: expected a ${allowZero ? 'non-negative' : 'positive'} integer, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** A list from a file (array), the environment (comma-separated) or repeated flags (array). */
function list(value: unknown): unknown[] {
  if (Array.isArray(value)) return value.flatMap((v) => (typeof v === 'string' ? v.split(',') : [v])).filter((v) => v !== '');
  if (typeof value === 'string') return value.split(',').filter((v) => v !== '');
  return value === undefined ? [] : [value];
}

function listenList(value: unknown, name: string, problems: string[]): ListenAddress[] {
  return list(value).map((v, i) => parseListen(v, `${name}[${i}]`, problems));
}

function optionalListen(value: unknown, name: string, problems: string[]): ListenAddress | undefined {
  return value === undefined || value === '' ? undefined : parseListen(value, name, problems);
}

function bool(value: unknown, name: string, problems: string[]): boolean {
  if (value === true || value === 'true' || value === '1') return true;
  if (value === false || value === 'false' || value === '0') return false;
  problems.push(`${name}: expected true or false, got ${JSON.stringify(value)}`);
  return false;
}

function optionalString(value: unknown, name: string, problems: string[]): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') problems.push(`${name}: expected a string`);
  return value as string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

export function validateConfig(raw: RawConfig): Config {
  const problems: string[] = [];
  const unknown = Object.keys(raw).filter((k) => !Object.hasOwn(DEFAULTS, k));
  for (const k of unknown) problems.push(`${k}: unknown setting`);

  const dataDir = raw.dataDir;
  if (typeof dataDir !== 'string' || dataDir === '') problems.push('dataDir: expected a non-empty path');
  const apiListen = parseListen(raw.apiListen, 'apiListen', problems);
  const adminToken = raw.adminToken;
  if (adminToken !== undefined && (typeof adminToken !== 'string' || adminToken.length < 16)) {
    problems.push('adminToken: expected a string of at least 16 characters');
  }
  const logLevel = raw.logLevel;
  if (!LOG_LEVELS.includes(logLevel as ServerLogLevel)) {
    problems.push(`logLevel: expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);
  }
  const apiBodyLimitBytes = positiveInt(raw.apiBodyLimitBytes, 'apiBodyLimitBytes', problems);
  const metricsAccess = typeof raw.metricsAccess === 'string' ? raw.metricsAccess.toLowerCase() : raw.metricsAccess;
  if (!METRICS_ACCESS.includes(metricsAccess as MetricsAccess)) {
    problems.push(`metricsAccess: expected one of ${METRICS_ACCESS.join(', ')}, got ${JSON.stringify(raw.metricsAccess)}`);
  }
  const mqttListen = listenList(raw.mqttListen, 'mqttListen', problems);
  const mqttPlainListen = listenList(raw.mqttPlainListen, 'mqttPlainListen', problems);
  const tlsCert = optionalString(raw.tlsCert, 'tlsCert', problems);
  const tlsKey = optionalString(raw.tlsKey, 'tlsKey', problems);
  if ((tlsCert === undefined) !== (tlsKey === undefined)) problems.push('tlsCert/tlsKey: give both or neither');
  else if (tlsCert !== undefined && tlsKey !== undefined) checkTlsFiles(tlsCert, tlsKey, problems);
  const tlsHostnames = list(raw.tlsHostnames).map(String);
  const tlsSni = parseTlsSni(raw.tlsSni, problems);
  const apiTlsListen = optionalListen(raw.apiTlsListen, 'apiTlsListen', problems);
  const grpcListen = optionalListen(raw.grpcListen, 'grpcListen', problems);
  const httpBridgeListen = optionalListen(raw.httpBridgeListen, 'httpBridgeListen', problems);
  const httpBridgePlainListen = optionalListen(raw.httpBridgePlainListen, 'httpBridgePlainListen', problems);
  const httpBridgeMaxConnections = positiveInt(raw.httpBridgeMaxConnections, 'httpBridgeMaxConnections', problems);
  const httpBridgeHeadersTimeoutMs = positiveInt(raw.httpBridgeHeadersTimeoutMs, 'httpBridgeHeadersTimeoutMs', problems);
  const httpBridgeRequestTimeoutMs = positiveInt(raw.httpBridgeRequestTimeoutMs, 'httpBridgeRequestTimeoutMs', problems);
  const httpBridgeKeepAliveTimeoutMs = positiveInt(raw.httpBridgeKeepAliveTimeoutMs, 'httpBridgeKeepAliveTimeoutMs', problems);
  const grpcAnonymous = bool(raw.grpcAnonymous, 'grpcAnonymous', problems);
  if (grpcAnonymous && grpcListen === undefined) problems.push('grpcAnonymous: applies to grpcListen, which is not set');
  const mqttMaxMessagesPerSecond = positiveInt(raw.mqttMaxMessagesPerSecond, 'mqttMaxMessagesPerSecond', problems, true);
  const mqttMaxConnections = positiveInt(raw.mqttMaxConnections, 'mqttMaxConnections', problems);
  const mqttMaxConnectionRate = positiveInt(raw.mqttMaxConnectionRate, 'mqttMaxConnectionRate', problems, true);
  const mqttMaxPacketBytes = positiveInt(raw.mqttMaxPacketBytes, 'mqttMaxPacketBytes', problems);
  const eventRetentionHours = positiveInt(raw.eventRetentionHours, 'eventRetentionHours', problems);
  const eventLogSync = typeof raw.eventLogSync === 'string' ? raw.eventLogSync.toUpperCase() : raw.eventLogSync;
  if (eventLogSync !== 'FULL' && eventLogSync !== 'NORMAL') problems.push(`eventLogSync: expected FULL or NORMAL, got ${JSON.stringify(raw.eventLogSync)}`);
  const helperThreadPriority = raw.helperThreadPriority;
  if (helperThreadPriority !== 'idle' && helperThreadPriority !== 'low' && helperThreadPriority !== 'normal') {
    problems.push(`helperThreadPriority: expected idle, low or normal, got ${JSON.stringify(raw.helperThreadPriority)}`);
  }
  const tokenUri = optionalString(raw.tokenUri, 'tokenUri', problems);
  if (tokenUri !== undefined && !isHttpUrl(tokenUri)) problems.push(`tokenUri: expected an absolute http(s) URL, got ${JSON.stringify(tokenUri)}`);
  const pubsubAutoCreateTopics = bool(raw.pubsubAutoCreateTopics, 'pubsubAutoCreateTopics', problems);
  const pushMaxOutstandingPerSubscription = positiveInt(raw.pushMaxOutstandingPerSubscription, 'pushMaxOutstandingPerSubscription', problems);
  const pushMaxSockets = positiveInt(raw.pushMaxSockets, 'pushMaxSockets', problems);
  const pushTokenIssuer = raw.pushTokenIssuer;
  if (typeof pushTokenIssuer !== 'string' || pushTokenIssuer === '') problems.push(`pushTokenIssuer: expected a non-empty string, got ${JSON.stringify(pushTokenIssuer)}`);
  const pubsubForwarding = parsePubsubForwarding(raw.pubsubForwarding, problems);
  const pubsubStreamRecheckSeconds = positiveInt(raw.pubsubStreamRecheckSeconds, 'pubsubStreamRecheckSeconds', problems);
  // Past a day a revocation would wait too long to count; past 24.8 days Node's timers fire at once.
  if (pubsubStreamRecheckSeconds > 86_400) problems.push(`pubsubStreamRecheckSeconds: expected at most 86400 (a day), got ${pubsubStreamRecheckSeconds}`);
  const store = optionalString(raw.store, 'store', problems);
  if (store !== undefined && store !== 'embedded' && !/^postgres(ql)?:\/\/./.test(store)) {
    problems.push('store: expected "embedded" or a postgres:// URL');
  }
  const shared = store !== undefined && store !== 'embedded' ? store : undefined;
  const nats = list(raw.nats).map(String);
  for (const [i, u] of nats.entries()) {
    if (!/^(nats|tls|wss?):\/\/[^\s]+$/.test(u)) problems.push(`nats[${i}]: expected a nats:// URL, got ${JSON.stringify(redactUrl(u))}`);
  }
  if (nats.length > 0 && shared === undefined) problems.push('nats: a cluster needs a shared store; set store to a postgres:// URL');
  const nodeId = optionalString(raw.nodeId, 'nodeId', problems);
  if (nodeId !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(nodeId)) problems.push(`nodeId: expected 1-64 of A-Z a-z 0-9 _ -, got ${JSON.stringify(nodeId)}`);
  const natsPrefix = raw.natsPrefix;
  if (typeof natsPrefix !== 'string' || !/^[A-Za-z0-9_-]{1,32}$/.test(natsPrefix)) problems.push(`natsPrefix: expected 1-32 of A-Z a-z 0-9 _ -, got ${JSON.stringify(natsPrefix)}`);
  const jetstreamReplicas = positiveInt(raw.jetstreamReplicas, 'jetstreamReplicas', problems);
  if (Number.isInteger(jetstreamReplicas) && jetstreamReplicas > 5) problems.push('jetstreamReplicas: JetStream allows at most 5');
  const jetstreamMaxBytes = positiveInt(raw.jetstreamMaxBytes, 'jetstreamMaxBytes', problems, true);
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({
    dataDir: dataDir as string,
    apiListen: Object.freeze(apiListen),
    adminToken: adminToken as string | undefined,
    logLevel: logLevel as ServerLogLevel,
    apiBodyLimitBytes,
    metricsAccess: metricsAccess as MetricsAccess,
    mqttListen: Object.freeze(mqttListen) as ListenAddress[],
    mqttPlainListen: Object.freeze(mqttPlainListen) as ListenAddress[],
    tlsCert,
    tlsKey,
    tlsHostnames: Object.freeze(tlsHostnames) as string[],
    tlsSni: Object.freeze(tlsSni.map((e) => Object.freeze(e))) as SniEntry[],
    apiTlsListen: apiTlsListen && Object.freeze(apiTlsListen),
    grpcListen: grpcListen && Object.freeze(grpcListen),
    httpBridgeListen: httpBridgeListen && Object.freeze(httpBridgeListen),
    httpBridgePlainListen: httpBridgePlainListen && Object.freeze(httpBridgePlainListen),
    httpBridgeMaxConnections,
    httpBridgeHeadersTimeoutMs,
    httpBridgeRequestTimeoutMs,
    httpBridgeKeepAliveTimeoutMs,
    grpcAnonymous,
    mqttMaxMessagesPerSecond,
    mqttMaxConnections,
    mqttMaxConnectionRate,
    mqttMaxPacketBytes,
    eventRetentionHours,
    eventLogSync: eventLogSync as 'FULL' | 'NORMAL',
    helperThreadPriority: helperThreadPriority as 'idle' | 'low' | 'normal',
    tokenUri,
    pubsubAutoCreateTopics,
    pushMaxOutstandingPerSubscription,
    pushMaxSockets,
    pushTokenIssuer: pushTokenIssuer as string,
    pubsubForwarding: Object.freeze(pubsubForwarding.map((r) => Object.freeze(r))) as ForwardingRule[],
    pubsubStreamRecheckSeconds,
    store: shared,
    nats: Object.freeze(nats) as string[],
    nodeId,
    natsPrefix: natsPrefix as string,
    jetstreamReplicas,
    jetstreamMaxBytes,
  });
}

/** A URL with its password replaced, for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.host !== '' && u.search === '' && u.hash === '';
  } catch {
    return false;
  }
}

/** For logs and the `listening` line: secrets never leave the process. */
export function redactConfig(config: Config): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  for (const { key, secret } of KEYS) if (secret && out[key] !== undefined) out[key] = '[redacted]';
  // Where the node's dependencies are is what an operator reads the start line for; only passwords go.
  if (config.store !== undefined) out.store = redactUrl(config.store);
  out.nats = config.nats.map(redactUrl);
  return out;
}

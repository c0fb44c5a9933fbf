import { randomUUID, X509Certificate } from 'node:crypto';
import { hostname } from 'node:os';
import { accessSync, constants as fsConstants, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { isLoopbackHost, redactConfig, type Config, type ListenAddress } from '../config/schema.js';
import { createApiServer } from '../adapters/rest/api-server.js';
import { NodeKeyInspector } from '../adapters/crypto/key-inspector.js';
import { DeviceTokenVerifier } from '../adapters/crypto/device-token-verifier.js';
import { NodeServiceAccountCrypto } from '../adapters/crypto/service-account-crypto.js';
import { registerEventLogRoutes } from '../adapters/rest/event-log-routes.js';
import { registerMetricsRoute } from '../adapters/rest/metrics-route.js';
import { registerHealthRoutes } from '../adapters/rest/health-routes.js';
import { registerMetricsHistoryRoute } from '../adapters/rest/metrics-history-route.js';
import { registerConsoleRoutes } from '../adapters/console/console-routes.js';
import { MetricsHistory } from '../observability/metrics-history.js';
import { MqttBridge } from '../adapters/mqtt/mqtt-bridge.js';
import { SessionIo } from '../adapters/mqtt/session-io.js';
import { DEFAULT_MQTT_LIMITS } from '../adapters/mqtt/session-types.js';
import { ensureTlsMaterial, reloadTlsMaterial } from '../adapters/mqtt/tls-material.js';
import { HttpBridgeListeners } from '../adapters/http-bridge/http-bridge-listeners.js';
import { DeviceHttpBridge } from '../services/device-http-bridge.js';
import { servedByApiTls } from '../adapters/api-tls/api-tls-listener.js';
import { DeviceAdmin } from '../services/device-admin.js';
import { ActivityRecorder } from '../services/activity-recorder.js';
import { DeviceAuthenticator } from '../services/device-auth.js';
import { DeviceIngress } from '../services/device-ingress.js';
import { RegistryCache } from '../services/registry-cache.js';
import { ApiAuth } from '../services/api-auth.js';
import { CallDeadlines } from '../services/call-deadlines.js';
import { LiveSessions } from '../services/live-sessions.js';
import { GatewayErrorHistory } from '../services/gateway-error-history.js';
import { systemTimers } from '../adapters/timers/system-timers.js';
import { ServiceAccountAdmin } from '../services/service-account-admin.js';
import { ServiceAccountCredentials } from '../services/service-account-credentials.js';
import type { Clock, Store } from '../services/ports.js';
import type { Logger } from 'pino';
import { createLogger, flushLogSync } from '../observability/logger.js';
import { lifecycleLine } from './lifecycle-log.js';
import { BridgeMetrics } from '../observability/metrics.js';
import { resolveAdminToken } from './admin-token.js';
import type { ApiListeners } from './api-listeners.js';
import { openPubSub } from './pubsub-wiring.js';
import { openBackend } from './backend.js';
import { preparePubSubConsumers } from './pubsub-consumers.js';
import { acquireDataDirLock, type DataDirLock } from './data-dir-lock.js';
import { dataDirError, explainStartupError } from './startup-error.js';

export interface RunningServer {
  /** What the `listening` line reports. */
  info: {
    api: string;
    /** `--api-tls-listen`: gRPC and REST over TLS. */
    apiTls: string | undefined;
    /** `--grpc-listen`: plaintext gRPC. */
    grpc: string | undefined;
    mqtt: string[];
    mqttPlain: string[];
    /** `--http-bridge-listen`: the HTTP device bridge over TLS. */
    httpBridge: string | undefined;
    /** `--http-bridge-plain-listen`. */
    httpBridgePlain: string | undefined;
    caFile: string | undefined;
    dataDir: string;
    database: string;
    eventLog: string;
    adminTokenFile: string | undefined;
  };
  /**
   * SIGHUP: reads the TLS certificates and keys (`--tls-cert`/`--tls-key`, `--tls-sni`, or the
   * generated ones) from disk again; new handshakes get them, open connections stay. A bad
   * certificate keeps the running ones and is logged. Resolves to whether the new ones took.
   */
  reloadTls(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * The data directory, created if missing, checked writable, and locked for this process: a second
 * server on it stops here (DataDirLockedError, docs/compat.md C-SERVER-LOCK).
 */
function claimDataDir(dataDir: string): DataDirLock {
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    accessSync(dataDir, fsConstants.R_OK | fsConstants.W_OK | fsConstants.X_OK);
  } catch (e) {
    throw dataDirError(dataDir, e as NodeJS.ErrnoException);
  }
  try {
    return acquireDataDirLock(dataDir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EROFS' || code === 'EPERM') throw dataDirError(dataDir, e as NodeJS.ErrnoException);
    throw e;
  }
}

const systemClock: Clock = { now: () => Date.now() };

/** How long a registry may be served from cache when a change event was missed. */
const REGISTRY_CACHE_MAX_AGE_MS = 30_000;

/** The Store methods DeviceAdmin writes with: none of them starts once its gRPC call is past its deadline. */
const STORE_WRITES: readonly (keyof Store)[] = [
  'createRegistry',
  'updateRegistry',
  'deleteRegistry',
  'createDevice',
  'updateDevice',
  'deleteDevice',
  'modifyConfig',
  'bind',
  'unbind',
  'setIamPolicy',
];

/** What an operator checks after a reload: which certificate is now served. */
function certificateSummary(pem: string): { serialNumber: string; fingerprint256: string; validTo: string } | undefined {
  try {
    const cert = new X509Certificate(pem);
    return { serialNumber: cert.serialNumber, fingerprint256: cert.fingerprint256, validTo: cert.validTo };
  } catch {
    return undefined;
  }
}

function url(scheme: string, address: AddressInfo): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${scheme}://${host}:${address.port}`;
}

/**
 * The composition root: the only place that chooses implementations. Starts parts in dependency
 * order and stops them in reverse.
 */
export async function startServer(config: Config): Promise<RunningServer> {
  const logger = createLogger(config.logLevel);
  // Written synchronously, like the startup failure line that may follow at once: a line still on
  // its way through the logger's asynchronous write would land after that one.
  lifecycleLine('info', 'starting', { config: redactConfig(config) }, config.logLevel);
  const dataDir = resolve(config.dataDir);
  let lock: DataDirLock | undefined;
  try {
    lock = claimDataDir(dataDir);
    const running = await startLocked(config, dataDir, logger);
    const held = lock;
    return { ...running, close: () => running.close().finally(() => held.release()) };
  } catch (e) {
    lock?.release();
    flushLogSync(logger);
    // The operator's problems (address in use, data directory) become one line naming the setting.
    throw explainStartupError(config, dataDir, e) ?? e;
  }
}

async function startLocked(config: Config, dataDir: string, logger: Logger): Promise<RunningServer> {
  const { token, file: adminTokenFile } = resolveAdminToken(config.adminToken, dataDir);
  const metrics = new BridgeMetrics();

  // Unique per node: the bus addresses it, and JetStream deduplicates its retried appends by it.
  const nodeId = config.nodeId ?? `${hostname()}-${randomUUID().slice(0, 8)}`;
  const backend = await openBackend(config, dataDir, logger, nodeId);
  const { store, sink, bus } = backend;
  const activity = new ActivityRecorder(store);
  const registries = new RegistryCache(store, systemClock, REGISTRY_CACHE_MAX_AGE_MS);
  const gatewayErrors = new GatewayErrorHistory();
  const live = new LiveSessions({
    nodeId,
    bus,
    store,
    registries,
    clock: systemClock,
    log: logger.child({ component: 'sessions' }),
    gatewayErrors,
    remoteCommandTimeoutMs: DEFAULT_MQTT_LIMITS.commandAckTimeoutMs + 3000,
    // Membership (heartbeats, a failed node's sessions forgotten) only where there are other nodes.
    ...(config.nats.length > 0 ? { timers: systemTimers } : {}),
    // Likewise session claims: alone, a node would only tell itself.
    announceSessions: config.nats.length > 0,
  });
  live.start();
  const saCrypto = new NodeServiceAccountCrypto();
  const credentials = new ServiceAccountCredentials(store, saCrypto, systemClock);
  const stopFollowingKeys = credentials.follow(bus, (err) => logger.warn({ err }, 'could not recheck service-account keys after a bus gap'));
  // Pub/Sub resources' own policies grant too (docs/compat.md C-PS-IAM), not only the project's.
  const auth = new ApiAuth(token, { credentials, policies: store, resourcePolicies: backend.pubsubStore });
  // Push delivery exists once the API server does (it adds a route); no API write can come before.
  let followSubscription: (name: string) => void = () => {};
  const pubsub = openPubSub({
    backend,
    auth,
    clock: systemClock,
    timers: systemTimers,
    streamRecheckMs: config.pubsubStreamRecheckSeconds * 1000,
    logger,
    bus,
    nodeId,
    onSubscriptionWrite: (name) => followSubscription(name),
  });
  const deadlines = new CallDeadlines(systemClock);
  const admin = new DeviceAdmin(
    deadlines.guardWrites(store, STORE_WRITES),
    new NodeKeyInspector(),
    systemClock,
    bus,
    deadlines.guardWrites(live, ['send']),
    auth,
    config.pubsubAutoCreateTopics ? pubsub.admin : undefined,
    live,
    live,
  );
  const accounts = new ServiceAccountAdmin({
    store,
    crypto: saCrypto,
    clock: systemClock,
    auth,
    credentials,
    bus,
    tokenUri: config.tokenUri,
    pubsubPolicies: backend.pubsubStore,
  });

  const tls = await ensureTlsMaterial(dataDir, { certFile: config.tlsCert, keyFile: config.tlsKey, hostnames: config.tlsHostnames, sni: config.tlsSni });
  // One authenticator (and its key cache) and one ingress (one group commit) for both bridges.
  const deviceAuth = new DeviceAuthenticator(store, new DeviceTokenVerifier(), systemClock, registries, () => backend.deviceSessionsBlocked());
  const ingress = new DeviceIngress(sink, store, activity, metrics, pubsub.topics);
  const bridge = new MqttBridge({
    env: {
      clock: systemClock,
      limits: { ...DEFAULT_MQTT_LIMITS, maxMessagesPerSecond: config.mqttMaxMessagesPerSecond },
      ports: new SessionIo({ auth: deviceAuth, ingress, store }),
      store,
      registries,
      directory: live,
      activity,
      gatewayErrors,
      metrics,
      log: logger.child({ component: 'mqtt' }),
    },
    tls,
    listen: config.mqttListen,
    plainListen: config.mqttPlainListen,
    maxConnections: config.mqttMaxConnections,
    maxConnectionRate: config.mqttMaxConnectionRate,
    maxPacketBytes: config.mqttMaxPacketBytes,
    activityFlushMs: 5000,
  });

  const httpBridge =
    config.httpBridgeListen || config.httpBridgePlainListen
      ? new HttpBridgeListeners({
          bridge: new DeviceHttpBridge({
            auth: deviceAuth,
            store,
            ingress,
            activity,
            clock: systemClock,
            observer: { authFailure: (reason) => metrics.httpAuthFailure(reason) },
            log: logger.child({ component: 'http-bridge' }),
            registries,
          }),
          logger: logger.child({ component: 'http-bridge' }),
          observer: metrics,
          timeouts: {
            headersMs: config.httpBridgeHeadersTimeoutMs,
            requestMs: config.httpBridgeRequestTimeoutMs,
            keepAliveMs: config.httpBridgeKeepAliveTimeoutMs,
          },
          tls,
          listen: config.httpBridgeListen,
          plainListen: config.httpBridgePlainListen,
          maxConnections: config.httpBridgeMaxConnections,
        })
      : undefined;

  const api = createApiServer({
    admin,
    auth,
    serviceAccounts: { admin: accounts, credentials, tokenUri: config.tokenUri },
    bodyLimitBytes: config.apiBodyLimitBytes,
    logger,
    observer: metrics,
  });
  registerHealthRoutes(api, { checks: () => backend.health() });
  registerEventLogRoutes(api, { log: backend.messageLog, auth, rechecks: pubsub.streamRechecks });
  registerMetricsRoute(api, {
    access: config.metricsAccess,
    auth,
    // The TLS API port faces backends, often the Internet; metrics stay on the admin listener.
    hiddenFrom: (request) => servedByApiTls(request.raw.socket),
    render: () => metrics.registry.metrics(),
    contentType: metrics.registry.contentType,
  });

  const history = new MetricsHistory({ totals: () => metrics.totals(), connectedDevices: () => live.knownConnected, now: systemClock.now });
  history.start();
  registerMetricsHistoryRoute(api, { auth, history });
  // dist/src/main/server.js -> dist/console, where scripts/build-console.mjs puts the bundle.
  registerConsoleRoutes(api, { dir: resolve(dirname(fileURLToPath(import.meta.url)), '../../console') });

  const consumers = await preparePubSubConsumers(config, {
    dataDir,
    store: pubsub.store,
    log: pubsub.log,
    engine: pubsub.engine,
    relayedEngine: pubsub.relayedEngine,
    api,
    registry: metrics.registry,
    clock: systemClock,
    logger,
  });
  followSubscription = (name) => consumers.subscriptionWritten(name);
  const stopFollowingNodes = pubsub.followOtherNodes(
    (name) => consumers.subscriptionWritten(name),
    () => consumers.resync().catch((err: unknown) => logger.warn({ err }, 'could not recheck push subscriptions after a bus gap')),
  );

  let listeners: ApiListeners | undefined;
  const stopApi = async (): Promise<void> => {
    // Bridgehead's own consumers stop before the engine ends every stream.
    await consumers.close();
    // Streams end as the gRPC servers stop taking calls, so that their shutdown need not wait them out.
    await Promise.all([api.close(), listeners?.close(), pubsub.stopDelivery()]);
  };

  const stopStorage = async (): Promise<void> => {
    history.stop();
    stopFollowingKeys();
    stopFollowingNodes();
    live.close();
    await pubsub.stopDelivery();
    await backend.close();
  };
  try {
    // An installation upgraded from before Pub/Sub: its registries' topics exist from the first start (C-PS-AUTO-TOPICS).
    if (config.pubsubAutoCreateTopics) {
      const { skipped } = await pubsub.admin.ensureExistingRegistryTopics(store);
      if (skipped.length) logger.warn({ topics: skipped }, 'registries name Pub/Sub topics whose names Pub/Sub refuses; not created, their messages reach no subscription');
    }
    await bridge.start();
    await httpBridge?.start();
    await api.listen({ host: config.apiListen.host, port: config.apiListen.port });
    if (config.grpcListen || config.apiTlsListen) {
      const { startApiListeners } = await import('./api-listeners.js');
      listeners = await startApiListeners(config, {
        admin,
        auth,
        deadlines,
        rest: api,
        tls,
        logger,
        observer: metrics,
        pubsub: { publisher: pubsub.admin, subscriber: pubsub.admin, iam: pubsub.admin },
      });
    }
    await consumers.start();
  } catch (e) {
    await httpBridge?.close();
    await bridge.close();
    await stopApi();
    await stopStorage();
    throw e;
  }
  if (config.grpcAnonymous && !isLoopbackHost((config.grpcListen as ListenAddress).host)) {
    logger.warn(
      { grpcListen: url('grpc', listeners!.grpc!) },
      'gRPC calls without credentials run with full rights (--grpc-anonymous) on an address that is not loopback',
    );
  }

  let closing: Promise<void> | undefined;
  const reloadTls = async (): Promise<boolean> => {
    try {
      const next = await ensureTlsMaterial(dataDir, { certFile: config.tlsCert, keyFile: config.tlsKey, hostnames: config.tlsHostnames, sni: config.tlsSni });
      reloadTlsMaterial(tls, next);
      logger.info({ certificate: certificateSummary(tls.cert), sni: [...tls.sni.keys()] }, 'TLS certificates reloaded');
      return true;
    } catch (err) {
      logger.error({ err: { message: (err as Error).message }, tlsCert: config.tlsCert, tlsKey: config.tlsKey }, 'TLS certificate reload failed; the running certificates stay in use');
      return false;
    }
  };
  return {
    reloadTls,
    info: {
      api: url('http', api.server.address() as AddressInfo),
      apiTls: listeners?.apiTls && url('https', listeners.apiTls),
      grpc: listeners?.grpc && url('grpc', listeners.grpc),
      mqtt: bridge.urls.tls,
      mqttPlain: bridge.urls.plain,
      httpBridge: httpBridge?.urls.tls,
      httpBridgePlain: httpBridge?.urls.plain,
      caFile: tls.caFile,
      dataDir,
      database: backend.where.database,
      eventLog: backend.where.eventLog,
      adminTokenFile,
    },
    close() {
      closing ??= (async () => {
        await stopApi();
        await httpBridge?.close();
        await bridge.close();
        await stopStorage();
        logger.flush();
      })();
      return closing;
    },
  };
}

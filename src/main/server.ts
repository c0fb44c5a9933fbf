import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { redactConfig, type Config } from '../config/schema.js';
import { createApiServer } from '../adapters/rest/api-server.js';
import { SqliteStore } from '../adapters/store/sqlite/sqlite-store.js';
import { NodeKeyInspector } from '../adapters/crypto/key-inspector.js';
import { JoseTokenVerifier } from '../adapters/crypto/device-token-verifier.js';
import { NodeServiceAccountCrypto } from '../adapters/crypto/service-account-crypto.js';
import { EmbeddedLogSink } from '../adapters/sinks/embedded-log/embedded-log-sink.js';
import { EmbeddedLogReader } from '../adapters/sinks/embedded-log/log-reader.js';
import { registerEventLogRoutes } from '../adapters/rest/event-log-routes.js';
import { registerMetricsRoute } from '../adapters/rest/metrics-route.js';
import { LocalBus } from '../adapters/bus/local-bus.js';
import { MqttBridge } from '../adapters/mqtt/mqtt-bridge.js';
import { SessionIo } from '../adapters/mqtt/session-io.js';
import { DEFAULT_MQTT_LIMITS } from '../adapters/mqtt/session-types.js';
import { ensureTlsMaterial } from '../adapters/mqtt/tls-material.js';
import { DeviceAdmin } from '../services/device-admin.js';
import { ActivityRecorder } from '../services/activity-recorder.js';
import { DeviceAuthenticator } from '../services/device-auth.js';
import { DeviceIngress } from '../services/device-ingress.js';
import { RegistryCache } from '../services/registry-cache.js';
import { ApiAuth } from '../services/api-auth.js';
import { LiveSessions } from '../services/live-sessions.js';
import { ServiceAccountAdmin } from '../services/service-account-admin.js';
import { ServiceAccountCredentials } from '../services/service-account-credentials.js';
import type { Clock } from '../services/ports.js';
import { createLogger } from '../observability/logger.js';
import { BridgeMetrics } from '../observability/metrics.js';
import { resolveAdminToken } from './admin-token.js';

export interface RunningServer {
  /** What the `listening` line reports. */
  info: {
    api: string;
    mqtt: string[];
    mqttPlain: string[];
    caFile: string | undefined;
    dataDir: string;
    database: string;
    eventLog: string;
    adminTokenFile: string | undefined;
  };
  close(): Promise<void>;
}

const systemClock: Clock = { now: () => Date.now() };

/** How long a registry may be served from cache when a change event was missed. */
const REGISTRY_CACHE_MAX_AGE_MS = 30_000;

/**
 * The composition root: the only place that chooses implementations. Starts parts in dependency
 * order and stops them in reverse.
 */
export async function startServer(config: Config): Promise<RunningServer> {
  const logger = createLogger(config.logLevel);
  logger.info({ config: redactConfig(config) }, 'starting');
  const dataDir = resolve(config.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const { token, file: adminTokenFile } = resolveAdminToken(config.adminToken, dataDir);
  const metrics = new BridgeMetrics();

  const databasePath = join(dataDir, 'registry.db');
  const eventLogPath = join(dataDir, 'events.db');
  const store = SqliteStore.open(databasePath);
  const sink = EmbeddedLogSink.open(eventLogPath, {
    retentionMs: config.eventRetentionHours * 3600_000,
    synchronous: config.eventLogSync,
    onError: (err) => logger.warn({ err }, 'event log background task failed'),
  });
  const reader = EmbeddedLogReader.open(eventLogPath, sink);
  const bus = new LocalBus();
  const activity = new ActivityRecorder(store);
  const registries = new RegistryCache(store, systemClock, REGISTRY_CACHE_MAX_AGE_MS);
  const live = new LiveSessions({
    nodeId: randomUUID(),
    bus,
    store,
    registries,
    clock: systemClock,
    log: logger.child({ component: 'sessions' }),
    remoteCommandTimeoutMs: DEFAULT_MQTT_LIMITS.commandAckTimeoutMs + 3000,
  });
  live.start();
  const saCrypto = new NodeServiceAccountCrypto();
  const credentials = new ServiceAccountCredentials(store, saCrypto, systemClock);
  const stopFollowingKeys = credentials.follow(bus);
  const auth = new ApiAuth(token, { credentials, policies: store });
  const admin = new DeviceAdmin(store, new NodeKeyInspector(), systemClock, bus, live, auth);
  const accounts = new ServiceAccountAdmin({ store, crypto: saCrypto, clock: systemClock, auth, credentials, bus, tokenUri: config.tokenUri });

  const tls = await ensureTlsMaterial(dataDir, { certFile: config.tlsCert, keyFile: config.tlsKey, hostnames: config.tlsHostnames });
  const bridge = new MqttBridge({
    env: {
      clock: systemClock,
      limits: { ...DEFAULT_MQTT_LIMITS, maxMessagesPerSecond: config.mqttMaxMessagesPerSecond },
      ports: new SessionIo({
        auth: new DeviceAuthenticator(store, new JoseTokenVerifier(), systemClock, registries),
        ingress: new DeviceIngress(sink, store, activity, metrics),
        store,
      }),
      store,
      registries,
      directory: live,
      activity,
      metrics,
      log: logger.child({ component: 'mqtt' }),
    },
    tls,
    listen: config.mqttListen,
    plainListen: config.mqttPlainListen,
    maxConnections: config.mqttMaxConnections,
    maxPacketBytes: config.mqttMaxPacketBytes,
    activityFlushMs: 5000,
  });

  const api = createApiServer({
    admin,
    auth,
    serviceAccounts: { admin: accounts, credentials, tokenUri: config.tokenUri },
    bodyLimitBytes: config.apiBodyLimitBytes,
    logger,
  });
  registerEventLogRoutes(api, { reader, auth });
  registerMetricsRoute(api, {
    access: config.metricsAccess,
    auth,
    render: () => metrics.registry.metrics(),
    contentType: metrics.registry.contentType,
  });

  const stopStorage = async (): Promise<void> => {
    stopFollowingKeys();
    live.close();
    reader.close();
    await sink.close();
    await bus.close();
    await store.close();
  };
  try {
    await bridge.start();
    await api.listen({ host: config.apiListen.host, port: config.apiListen.port });
  } catch (e) {
    await bridge.close();
    await api.close();
    await stopStorage();
    throw e;
  }
  const address = api.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let closing: Promise<void> | undefined;
  return {
    info: {
      api: `http://${host}:${address.port}`,
      mqtt: bridge.urls.tls,
      mqttPlain: bridge.urls.plain,
      caFile: tls.caFile,
      dataDir,
      database: databasePath,
      eventLog: eventLogPath,
      adminTokenFile,
    },
    close() {
      closing ??= (async () => {
        await api.close();
        await bridge.close();
        await stopStorage();
        logger.flush();
      })();
      return closing;
    },
  };
}

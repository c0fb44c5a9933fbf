import { join } from 'node:path';
import type { Logger } from 'pino';
import type pg from 'pg';
import { redactUrl, type Config } from '../config/schema.js';
import { SchemaVersionError } from '../adapters/store/postgres/pg-migrations.js';
import { StoreInUseError } from '../adapters/store/postgres/pg-offline-lock.js';
import { openPgPool } from '../adapters/store/postgres/pg-pool.js';
import { PgPubSubStore } from '../adapters/store/postgres/pg-pubsub-store.js';
import { PgStore } from '../adapters/store/postgres/pg-store.js';
import { StartupError } from './startup-error.js';
import type { DependencyHealth } from '../adapters/rest/health-routes.js';
import { LocalBus } from '../adapters/bus/local-bus.js';
import { EmbeddedLogSink } from '../adapters/sinks/embedded-log/embedded-log-sink.js';
import { EmbeddedMessageLog } from '../adapters/sinks/embedded-log/embedded-message-log.js';
import { SqlitePubSubStore } from '../adapters/store/sqlite/sqlite-pubsub-store.js';
import { SqliteStore } from '../adapters/store/sqlite/sqlite-store.js';
import { systemTimers } from '../adapters/timers/system-timers.js';
import type { Bus, Clock, Sink, Store } from '../services/ports.js';
import type { SubscriptionEngine } from '../services/pubsub/pubsub-api.js';
import type { MessageLog, PubSubStore } from '../services/pubsub/pubsub-ports.js';
import { LogSubscriptionEngine } from '../services/pubsub/subscription-engine.js';

/**
 * The storage and messaging engines of one node, chosen once by the composition root: the
 * embedded defaults (SQLite files in the data directory, the in-process bus, the embedded event
 * log), or the shared engines of a cluster (PostgreSQL, NATS, JetStream). Everything above this
 * sees only the ports.
 */
export interface Backend {
  store: Store;
  bus: Bus;
  /** Where device telemetry and Pub/Sub Publish are durably appended. */
  sink: Sink;
  pubsubStore: PubSubStore;
  /** The read side of the sink's log. */
  messageLog: MessageLog;
  /** The Pub/Sub delivery engine over this backend's log. */
  newEngine(deps: { clock: Clock; onError: (err: unknown, subscription: string) => void }): SubscriptionEngine;
  /** For the listening line: where the registry and the event log are. */
  where: { database: string; pubsubDatabase: string; eventLog: string };
  /** Each dependency's reachability, for /healthz and /readyz. */
  health(): Promise<Record<string, DependencyHealth>>;
  /**
   * Why no new device session can be served now (a cluster node cut off from NATS), or undefined;
   * a synchronous look at connection states, cheap enough for every CONNECT.
   */
  deviceSessionsBlocked(): string | undefined;
  /** After everything using the backend has stopped. */
  close(): Promise<void>;
}

export type { DependencyHealth } from '../adapters/rest/health-routes.js';

export async function openBackend(config: Config, dataDir: string, logger: Logger, nodeId: string): Promise<Backend> {
  if (config.store === undefined) return openEmbedded(config, dataDir, logger);
  const pg = await openPostgres(config.store, logger, nodeId);
  try {
    if (config.nats.length === 0) return withEmbeddedLog(pg, config, dataDir, logger);
    const { openClusterMessaging } = await import('./cluster-backend.js');
    return await openClusterMessaging(pg, config, logger, nodeId);
  } catch (e) {
    await pg.close();
    throw e;
  }
}

/** The registry and Pub/Sub resources in one PostgreSQL database, on one pool. */
export interface PostgresStores {
  store: Store;
  pubsubStore: PubSubStore;
  /** Where it is, password hidden. */
  shown: string;
  health(): Promise<DependencyHealth>;
  close(): Promise<void>;
}

/** How long a starting node waits for PostgreSQL to accept connections (a database starting beside it). */
const STARTUP_WAIT_MS = 30_000;

async function openPostgres(url: string, logger: Logger, nodeId: string): Promise<PostgresStores> {
  const shown = redactUrl(url);
  const pool = openPgPool(url, {
    max: 20,
    applicationName: `bridgehead ${nodeId}`,
    onIdleError: (err) => logger.warn({ err: { message: err.message }, store: shown }, 'PostgreSQL connection lost; it is replaced on next use'),
  });
  try {
    await waitForPostgres(pool, shown, logger);
    // One after the other: both migrate under the same advisory lock.
    const store = await PgStore.open(url, { pool });
    const pubsubStore = await PgPubSubStore.open(url, { pool });
    return {
      store,
      pubsubStore,
      shown,
      async health() {
        try {
          await pool.query('SELECT 1');
          return { ok: true, detail: 'PostgreSQL' };
        } catch (e) {
          return { ok: false, detail: `PostgreSQL: ${pgFailure(e)}` };
        }
      },
      async close() {
        await pubsubStore.close();
        await store.close();
        await pool.end();
      },
    };
  } catch (e) {
    await pool.end().catch(() => undefined);
    if (e instanceof SchemaVersionError) throw new StartupError('store', shown, `store ${shown}: ${e.message}`);
    // An import holding the database: the message already names the store and who holds it.
    if (e instanceof StoreInUseError) throw new StartupError('store', shown, e.message);
    throw e;
  }
}

/** A failure's kind (refused, timed out, SQLSTATE), without the host or credentials a driver message may carry. */
function pgFailure(e: unknown): string {
  const code = (e as { code?: unknown })?.code;
  if (typeof code === 'string') return code;
  return /timeout/i.test((e as Error)?.message ?? '') ? 'timeout' : 'unreachable';
}

async function waitForPostgres(pool: pg.Pool, shown: string, logger: Logger): Promise<void> {
  const deadline = Date.now() + STARTUP_WAIT_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      await pool.query('SELECT 1');
      return;
    } catch (e) {
      if (Date.now() > deadline) {
        throw new Error(`store ${shown}: PostgreSQL did not accept connections within ${STARTUP_WAIT_MS / 1000} s (${(e as Error).message})`, { cause: e });
      }
      logger.warn({ store: shown, attempt, err: { message: (e as Error).message } }, 'waiting for PostgreSQL');
      await new Promise((r) => setTimeout(r, Math.min(2000, 250 * attempt)));
    }
  }
}

/** PostgreSQL stores with the embedded log and the in-process bus: one node on a shared or managed database. */
function withEmbeddedLog(pg: PostgresStores, config: Config, dataDir: string, logger: Logger): Backend {
  const eventLogPath = join(dataDir, 'events.db');
  const log = openEmbeddedLog(config, eventLogPath, logger);
  const bus = new LocalBus();
  return {
    store: pg.store,
    bus,
    sink: log.sink,
    pubsubStore: pg.pubsubStore,
    messageLog: log.messageLog,
    newEngine: ({ clock, onError }) =>
      new LogSubscriptionEngine({ store: pg.pubsubStore, log: log.messageLog, sink: log.sink, clock, timers: systemTimers, onError }),
    where: { database: pg.shown, pubsubDatabase: pg.shown, eventLog: eventLogPath },
    health: async () => ({ store: await pg.health(), log: { ok: true, detail: 'embedded event log' } }),
    // A PostgreSQL outage shows as the store's own errors (CONNACK 3 from authentication).
    deviceSessionsBlocked: () => undefined,
    async close() {
      await log.close();
      await bus.close();
      await pg.close();
    },
  };
}

interface EmbeddedLog {
  sink: EmbeddedLogSink;
  messageLog: EmbeddedMessageLog;
  close(): Promise<void>;
}

function openEmbeddedLog(config: Config, eventLogPath: string, logger: Logger): EmbeddedLog {
  const sink = EmbeddedLogSink.open(eventLogPath, {
    retentionMs: config.eventRetentionHours * 3600_000,
    synchronous: config.eventLogSync,
    onError: (err) => logger.warn({ err }, 'event log background task failed'),
  });
  try {
    const messageLog = EmbeddedMessageLog.open(eventLogPath, sink);
    return {
      sink,
      messageLog,
      async close() {
        messageLog.close();
        await sink.close();
      },
    };
  } catch (e) {
    void sink.close();
    throw e;
  }
}

function openEmbedded(config: Config, dataDir: string, logger: Logger): Backend {
  const database = join(dataDir, 'registry.db');
  const pubsubDatabase = join(dataDir, 'pubsub.db');
  const eventLogPath = join(dataDir, 'events.db');
  const opened: (() => unknown)[] = [];
  try {
    const store = SqliteStore.open(database);
    opened.push(() => store.close());
    const log = openEmbeddedLog(config, eventLogPath, logger);
    opened.push(() => log.close());
    const pubsubStore = SqlitePubSubStore.open(pubsubDatabase);
    const bus = new LocalBus();
    return {
      store,
      bus,
      sink: log.sink,
      pubsubStore,
      messageLog: log.messageLog,
      newEngine: ({ clock, onError }) =>
        new LogSubscriptionEngine({ store: pubsubStore, log: log.messageLog, sink: log.sink, clock, timers: systemTimers, onError }),
      where: { database, pubsubDatabase, eventLog: eventLogPath },
      // Embedded files either opened at start or the server did not start. Details name the kind
      // of dependency, never a path or host: the routes need no credential.
      health: async () => ({ store: { ok: true, detail: 'embedded SQLite' }, log: { ok: true, detail: 'embedded event log' } }),
      deviceSessionsBlocked: () => undefined,
      async close() {
        await pubsubStore.close();
        await log.close();
        await bus.close();
        await store.close();
      },
    };
  } catch (e) {
    void unwind(opened);
    throw e;
  }
}

/** Closes what was opened so far, newest first, when a later part fails to open. */
async function unwind(opened: (() => unknown)[]): Promise<void> {
  for (const close of opened.reverse()) {
    try {
      await close();
    } catch {
      // The original failure is the one to report.
    }
  }
}

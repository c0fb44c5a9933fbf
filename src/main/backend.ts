import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { DependencyHealth } from '../adapters/rest/health-routes.js';
import { LocalBus } from '../adapters/bus/local-bus.js';
import { EmbeddedLogSink } from '../adapters/sinks/embedded-log/embedded-log-sink.js';
import { EmbeddedMessageLog } from '../adapters/sinks/embedded-log/embedded-message-log.js';
import { EmbeddedLogReader, type EventLogSource } from '../adapters/sinks/embedded-log/log-reader.js';
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
  /** What the REST event-log routes read. */
  eventLog: EventLogSource;
  /** The Pub/Sub delivery engine over this backend's log. */
  newEngine(deps: { clock: Clock; onError: (err: unknown, subscription: string) => void }): SubscriptionEngine;
  /** For the listening line: where the registry and the event log are. */
  where: { database: string; pubsubDatabase: string; eventLog: string };
  /** Each dependency's reachability, for /healthz and /readyz. */
  health(): Promise<Record<string, DependencyHealth>>;
  /** After everything using the backend has stopped. */
  close(): Promise<void>;
}

export type { DependencyHealth } from '../adapters/rest/health-routes.js';

export async function openBackend(config: Config, dataDir: string, logger: Logger, _nodeId: string): Promise<Backend> {
  return openEmbedded(config, dataDir, logger);
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

function openEmbedded(config: Config, dataDir: string, logger: Logger): Backend {
  const database = join(dataDir, 'registry.db');
  const pubsubDatabase = join(dataDir, 'pubsub.db');
  const eventLogPath = join(dataDir, 'events.db');
  const opened: (() => unknown)[] = [];
  try {
    const store = SqliteStore.open(database);
    opened.push(() => store.close());
    const sink = EmbeddedLogSink.open(eventLogPath, {
      retentionMs: config.eventRetentionHours * 3600_000,
      synchronous: config.eventLogSync,
      onError: (err) => logger.warn({ err }, 'event log background task failed'),
    });
    opened.push(() => sink.close());
    const reader = EmbeddedLogReader.open(eventLogPath, sink);
    opened.push(() => reader.close());
    const pubsubStore = SqlitePubSubStore.open(pubsubDatabase);
    opened.push(() => pubsubStore.close());
    const messageLog = EmbeddedMessageLog.open(eventLogPath, sink);
    opened.push(() => messageLog.close());
    const bus = new LocalBus();
    return {
      store,
      bus,
      sink,
      pubsubStore,
      messageLog,
      eventLog: reader,
      newEngine: ({ clock, onError }) => new LogSubscriptionEngine({ store: pubsubStore, log: messageLog, sink, clock, timers: systemTimers, onError }),
      where: { database, pubsubDatabase, eventLog: eventLogPath },
      // Embedded files either opened at start or the server did not start. Details name the kind
      // of dependency, never a path or host: the routes need no credential.
      health: async () => ({ store: { ok: true, detail: 'embedded SQLite' }, log: { ok: true, detail: 'embedded event log' } }),
      async close() {
        messageLog.close();
        await pubsubStore.close();
        reader.close();
        await sink.close();
        await bus.close();
        await store.close();
      },
    };
  } catch (e) {
    void unwind(opened);
    throw e;
  }
}

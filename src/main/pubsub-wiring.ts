import { join } from 'node:path';
import type { Logger } from 'pino';
import { EmbeddedMessageLog } from '../adapters/sinks/embedded-log/embedded-message-log.js';
import type { CommitSource } from '../adapters/sinks/embedded-log/log-reader.js';
import { observeSubscriptionWrites } from '../adapters/pubsub-push/subscription-write-observer.js';
import { SqlitePubSubStore } from '../adapters/store/sqlite/sqlite-pubsub-store.js';
import { systemTimers } from '../adapters/timers/system-timers.js';
import type { ApiAuth } from '../services/api-auth.js';
import type { TopicCheck } from '../services/device-ingress.js';
import type { Clock, Sink } from '../services/ports.js';
import { PubSubAdmin } from '../services/pubsub/pubsub-admin.js';
import type { SubscriptionEngine } from '../services/pubsub/pubsub-api.js';
import type { MessageLog, PubSubStore } from '../services/pubsub/pubsub-ports.js';
import { LogSubscriptionEngine } from '../services/pubsub/subscription-engine.js';

/**
 * The Pub/Sub part of the composition root (issue 9): its own SQLite file for resources and ack
 * state, the embedded event log's read side, the delivery engine and the services the edges call.
 * Messages are appended through the telemetry sink, so devices and Publish share one log.
 */

export interface PubSub {
  /** Publisher, Subscriber and IAMPolicy for the gRPC edge; DeviceAdmin's topic provisioner. */
  admin: PubSubAdmin;
  /** Whether a topic exists, for DeviceIngress (spec §8.3). */
  topics: TopicCheck;
  /** For Bridgehead's own consumers (push delivery, forwarding; src/main/pubsub-consumers.ts). */
  store: PubSubStore;
  log: MessageLog;
  engine: SubscriptionEngine;
  /** Path of the Pub/Sub database. */
  database: string;
  /** Ends every stream (UNAVAILABLE: clients reconnect) and flushes pending acks: before the gRPC server waits for its calls. */
  stopDelivery(): Promise<void>;
  /** Closes the log reader and the store; after stopDelivery and after the bridges (DeviceIngress checks topics). */
  close(): Promise<void>;
}

export function openPubSub(deps: {
  dataDir: string;
  eventLogPath: string;
  sink: Sink & CommitSource;
  auth: ApiAuth;
  clock: Clock;
  logger: Logger;
  /** After every committed subscription write of the API (create, update, push config, detach, delete): push delivery follows. */
  onSubscriptionWrite?: (name: string) => void;
}): PubSub {
  const database = join(deps.dataDir, 'pubsub.db');
  const store = SqlitePubSubStore.open(database);
  let messages: EmbeddedMessageLog;
  try {
    messages = EmbeddedMessageLog.open(deps.eventLogPath, deps.sink);
  } catch (e) {
    void store.close();
    throw e;
  }
  const log = deps.logger.child({ component: 'pubsub' });
  const engine = new LogSubscriptionEngine({
    store,
    log: messages,
    sink: deps.sink,
    clock: deps.clock,
    timers: systemTimers,
    onError: (err, subscription) => log.warn({ err, subscription }, 'Pub/Sub delivery task failed; retrying'),
  });
  const onWrite = deps.onSubscriptionWrite;
  const adminStore = onWrite ? observeSubscriptionWrites(store, onWrite) : store;
  const admin = new PubSubAdmin({ store: adminStore, sink: deps.sink, log: messages, engine, auth: deps.auth, clock: deps.clock });
  return {
    admin,
    topics: { exists: async (topic) => (await store.getTopic(topic)) !== undefined },
    store,
    log: messages,
    engine,
    database,
    stopDelivery: () => engine.close(),
    async close() {
      // The engine first, always: its last acks go to the store, and it reads the log until it stops.
      await engine.close();
      messages.close();
      await store.close();
    },
  };
}

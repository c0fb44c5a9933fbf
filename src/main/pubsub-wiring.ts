import type { Logger } from 'pino';
import { observeSubscriptionWrites } from '../adapters/pubsub-push/subscription-write-observer.js';
import type { ApiAuth } from '../services/api-auth.js';
import type { TopicCheck } from '../services/device-ingress.js';
import type { Bus, Clock, Timers } from '../services/ports.js';
import { SubscriptionChangeRelay } from '../services/pubsub/subscription-change-relay.js';
import { PubSubAdmin } from '../services/pubsub/pubsub-admin.js';
import type { SubscriptionEngine } from '../services/pubsub/pubsub-api.js';
import type { MessageLog, PubSubStore } from '../services/pubsub/pubsub-ports.js';
import { StreamRechecks } from '../services/pubsub/stream-rechecks.js';
import type { Backend } from './backend.js';

/**
 * The Pub/Sub part of the composition root (issue 9): the backend's resource store and log, the
 * delivery engine and the services the edges call. Messages are appended through the telemetry
 * sink, so devices and Publish share one log.
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
  /**
   * The same engine, its subscriptionChanged/subscriptionDeleted also told to the other nodes: for
   * a consumer that writes subscriptions itself (the forwarder replacing its internal one).
   */
  relayedEngine: SubscriptionEngine;
  /** Open streams' callers, checked again (C-PS-STREAM-AUTH): StreamingPull's, and the event log's for its edge. */
  streamRechecks: StreamRechecks;
  /** Ends every stream (UNAVAILABLE: clients reconnect) and flushes pending acks: before the gRPC server waits for its calls. */
  stopDelivery(): Promise<void>;
  /**
   * Subscription writes made through other nodes reach this node's engine and `onRemoteChange`
   * (push delivery), and after a gap in the bus `onGap`; returns a stop function.
   */
  followOtherNodes(onRemoteChange: (name: string) => void, onGap: () => void): () => void;
}

export function openPubSub(deps: {
  backend: Pick<Backend, 'pubsubStore' | 'messageLog' | 'sink' | 'newEngine'>;
  auth: ApiAuth;
  clock: Clock;
  timers: Timers;
  /** How often open StreamingPulls are authorized again (docs/compat.md C-PS-STREAM-AUTH). */
  streamRecheckMs: number;
  logger: Logger;
  bus: Bus;
  nodeId: string;
  /** After every committed subscription write of the API (create, update, push config, detach, delete): push delivery follows. */
  onSubscriptionWrite?: (name: string) => void;
}): PubSub {
  const { pubsubStore: store, messageLog: messages, sink } = deps.backend;
  const log = deps.logger.child({ component: 'pubsub' });
  const engine = deps.backend.newEngine({
    clock: deps.clock,
    onError: (err, subscription) => log.warn({ err, subscription }, 'Pub/Sub delivery task failed; retrying'),
  });
  const onWrite = deps.onSubscriptionWrite;
  const adminStore = onWrite ? observeSubscriptionWrites(store, onWrite) : store;
  const relay = new SubscriptionChangeRelay(deps.bus, deps.nodeId, (err) => log.warn({ err }, 'could not tell other nodes of a subscription change'));
  const relayedEngine = relay.wrap(engine);
  const streamRechecks = new StreamRechecks(deps.timers, deps.streamRecheckMs, (err, resource, failed) =>
    log.warn({ err, resource, failed }, 'could not check open streams\' callers again; those streams stay open until the next round'),
  );
  const admin = new PubSubAdmin({ store: adminStore, sink, log: messages, engine: relayedEngine, auth: deps.auth, clock: deps.clock, streamRechecks });
  return {
    admin,
    topics: { exists: async (topic) => (await store.getTopic(topic)) !== undefined },
    store,
    log: messages,
    engine,
    relayedEngine,
    streamRechecks,
    // The engine's last acks go to the store, and it reads the log until it stops: before the backend closes.
    stopDelivery: () => engine.close(),
    followOtherNodes: (onRemoteChange, onGap) => relay.follow(engine, onRemoteChange, onGap),
  };
}

import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../config/schema.js';
import { PushDelivery } from '../adapters/pubsub-push/push-delivery.js';
import { HttpPushPoster } from '../adapters/pubsub-push/push-http.js';
import { registerPushKeysRoute } from '../adapters/pubsub-push/push-keys-route.js';
import { PushTokenSigner } from '../adapters/pubsub-push/push-token-signer.js';
import { GoogleForwarding } from '../adapters/sinks/google-pubsub/google-forwarding.js';
import { GooglePubSubTarget } from '../adapters/sinks/google-pubsub/google-pubsub-target.js';
import type { SubscriptionEngine } from '../services/pubsub/pubsub-api.js';
import type { MessageLog, PubSubStore } from '../services/pubsub/pubsub-ports.js';
import type { Clock } from '../services/ports.js';

/**
 * Bridgehead's own Pub/Sub consumers, part of the composition root: push delivery and forwarding
 * to Google Pub/Sub. `prepare` runs before the API listens (it adds the JWKS route); `start` once
 * everything listens; `close` before the engine closes.
 */
export interface PubSubConsumers {
  /** A subscription was written through the API (openPubSub's onSubscriptionWrite). */
  subscriptionWritten(name: string): void;
  /** Subscription writes of other nodes may have been missed (a gap in the bus): follow the store again. */
  resync(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** How long a forwarded publish may take, the client's retries included; well inside the internal subscriptions' 60 s lease. */
const FORWARD_PUBLISH_TIMEOUT_MS = 30_000;

export async function preparePubSubConsumers(
  config: Pick<Config, 'pushMaxOutstandingPerSubscription' | 'pushMaxSockets' | 'pushTokenIssuer' | 'pubsubForwarding'>,
  deps: {
    dataDir: string;
    store: PubSubStore;
    log: Pick<MessageLog, 'headSeq' | 'seqBefore'>;
    engine: SubscriptionEngine;
    /** The engine whose subscription notifications reach every node (the forwarder replaces its subscriptions). */
    relayedEngine: SubscriptionEngine;
    api: FastifyInstance;
    registry: Registry;
    clock: Clock;
    logger: Logger;
  },
): Promise<PubSubConsumers> {
  const signer = await PushTokenSigner.open(deps.dataDir, config.pushTokenIssuer);
  registerPushKeysRoute(deps.api, () => signer.jwks());
  const push = new PushDelivery({
    source: deps.store,
    engine: deps.engine,
    poster: new HttpPushPoster(config.pushMaxSockets),
    tokens: (audience, email) => signer.token(audience, email, deps.clock.now()),
    maxOutstandingPerSubscription: config.pushMaxOutstandingPerSubscription,
    log: deps.logger.child({ component: 'pubsub-push' }),
  });
  const forwarding =
    config.pubsubForwarding.length > 0
      ? new GoogleForwarding({
          rules: config.pubsubForwarding,
          store: deps.store,
          log: deps.log,
          engine: deps.relayedEngine,
          target: (rule) => new GooglePubSubTarget(rule, { publishTimeoutMs: FORWARD_PUBLISH_TIMEOUT_MS }),
          logger: deps.logger.child({ component: 'pubsub-forward' }),
          now: () => deps.clock.now(),
          registry: deps.registry,
        })
      : undefined;
  return {
    subscriptionWritten: (name) => void push.pushConfigChanged(name),
    resync: () => push.resync(),
    async start() {
      await push.start();
      await forwarding?.start();
    },
    async close() {
      await Promise.all([push.close(), forwarding?.close()]);
    },
  };
}

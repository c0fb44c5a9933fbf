import type { Logger } from 'pino';
import type { ApiError } from '../../domain/errors.js';
import type { PsSubscription } from '../../domain/pubsub/pubsub-model.js';
import type { SubscriptionEngine } from '../../services/pubsub/pubsub-api.js';
import type { PubSubStore } from '../../services/pubsub/pubsub-ports.js';
import { PushConsumer, type PushConsumerDeps, type PushSettings, type PushTokens } from './push-consumer.js';
import type { PushPoster } from './push-http.js';

/** Where push delivery learns which subscriptions push: the Pub/Sub store, read only. */
export type PushSubscriptionSource = Pick<PubSubStore, 'getSubscription' | 'listAllSubscriptions'>;

export interface PushDeliveryOptions {
  source: PushSubscriptionSource;
  engine: Pick<SubscriptionEngine, 'open' | 'acknowledge' | 'modifyAckDeadline'>;
  poster: PushPoster;
  tokens: PushTokens | undefined;
  maxOutstandingPerSubscription: number;
  log: Logger;
  onResult?: PushConsumerDeps['onResult'];
  /** Before reopening a consumer whose stream failed for another reason than the subscription going away. */
  reopenDelayMs?: number;
}

const PAGE = 500;

const pushing = (sub: PsSubscription | undefined): sub is PsSubscription & { pushConfig: NonNullable<PsSubscription['pushConfig']> } =>
  sub !== undefined && sub.pushConfig !== undefined && !sub.detached;

/**
 * Push subscriptions' delivery: one PushConsumer per attached subscription with a push config.
 * It only reads the log through the engine, so device ingestion never waits on an endpoint.
 * The admin (or a store observer) calls `pushConfigChanged` after every write to a subscription.
 */
export class PushDelivery {
  private readonly consumers = new Map<string, PushConsumer>();
  /** Per subscription, the latest reconcile: calls for one name run one after another. */
  private readonly pending = new Map<string, Promise<void>>();
  private readonly retries = new Map<string, NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly opts: PushDeliveryOptions) {}

  /** Starts a consumer for every push subscription in the store. */
  async start(): Promise<void> {
    let after: string | undefined;
    for (;;) {
      const page = await this.opts.source.listAllSubscriptions(after, PAGE);
      await Promise.all(page.items.filter(pushing).map((sub) => this.enqueue(sub.name, () => this.reconcile(sub.name, sub))));
      if (page.next === undefined) break;
      after = page.next;
    }
  }

  /** Changes may have been missed: every consumer running follows the store again, and new push subscriptions start. */
  async resync(): Promise<void> {
    await Promise.all(this.active.map((name) => this.pushConfigChanged(name)));
    await this.start();
  }

  /** The subscription was created, updated, detached or deleted: its consumer follows the store. */
  pushConfigChanged(name: string): Promise<void> {
    return this.enqueue(name, async () => this.reconcile(name, await this.opts.source.getSubscription(name)));
  }

  /** Subscriptions being pushed now (for tests and metrics). */
  get active(): string[] {
    return [...this.consumers.keys()];
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.retries.values()) clearTimeout(t);
    this.retries.clear();
    await Promise.allSettled([...this.pending.values()]);
    for (const c of this.consumers.values()) c.close();
    this.consumers.clear();
    this.opts.poster.close();
  }

  private enqueue(name: string, task: () => Promise<void>): Promise<void> {
    const previous = this.pending.get(name) ?? Promise.resolve();
    const next = previous.then(task).catch((err: unknown) => this.opts.log.warn({ err, subscription: name }, 'push subscription not started'));
    this.pending.set(name, next);
    void next.then(() => {
      if (this.pending.get(name) === next) this.pending.delete(name);
    });
    return next;
  }

  private async reconcile(name: string, sub: PsSubscription | undefined): Promise<void> {
    if (this.closed) return;
    const current = this.consumers.get(name);
    if (!pushing(sub)) {
      if (current) {
        current.close();
        this.consumers.delete(name);
        this.opts.log.info({ subscription: name }, 'push delivery stopped');
      }
      return;
    }
    const settings: PushSettings = { name, ackDeadlineSeconds: sub.ackDeadlineSeconds, pushConfig: sub.pushConfig };
    // The lease length is fixed when the consumer opens; anything else changes in place.
    if (current && current.ackDeadlineSeconds === sub.ackDeadlineSeconds) {
      current.update(settings);
      return;
    }
    current?.close();
    this.consumers.delete(name);
    const consumer = new PushConsumer(settings, {
      engine: this.opts.engine,
      poster: this.opts.poster,
      tokens: this.opts.tokens,
      maxOutstanding: this.opts.maxOutstandingPerSubscription,
      log: this.opts.log,
      onResult: this.opts.onResult,
      onEnded: (c, error) => this.ended(c, error),
    });
    try {
      await consumer.start();
    } catch (e) {
      const kind = (e as Partial<ApiError>).kind;
      // Deleted or detached meanwhile: the next pushConfigChanged, if any, says what to do.
      if (kind === 'NOT_FOUND' || kind === 'FAILED_PRECONDITION') return;
      this.retryLater(name);
      throw e;
    }
    this.consumers.set(name, consumer);
    this.opts.log.info({ subscription: name }, 'push delivery started');
  }

  private ended(consumer: PushConsumer, error: ApiError): void {
    if (this.consumers.get(consumer.name) !== consumer) return;
    this.consumers.delete(consumer.name);
    if (this.closed || error.kind === 'NOT_FOUND' || error.kind === 'FAILED_PRECONDITION') return;
    this.opts.log.warn({ subscription: consumer.name, err: error }, 'push consumer ended; reopening');
    this.retryLater(consumer.name);
  }

  private retryLater(name: string): void {
    if (this.closed || this.retries.has(name)) return;
    const timer = setTimeout(() => {
      this.retries.delete(name);
      void this.pushConfigChanged(name);
    }, this.opts.reopenDelayMs ?? 5000);
    timer.unref();
    this.retries.set(name, timer);
  }
}

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
 *
 * The bound on requests in flight is the subscription's, not its consumer's. A consumer closed
 * or ended (new ack deadline, back to pull, stream failure) no longer counts in the engine, whose
 * flow control is per consumer, yet its requests run on until they end. So they are counted here
 * against the one that replaces it: it opens with what room they leave (or waits for some), and
 * gets the rest as they end.
 */
export class PushDelivery {
  private readonly consumers = new Map<string, PushConsumer>();
  /** Per subscription, consumers gone from `consumers` with requests still in flight. */
  private readonly retired = new Map<string, Set<PushConsumer>>();
  /** Push subscriptions whose consumer waits for a retired request to end: none left room for it. */
  private readonly waiting = new Set<string>();
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
    this.waiting.clear();
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
      this.waiting.delete(name);
      if (current) {
        this.retire(current);
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
    if (current) this.retire(current);
    const room = this.room(name);
    if (room <= 0) {
      this.waiting.add(name);
      this.opts.log.debug({ subscription: name }, 'push delivery waits for requests of its previous consumer to end');
      return;
    }
    this.waiting.delete(name);
    const consumer = new PushConsumer(settings, {
      engine: this.opts.engine,
      poster: this.opts.poster,
      tokens: this.opts.tokens,
      maxOutstanding: room,
      log: this.opts.log,
      onResult: this.opts.onResult,
      onEnded: (c, error) => this.ended(c, error),
      onRequestDone: (c) => this.requestDone(c),
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
    // The engine may have ended the stream before the consumer was known here, so `ended` let it pass.
    const ended = consumer.ended;
    if (ended) return this.stopped(consumer, ended);
    this.consumers.set(name, consumer);
    // Retired requests may have ended while the stream opened.
    consumer.limit(this.room(name));
    this.opts.log.info({ subscription: name }, 'push delivery started');
  }

  /** Requests in flight the subscription's next (or current) consumer may add to those of the retired ones. */
  private room(name: string): number {
    let retired = 0;
    for (const c of this.retired.get(name) ?? []) retired += c.inFlight;
    return this.opts.maxOutstandingPerSubscription - retired;
  }

  /** The consumer delivers no more; its requests in flight count on against the subscription's bound. */
  private retire(consumer: PushConsumer): void {
    consumer.close();
    if (this.consumers.get(consumer.name) === consumer) this.consumers.delete(consumer.name);
    if (consumer.inFlight === 0) return;
    let set = this.retired.get(consumer.name);
    if (!set) this.retired.set(consumer.name, (set = new Set()));
    set.add(consumer);
  }

  private requestDone(consumer: PushConsumer): void {
    const { name } = consumer;
    const set = this.retired.get(name);
    // A current consumer's requests are counted by the engine's flow control, which its acks free.
    if (!set?.has(consumer)) return;
    if (consumer.inFlight === 0) set.delete(consumer);
    if (set.size === 0) this.retired.delete(name);
    const current = this.consumers.get(name);
    if (current) current.limit(this.room(name));
    else if (this.waiting.delete(name) && !this.closed) void this.pushConfigChanged(name);
  }

  private ended(consumer: PushConsumer, error: ApiError): void {
    if (this.consumers.get(consumer.name) !== consumer) return;
    this.stopped(consumer, error);
  }

  /** Its stream ended: it is reopened later, unless the subscription is gone or detached. */
  private stopped(consumer: PushConsumer, error: ApiError): void {
    this.retire(consumer);
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

import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import { FORWARD_SUBSCRIPTION_PREFIX, type ForwardingRule } from '../../../config/pubsub-forwarding.js';
import type { ApiError } from '../../../domain/errors.js';
import type { RetryPolicy } from '../../../domain/pubsub/pubsub-model.js';
import { ForwardSubscriptions, type ForwardSubscriptionSettings } from '../../../services/pubsub/forward-subscriptions.js';
import type { SubscriptionEngine } from '../../../services/pubsub/pubsub-api.js';
import type { MessageLog, PubSubStore } from '../../../services/pubsub/pubsub-ports.js';
import type { ForwardTarget } from './forward-target.js';
import { TopicForwarder } from './topic-forwarder.js';

export interface GoogleForwardingOptions {
  rules: readonly ForwardingRule[];
  store: Pick<PubSubStore, 'getTopic' | 'createTopic' | 'getSubscription' | 'createSubscription' | 'replaceSubscription'>;
  log: Pick<MessageLog, 'headSeq' | 'seqBefore'>;
  /**
   * The engine the forwarders read through. On a cluster its subscriptionDeleted must reach every
   * node (SubscriptionChangeRelay.wrap): a replaced internal subscription ends every node's stream.
   */
  engine: Pick<SubscriptionEngine, 'open' | 'acknowledge' | 'modifyAckDeadline' | 'backlog' | 'subscriptionDeleted'>;
  /** The target of a rule (GooglePubSubTarget in production). */
  target: (rule: ForwardingRule) => ForwardTarget;
  logger: Logger;
  now: () => number;
  /** Where the backlog gauge and the publish counter are registered. */
  registry?: Registry;
  /** The internal subscriptions' lease: longer than a publish may take. */
  ackDeadlineSeconds?: number;
  /** Messages handed to a target and not yet acked there, per rule. */
  maxOutstandingMessages?: number;
  /** The retry policy internal subscriptions are created with (redelivery after a failed publish). */
  retryPolicy?: RetryPolicy;
  /** Before reopening a forwarder whose stream ended unexpectedly. */
  reopenDelayMs?: number;
  /**
   * How often each rule looks whether its subscription can still receive the topic: a deleted
   * topic leaves the stream open on a subscription that never will, and a topic created again is
   * announced to nobody. Default 5,000 ms.
   */
  checkIntervalMs?: number;
  /** Each publish's result, after the counter is bumped (tests wait on it). */
  onResult?: (topic: string, ok: boolean) => void;
}

/** The local subscription a rule reads: `projects/P/subscriptions/bridgehead-forward-<topicId>` in the topic's project. */
export function forwardSubscriptionName(topic: string): string {
  const [, project, , id] = topic.split('/');
  return `projects/${project}/subscriptions/${FORWARD_SUBSCRIPTION_PREFIX}${id}`;
}

const DEFAULT_RETRY: RetryPolicy = { minimumBackoffMs: 1000, maximumBackoffMs: 60_000 };

interface Running {
  rule: ForwardingRule;
  subscription: string;
  target: ForwardTarget;
  forwarder: TopicForwarder | undefined;
  retry: NodeJS.Timeout | undefined;
  /** An open or a check in progress: one at a time per rule. */
  busy: boolean;
  /** The last check found no subscription (see EnsureOptions). */
  missing: boolean;
}

/**
 * Forwarding to Google Pub/Sub (docs/compat.md C-PS-FORWARD): per rule, an internal subscription
 * on the local topic (created with the topic if missing, replaced once it can no longer receive
 * the topic: ForwardSubscriptions), consumed through the engine and republished to the target. What the target has not acked stays unacked in the durable log: the
 * subscription's backlog, exported as `bridgehead_pubsub_forward_backlog_messages`.
 */
/** How often the backlog gauge counts again at most. */
const BACKLOG_REFRESH_MS = 5_000;

export class GoogleForwarding {
  private readonly running: Running[] = [];
  private closed = false;
  private readonly published: Counter<'topic' | 'result'> | undefined;
  private readonly keeper: ForwardSubscriptions;
  private checker: NodeJS.Timeout | undefined;

  constructor(private readonly opts: GoogleForwardingOptions) {
    this.keeper = new ForwardSubscriptions({ store: opts.store, log: opts.log, engine: opts.engine, now: opts.now });
    const registry = opts.registry;
    if (!registry) return;
    const running = this.running;
    const engine = opts.engine;
    let lastCounted = Number.NEGATIVE_INFINITY;
    new Gauge({
      name: 'bridgehead_pubsub_forward_backlog_messages',
      help: 'Messages of a forwarded topic not yet acknowledged by its Google Pub/Sub target',
      labelNames: ['topic', 'target'],
      registers: [registry],
      async collect() {
        // Scrapes may come often and from several scrapers; a backlog a few seconds old is news enough.
        const at = Date.now();
        if (at - lastCounted < BACKLOG_REFRESH_MS) return;
        lastCounted = at;
        this.reset();
        await Promise.all(
          running.map(async (r) => {
            try {
              this.set({ topic: r.rule.topic, target: r.rule.target }, await engine.backlog(r.subscription));
            } catch {
              // A subscription deleted under the forwarder has no backlog to report until it is recreated.
            }
          }),
        );
      },
    });
    this.published = new Counter({
      name: 'bridgehead_pubsub_forward_publishes_total',
      help: 'Messages republished to Google Pub/Sub, by result (ok: acked by the target; failed: to be redelivered)',
      labelNames: ['topic', 'result'],
      registers: [registry],
    });
  }

  /** Creates missing topics and subscriptions and starts every rule; a rule that fails to start is retried. */
  async start(): Promise<void> {
    for (const rule of this.opts.rules) {
      const r: Running = {
        rule,
        subscription: forwardSubscriptionName(rule.topic),
        target: this.opts.target(rule),
        forwarder: undefined,
        retry: undefined,
        busy: false,
        missing: false,
      };
      this.running.push(r);
    }
    await Promise.all(this.running.map((r) => this.open(r)));
    if (this.closed) return;
    this.checker = setInterval(() => {
      for (const r of this.running) void this.check(r);
    }, this.opts.checkIntervalMs ?? 5000);
    this.checker.unref();
  }

  /** The internal subscription of each rule, in rule order. */
  get subscriptions(): string[] {
    return this.running.map((r) => r.subscription);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.checker);
    for (const r of this.running) {
      clearTimeout(r.retry);
      r.forwarder?.close();
    }
    await Promise.allSettled(this.running.map((r) => r.target.close()));
  }

  private async open(r: Running): Promise<void> {
    if (this.closed) return;
    if (r.busy) {
      // A check is replacing the subscription: its end of our stream brings us back.
      this.retryLater(r);
      return;
    }
    r.busy = true;
    const log = this.opts.logger.child({ topic: r.rule.topic, target: r.rule.target });
    try {
      const { subscription } = await this.keeper.ensure(this.settings(r), { mode: 'open' });
      if (!subscription) throw new Error('the forwarding subscription is being replaced by another node');
      const forwarder: TopicForwarder = new TopicForwarder(r.subscription, {
        engine: this.opts.engine,
        target: r.target,
        consumer: { ackDeadlineSeconds: this.opts.ackDeadlineSeconds ?? 60, maxOutstandingMessages: this.opts.maxOutstandingMessages ?? 1000, maxOutstandingBytes: 0 },
        log,
        now: this.opts.now,
        // Longer than any redelivery backoff plus a lease, so a held key only moves on for a message that is gone.
        holdMs: 10 * ((this.opts.retryPolicy ?? DEFAULT_RETRY).maximumBackoffMs + (this.opts.ackDeadlineSeconds ?? 60) * 1000),
        onResult: (ok) => {
          this.published?.inc({ topic: r.rule.topic, result: ok ? 'ok' : 'failed' });
          this.opts.onResult?.(r.rule.topic, ok);
        },
        onEnded: (error) => {
          if (r.forwarder === forwarder) this.ended(r, error);
        },
      });
      r.forwarder = forwarder;
      await forwarder.start();
      log.info({ subscription: r.subscription }, 'forwarding to Google Pub/Sub');
    } catch (err) {
      r.forwarder = undefined;
      log.warn({ err }, 'forwarding not started; retrying');
      this.retryLater(r);
    } finally {
      r.busy = false;
    }
  }

  /**
   * While a rule reads: replaces a subscription that can no longer receive the topic (its topic
   * deleted and created again, or detached). The replacement ends the stream (on every node),
   * which opens the new one.
   */
  private async check(r: Running): Promise<void> {
    if (this.closed || r.busy || !r.forwarder) return;
    r.busy = true;
    try {
      const { missing } = await this.keeper.ensure(this.settings(r), { mode: 'check', missingBefore: r.missing });
      r.missing = missing;
    } catch (err) {
      this.opts.logger.warn({ err, topic: r.rule.topic }, 'could not check the forwarding subscription; checking again later');
    } finally {
      r.busy = false;
    }
  }

  private ended(r: Running, error: ApiError): void {
    r.forwarder = undefined;
    if (this.closed) return;
    // Deleted by someone: recreated (from the log head) on reopen, as forwarding is configuration, not an API resource.
    this.opts.logger.warn({ topic: r.rule.topic, err: error }, 'forwarding stream ended; reopening');
    this.retryLater(r);
  }

  private retryLater(r: Running): void {
    if (this.closed || r.retry) return;
    r.retry = setTimeout(() => {
      r.retry = undefined;
      void this.open(r);
    }, this.opts.reopenDelayMs ?? 5000);
    r.retry.unref();
  }

  private settings(r: Running): ForwardSubscriptionSettings {
    return {
      name: r.subscription,
      topic: r.rule.topic,
      ackDeadlineSeconds: this.opts.ackDeadlineSeconds ?? 60,
      retainAckedMessages: false,
      messageRetentionMs: 7 * 86_400_000,
      labels: { bridgehead: 'forwarder' },
      filter: '',
      // Order is kept by the forwarder per key (devices' messages have no ordering key for the engine to use).
      enableMessageOrdering: false,
      deadLetterPolicy: undefined,
      retryPolicy: this.opts.retryPolicy ?? DEFAULT_RETRY,
      pushConfig: undefined,
    };
  }
}

import { ApiError } from '../../domain/errors.js';
import { compileFilter, type AttributePredicate } from '../../domain/pubsub/filter.js';
import type { ConsumerLimits } from '../../domain/pubsub/lease-book.js';
import type { AckState } from '../../domain/pubsub/pubsub-model.js';
import type { Clock, Sink, Timers } from '../ports.js';
import type { ConsumerOptions, ReceivedMessage, StreamingPullSession, StreamingPullSink, SubscriptionEngine } from './pubsub-api.js';
import type { MessageLog, PubSubStore } from './pubsub-ports.js';
import type { StreamingPullRequest } from './pubsub-requests.js';
import { checkStreamRequest, leaseSeconds, subscriptionDetached as detached, subscriptionNotFound as notFound } from './engine-rules.js';
import { SubscriptionLoads } from './subscription-loads.js';
import { SubscriptionRuntime, type StreamConsumer } from './subscription-runtime.js';

export interface SubscriptionEngineDeps {
  store: PubSubStore;
  log: MessageLog;
  /** Where dead-lettered messages are published (the telemetry sink, as API Publish). */
  sink: Sink;
  clock: Clock;
  timers: Timers;
  /** The subscription filter language; default the domain's (src/domain/pubsub/filter.ts). */
  compileFilter?: (filter: string) => AttributePredicate;
  /** Background failures (commit, log read, dead-letter publish): each is retried; default ignores. */
  onError?: (error: unknown, subscription: string) => void;
  /** Messages read from the log ahead of consumers, per subscription (C-PS-READ-AHEAD). Default 1,000. */
  readAheadMessages?: number;
  /** Read and unacknowledged messages one subscription holds in memory at most (C-PS-READ-AHEAD). Default 50,000. */
  maxUnackedMessages?: number;
  /** Messages per log read. Default 500. */
  pageSize?: number;
  /** StreamingPull acks are committed within this long (C-PS-ACK-COMMIT). Default 50 ms. */
  streamAckFlushMs?: number;
}

const limitsOf = (o: ConsumerOptions): ConsumerLimits => ({
  ackDeadlineMs: o.ackDeadlineSeconds * 1000,
  maxMessages: o.maxOutstandingMessages,
  maxBytes: o.maxOutstandingBytes,
});


/**
 * The SubscriptionEngine over the durable log: one SubscriptionRuntime per subscription in use,
 * loaded from the store on first use (settings, ack state) and shared by all its pulls and
 * streams. Delivery attempt counts live in memory only (docs/compat.md C-PS-ATTEMPTS).
 */
export class LogSubscriptionEngine implements SubscriptionEngine {
  private readonly runtimes = new SubscriptionLoads((name) => this.load(name));
  private closed = false;

  constructor(private readonly deps: SubscriptionEngineDeps) {}

  async open(subscription: string, options: ConsumerOptions, sink: StreamingPullSink): Promise<StreamingPullSession> {
    const rt = await this.runtime(subscription);
    // Dropped (deleted, detached, closing) while this call waited: a stream added now would never
    // be ended. Today the promise order happens to rule that out; this does not rely on it.
    if (rt.ended) throw rt.ended;
    if (rt.subscription.detached) throw detached(subscription);
    let current = options;
    const consumer = rt.addStream(sink, limitsOf(options));
    const live = (): boolean => !consumer.closed && rt.ended === undefined;
    return {
      get messageOrderingEnabled() {
        return rt.subscription.enableMessageOrdering;
      },
      request: (req) => {
        current = this.streamRequest(rt, consumer, current, req, live());
      },
      resume: () => {
        if (!live()) return;
        consumer.paused = false;
        rt.pump();
      },
      close: () => {
        if (!consumer.closed) rt.removeStream(consumer);
      },
    };
  }

  async pull(subscription: string, maxMessages: number, waitMs: number, signal?: AbortSignal): Promise<ReceivedMessage[]> {
    const rt = await this.runtime(subscription);
    if (rt.subscription.detached) throw detached(subscription);
    return rt.pull(Math.max(1, maxMessages), waitMs, signal);
  }

  async acknowledge(subscription: string, ackIds: readonly string[]): Promise<void> {
    const rt = await this.runtime(subscription);
    rt.ack(ackIds);
    await rt.acks.commit(0);
  }

  async modifyAckDeadline(subscription: string, ackIds: readonly string[], seconds: number): Promise<void> {
    const rt = await this.runtime(subscription);
    rt.modify(ackIds, leaseSeconds(seconds));
  }

  async ackState(subscription: string): Promise<AckState> {
    const rt = await this.runtime(subscription);
    return rt.book.state();
  }

  async seek(subscription: string, state: AckState): Promise<void> {
    const rt = await this.runtime(subscription);
    await rt.seek(state);
  }

  subscriptionChanged(subscription: string): void {
    const loading = this.runtimes.peek(subscription);
    if (!loading) return;
    const reload = async (rt: SubscriptionRuntime): Promise<void> => {
      const settings = await this.deps.store.getSubscription(subscription);
      if (this.runtimes.peek(subscription) !== loading) return;
      if (!settings) return this.drop(subscription, notFound(subscription));
      // Detached: streams end FAILED_PRECONDITION; the next open or pull reloads and refuses.
      if (settings.detached) return this.drop(subscription, detached(subscription));
      rt.update(settings);
    };
    // A load that failed has nothing to update; the next call loads afresh.
    loading.then(
      (rt) => reload(rt).catch((e: unknown) => this.report(e, subscription)),
      () => {},
    );
  }

  subscriptionDeleted(subscription: string): void {
    void this.drop(subscription, notFound(subscription));
  }

  loadedSubscriptions(): string[] {
    return this.runtimes.names();
  }

  async backlog(subscription: string): Promise<number> {
    const rt = await this.runtime(subscription);
    // What was read and not acked, plus what the log holds after the cursor for this subscription.
    let n = rt.book.unackedCount;
    const { topic } = rt.subscription;
    const state = rt.book.state();
    if (rt.subscription.filter === '') {
      // Without a filter every message after the cursor counts unless acked (after a seek acks may
      // lie beyond the cursor): an index count, not a read of the backlog, which may be millions.
      const cursor = rt.book.cursor;
      let ackedAfter = 0;
      for (const seq of state.acked) if (seq > cursor) ackedAfter++;
      return n + (await this.deps.log.count(topic, cursor)) - ackedAfter;
    }
    const acked = new Set(state.acked);
    const page = this.deps.pageSize ?? 500;
    for (let after = rt.book.cursor; ; ) {
      const messages = await this.deps.log.read(topic, after, page);
      for (const m of messages) if (!acked.has(m.seq) && rt.matches(m.attributes)) n++;
      if (messages.length < page) break;
      after = messages[messages.length - 1]!.seq;
    }
    return n;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.runtimes.names().map((n) => this.drop(n, new ApiError('UNAVAILABLE', 'The server is shutting down; reconnect.'))));
  }

  private streamRequest(rt: SubscriptionRuntime, consumer: StreamConsumer, options: ConsumerOptions, req: StreamingPullRequest, live: boolean): ConsumerOptions {
    const r = checkStreamRequest(req);
    // A closed stream's late acks still count: the messages were received (Pub/Sub accepts them too).
    if (rt.ended !== undefined) return options;
    if (r.ackIds.length > 0) {
      rt.ack(r.ackIds);
      rt.acks.commitWithin(this.deps.streamAckFlushMs ?? 50);
    }
    if (r.modifyIds.length > 0) rt.modify(r.modifyIds, r.modifySeconds.map(leaseSeconds));
    if (!live) return options;
    const next: ConsumerOptions = {
      ackDeadlineSeconds: r.streamAckDeadlineSeconds ?? options.ackDeadlineSeconds,
      maxOutstandingMessages: r.maxOutstandingMessages ?? options.maxOutstandingMessages,
      maxOutstandingBytes: r.maxOutstandingBytes ?? options.maxOutstandingBytes,
    };
    if (
      next.ackDeadlineSeconds !== options.ackDeadlineSeconds ||
      next.maxOutstandingMessages !== options.maxOutstandingMessages ||
      next.maxOutstandingBytes !== options.maxOutstandingBytes
    ) {
      rt.book.setLimits(consumer.id, limitsOf(next));
      rt.pump();
    }
    return next;
  }

  private runtime(name: string): Promise<SubscriptionRuntime> {
    if (this.closed) return Promise.reject(new ApiError('UNAVAILABLE', 'The server is shutting down.'));
    return this.runtimes.get(name);
  }

  private async load(name: string): Promise<SubscriptionRuntime> {
    const settings = await this.deps.store.getSubscription(name);
    if (!settings) throw notFound(name);
    const state = await this.deps.store.loadAckState(name);
    const matches = settings.filter === '' ? () => true : (this.deps.compileFilter ?? compileFilter)(settings.filter);
    return new SubscriptionRuntime(settings, state, matches, {
      store: this.deps.store,
      log: this.deps.log,
      sink: this.deps.sink,
      clock: this.deps.clock,
      timers: this.deps.timers,
      onError: (e) => this.report(e, name),
      readAheadMessages: this.deps.readAheadMessages ?? 1000,
      maxUnackedMessages: this.deps.maxUnackedMessages ?? 50_000,
      pageSize: this.deps.pageSize ?? 500,
      streamAckFlushMs: this.deps.streamAckFlushMs ?? 50,
    });
  }

  private async drop(name: string, error: ApiError): Promise<void> {
    const rt = await this.runtimes.forget(name);
    await rt?.end(error);
  }

  private report(error: unknown, subscription: string): void {
    this.deps.onError?.(error, subscription);
  }
}

import { ApiError, invalidArgument } from '../../domain/errors.js';
import { compileFilter, type AttributePredicate } from '../../domain/pubsub/filter.js';
import type { ConsumerLimits } from '../../domain/pubsub/lease-book.js';
import type { AckState } from '../../domain/pubsub/pubsub-model.js';
import type { Clock, Sink, Timers } from '../ports.js';
import type { ConsumerOptions, ReceivedMessage, StreamingPullSession, StreamingPullSink, SubscriptionEngine } from './pubsub-api.js';
import type { MessageLog, PubSubStore } from './pubsub-ports.js';
import type { StreamingPullRequest } from './pubsub-requests.js';
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

/** Pub/Sub's own text, as the stores answer (docs/compat.md C-PS-ERRORS). */
const notFound = (name: string): ApiError =>
  new ApiError('NOT_FOUND', `Resource not found (resource=${name.slice(name.lastIndexOf('/') + 1)}).`, { reason: 'SUBSCRIPTION_NOT_FOUND' });
const detached = (name: string): ApiError =>
  new ApiError('FAILED_PRECONDITION', `Subscription ${name} is detached: it no longer receives messages.`);

/** A flow-control limit of a later stream request (int64, maybe a decimal string); <= 0 = no limit, as the proto says. */
function flowLimit(value: string | number | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'string' ? (/^-?\d{1,16}$/.test(value) ? Number(value) : NaN) : value;
  if (!Number.isSafeInteger(n)) throw invalidArgument(field, `${field} must be an integer.`);
  return Math.max(0, n);
}

/** 1..9 s lease for 10 s, the shortest lease kept (docs/compat.md C-PS-MODACK-MIN); 0 stays a nack. */
const leaseSeconds = (s: number): number => (s === 0 ? 0 : Math.max(10, s));

/**
 * The SubscriptionEngine over the durable log: one SubscriptionRuntime per subscription in use,
 * loaded from the store on first use (settings, ack state) and shared by all its pulls and
 * streams. Delivery attempt counts live in memory only (docs/compat.md C-PS-ATTEMPTS).
 */
export class LogSubscriptionEngine implements SubscriptionEngine {
  private readonly runtimes = new Map<string, Promise<SubscriptionRuntime>>();
  private closed = false;

  constructor(private readonly deps: SubscriptionEngineDeps) {}

  async open(subscription: string, options: ConsumerOptions, sink: StreamingPullSink): Promise<StreamingPullSession> {
    const rt = await this.runtime(subscription);
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
    const loading = this.runtimes.get(subscription);
    if (!loading) return;
    const reload = async (rt: SubscriptionRuntime): Promise<void> => {
      const settings = await this.deps.store.getSubscription(subscription);
      if (this.runtimes.get(subscription) !== loading) return;
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
    const names = [...this.runtimes.keys()];
    await Promise.all(names.map((n) => this.drop(n, new ApiError('UNAVAILABLE', 'The server is shutting down; reconnect.'))));
  }

  private streamRequest(rt: SubscriptionRuntime, consumer: StreamConsumer, options: ConsumerOptions, req: StreamingPullRequest, live: boolean): ConsumerOptions {
    const ids = req.modifyDeadlineAckIds ?? [];
    const seconds = req.modifyDeadlineSeconds ?? [];
    if (ids.length !== seconds.length) {
      throw invalidArgument('modify_deadline_seconds', 'modify_deadline_seconds and modify_deadline_ack_ids must have the same length.');
    }
    for (const s of seconds) {
      if (!Number.isInteger(s) || s < 0 || s > 600) throw invalidArgument('modify_deadline_seconds', 'Each deadline must be 0..600 seconds.');
    }
    const streamDeadline = req.streamAckDeadlineSeconds;
    if (streamDeadline !== undefined && streamDeadline !== 0 && (!Number.isInteger(streamDeadline) || streamDeadline < 10 || streamDeadline > 600)) {
      throw invalidArgument('stream_ack_deadline_seconds', 'stream_ack_deadline_seconds must be 10..600.');
    }
    const maxMessages = flowLimit(req.maxOutstandingMessages, 'max_outstanding_messages');
    const maxBytes = flowLimit(req.maxOutstandingBytes, 'max_outstanding_bytes');
    // A closed stream's late acks still count: the messages were received (Pub/Sub accepts them too).
    if (rt.ended !== undefined) return options;
    if (req.ackIds?.length) {
      rt.ack(req.ackIds);
      rt.acks.commitWithin(this.deps.streamAckFlushMs ?? 50);
    }
    if (ids.length > 0) rt.modify(ids, seconds.map(leaseSeconds));
    if (!live) return options;
    const next: ConsumerOptions = {
      ackDeadlineSeconds: streamDeadline ? streamDeadline : options.ackDeadlineSeconds,
      maxOutstandingMessages: maxMessages ?? options.maxOutstandingMessages,
      maxOutstandingBytes: maxBytes ?? options.maxOutstandingBytes,
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
    let loading = this.runtimes.get(name);
    if (!loading) {
      loading = this.load(name);
      this.runtimes.set(name, loading);
      const mine = loading;
      mine.catch(() => {
        if (this.runtimes.get(name) === mine) this.runtimes.delete(name);
      });
    }
    return loading.then((rt) => {
      if (rt.ended) throw rt.ended;
      return rt;
    });
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
    const loading = this.runtimes.get(name);
    if (!loading) return;
    this.runtimes.delete(name);
    const rt = await loading.catch(() => undefined);
    await rt?.end(error);
  }

  private report(error: unknown, subscription: string): void {
    this.deps.onError?.(error, subscription);
  }
}

import { AckPolicy, DeliverPolicy, jetstreamManager, ReplayPolicy, type ConsumerConfig, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { ApiError } from '../../domain/errors.js';
import { messageBytes, retryBackoffMs } from '../../domain/pubsub/delivery-rules.js';
import { compileFilter, type AttributePredicate } from '../../domain/pubsub/filter.js';
import { DELETED_TOPIC, type AckState, type PsMessage, type PsSubscription } from '../../domain/pubsub/pubsub-model.js';
import type { Clock, Sink, Timers } from '../../services/ports.js';
import type { ConsumerOptions, ReceivedMessage, StreamingPullSession, StreamingPullSink, SubscriptionEngine } from '../../services/pubsub/pubsub-api.js';
import type { PubSubStore } from '../../services/pubsub/pubsub-ports.js';
import type { StreamingPullRequest } from '../../services/pubsub/pubsub-requests.js';
import { checkStreamRequest, leaseSeconds, subscriptionDetached as detached, subscriptionNotFound as notFound } from '../../services/pubsub/engine-rules.js';
import { SubscriptionLoads } from '../../services/pubsub/subscription-loads.js';
import { parseJetStreamAckId } from './jetstream-ack-id.js';
import { pullBatch, PullEndedError, type PulledMessage, type PullRequest } from './jetstream-consumer-pull.js';
import type { JetStreamNames } from './jetstream-names.js';
import { decodeEnvelope } from './message-envelope.js';

export interface JetStreamSubscriptionEngineDeps {
  nc: NatsConnection;
  names: JetStreamNames;
  /** Settings of subscriptions; its ack state holds only the floor of the last Seek (where a consumer starts). */
  store: PubSubStore;
  /** Where dead-lettered messages are published. */
  sink: Sink;
  clock: Clock;
  timers: Timers;
  compileFilter?: (filter: string) => AttributePredicate;
  /** Background failures (a fetch, a dead-letter publish, an ack of a stream); each is retried or reported. */
  onError?: (error: unknown, subscription: string) => void;
  /** Bound of each JetStream API call and each ack that waits for JetStream's confirmation. Default 5,000 ms. */
  requestTimeoutMs?: number;
  /** How long one pull request for streams long-polls. Default 5,000 ms. */
  fetchExpiresMs?: number;
  /** Messages per pull request at most. Default 256. */
  maxBatch?: number;
  /** Pull requests in flight per subscription per node at most. Default 4. */
  maxRequestsInFlight?: number;
  /** After a failed fetch (NATS down, stream not created yet), how long before trying again. Default 1,000 ms. */
  retryMs?: number;
  /** The consumer's max_ack_pending for unordered subscriptions (every node's outstanding messages together). Default 10,000. */
  maxAckPending?: number;
  /** A stream with maxOutstandingMessages 0 (no limit) is still fetched for this many at a time. Default 1,000. */
  unlimitedStreamRoom?: number;
  /**
   * Milliseconds per Pub/Sub second in everything JetStream times (ack_wait, deadline extensions,
   * nak delays): 1,000 in production; tests shrink it to see a 10 s ack deadline expire without waiting 10 s.
   */
  secondMs?: number;
}

/** How long a "what is there now" pull request may take: the server answers at once unless the consumer is at max_ack_pending. */
const NOW_MS = 100;
/** Long polls of pull() in slices of this: an aborted pull's request lingers on the server no longer. */
const PULL_SLICE_MS = 5000;
/** A message handed back because a request lingered is delayed past the request's end by this much. */
const LATE_NAK_MARGIN_MS = 50;
/** After a pull request came back empty at once, how long before the next. */
const QUICK_EMPTY_PAUSE_MS = 50;

const shuttingDown = (): ApiError => new ApiError('UNAVAILABLE', 'The server is shutting down; reconnect.');

function unavailable(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ApiError('UNAVAILABLE', `The message service (JetStream) is unavailable: ${message}`, { cause: error });
}

const errorCode = (e: unknown): number | undefined => (e as { code?: unknown }).code as number | undefined;
const isConsumerNotFound = (e: unknown): boolean => errorCode(e) === 10014 || (e instanceof Error && e.name === 'ConsumerNotFoundError');
const isStreamNotFound = (e: unknown): boolean => errorCode(e) === 10059 || (e instanceof Error && e.name === 'StreamNotFoundError');
const isNoResponders = (e: unknown): boolean => e instanceof Error && (e.name === 'NoRespondersError' || /no responders/i.test(e.message) || (e.cause instanceof Error && e.cause.name === 'NoRespondersError'));


/** A message delivered to a local stream and not yet acked, nacked or expired: what its flow control counts. */
interface Held {
  stream: LocalStream;
  bytes: number;
  until: number;
}

interface LocalStream {
  sink: StreamingPullSink;
  options: ConsumerOptions;
  paused: boolean;
  closed: boolean;
  held: Map<string, Held>;
  bytes: number;
}

/** A lease this node keeps alive past ack_wait (modifyAckDeadline beyond it, or a longer stream deadline). */
interface Extension {
  until: number;
  lastWorking: number;
}

interface Fetch {
  left: number;
  request: PullRequest | undefined;
  cancelled: boolean;
  /**
   * Cancelled because what it was for is gone (a Seek, a deleted topic, the subscription dropped):
   * what it still brings goes back. A fetch cancelled only because it asked for more than the
   * streams have room for now keeps using what it brings (dispatch).
   */
  void: boolean;
  /** When the server ends the request at the latest. */
  expiresAt: number;
  /** Settles once the request is over on the server too. */
  over: Promise<void>;
}

/** What one node knows of one subscription. */
interface SubState {
  name: string;
  settings: PsSubscription;
  matches: AttributePredicate;
  stream: string;
  consumer: string;
  ensured: Promise<void> | undefined;
  streams: Set<LocalStream>;
  rotation: number;
  /** Pull requests of pull() calls in flight. */
  requests: Set<PullRequest>;
  /** Pull requests for the streams in flight. */
  fetches: Set<Fetch>;
  /** Acks, nacks and terminations of this consumer made on any node, seen while local streams hold messages. */
  ackWatch: Subscription[] | undefined;
  /** Messages asked for by the pull requests in flight and not yet received. */
  requested: number;
  /** No fetching before this time (after a failure). */
  retryAt: number;
  retryTimer: (() => void) | undefined;
  extensions: Map<string, Extension>;
  ticker: (() => void) | undefined;
  ended: ApiError | undefined;
}

/**
 * Pub/Sub subscriptions served from JetStream durable pull consumers (issue 12, cluster mode):
 * one consumer per subscription shared by every node, so subscribers on different nodes share its
 * messages (each message leased to one at a time, redelivered after ack_wait = the ack deadline).
 * Ack IDs are JetStream reply subjects, so an ack or deadline change works on any node. Each node
 * fetches only what its own streams have room for; what arrives when they have none is nak'ed at
 * once for another node. Settings come from the store; the consumer holds all delivery state.
 */
export class JetStreamSubscriptionEngine implements SubscriptionEngine {
  private readonly subs = new SubscriptionLoads((name) => this.load(name));
  private closed = false;
  private jsmLoading: Promise<JetStreamManager> | undefined;
  private readonly timeoutMs: number;
  private readonly second: number;

  constructor(private readonly deps: JetStreamSubscriptionEngineDeps) {
    this.timeoutMs = deps.requestTimeoutMs ?? 5000;
    this.second = deps.secondMs ?? 1000;
  }

  async open(subscription: string, options: ConsumerOptions, sink: StreamingPullSink): Promise<StreamingPullSession> {
    const st = await this.sub(subscription);
    // Dropped (deleted, detached, closing) while this call waited: a stream added now would never
    // be ended. Today the promise order happens to rule that out; this does not rely on it.
    if (st.ended) throw st.ended;
    if (st.settings.detached) throw detached(subscription);
    const stream: LocalStream = { sink, options, paused: false, closed: false, held: new Map(), bytes: 0 };
    st.streams.add(stream);
    this.watchAcks(st);
    this.pump(st);
    return {
      get messageOrderingEnabled() {
        return st.settings.enableMessageOrdering;
      },
      request: (req) => this.streamRequest(st, stream, req),
      resume: () => {
        if (stream.closed || st.ended) return;
        stream.paused = false;
        this.pump(st);
      },
      close: () => this.removeStream(st, stream),
    };
  }

  async pull(subscription: string, maxMessages: number, waitMs: number, signal?: AbortSignal): Promise<ReceivedMessage[]> {
    const st = await this.sub(subscription);
    if (st.settings.detached) throw detached(subscription);
    const max = Math.max(1, Math.min(maxMessages, 1000));
    const deadline = this.deps.clock.now() + Math.max(0, waitMs);
    const out: ReceivedMessage[] = [];
    if (st.settings.topic === DELETED_TOPIC) return this.idle(waitMs, signal).then(() => out);
    const pullOnce = (batch: number, expiresMs: number, noWait: boolean): Promise<void> =>
      this.pullOnce(st, { batch, expiresMs, noWait }, out, signal).catch((e: unknown) => {
        if (e instanceof PullEndedError && e.consumerGone) st.ensured = undefined;
        throw unavailable(e);
      });
    // Ordered subscriptions have one message outstanding at most (max_ack_pending 1).
    const batch = (): number => (st.settings.enableMessageOrdering ? 1 : max - out.length);
    while (!signal?.aborted && !st.ended) {
      try {
        await this.ensureConsumer(st);
      } catch (e) {
        // Nothing was ever published to the project: its stream does not exist yet, so neither does a message.
        if (!isStreamNotFound(e)) throw unavailable(e);
        await this.idle(Math.min(deadline - this.deps.clock.now(), this.deps.retryMs ?? 1000), signal);
        if (this.deps.clock.now() >= deadline) break;
        continue;
      }
      // What is there now; if nothing, long-poll (in slices) for one, then take what else is there with it.
      await pullOnce(batch(), NOW_MS, true);
      if (out.length > 0) break;
      const left = deadline - this.deps.clock.now();
      if (left <= 0 || signal?.aborted) break;
      await pullOnce(1, Math.min(left, PULL_SLICE_MS), false);
      if (out.length > 0) {
        if (!st.settings.enableMessageOrdering && batch() > 0) await pullOnce(batch(), NOW_MS, true);
        break;
      }
    }
    if (st.ended && out.length > 0) this.nak(out.map((r) => r.ackId));
    else if (st.ended) throw st.ended;
    return out;
  }

  async acknowledge(subscription: string, ackIds: readonly string[]): Promise<void> {
    const st = await this.sub(subscription);
    const valid = this.ownIds(st, ackIds);
    for (const id of valid) this.release(st, id);
    await Promise.all(
      valid.map((id) =>
        this.deps.nc.request(id, '+ACK', { timeout: this.timeoutMs }).then(
          () => undefined,
          // The consumer is gone (deleted, or recreated by a Seek): nothing is left to acknowledge.
          (e: unknown) => {
            if (!isNoResponders(e)) throw unavailable(e);
          },
        ),
      ),
    );
  }

  async modifyAckDeadline(subscription: string, ackIds: readonly string[], seconds: number): Promise<void> {
    const st = await this.sub(subscription);
    this.modify(st, this.ownIds(st, ackIds), () => leaseSeconds(seconds));
    // Deadline changes are not confirmed by JetStream: they were sent once the server answered a ping after them.
    await this.bounded(this.deps.nc.flush()).catch((e: unknown) => {
      throw unavailable(e);
    });
  }

  async ackState(subscription: string): Promise<AckState> {
    const st = await this.sub(subscription);
    try {
      await this.ensureConsumer(st);
      const info = await (await this.jsm()).consumers.info(st.stream, st.consumer);
      // Acks above the floor are not visible in JetStream (docs/compat.md C-PS-JS-SNAPSHOT).
      return { floor: Math.max(info.ack_floor.stream_seq, (info.config.opt_start_seq ?? 1) - 1), acked: [] };
    } catch (e) {
      if (isStreamNotFound(e)) return { floor: st.settings.startSeq, acked: [] };
      throw unavailable(e);
    }
  }

  async seek(subscription: string, state: AckState): Promise<void> {
    const st = await this.sub(subscription);
    // The store keeps where the consumer starts, so a node that recreates it later starts there too.
    await this.deps.store.replaceAckState(subscription, { floor: state.floor, acked: [] });
    this.cancelRequests(st);
    st.extensions.clear();
    for (const s of st.streams) this.clearHeld(s);
    const previous = st.ensured;
    st.ensured = undefined;
    await previous?.catch(() => {});
    try {
      const jsm = await this.jsm();
      await jsm.consumers.delete(st.stream, st.consumer).catch((e: unknown) => {
        if (!isConsumerNotFound(e)) throw e;
      });
      await this.ensureConsumer(st);
      // Another node may have recreated it from the old start between the delete and the create.
      const info = await jsm.consumers.info(st.stream, st.consumer);
      if (info.config.opt_start_seq !== this.startOf(state.floor)) {
        await jsm.consumers.delete(st.stream, st.consumer);
        st.ensured = undefined;
        await this.ensureConsumer(st);
      }
    } catch (e) {
      if (!isStreamNotFound(e)) throw unavailable(e);
    }
    this.pump(st);
  }

  subscriptionChanged(subscription: string): void {
    const loading = this.subs.peek(subscription);
    if (!loading) return;
    loading.then(
      (st) => this.reload(st).catch((e: unknown) => this.report(e, subscription)),
      () => {},
    );
  }

  loadedSubscriptions(): string[] {
    return this.subs.names();
  }

  subscriptionDeleted(subscription: string): void {
    const loading = this.subs.peek(subscription);
    void this.drop(subscription, notFound(subscription));
    void (async () => {
      const st = await loading?.catch(() => undefined);
      // Not loaded here, or loaded after its topic was deleted (no stream then, but the consumer made
      // before is still there, and a subscription created again under the name would take it over):
      // its topic's project is unknown; the subscription's own project is where it almost always is.
      const stream = st && st.stream !== '' ? st.stream : this.deps.names.streamOfProject(subscription.split('/')[1] ?? '');
      if (stream === '') return;
      const jsm = await this.jsm();
      await jsm.consumers.delete(stream, this.deps.names.consumerOf(subscription));
    })().catch((e: unknown) => {
      if (!isConsumerNotFound(e) && !isStreamNotFound(e)) this.report(e, subscription);
    });
  }

  async backlog(subscription: string): Promise<number> {
    const st = await this.sub(subscription);
    if (st.settings.topic === DELETED_TOPIC) return 0;
    try {
      await this.ensureConsumer(st);
      const info = await (await this.jsm()).consumers.info(st.stream, st.consumer);
      return info.num_pending + info.num_ack_pending;
    } catch (e) {
      if (isStreamNotFound(e)) return 0;
      throw unavailable(e);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const subs = await this.subs.loaded();
    await Promise.all(this.subs.names().map((n) => this.drop(n, shuttingDown())));
    // Requests end on the server within fetchExpiresMs; what they still bring is handed back meanwhile.
    await Promise.all(subs.flatMap((st) => [...st.fetches].map((f) => f.over)));
  }

  // ---- subscriptions

  private sub(name: string): Promise<SubState> {
    if (this.closed) return Promise.reject(shuttingDown());
    return this.subs.get(name);
  }

  private async load(name: string): Promise<SubState> {
    const settings = await this.deps.store.getSubscription(name);
    if (!settings) throw notFound(name);
    const matches = settings.filter === '' ? () => true : (this.deps.compileFilter ?? compileFilter)(settings.filter);
    return {
      name,
      settings,
      matches,
      stream: settings.topic === DELETED_TOPIC ? '' : this.deps.names.streamOf(settings.topic),
      consumer: this.deps.names.consumerOf(name),
      ensured: undefined,
      streams: new Set(),
      rotation: 0,
      requests: new Set(),
      fetches: new Set(),
      ackWatch: undefined,
      requested: 0,
      retryAt: 0,
      retryTimer: undefined,
      extensions: new Map(),
      ticker: undefined,
      ended: undefined,
    };
  }

  private async reload(st: SubState): Promise<void> {
    const settings = await this.deps.store.getSubscription(st.name);
    if (st.ended) return;
    if (!settings) return this.drop(st.name, notFound(st.name));
    // Detached: streams end FAILED_PRECONDITION; the next open or pull reloads and refuses.
    if (settings.detached) return this.drop(st.name, detached(st.name));
    const before = st.settings;
    st.settings = settings;
    if (settings.topic !== before.topic) {
      // Its topic was deleted: a new topic of the same name is not this subscription's.
      this.cancelRequests(st);
      return;
    }
    if (settings.ackDeadlineSeconds !== before.ackDeadlineSeconds || settings.enableMessageOrdering !== before.enableMessageOrdering) {
      const jsm = await this.jsm();
      await jsm.consumers.update(st.stream, st.consumer, { ack_wait: this.ackWaitMs(st) * 1_000_000 }).catch((e: unknown) => {
        if (!isConsumerNotFound(e) && !isStreamNotFound(e)) throw e;
      });
    }
    this.pump(st);
  }

  private async drop(name: string, error: ApiError): Promise<void> {
    const st = await this.subs.forget(name);
    if (!st || st.ended) return;
    st.ended = error;
    this.cancelRequests(st);
    for (const w of st.ackWatch ?? []) w.unsubscribe();
    st.ackWatch = undefined;
    st.retryTimer?.();
    st.ticker?.();
    st.ticker = undefined;
    st.extensions.clear();
    for (const s of [...st.streams]) {
      this.removeStream(st, s);
      try {
        s.sink.end(error);
      } catch (e) {
        this.report(e, name);
      }
    }
  }

  // ---- the consumer

  private jsm(): Promise<JetStreamManager> {
    if (!this.jsmLoading) {
      const loading = jetstreamManager(this.deps.nc, { timeout: this.timeoutMs, checkAPI: false });
      this.jsmLoading = loading;
      loading.catch(() => {
        if (this.jsmLoading === loading) this.jsmLoading = undefined;
      });
    }
    return this.jsmLoading;
  }

  /** Rejects UNAVAILABLE once requestTimeoutMs passed (a promise NATS settles only after reconnecting). */
  private bounded<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const cancel = this.deps.timers.schedule(this.timeoutMs, () => reject(unavailable(new Error('no answer in time'))));
      work.then(
        (v) => {
          cancel();
          resolve(v);
        },
        (e: unknown) => {
          cancel();
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });
  }

  private ackWaitMs(st: SubState): number {
    return st.settings.ackDeadlineSeconds * this.second;
  }

  /** The store's floor is startSeq until a Seek moves it (earlier, too, when the topic retains messages). */
  private startOf(floor: number): number {
    return floor + 1;
  }

  /** Creates the durable consumer unless it exists; any node may do this at the same moment. */
  private ensureConsumer(st: SubState): Promise<void> {
    if (!st.ensured) {
      const ensuring = this.createConsumer(st);
      st.ensured = ensuring;
      ensuring.catch(() => {
        if (st.ensured === ensuring) st.ensured = undefined;
      });
    }
    return st.ensured;
  }

  private async createConsumer(st: SubState): Promise<void> {
    const jsm = await this.jsm();
    try {
      await jsm.consumers.info(st.stream, st.consumer);
      return;
    } catch (e) {
      if (!isConsumerNotFound(e)) throw e;
    }
    const { floor } = await this.deps.store.loadAckState(st.name);
    const config: Partial<ConsumerConfig> = {
      durable_name: st.consumer,
      ack_policy: AckPolicy.Explicit,
      ack_wait: this.ackWaitMs(st) * 1_000_000,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: this.startOf(floor),
      filter_subject: this.deps.names.subjectOf(st.settings.topic),
      replay_policy: ReplayPolicy.Instant,
      // Ordering keys: one outstanding message for the whole subscription keeps every key in order
      // across nodes (docs/compat.md C-PS-JS-ORDERING).
      max_ack_pending: st.settings.enableMessageOrdering ? 1 : (this.deps.maxAckPending ?? 10_000),
      max_waiting: 512,
    };
    try {
      await jsm.consumers.add(st.stream, config);
    } catch (e) {
      // Created by another node in the meantime (with the same or an older start): use it.
      await jsm.consumers.info(st.stream, st.consumer).catch(() => {
        throw e;
      });
    }
  }

  // ---- fetching for streams

  /**
   * Issues pull requests for what local streams have room for, minus what is already asked for.
   * Requests asking for more than that (a stream paused or closed) stop counting as asked for, so
   * that room found again is asked for anew. They cannot be withdrawn: JetStream keeps sending to
   * them until they end, and nats-server 2.9 even shares messages out between waiting requests in
   * turn, so what they bring is dispatched like any other fetched message.
   */
  private pump(st: SubState): void {
    if (st.ended || this.closed || st.settings.topic === DELETED_TOPIC) return;
    const now = this.deps.clock.now();
    let gap = this.demand(st, now) - st.requested;
    if (gap < 0) {
      for (const f of st.fetches) {
        if (gap >= 0) break;
        if (f.cancelled || f.left <= 0) continue;
        gap += f.left;
        this.cancelFetch(st, f);
      }
      return;
    }
    if (now < st.retryAt) return;
    const maxBatch = this.deps.maxBatch ?? 256;
    const maxInFlight = this.deps.maxRequestsInFlight ?? 4;
    let inFlight = 0;
    for (const f of st.fetches) if (!f.cancelled) inFlight++;
    while (gap > 0 && inFlight++ < maxInFlight) {
      const batch = Math.min(gap, maxBatch);
      gap -= batch;
      this.fetch(st, batch);
    }
  }

  /** Every request in flight is for what is gone: what they still bring is handed back. */
  private cancelRequests(st: SubState): void {
    for (const r of st.requests) r.cancel();
    for (const f of st.fetches) {
      f.void = true;
      this.cancelFetch(st, f);
    }
  }

  /** It no longer counts as asked for; what it still brings comes through PullRequest's onLate. */
  private cancelFetch(st: SubState, f: Fetch): void {
    if (f.cancelled) return;
    f.cancelled = true;
    f.request?.cancel();
    st.requested -= f.left;
    f.left = 0;
  }

  /** How long this node's requests of the subscription may still receive messages: a nak'ed one is delayed past it. */
  private lingerMs(st: SubState): number {
    let until = Date.now();
    for (const f of st.fetches) until = Math.max(until, f.expiresAt);
    return until - Date.now() + LATE_NAK_MARGIN_MS;
  }

  private demand(st: SubState, now: number): number {
    let n = 0;
    for (const s of st.streams) n += this.room(s, now);
    return n;
  }

  private room(s: LocalStream, now: number): number {
    if (s.closed || s.paused) return 0;
    const { maxOutstandingMessages: maxM, maxOutstandingBytes: maxB } = s.options;
    const limit = maxM > 0 ? maxM : (this.deps.unlimitedStreamRoom ?? 1000);
    const full = (): boolean => s.held.size >= limit || (maxB > 0 && s.bytes >= maxB);
    // Leases that ran out (acked elsewhere unseen, or the client just dropped them) stop counting; only looked for when full.
    if (full()) for (const [id, h] of s.held) if (h.until <= now) this.unhold(s, id, h);
    return full() ? 0 : limit - s.held.size;
  }

  private fetch(st: SubState, batch: number): void {
    const expiresMs = this.deps.fetchExpiresMs ?? 2000;
    const started = this.deps.clock.now();
    let over!: () => void;
    const f: Fetch = { left: batch, request: undefined, cancelled: false, void: false, expiresAt: Date.now() + expiresMs, over: new Promise((r) => (over = r)) };
    st.fetches.add(f);
    st.requested += batch;
    const run = async (): Promise<void> => {
      await this.ensureConsumer(st);
      if (st.ended || f.cancelled) return;
      f.expiresAt = Date.now() + expiresMs;
      f.request = pullBatch(this.deps.nc, st.stream, st.consumer, {
        batch,
        expiresMs,
        noWait: false,
        graceMs: this.timeoutMs,
        // Naking it all instead (issue 12's flake) sent every other message of a backlog round a
        // 2 s loop while streams paused and resumed: those went to cancelled requests again.
        onLate: (m, lingerMs) => (f.void ? this.nak([m.ackId], lingerMs + LATE_NAK_MARGIN_MS) : this.dispatch(st, m)),
        onMessage: (m) => {
          f.left--;
          st.requested--;
          this.dispatch(st, m);
        },
      });
      await f.request.done;
    };
    run().then(
      () => {
        over();
        // Answered at once with nothing (a 409 limit): do not spin on it.
        const quick = !f.cancelled && f.left === batch && this.deps.clock.now() - started < 100;
        this.fetched(st, f, quick ? QUICK_EMPTY_PAUSE_MS : 0);
      },
      (e: unknown) => {
        over();
        this.fetched(st, f, this.deps.retryMs ?? 1000);
        if (st.ended) return;
        if (e instanceof PullEndedError && e.consumerGone) {
          st.ensured = undefined;
          // Deleted by another node (the subscription is gone, or a Seek recreates it): the store says which.
          void this.reload(st).catch((err: unknown) => this.report(err, st.name));
        }
        if (!isStreamNotFound(e)) this.report(e, st.name);
      },
    );
  }

  private fetched(st: SubState, f: Fetch, pauseMs: number): void {
    st.requested -= f.left;
    f.left = 0;
    st.fetches.delete(f);
    if (pauseMs > 0) this.retryLater(st, pauseMs);
    else this.pump(st);
  }

  private retryLater(st: SubState, ms: number): void {
    st.retryAt = this.deps.clock.now() + ms;
    st.retryTimer?.();
    st.retryTimer = this.deps.timers.schedule(ms, () => {
      st.retryTimer = undefined;
      st.retryAt = 0;
      this.pump(st);
    });
  }

  /** A message fetched for streams: to the next one with room, else back to JetStream at once for another node. */
  private dispatch(st: SubState, m: PulledMessage): void {
    const received = this.admit(st, m);
    if (!received) return;
    if (st.ended || this.closed) return this.nak([m.ackId], this.lingerMs(st));
    const now = this.deps.clock.now();
    const order = [...st.streams];
    for (let k = 0; k < order.length; k++) {
      const s = order[(st.rotation + k) % order.length]!;
      if (this.room(s, now) <= 0) continue;
      st.rotation = (st.rotation + k + 1) % order.length;
      const bytes = messageBytes(received.message);
      const deadlineMs = s.options.ackDeadlineSeconds * this.second;
      const ackWait = this.ackWaitMs(st);
      s.held.set(m.ackId, { stream: s, bytes, until: now + Math.max(deadlineMs, ackWait) });
      s.bytes += bytes;
      if (deadlineMs > ackWait) this.extend(st, m.ackId, now + deadlineMs, now);
      let more: boolean;
      try {
        more = s.sink.deliver([received]);
      } catch (e) {
        // The edge's bug: that stream stops; the message's lease runs out and goes to others.
        this.report(e, st.name);
        this.removeStream(st, s);
        return;
      }
      if (!more) {
        s.paused = true;
        this.pump(st);
      }
      return;
    }
    this.pump(st);
    this.nak([m.ackId], this.lingerMs(st));
  }

  /** Decodes a fetched message; filtered-out ones are acked, over-delivered ones dead-lettered: both undefined. */
  private admit(st: SubState, m: PulledMessage): ReceivedMessage | undefined {
    let message: PsMessage;
    try {
      const e = decodeEnvelope(m.data);
      message = { seq: m.streamSeq, messageId: String(m.streamSeq), publishTime: e.publishTime, attributes: e.attributes, data: e.data, orderingKey: e.orderingKey };
    } catch (e) {
      // Not ours (someone else published on the subject): never deliverable.
      this.report(e, st.name);
      this.deps.nc.publish(m.ackId, '+TERM');
      return undefined;
    }
    if (!st.matches(message.attributes)) {
      this.deps.nc.publish(m.ackId, '+ACK');
      return undefined;
    }
    const policy = st.settings.deadLetterPolicy;
    if (policy && m.deliveryCount > policy.maxDeliveryAttempts) {
      this.deadLetter(st, m.ackId, message, policy.deadLetterTopic);
      return undefined;
    }
    return { ackId: m.ackId, message, deliveryAttempt: policy ? m.deliveryCount : 0 };
  }

  private deadLetter(st: SubState, ackId: string, m: PsMessage, topic: string): void {
    // While publishing, the message stays leased here; a failure lets it expire and come back.
    this.extend(st, ackId, Number.POSITIVE_INFINITY, this.deps.clock.now());
    const publish = async (): Promise<void> => {
      // Same data, attributes and key; a dead-letter topic that is gone keeps them here (C-PS-DEAD-LETTER).
      if (!(await this.deps.store.getTopic(topic))) {
        throw new ApiError('FAILED_PRECONDITION', `Dead-letter topic ${topic} does not exist.`);
      }
      await this.deps.sink.append([
        { topic, attributes: m.attributes, data: m.data, publishTime: this.deps.clock.now(), ...(m.orderingKey === '' ? {} : { orderingKey: m.orderingKey }) },
      ]);
    };
    publish().then(
      () => {
        st.extensions.delete(ackId);
        this.deps.nc.publish(ackId, '+TERM');
      },
      (e: unknown) => {
        this.report(e, st.name);
        st.extensions.delete(ackId);
        this.deps.nc.publish(ackId, `-NAK ${JSON.stringify({ delay: (this.deps.retryMs ?? 1000) * 1_000_000 })}`);
      },
    );
  }

  // ---- pulls

  /** One pull request for pull(); an abort answers at once, and what the abandoned request still gets goes back. */
  private pullOnce(st: SubState, o: { batch: number; expiresMs: number; noWait: boolean }, out: ReceivedMessage[], signal: AbortSignal | undefined): Promise<void> {
    const request = pullBatch(this.deps.nc, st.stream, st.consumer, {
      ...o,
      graceMs: this.timeoutMs,
      onLate: (m, lingerMs) => this.nak([m.ackId], lingerMs + LATE_NAK_MARGIN_MS),
      onMessage: (m) => {
        const r = this.admit(st, m);
        if (r) out.push(r);
      },
    });
    st.requests.add(request);
    const finished = request.done.finally(() => st.requests.delete(request));
    if (!signal) return finished;
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        request.cancel();
        resolve();
      };
      if (signal.aborted) onAbort();
      signal.addEventListener('abort', onAbort);
      finished.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  private idle(ms: number, signal: AbortSignal | undefined): Promise<void> {
    if (ms <= 0 || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const cancel = this.deps.timers.schedule(ms, done);
      function done(): void {
        cancel();
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done);
    });
  }

  // ---- acks and leases

  /** The IDs that are JetStream reply subjects of this subscription's consumer; the rest are ignored, as Pub/Sub does. */
  private ownIds(st: SubState, ackIds: readonly string[]): string[] {
    const out: string[] = [];
    for (const id of ackIds) {
      const ref = parseJetStreamAckId(id);
      if (ref && ref.consumer === st.consumer && ref.stream === st.stream) out.push(id);
    }
    return out;
  }

  private modify(st: SubState, ids: readonly string[], secondsOf: (i: number) => number): void {
    const now = this.deps.clock.now();
    const ackWait = this.ackWaitMs(st);
    ids.forEach((id, i) => {
      const seconds = secondsOf(i);
      if (seconds === 0) {
        this.release(st, id);
        const attempt = parseJetStreamAckId(id)!.deliveryCount;
        const backoff = retryBackoffMs(st.settings.retryPolicy, attempt) * (this.second / 1000);
        this.deps.nc.publish(id, backoff > 0 ? `-NAK ${JSON.stringify({ delay: Math.round(backoff * 1_000_000) })}` : '-NAK');
        return;
      }
      const ms = seconds * this.second;
      this.deps.nc.publish(id, '+WPI');
      for (const s of st.streams) {
        const h = s.held.get(id);
        if (h) h.until = now + Math.max(ms, ackWait);
      }
      if (ms > ackWait) this.extend(st, id, now + ms, now);
      else st.extensions.delete(id);
    });
  }

  /** Keeps a lease alive until `until` by telling JetStream "in progress" while ack_wait would end it sooner. */
  private extend(st: SubState, id: string, until: number, now: number): void {
    st.extensions.set(id, { until, lastWorking: now });
    if (st.ticker) return;
    const period = Math.max(1, Math.floor(this.ackWaitMs(st) / 3));
    const tick = (): void => {
      st.ticker = undefined;
      if (st.ended) return;
      const t = this.deps.clock.now();
      const ackWait = this.ackWaitMs(st);
      for (const [ackId, x] of st.extensions) {
        if (x.lastWorking + ackWait >= x.until) st.extensions.delete(ackId);
        else {
          this.deps.nc.publish(ackId, '+WPI');
          x.lastWorking = t;
        }
      }
      if (st.extensions.size > 0) st.ticker = this.deps.timers.schedule(period, tick);
    };
    st.ticker = this.deps.timers.schedule(period, tick);
  }

  /**
   * Flow control counts a stream's messages until they are acked, and the ack may be made on
   * another node: every node serving streams of the subscription sees the consumer's ack subjects
   * (plain NATS subjects), so a message acked anywhere frees its stream's room at once.
   */
  private watchAcks(st: SubState): void {
    if (st.ackWatch || st.settings.topic === DELETED_TOPIC) return;
    const callback = (err: Error | null, msg: { subject: string; data: Uint8Array }): void => {
      if (err || st.ended) return;
      const verb = Buffer.from(msg.data.subarray(0, 5)).toString('latin1');
      if (verb.startsWith('+ACK') || verb.startsWith('-NAK') || verb.startsWith('+TERM') || msg.data.length === 0) this.release(st, msg.subject);
    };
    try {
      st.ackWatch = [
        this.deps.nc.subscribe(`$JS.ACK.${st.stream}.${st.consumer}.>`, { callback }),
        this.deps.nc.subscribe(`$JS.ACK.*.*.${st.stream}.${st.consumer}.>`, { callback }),
      ];
    } catch (e) {
      // A closed connection: acks on other nodes then free room only when leases run out.
      this.report(e, st.name);
    }
  }

  private release(st: SubState, id: string): void {
    st.extensions.delete(id);
    for (const s of st.streams) {
      const h = s.held.get(id);
      if (h) {
        this.unhold(s, id, h);
        this.pump(st);
        return;
      }
    }
  }

  private unhold(s: LocalStream, id: string, h: Held): void {
    s.held.delete(id);
    s.bytes -= h.bytes;
  }

  private clearHeld(s: LocalStream): void {
    s.held.clear();
    s.bytes = 0;
  }

  private nak(ids: readonly string[], delayMs = 0): void {
    const body = delayMs > 0 ? `-NAK ${JSON.stringify({ delay: Math.round(delayMs * 1_000_000) })}` : '-NAK';
    for (const id of ids) this.deps.nc.publish(id, body);
  }

  private removeStream(st: SubState, s: LocalStream): void {
    if (s.closed) return;
    s.closed = true;
    st.streams.delete(s);
    // Its leases run out on their own (the client may still ack them); only this node's accounting goes.
    this.clearHeld(s);
    if (st.streams.size === 0) {
      for (const w of st.ackWatch ?? []) w.unsubscribe();
      st.ackWatch = undefined;
    }
    this.pump(st);
  }

  private streamRequest(st: SubState, s: LocalStream, req: StreamingPullRequest): void {
    const r = checkStreamRequest(req);
    const ids = r.modifyIds;
    const seconds = r.modifySeconds;
    // A closed stream's late acks still count: the messages were received (Pub/Sub accepts them too).
    if (r.ackIds.length > 0) {
      for (const id of this.ownIds(st, r.ackIds)) {
        this.release(st, id);
        this.deps.nc.publish(id, '+ACK');
      }
    }
    if (ids.length > 0) {
      const own = new Set(this.ownIds(st, ids));
      const pairs = ids.map((id, i) => [id, leaseSeconds(seconds[i]!)] as const).filter(([id]) => own.has(id));
      this.modify(
        st,
        pairs.map(([id]) => id),
        (i) => pairs[i]![1],
      );
    }
    if (s.closed || st.ended) return;
    s.options = {
      ackDeadlineSeconds: r.streamAckDeadlineSeconds ?? s.options.ackDeadlineSeconds,
      maxOutstandingMessages: r.maxOutstandingMessages ?? s.options.maxOutstandingMessages,
      maxOutstandingBytes: r.maxOutstandingBytes ?? s.options.maxOutstandingBytes,
    };
    this.pump(st);
  }

  private report(error: unknown, subscription: string): void {
    this.deps.onError?.(error, subscription);
  }
}

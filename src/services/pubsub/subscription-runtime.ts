import { ApiError } from '../../domain/errors.js';
import { decodeAckId, encodeAckId, subscriptionTag } from '../../domain/pubsub/ack-id.js';
import { deliveryRules } from '../../domain/pubsub/delivery-rules.js';
import { LeaseBook, type ConsumerLimits, type Lease } from '../../domain/pubsub/lease-book.js';
import type { AttributePredicate } from '../../domain/pubsub/filter.js';
import { DELETED_TOPIC, type AckState, type PsSubscription } from '../../domain/pubsub/pubsub-model.js';
import type { Clock, Sink, Timers } from '../ports.js';
import type { ReceivedMessage, StreamingPullSink } from './pubsub-api.js';
import { AckCommitter } from './ack-committer.js';
import type { MessageLog, PubSubStore } from './pubsub-ports.js';

export interface RuntimeDeps {
  store: PubSubStore;
  log: MessageLog;
  sink: Sink;
  clock: Clock;
  timers: Timers;
  /** A failure in background work (a commit, a log read, a dead-letter publish); the work is retried. */
  onError: (error: unknown) => void;
  readAheadMessages: number;
  /** Read and unacknowledged messages held at most; past it, reading waits for acks or expiry. */
  maxUnackedMessages: number;
  pageSize: number;
  streamAckFlushMs: number;
}

/** One open StreamingPull (or in-process consumer): the runtime's side of it. */
export interface StreamConsumer {
  readonly id: number;
  readonly sink: StreamingPullSink;
  paused: boolean;
  closed: boolean;
}

interface PullWaiter {
  max: number;
  /** returnImmediately: answered as soon as one read of the log came back empty. */
  immediate: boolean;
  resolve: (messages: ReceivedMessage[]) => void;
  reject: (error: ApiError) => void;
}

/** After a failed log read, how long before trying again. */
const RETRY_MS = 1000;

/**
 * Delivery of one subscription: owns its LeaseBook and carries its effects out (reads pages of
 * the log after the cursor while consumers have room, hands leases to pulls and streams, wakes
 * the book on its one timer, commits acks in batches, publishes dead letters). Every stream and
 * pull of the subscription shares this one state, so no message is leased to two of them at once.
 */
export class SubscriptionRuntime {
  readonly book: LeaseBook;
  private readonly tag: string;
  private readonly streams = new Map<number, StreamConsumer>();
  private rotation = 0;
  private readonly pulls: PullWaiter[] = [];
  private reading = false;
  /** The last read reached the topic's end and no commit was announced since. */
  private caughtUp = false;
  private announced = false;
  /** Bumped by seek: a read started before it is discarded. */
  private epoch = 0;
  private pumping = false;
  private pumpAgain = false;
  private wake: { at: number; cancel: () => void } | undefined;
  private unwatch: () => void;
  readonly acks: AckCommitter;
  ended: ApiError | undefined;

  constructor(
    private settings: PsSubscription,
    state: AckState,
    readonly matches: AttributePredicate,
    private readonly deps: RuntimeDeps,
  ) {
    this.tag = subscriptionTag(settings.name);
    // Generations start at the clock in microseconds: a restarted engine's leases never reuse the
    // generations of IDs issued before it (unless it issued over 1,000 leases per millisecond of uptime).
    this.book = new LeaseBook(state, deliveryRules(settings, matches), deps.clock.now() * 1000);
    this.acks = new AckCommitter(settings.name, this.book, deps.store, deps.timers, deps.onError, state.floor);
    this.unwatch =
      settings.topic === DELETED_TOPIC
        ? () => {}
        : deps.log.watch(settings.topic, () => {
            this.caughtUp = false;
            this.announced = true;
            this.pump();
          });
  }

  get name(): string {
    return this.settings.name;
  }

  get subscription(): PsSubscription {
    return this.settings;
  }

  update(settings: PsSubscription): void {
    if (settings.topic !== this.settings.topic) {
      // Its topic was deleted (DELETED_TOPIC): a new topic of the same name is not this subscription's.
      this.unwatch();
      this.unwatch = () => {};
    }
    this.settings = settings;
    this.book.setRules(deliveryRules(settings, this.matches));
    this.pump();
  }

  addStream(sink: StreamingPullSink, limits: ConsumerLimits): StreamConsumer {
    const consumer: StreamConsumer = { id: this.book.addConsumer(limits), sink, paused: false, closed: false };
    this.streams.set(consumer.id, consumer);
    this.pump();
    return consumer;
  }

  removeStream(consumer: StreamConsumer): void {
    consumer.closed = true;
    this.streams.delete(consumer.id);
    this.book.removeConsumer(consumer.id);
  }

  pull(max: number, waitMs: number, signal: AbortSignal | undefined): Promise<ReceivedMessage[]> {
    if (this.ended) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => {
      let cancelTimer = (): void => {};
      const done = (): void => {
        const i = this.pulls.indexOf(waiter);
        if (i >= 0) this.pulls.splice(i, 1);
        cancelTimer();
        signal?.removeEventListener('abort', onAbort);
      };
      const waiter: PullWaiter = {
        max,
        immediate: waitMs <= 0,
        resolve: (m) => {
          done();
          resolve(m);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      };
      const onAbort = (): void => waiter.resolve([]);
      if (signal?.aborted) return resolve([]);
      signal?.addEventListener('abort', onAbort);
      if (waitMs > 0) cancelTimer = this.deps.timers.schedule(waitMs, () => waiter.resolve([]));
      this.pulls.push(waiter);
      this.pump();
    });
  }

  /** Acks the IDs that name a current lease of this subscription; returns how many did. */
  ack(ackIds: readonly string[]): number {
    let n = 0;
    for (const id of ackIds) {
      const ref = decodeAckId(id);
      if (ref && ref.tag === this.tag && this.book.ack(ref.seq, ref.generation)) n++;
    }
    if (n > 0) this.pump();
    return n;
  }

  /** 0 = nack. IDs that are not current leases of this subscription are ignored. */
  modify(ackIds: readonly string[], seconds: readonly number[] | number): void {
    const now = this.deps.clock.now();
    let changed = false;
    ackIds.forEach((id, i) => {
      const ref = decodeAckId(id);
      const s = typeof seconds === 'number' ? seconds : (seconds[i] ?? 0);
      if (ref && ref.tag === this.tag) changed = this.book.modify(ref.seq, ref.generation, s * 1000, now) || changed;
    });
    if (changed) this.pump();
  }

  async seek(state: AckState): Promise<void> {
    await this.acks.replace(state, () => {
      this.book.reset(state);
      // A read started before the reset is dropped: it read from the old cursor.
      this.epoch++;
      this.caughtUp = false;
    });
    this.pump();
  }

  /** Ends every stream and pull with `error` (C-PS-STREAM-END), stops reading and commits what was acked. */
  async end(error: ApiError): Promise<void> {
    if (this.ended) return;
    this.ended = error;
    this.unwatch();
    this.wake?.cancel();
    this.wake = undefined;
    for (const w of [...this.pulls]) w.reject(error);
    for (const s of [...this.streams.values()]) {
      this.removeStream(s);
      try {
        s.sink.end(error);
      } catch (e) {
        this.deps.onError(e);
      }
    }
    // Acks committed from here on (streams closing) are answered; a failure is reported.
    await this.acks.finish().catch((e: unknown) => this.deps.onError(e));
  }

  /** Runs the book's due events and hands out what it can; re-entrant calls are folded into one. */
  pump(): void {
    if (this.ended) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        const now = this.deps.clock.now();
        this.book.advance(now);
        this.deadLetters(now);
        this.deliver(now);
        this.readMore();
      } while (this.pumpAgain && !this.ended);
      this.answerEmptyPulls();
      this.armWake();
    } finally {
      this.pumping = false;
    }
  }

  private deliver(now: number): void {
    const pullDeadlineMs = this.settings.ackDeadlineSeconds * 1000;
    while (this.pulls.length > 0 && this.book.readyCount > 0) {
      const waiter = this.pulls[0]!;
      const leases = this.book.take(undefined, waiter.max, now, pullDeadlineMs);
      if (leases.length === 0) break;
      waiter.resolve(leases.map((l) => this.received(l)));
    }
    if (this.streams.size === 0 || this.book.readyCount === 0) return;
    // Round-robin over streams with room, each round sharing out what is ready.
    const order = [...this.streams.values()];
    this.rotation = (this.rotation + 1) % order.length;
    let progress = true;
    while (progress && this.book.readyCount > 0) {
      progress = false;
      const share = Math.max(1, Math.ceil(this.book.readyCount / order.length));
      for (let k = 0; k < order.length && this.book.readyCount > 0; k++) {
        const s = order[(k + this.rotation) % order.length]!;
        if (s.closed || s.paused) continue;
        const leases = this.book.take(s.id, Math.min(share, 1000), now, 0);
        if (leases.length === 0) continue;
        progress = true;
        this.send(s, leases);
      }
    }
  }

  private send(s: StreamConsumer, leases: Lease[]): void {
    let more: boolean;
    try {
      more = s.sink.deliver(leases.map((l) => this.received(l)));
    } catch (e) {
      // The edge's bug: that stream stops, the leases run out and go to others.
      this.deps.onError(e);
      this.removeStream(s);
      return;
    }
    if (!more) s.paused = true;
  }

  private received(l: Lease): ReceivedMessage {
    return {
      ackId: encodeAckId(this.tag, l.seq, l.generation),
      message: l.message,
      // Pub/Sub reports delivery_attempt only with a dead-letter policy.
      deliveryAttempt: this.settings.deadLetterPolicy ? l.attempt : 0,
    };
  }

  /** Reads the next page only while someone has room, and no further ahead than readAheadMessages (C-PS-READ-AHEAD). */
  private readMore(): void {
    if (this.reading || this.caughtUp || this.settings.topic === DELETED_TOPIC) return;
    const room = Math.min(this.deps.pageSize, this.deps.readAheadMessages - this.book.readyCount, this.deps.maxUnackedMessages - this.book.unackedCount);
    if (room <= 0) return;
    // What consumers could take now; counting stops once it fills a page (thousands of streams).
    let demand = 0;
    for (const w of this.pulls) demand += w.max;
    for (const s of this.streams.values()) {
      if (demand >= room) break;
      if (!s.paused) demand += Math.min(this.book.room(s.id), room);
    }
    const limit = Math.min(room, demand);
    if (limit <= 0) return;
    this.reading = true;
    this.announced = false;
    const epoch = this.epoch;
    const topic = this.settings.topic;
    this.deps.log.read(topic, this.book.cursor, limit).then(
      (messages) => {
        this.reading = false;
        if (epoch !== this.epoch || this.ended) return this.pump();
        this.book.ingest(messages, this.deps.clock.now());
        if (messages.length < limit && !this.announced) this.caughtUp = true;
        this.pump();
      },
      (error: unknown) => {
        this.reading = false;
        this.deps.onError(error);
        this.caughtUp = true;
        this.deps.timers.schedule(RETRY_MS, () => {
          this.caughtUp = false;
          this.pump();
        });
        this.answerEmptyPulls();
      },
    );
  }

  private answerEmptyPulls(): void {
    if (this.reading) return;
    for (const w of this.pulls.filter((p) => p.immediate)) w.resolve([]);
  }

  private deadLetters(now: number): void {
    const policy = this.settings.deadLetterPolicy;
    const messages = this.book.takeDeadLetters();
    if (messages.length === 0) return;
    if (!policy) {
      for (const m of messages) this.book.returnDeadLetter(m.seq);
      this.pumpAgain = true;
      return;
    }
    const publish = async (): Promise<void> => {
      // Same data, attributes and key; a dead-letter topic that is gone keeps them here, retried (C-PS-DEAD-LETTER).
      if (!(await this.deps.store.getTopic(policy.deadLetterTopic))) {
        throw new ApiError('FAILED_PRECONDITION', `Dead-letter topic ${policy.deadLetterTopic} does not exist.`);
      }
      await this.deps.sink.append(
        messages.map((m) => ({
          topic: policy.deadLetterTopic,
          attributes: m.attributes,
          data: m.data,
          publishTime: now,
          ...(m.orderingKey === '' ? {} : { orderingKey: m.orderingKey }),
        })),
      );
    };
    publish().then(
      () => {
        for (const m of messages) this.book.deadLettered(m.seq);
        this.acks.commitWithin(this.deps.streamAckFlushMs);
        this.pump();
      },
      (error: unknown) => {
        this.deps.onError(error);
        const at = this.deps.clock.now();
        for (const m of messages) this.book.deadLetterFailed(m.seq, at);
        this.pump();
      },
    );
  }

  private armWake(): void {
    const at = this.book.nextWake();
    if (this.wake?.at === at) return;
    this.wake?.cancel();
    this.wake = undefined;
    if (at === undefined || this.ended) return;
    const cancel = this.deps.timers.schedule(Math.max(0, at - this.deps.clock.now()), () => {
      this.wake = undefined;
      this.pump();
    });
    this.wake = { at, cancel };
  }
}

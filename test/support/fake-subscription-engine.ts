import { EventEmitter, once } from 'node:events';
import { ApiError } from '../../src/domain/errors.js';
import type { PsMessage } from '../../src/domain/pubsub/pubsub-model.js';
import type { ConsumerOptions, ReceivedMessage, StreamingPullSession, StreamingPullSink, SubscriptionEngine } from '../../src/services/pubsub/pubsub-api.js';
import type * as Req from '../../src/services/pubsub/pubsub-requests.js';

interface Consumer {
  options: ConsumerOptions;
  sink: StreamingPullSink;
  outstanding: Set<string>;
  open: boolean;
}

interface Queued {
  message: PsMessage;
  attempt: number;
}

/**
 * A stand-in SubscriptionEngine for consumers' unit tests: one queue per subscription, flow
 * control by maxOutstandingMessages, acks and nacks recorded and emitted ('ack' / 'nack' with
 * the message), a nacked message requeued at once with its attempt counted. No leases, backoff
 * or dead-lettering: those are the real engine's, tested with it.
 */
export class FakeSubscriptionEngine extends EventEmitter implements Pick<SubscriptionEngine, 'open' | 'acknowledge' | 'modifyAckDeadline' | 'backlog' | 'subscriptionDeleted'> {
  private readonly queues = new Map<string, Queued[]>();
  private readonly consumers = new Map<string, Consumer[]>();
  private readonly leased = new Map<string, Queued & { subscription: string }>();
  readonly acked: PsMessage[] = [];
  readonly nacked: PsMessage[] = [];
  /** Lease extensions asked through modifyAckDeadline (seconds > 0), in order. */
  readonly extended: { ackId: string; seconds: number }[] = [];
  /** The most messages any one consumer held unacked at once. */
  maxOutstandingSeen = 0;
  private seq = 0;
  private gen = 0;
  /** When set, nacked messages wait (as in a retry backoff) until `redeliver(seq)`. */
  backoff = false;
  private readonly waiting = new Map<number, Queued & { subscription: string }>();
  /** Subscriptions whose open fails with NOT_FOUND. */
  readonly missing = new Set<string>();
  /** Every subscriptionDeleted call's subscription, in order. */
  readonly deletions: string[] = [];
  /** Runs in `open` once the stream is registered, before `open` resolves (to end a stream while it opens). */
  onOpen: ((subscription: string) => void) | undefined;

  publish(subscription: string, data: string, attributes: Record<string, string> = {}, orderingKey = ''): PsMessage {
    const seq = ++this.seq;
    const message: PsMessage = { seq, messageId: String(seq), publishTime: Date.UTC(2026, 11, 4, 20, 0, 0, seq), attributes, data: new TextEncoder().encode(data), orderingKey };
    this.queue(subscription).push({ message, attempt: 0 });
    this.pump(subscription);
    return message;
  }

  private readonly cursors = { ack: 0, nack: 0 };

  /**
   * The next `count` acks (or nacks) not yet taken by an earlier call, waiting for them if need be:
   * settlements that happened before the call are not missed.
   */
  async next(kind: 'ack' | 'nack', count = 1): Promise<PsMessage[]> {
    const list = kind === 'ack' ? this.acked : this.nacked;
    while (list.length < this.cursors[kind] + count) await once(this, kind);
    const out = list.slice(this.cursors[kind], this.cursors[kind] + count);
    this.cursors[kind] += count;
    return out;
  }

  async open(subscription: string, options: ConsumerOptions, sink: StreamingPullSink): Promise<StreamingPullSession> {
    if (this.missing.has(subscription)) throw new ApiError('NOT_FOUND', `Resource not found (resource=${subscription}).`);
    const consumer: Consumer = { options, sink, outstanding: new Set(), open: true };
    this.consumers.set(subscription, [...(this.consumers.get(subscription) ?? []), consumer]);
    queueMicrotask(() => this.pump(subscription));
    this.onOpen?.(subscription);
    return {
      request: (r: Req.StreamingPullRequest) => {
        for (const id of r.ackIds ?? []) this.settle(subscription, id, true);
        (r.modifyDeadlineAckIds ?? []).forEach((id, i) => {
          if (r.modifyDeadlineSeconds?.[i] === 0) this.settle(subscription, id, false);
        });
        if (r.maxOutstandingMessages !== undefined && consumer.open) {
          consumer.options = { ...consumer.options, maxOutstandingMessages: Math.max(0, Number(r.maxOutstandingMessages)) };
          this.pump(subscription);
        }
      },
      resume: () => this.pump(subscription),
      close: () => {
        consumer.open = false;
        this.consumers.set(subscription, (this.consumers.get(subscription) ?? []).filter((c) => c !== consumer));
      },
    };
  }

  /** Ends every open stream of the subscription with `error` (as when it is deleted). */
  end(subscription: string, error: ApiError): void {
    for (const c of this.consumers.get(subscription) ?? []) {
      c.open = false;
      c.sink.end(error);
    }
    this.consumers.delete(subscription);
  }

  /** As the engines do: its streams end with NOT_FOUND. */
  subscriptionDeleted(subscription: string): void {
    this.deletions.push(subscription);
    this.end(subscription, new ApiError('NOT_FOUND', `Resource not found (resource=${subscription}).`));
  }

  /**
   * As a Seek to before every leased message: the leases are dropped (their ack IDs go stale, the
   * consumers' counts to nothing) and the messages are delivered again.
   */
  seek(subscription: string): void {
    const dropped: Queued[] = [];
    for (const [ackId, lease] of this.leased) {
      if (lease.subscription !== subscription) continue;
      this.leased.delete(ackId);
      dropped.push({ message: lease.message, attempt: 0 });
    }
    for (const c of this.consumers.get(subscription) ?? []) c.outstanding.clear();
    const q = this.queue(subscription);
    q.unshift(...dropped);
    q.sort((a, b) => a.message.seq - b.message.seq);
    this.pump(subscription);
  }

  /** Ends the backoff of a nacked message: it is delivered again. */
  redeliver(seq: number): void {
    const w = this.waiting.get(seq);
    if (!w) throw new Error(`message ${seq} is not waiting`);
    this.waiting.delete(seq);
    this.queue(w.subscription).push({ message: w.message, attempt: w.attempt });
    this.pump(w.subscription);
  }

  openConsumers(subscription: string): number {
    return (this.consumers.get(subscription) ?? []).length;
  }

  async acknowledge(subscription: string, ackIds: readonly string[]): Promise<void> {
    for (const id of ackIds) this.settle(subscription, id, true);
  }

  async modifyAckDeadline(subscription: string, ackIds: readonly string[], seconds: number): Promise<void> {
    if (seconds === 0) for (const id of ackIds) this.settle(subscription, id, false);
    else for (const id of ackIds) if (this.leased.get(id)?.subscription === subscription) this.extended.push({ ackId: id, seconds });
  }

  async backlog(subscription: string): Promise<number> {
    let leased = 0;
    for (const l of this.leased.values()) if (l.subscription === subscription) leased++;
    return this.queue(subscription).length + leased;
  }

  private queue(subscription: string): Queued[] {
    let q = this.queues.get(subscription);
    if (!q) this.queues.set(subscription, (q = []));
    return q;
  }

  private settle(subscription: string, ackId: string, ack: boolean): void {
    const lease = this.leased.get(ackId);
    if (!lease || lease.subscription !== subscription) return;
    this.leased.delete(ackId);
    for (const c of this.consumers.get(subscription) ?? []) c.outstanding.delete(ackId);
    if (ack) {
      this.acked.push(lease.message);
      this.emit('ack', lease.message);
    } else {
      this.nacked.push(lease.message);
      if (this.backoff) this.waiting.set(lease.message.seq, { message: lease.message, attempt: lease.attempt, subscription });
      else this.queue(subscription).push({ message: lease.message, attempt: lease.attempt });
      this.emit('nack', lease.message);
    }
    this.pump(subscription);
  }

  private pump(subscription: string): void {
    const q = this.queue(subscription);
    for (const c of this.consumers.get(subscription) ?? []) {
      const batch: ReceivedMessage[] = [];
      while (q.length > 0 && c.open && (c.options.maxOutstandingMessages === 0 || c.outstanding.size < c.options.maxOutstandingMessages)) {
        const item = q.shift()!;
        const ackId = `${item.message.seq}-${++this.gen}`;
        const attempt = item.attempt + 1;
        this.leased.set(ackId, { ...item, attempt, subscription });
        c.outstanding.add(ackId);
        this.maxOutstandingSeen = Math.max(this.maxOutstandingSeen, c.outstanding.size);
        batch.push({ ackId, message: item.message, deliveryAttempt: attempt });
      }
      if (batch.length > 0) c.sink.deliver(batch);
    }
  }
}

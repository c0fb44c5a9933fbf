import type { Logger } from 'pino';
import type { ApiError } from '../../../domain/errors.js';
import type { PsMessage } from '../../../domain/pubsub/pubsub-model.js';
import type { ConsumerOptions, ReceivedMessage, StreamingPullSession, SubscriptionEngine } from '../../../services/pubsub/pubsub-api.js';
import type { ForwardTarget } from './forward-target.js';

export interface TopicForwarderDeps {
  engine: Pick<SubscriptionEngine, 'open' | 'acknowledge' | 'modifyAckDeadline'>;
  target: ForwardTarget;
  consumer: ConsumerOptions;
  log: Logger;
  now: () => number;
  /**
   * How long a failed message holds back the later messages of its ordering key while it waits
   * for redelivery; past it (the message was dropped by a seek, or expired) the key goes on.
   */
  holdMs: number;
  onResult?: (ok: boolean) => void;
  onEnded: (error: ApiError) => void;
}

/**
 * The ordering key a forwarded message gets: its own, or else the device's numeric ID, so that
 * one device's telemetry reaches Google in the order the device sent it (docs/compat.md C-PS-FORWARD).
 */
export const forwardOrderingKey = (m: PsMessage): string => m.orderingKey || (m.attributes.deviceNumId ?? '');

/**
 * Republishes one local subscription's messages to a target and acks each locally only once the
 * target acked it; a failed publish is nacked, so the message waits in the durable log and comes
 * back after the subscription's retry backoff. Order per ordering key: the client library keeps
 * the order of what is handed to it, and after a failure of key K no later message of K is handed
 * over until the failed ones went through (later ones are nacked meanwhile), because the engine
 * does not redeliver unkeyed log messages in seq order.
 */
export class TopicForwarder {
  private session: StreamingPullSession | undefined;
  private closed = false;
  /** Per ordering key: seqs whose publish failed and not yet succeeded, with when they failed. */
  private readonly failed = new Map<string, Map<number, number>>();
  /** Seqs being published, with the ack IDs of every delivery of them meanwhile. */
  private readonly inFlight = new Map<number, string[]>();

  constructor(
    readonly subscription: string,
    private readonly deps: TopicForwarderDeps,
  ) {}

  async start(): Promise<void> {
    const session = await this.deps.engine.open(this.subscription, this.deps.consumer, {
      deliver: (messages) => {
        for (const m of messages) this.forward(m);
        return true;
      },
      end: (error) => {
        this.session = undefined;
        if (!this.closed) this.deps.onEnded(error);
      },
    });
    if (this.closed) session.close();
    else this.session = session;
  }

  close(): void {
    this.closed = true;
    this.session?.close();
    this.session = undefined;
  }

  /** Messages failed and waiting to go through again (for tests and logs). */
  get held(): number {
    let n = 0;
    for (const seqs of this.failed.values()) n += seqs.size;
    return n;
  }

  private forward(received: ReceivedMessage): void {
    const { message, ackId } = received;
    const redelivered = this.inFlight.get(message.seq);
    if (redelivered) {
      // The lease ran out while the publish was still out: settle both deliveries with its result.
      redelivered.push(ackId);
      return;
    }
    const key = forwardOrderingKey(message);
    if (key !== '' && this.heldBack(key, message.seq)) {
      this.settle([ackId], false);
      return;
    }
    const ackIds = [ackId];
    this.inFlight.set(message.seq, ackIds);
    this.deps.target.publish({ data: message.data, attributes: message.attributes, orderingKey: key }).then(
      () => {
        this.inFlight.delete(message.seq);
        this.failed.get(key)?.delete(message.seq);
        if (this.failed.get(key)?.size === 0) this.failed.delete(key);
        this.deps.onResult?.(true);
        this.settle(ackIds, true);
      },
      (err: unknown) => {
        this.inFlight.delete(message.seq);
        this.deps.log.debug({ err, subscription: this.subscription, seq: message.seq }, 'forward publish failed; the message waits for redelivery');
        if (key !== '') {
          let seqs = this.failed.get(key);
          if (!seqs) this.failed.set(key, (seqs = new Map()));
          seqs.set(message.seq, this.deps.now());
          this.deps.target.resume(key);
        }
        this.deps.onResult?.(false);
        this.settle(ackIds, false);
      },
    );
  }

  /** Whether an earlier message of `key` failed and is neither through nor being published again. */
  private heldBack(key: string, seq: number): boolean {
    const seqs = this.failed.get(key);
    if (!seqs) return false;
    const now = this.deps.now();
    for (const [s, at] of seqs) {
      if (now - at > this.deps.holdMs) seqs.delete(s);
      // One being published again is ahead of this one in the client's queue for the key: order is kept.
      else if (s < seq && !this.inFlight.has(s)) return true;
    }
    if (seqs.size === 0) this.failed.delete(key);
    return false;
  }

  private settle(ackIds: string[], ack: boolean): void {
    const session = this.session;
    if (session) {
      try {
        session.request(ack ? { ackIds } : { modifyDeadlineAckIds: ackIds, modifyDeadlineSeconds: ackIds.map(() => 0) });
        return;
      } catch (err) {
        this.deps.log.debug({ err, subscription: this.subscription }, 'forward result refused by the stream; recorded through the engine');
      }
    }
    const done = ack ? this.deps.engine.acknowledge(this.subscription, ackIds) : this.deps.engine.modifyAckDeadline(this.subscription, ackIds, 0);
    done.catch((err: unknown) => this.deps.log.debug({ err, subscription: this.subscription }, 'forward result not recorded (the lease runs out instead)'));
  }
}

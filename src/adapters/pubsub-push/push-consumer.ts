import type { Logger } from 'pino';
import type { ApiError } from '../../domain/errors.js';
import type { PsSubscription, PushConfig } from '../../domain/pubsub/pubsub-model.js';
import type { ReceivedMessage, StreamingPullSession, SubscriptionEngine } from '../../services/pubsub/pubsub-api.js';
import { isPushAck, pushEnvelope } from './push-envelope.js';
import type { PushOutcome, PushPoster } from './push-http.js';

/** Mints the bearer token of a push config with an oidcToken. */
export type PushTokens = (audience: string, email: string) => Promise<string>;

export interface PushConsumerDeps {
  engine: Pick<SubscriptionEngine, 'open' | 'acknowledge' | 'modifyAckDeadline'>;
  poster: PushPoster;
  tokens: PushTokens | undefined;
  /** POSTs in flight at most, at first: the engine consumer's maxOutstandingMessages (see `limit`). */
  maxOutstanding: number;
  log: Logger;
  /** Each push request's result: for metrics and tests. */
  onResult?: (subscription: string, outcome: PushOutcome, acked: boolean) => void;
  /** The consumer's stream ended on the engine's side (subscription deleted, detached, engine closing). */
  onEnded: (consumer: PushConsumer, error: ApiError) => void;
  /** One of its requests finished and its result was handed to the engine. */
  onRequestDone?: (consumer: PushConsumer) => void;
}

/**
 * How much longer than the ack deadline the engine leases a pushed message. The request is
 * abandoned at the ack deadline and nacked only once its socket is gone; were the lease to run
 * out first, the engine would hand the message (its ordering key, its flow-control slot) to a
 * redelivery while the endpoint still held the first request. Left to run out, the lease only
 * covers a nack that was lost.
 */
export const PUSH_LEASE_MARGIN_MS = 2000;

/** What of a subscription its push consumer uses. */
export type PushSettings = Pick<PsSubscription, 'name' | 'ackDeadlineSeconds'> & { pushConfig: PushConfig };

/**
 * Delivers one push subscription: an engine consumer whose flow control bounds the POSTs in
 * flight, each message POSTed in Pub/Sub's envelope, acked on a 102/200/201/202/204 and nacked
 * (deadline 0) on anything else, a timeout (the ack deadline) or a connection error. The engine
 * then applies the retry policy's backoff and the dead-letter policy, as for any consumer.
 *
 * The engine's count is not the whole story, though: a Seek drops the stream's leases, and with
 * them its count, while their POSTs run on; they still load the endpoint. So the consumer holds
 * its own bound too, and what the engine hands out beyond it waits for a request to end.
 */
export class PushConsumer {
  private session: StreamingPullSession | undefined;
  private closed = false;
  private settings: PushSettings;
  private maxOutstanding: number;
  private requests = 0;
  /** Delivered while the bound was taken (after a Seek), in delivery order. */
  private readonly waiting: ReceivedMessage[] = [];
  private endedWith: ApiError | undefined;

  constructor(
    settings: PushSettings,
    private readonly deps: PushConsumerDeps,
  ) {
    this.settings = settings;
    this.maxOutstanding = deps.maxOutstanding;
  }

  get name(): string {
    return this.settings.name;
  }

  get ackDeadlineSeconds(): number {
    return this.settings.ackDeadlineSeconds;
  }

  /** POSTs of this consumer not finished yet, whether or not it is still open. */
  get inFlight(): number {
    return this.requests;
  }

  /**
   * Why the engine ended its stream, if it did. Set even when it ended before `start` resolved,
   * which the owner must check: `onEnded` then reached it before it knew the consumer.
   */
  get ended(): ApiError | undefined {
    return this.endedWith;
  }

  /** Opens the engine consumer; rejects like SubscriptionEngine.open (NOT_FOUND, FAILED_PRECONDITION). */
  async start(): Promise<void> {
    const session = await this.deps.engine.open(
      this.settings.name,
      {
        ackDeadlineSeconds: this.settings.ackDeadlineSeconds + PUSH_LEASE_MARGIN_MS / 1000,
        maxOutstandingMessages: this.maxOutstanding,
        maxOutstandingBytes: 0,
      },
      {
        deliver: (messages) => {
          // Leased just now, by the engine's pump that calls this.
          const leasedAt = performance.now();
          for (const m of messages) {
            // Handed out again while it waited (another Seek dropped its lease): the new lease
            // takes the old one's place, whose ack ID nothing could settle any more.
            const stale = this.waiting.length === 0 ? -1 : this.waiting.findIndex((w) => w.message.messageId === m.message.messageId);
            if (stale >= 0) this.waiting[stale] = m;
            else if (this.requests < this.maxOutstanding) this.send(m, leasedAt);
            else this.waiting.push(m);
          }
          // The engine holds back the rest until they are sent (resume).
          return this.waiting.length === 0;
        },
        end: (error) => {
          this.session = undefined;
          this.endedWith = error;
          if (!this.closed) this.deps.onEnded(this, error);
        },
      },
    );
    if (this.closed) session.close();
    // Ended while it opened: a session kept now would never deliver.
    else if (!this.endedWith) this.session = session;
  }

  /** A new push config (endpoint, attributes, token); requests already in flight finish as they were sent. */
  update(settings: PushSettings): void {
    this.settings = settings;
  }

  /**
   * A new bound on POSTs in flight (>= 1: 0 would mean no limit to the engine). Lowering it takes
   * nothing back: the engine delivers again once fewer than `max` are out.
   */
  limit(max: number): void {
    if (max === this.maxOutstanding) return;
    this.maxOutstanding = max;
    try {
      this.session?.request({ maxOutstandingMessages: max });
    } catch (err) {
      // The stream is ending; the consumer that replaces it opens with the bound of its time.
      this.deps.log.debug({ err, subscription: this.settings.name }, 'push flow control not changed');
    }
    this.sendWaiting();
  }

  /** Nothing more is delivered; POSTs in flight still ack or nack what they carry. */
  close(): void {
    this.closed = true;
    this.session?.close();
    this.session = undefined;
    // Never sent, and perhaps no longer to be (back to pull): nacked, they go to whoever consumes next
    // now rather than when their leases run out.
    for (const m of this.waiting.splice(0)) this.settle(m.ackId, false);
  }

  private send(received: ReceivedMessage, leasedAt: number): void {
    this.requests++;
    void this.push(received, leasedAt);
  }

  private sendWaiting(): void {
    if (this.waiting.length === 0) return;
    while (this.waiting.length > 0 && this.requests < this.maxOutstanding) {
      const m = this.waiting.shift()!;
      // Its lease ran while it waited: a whole one again, for a request timed from now.
      this.extend(m.ackId);
      this.send(m, performance.now());
    }
    if (this.waiting.length === 0) this.session?.resume();
  }

  private extend(ackId: string): void {
    // Through the engine: a stream request takes whole seconds up to 600, and the lease is longer.
    this.deps.engine
      .modifyAckDeadline(this.settings.name, [ackId], this.settings.ackDeadlineSeconds + PUSH_LEASE_MARGIN_MS / 1000)
      .catch((err: unknown) => this.deps.log.debug({ err, subscription: this.settings.name }, 'push lease not extended'));
  }

  private async push(received: ReceivedMessage, leasedAt: number): Promise<void> {
    const { name, ackDeadlineSeconds, pushConfig } = this.settings;
    let outcome: PushOutcome;
    try {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (pushConfig.oidcToken && this.deps.tokens) {
        headers.authorization = `Bearer ${await this.deps.tokens(pushConfig.oidcToken.audience || pushConfig.pushEndpoint, pushConfig.oidcToken.serviceAccountEmail)}`;
      }
      // The ack deadline runs from the lease, so signing the token comes out of it too.
      const timeoutMs = ackDeadlineSeconds * 1000 - (performance.now() - leasedAt);
      outcome =
        timeoutMs <= 0
          ? { kind: 'timeout' }
          : await this.deps.poster.post({
              url: pushConfig.pushEndpoint,
              body: JSON.stringify(pushEnvelope(name, received, pushConfig)),
              headers,
              timeoutMs,
            });
    } catch (e) {
      // Our own failure (signing): the message goes back like any failed push, and the cause is logged.
      this.deps.log.error({ err: e, subscription: name }, 'push request could not be made');
      outcome = { kind: 'error', message: 'internal' };
    }
    const ack = outcome.kind === 'status' && isPushAck(outcome.status);
    if (!ack) this.deps.log.debug({ subscription: name, messageId: received.message.messageId, outcome }, 'push not acknowledged');
    this.deps.onResult?.(name, outcome, ack);
    this.settle(received.ackId, ack);
    this.requests--;
    this.sendWaiting();
    this.deps.onRequestDone?.(this);
  }

  private settle(ackId: string, ack: boolean): void {
    const session = this.session;
    if (session) {
      try {
        // The stream batches acks into one durable commit, as for StreamingPull clients.
        session.request(ack ? { ackIds: [ackId] } : { modifyDeadlineAckIds: [ackId], modifyDeadlineSeconds: [0] });
        return;
      } catch (err) {
        this.deps.log.debug({ err, subscription: this.settings.name }, 'push result refused by the stream; recorded through the engine');
      }
    }
    // The consumer was closed or replaced while the request was out: settle through the engine.
    const done = ack ? this.deps.engine.acknowledge(this.settings.name, [ackId]) : this.deps.engine.modifyAckDeadline(this.settings.name, [ackId], 0);
    done.catch((err: unknown) => this.deps.log.debug({ err, subscription: this.settings.name }, 'push result not recorded (the lease runs out instead)'));
  }
}

import { createInbox, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { parseJetStreamAckId, type JetStreamAckRef } from './jetstream-ack-id.js';

/**
 * One pull request on a durable consumer, in JetStream's own protocol (a request on
 * `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>` answered on an inbox): the engine needs
 * `no_wait` (Pull with returnImmediately), batches sized by its own flow control, several
 * requests in flight and a hard client-side bound on each, which the client library's fetch()
 * does not all offer.
 */

export interface PulledMessage extends JetStreamAckRef {
  /** The JetStream reply subject: the Pub/Sub ack ID. */
  ackId: string;
  data: Uint8Array;
}

/** The request ended without its batch for a reason other than "no more messages / expired". */
export class PullEndedError extends Error {
  constructor(
    message: string,
    /** The status code (409 consumer deleted, 503 no responders = consumer or stream gone), 0 for a client-side bound. */
    readonly code: number,
  ) {
    super(message);
    this.name = 'PullEndedError';
  }

  /** The consumer (or its stream) does not exist (any more). */
  get consumerGone(): boolean {
    return this.code === 503 || (this.code === 409 && /deleted/i.test(this.message));
  }
}

export interface PullOptions {
  batch: number;
  /** Long-poll this long for the batch to fill; 0 = no_wait (answer with what is there now). */
  expiresMs: number;
  onMessage(message: PulledMessage): void;
  /** After the server's expiry, how long before the client gives up on an answer (NATS down). */
  graceMs: number;
  /**
   * End the request once a message says nothing more is pending for the consumer (Pull answers
   * with what there is rather than waiting to fill its batch). Without it, only the batch, an
   * expiry or the bound ends it: a no_wait request that got part of its batch gets no closing
   * status from nats-server 2.9.
   */
  stopWhenDrained: boolean;
}

export interface PullRequest {
  /** Resolves when the batch was delivered, or the server ended the request (expired, no messages). */
  done: Promise<void>;
  /** Stops listening; the server drops the waiting request once it sees no interest. */
  cancel(): void;
}

export function pullBatch(nc: NatsConnection, stream: string, consumer: string, o: PullOptions): PullRequest {
  let settle!: (error?: Error) => void;
  const done = new Promise<void>((resolve, reject) => {
    settle = (error) => (error ? reject(error) : resolve());
  });
  let finished = false;
  let sub: Subscription | undefined;
  let received = 0;
  const guard = setTimeout(
    () => finish(received > 0 ? undefined : new PullEndedError('JetStream did not answer the pull request in time', 0)),
    o.expiresMs + o.graceMs,
  );
  guard.unref();
  const finish = (error?: Error): void => {
    if (finished) return;
    finished = true;
    clearTimeout(guard);
    sub?.unsubscribe();
    settle(error);
  };
  try {
    const inbox = createInbox();
    sub = nc.subscribe(inbox, {
      callback: (err, msg) => {
        if (finished) return;
        if (err) return finish(err);
        const code = msg.headers?.code ?? 0;
        if (!msg.reply && code !== 0) {
          if (code === 100) return; // idle heartbeat
          const text = `${code} ${msg.headers?.description ?? ''}`.trim();
          // 404 no messages, 408 expired or requests pending, 409 limits (max waiting, max bytes): nothing now.
          if (code === 404 || code === 408 || (code === 409 && !/deleted/i.test(text))) return finish();
          return finish(new PullEndedError(text, code));
        }
        const ref = parseJetStreamAckId(msg.reply);
        if (!ref) return;
        received++;
        try {
          o.onMessage({ ...ref, ackId: msg.reply!, data: msg.data });
        } finally {
          if (received >= o.batch || (o.stopWhenDrained && ref.pending === 0)) finish();
        }
      },
    });
    const body = o.expiresMs > 0 ? { batch: o.batch, expires: o.expiresMs * 1_000_000 } : { batch: o.batch, no_wait: true };
    nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`, JSON.stringify(body), { reply: inbox });
  } catch (e) {
    finish(e instanceof Error ? e : new Error(String(e)));
  }
  return { done, cancel: () => finish() };
}

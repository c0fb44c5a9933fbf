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
  /** The server ends the request after this long, filled or not (JetStream answers 408). */
  expiresMs: number;
  /** Answer with what is there now (the server ends the request at once with it, or within expiresMs). */
  noWait: boolean;
  onMessage(message: PulledMessage): void;
  /** After the server's expiry, how long before the client gives up on an answer (NATS down). */
  graceMs: number;
  /**
   * A message that arrived after cancel(). It is the caller's all the same: used if it still can be,
   * or handed back (nak) with a delay of at least `lingerMs`, the time the server may still send to
   * this request, or it would come straight back to it.
   */
  onLate(message: PulledMessage, lingerMs: number): void;
}

export interface PullRequest {
  /** Resolves once the server ended the request (batch delivered, expired, no messages); rejects on a failure or the bound. */
  done: Promise<void>;
  /**
   * Stops handing messages to onMessage. The request stays subscribed until the server ends it:
   * nats-server 2.9 mis-sequences a message it sends to a pull request whose inbox went away
   * (seen: one message lost until ack_wait, the next delivered twice), so an inbox is never
   * dropped while the server may still send to it.
   */
  cancel(): void;
}

export function pullBatch(nc: NatsConnection, stream: string, consumer: string, o: PullOptions): PullRequest {
  let settle!: (error?: Error) => void;
  const done = new Promise<void>((resolve, reject) => {
    settle = (error) => (error ? reject(error) : resolve());
  });
  let finished = false;
  let cancelled = false;
  let sub: Subscription | undefined;
  let received = 0;
  const expiresAt = Date.now() + o.expiresMs;
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
          // 404 no messages, 408 expired, 409 limits (max waiting, max bytes): nothing (more) now.
          if (code === 404 || code === 408 || (code === 409 && !/deleted/i.test(text))) return finish();
          return finish(new PullEndedError(text, code));
        }
        const ref = parseJetStreamAckId(msg.reply);
        if (!ref) return;
        received++;
        try {
          const message = { ...ref, ackId: msg.reply!, data: msg.data };
          if (cancelled) o.onLate(message, Math.max(0, expiresAt - Date.now()));
          else o.onMessage(message);
        } finally {
          if (received >= o.batch) finish();
        }
      },
    });
    const expires = o.expiresMs * 1_000_000;
    nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`, JSON.stringify(o.noWait ? { batch: o.batch, expires, no_wait: true } : { batch: o.batch, expires }), {
      reply: inbox,
    });
  } catch (e) {
    finish(e instanceof Error ? e : new Error(String(e)));
  }
  return {
    done,
    cancel: () => {
      cancelled = true;
    },
  };
}

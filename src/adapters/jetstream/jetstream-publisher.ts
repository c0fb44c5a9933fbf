import { createInbox, headers, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';

/** No PubAck within the publish timeout: the message may or may not be stored (retry under the same Msg-Id). */
export class PublishTimeoutError extends Error {}
/** No stream captures the subject (the server answered "no responders"). */
export class NoStreamError extends Error {}

interface Waiter {
  resolve: (seq: number) => void;
  reject: (e: Error) => void;
  deadline: number;
}

/**
 * JetStream publishes on the telemetry hot path, as the JetStream protocol defines them: a core
 * NATS publish with a reply subject, answered by a PubAck on it. The client library's
 * `js.publish` goes through a general request per message (a timer, a random token, a mux entry,
 * and an Error with a stack trace built on every *successful* reply, when it cancels the request):
 * measured, that was a third of a node's CPU under QoS 1 load. Here every reply comes in on one
 * wildcard subscription, waiters are a map keyed by a counter, and one sweep every few hundred
 * milliseconds times out the waiters past their deadline (in insertion order, so it stops at the
 * first that is not).
 */
export class JetStreamPublisher {
  private readonly prefix = `${createInbox()}.`;
  private readonly sub: Subscription;
  private next = 0;
  private readonly waiting = new Map<number, Waiter>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number,
  ) {
    this.sub = nc.subscribe(`${this.prefix}*`, { callback: (err, msg) => this.onReply(err, msg) });
  }

  /** Resolves to the message's stream sequence once JetStream has stored it (or had it already, for a duplicate Msg-Id). */
  publish(subject: string, body: Uint8Array, msgId: string): Promise<number> {
    const id = ++this.next;
    const h = headers();
    h.set('Nats-Msg-Id', msgId);
    return new Promise<number>((resolve, reject) => {
      try {
        this.nc.publish(subject, body, { reply: this.prefix + String(id), headers: h });
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      this.waiting.set(id, { resolve, reject, deadline: performance.now() + this.timeoutMs });
      this.sweeper ??= setInterval(() => this.sweep(), Math.max(1, Math.min(250, this.timeoutMs / 4))).unref();
    });
  }

  /** Rejects whatever still waits; later replies are ignored. */
  close(): void {
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.sub.unsubscribe();
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of waiting) w.reject(new Error('the publisher was closed'));
  }

  private onReply(err: Error | null, msg: Msg): void {
    if (err !== null) return; // The subscription ends with the connection; waiters time out.
    const id = Number(msg.subject.slice(this.prefix.length));
    const w = this.waiting.get(id);
    if (w === undefined) return; // Late, after its timeout: the retry under the same Msg-Id settles it.
    this.waiting.delete(id);
    if (msg.data.length === 0 && msg.headers?.code === 503) {
      w.reject(new NoStreamError('no stream captures the subject'));
      return;
    }
    let ack: { seq?: unknown; error?: { description?: unknown } };
    try {
      ack = JSON.parse(msg.string()) as typeof ack;
    } catch {
      w.reject(new Error('unreadable PubAck'));
      return;
    }
    if (typeof ack.seq === 'number') w.resolve(ack.seq);
    else w.reject(new Error(typeof ack.error?.description === 'string' ? ack.error.description : 'JetStream refused the message'));
  }

  private sweep(): void {
    const now = performance.now();
    for (const [id, w] of this.waiting) {
      if (w.deadline > now) break;
      this.waiting.delete(id);
      w.reject(new PublishTimeoutError(`no PubAck within ${this.timeoutMs} ms`));
    }
    if (this.waiting.size === 0 && this.sweeper !== undefined) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }
}

import { randomBytes } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { ApiError } from '../../domain/errors.js';
import type { Sink, SinkMessage } from '../../services/ports.js';
import { parseTopicName, type JetStreamNames } from './jetstream-names.js';
import { JetStreamPublisher, NoStreamError, PublishTimeoutError } from './jetstream-publisher.js';
import { logUnavailable, type JetStreamStreams } from './jetstream-streams.js';
import { encodeEnvelope } from './message-envelope.js';

export interface JetStreamSinkOptions {
  /** Shared with the node's other NATS users; the sink never closes it. */
  nc: NatsConnection;
  streams: JetStreamStreams;
  /** This node's ID: the stem of every Nats-Msg-Id it sends. */
  nodeId: string;
  /** Messages awaiting PubAcks from which `saturated()` is true. Default 10,000. */
  maxInFlight?: number;
  /** Bound of one publish attempt (its PubAck). Default 3 s. */
  publishTimeoutMs?: number;
  /** Attempts per message before its append rejects; a retry reuses the Nats-Msg-Id. Default 3. */
  publishAttempts?: number;
}

interface QueuedCall {
  messages: readonly SinkMessage[];
  resolve: (ids: string[]) => void;
  reject: (e: Error) => void;
}

/**
 * Where a commit is announced: a core-NATS subject beside (not under) the stream's, so that a
 * watcher on any node hears of a topic's new messages without receiving their payloads.
 */
export function commitSubjectOf(names: JetStreamNames, topic: string): string {
  return `${names.prefix}.commit.${names.subjectOf(topic).slice(names.prefix.length + '.ev.'.length)}`;
}

const isTimeout = (e: unknown): boolean => e instanceof PublishTimeoutError;
/** JetStream answers a publish to a subject no stream captures with "no responders". */
const isNoStream = (e: unknown): boolean => e instanceof NoStreamError;

const closedError = (): ApiError => new ApiError('UNAVAILABLE', 'The telemetry log is closed.', { reason: 'LOG_UNAVAILABLE' });

/**
 * The Sink of cluster mode: each message is published to its topic's subject in the project's
 * stream and an append resolves once JetStream has acknowledged every one of them (what a QoS 1
 * PUBACK waits for); seqs of the project stream are the message IDs.
 *
 * Appends of one event-loop turn form one batch published together (all in flight at once, in
 * order, so seqs within a project follow the calls); batches do not wait for each other, and each
 * call resolves as soon as its own PubAcks are in. Stored messages are announced on
 * commitSubjectOf(topic) once per topic per event-loop turn, right after the appends resolve. A
 * timed-out publish is retried under the same Nats-Msg-Id, which JetStream deduplicates within
 * its duplicate window, so a retry never stores a message twice. Msg-Ids carry a per-process
 * token beside the node ID: a restarted node counting from 1 again must not hit the window and
 * have its new messages dropped as duplicates of the old ones.
 *
 * Backpressure as the embedded sink: `saturated()` at `maxInFlight` unacknowledged messages,
 * `onDrain` below half, and appends rejected beyond twice the bound.
 */
export class JetStreamSink implements Sink {
  private readonly publisher: JetStreamPublisher;
  private readonly names: JetStreamNames;
  private readonly maxInFlight: number;
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly msgIdStem: string;
  private counter = 0;
  private queue: QueuedCall[] = [];
  private pending = 0;
  private batchesInFlight = 0;
  private flushScheduled = false;
  private wasSaturated = false;
  private closed = false;
  private closing: Promise<void> | undefined;
  private idleWaiters: (() => void)[] = [];
  private readonly drainListeners: (() => void)[] = [];
  private unannounced = new Map<string, number>();
  private announceScheduled = false;
  private readonly stats = { batches: 0, published: 0, failedMessages: 0, retries: 0 };

  constructor(private readonly opts: JetStreamSinkOptions) {
    this.publisher = new JetStreamPublisher(opts.nc, opts.publishTimeoutMs ?? 3_000);
    this.names = opts.streams.names;
    this.maxInFlight = opts.maxInFlight ?? 10_000;
    this.timeoutMs = opts.publishTimeoutMs ?? 3_000;
    this.attempts = Math.max(1, opts.publishAttempts ?? 3);
    this.msgIdStem = `${opts.nodeId}-${randomBytes(6).toString('hex')}-`;
  }

  append(messages: readonly SinkMessage[]): Promise<string[]> {
    if (this.closed) return Promise.reject(closedError());
    if (messages.length === 0) return Promise.resolve([]);
    if (this.pending + messages.length > 2 * this.maxInFlight) {
      return Promise.reject(new ApiError('UNAVAILABLE', 'The telemetry log is overloaded; retry later.', { reason: 'LOG_UNAVAILABLE' }));
    }
    for (const m of messages) {
      if (typeof m.topic !== 'string' || !(m.data instanceof Uint8Array) || !Number.isFinite(m.publishTime)) {
        return Promise.reject(new ApiError('INVALID_ARGUMENT', 'A sink message needs a topic, a finite publishTime and Uint8Array data.'));
      }
      try {
        parseTopicName(m.topic);
      } catch {
        return Promise.reject(new ApiError('INVALID_ARGUMENT', `A sink message's topic must be projects/{p}/topics/{t}, got ${JSON.stringify(m.topic)}.`));
      }
    }
    return new Promise<string[]>((resolve, reject) => {
      this.queue.push({ messages, resolve, reject });
      this.pending += messages.length;
      if (this.pending >= this.maxInFlight) this.wasSaturated = true;
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  saturated(): boolean {
    return this.pending >= this.maxInFlight;
  }

  onDrain(listener: () => void): void {
    this.drainListeners.push(listener);
  }

  /** Batches published (one per event-loop turn with appends), messages acknowledged, failed, publishes retried. */
  diagnostics(): { batches: number; published: number; failedMessages: number; retries: number; pending: number } {
    return { ...this.stats, pending: this.pending };
  }

  /** Waits for every accepted message's outcome; later appends reject. The connection stays open. */
  close(): Promise<void> {
    this.closed = true;
    this.closing ??= this.idle().then(() => this.publisher.close());
    return this.closing;
  }

  private idle(): Promise<void> {
    if (this.batchesInFlight === 0 && this.queue.length === 0 && !this.flushScheduled) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private flush(): void {
    this.flushScheduled = false;
    const calls = this.queue;
    this.queue = [];
    if (calls.length === 0) return;
    this.stats.batches++;
    this.batchesInFlight++;
    // Each call settles on its own: a call waiting out a failing publish never holds back the
    // PUBACKs of the others in its batch.
    const done = calls.map((call) =>
      Promise.allSettled(call.messages.map((m) => this.publish(m))).then((results) => {
        const n = call.messages.length;
        let failed: unknown;
        const ids = new Array<string>(n);
        results.forEach((r, j) => {
          if (r.status === 'rejected') {
            failed ??= r.reason;
            this.stats.failedMessages++;
          } else {
            ids[j] = String(r.value);
            this.stored(call.messages[j]!.topic, r.value);
          }
        });
        if (failed === undefined) {
          this.stats.published += n;
          call.resolve(ids);
        } else {
          call.reject(failed instanceof Error ? failed : logUnavailable(String(failed)));
        }
        this.settled(n);
      }),
    );
    void Promise.all(done).then(() => {
      this.batchesInFlight--;
      if (this.batchesInFlight === 0 && this.queue.length === 0 && !this.flushScheduled) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    });
  }

  /**
   * Notes a stored message for the next announcement: one per topic per event-loop turn, with
   * the turn's highest seq, however many calls settled in it.
   */
  private stored(topic: string, seq: number): void {
    const head = this.unannounced.get(topic);
    if (head === undefined || seq > head) this.unannounced.set(topic, seq);
    if (this.announceScheduled) return;
    this.announceScheduled = true;
    setImmediate(() => {
      this.announceScheduled = false;
      const heads = this.unannounced;
      this.unannounced = new Map();
      for (const [t, s] of heads) this.announce(t, s);
    });
  }

  private settled(n: number): void {
    this.pending -= n;
    if (this.wasSaturated && this.pending < this.maxInFlight / 2) {
      this.wasSaturated = false;
      for (const listener of this.drainListeners) {
        try {
          listener();
        } catch {
          // A throwing listener must not stop the others or the batch.
        }
      }
    }
  }

  private announce(topic: string, seq: number): void {
    try {
      this.opts.nc.publish(commitSubjectOf(this.names, topic), String(seq));
    } catch {
      // A closed connection: the messages are stored; watchers catch up at their next wake-up.
    }
  }

  /** One message: its stream ensured, published, retried under the same Msg-Id; resolves to its seq. */
  private async publish(m: SinkMessage): Promise<number> {
    const { project } = parseTopicName(m.topic);
    const subject = this.names.subjectOf(m.topic);
    const body = encodeEnvelope(m);
    const msgID = this.msgIdStem + String(++this.counter);
    for (let attempt = 1; ; attempt++) {
      try {
        // Known streams publish synchronously here, so one batch's messages leave in call order.
        if (!this.opts.streams.isKnown(project)) await this.opts.streams.ensure(project);
        return await this.publisher.publish(subject, body, msgID);
      } catch (e) {
        if (e instanceof ApiError) throw e;
        if (isNoStream(e)) this.opts.streams.forget(project);
        if (attempt < this.attempts && (isNoStream(e) || isTimeout(e))) {
          this.stats.retries++;
          continue;
        }
        throw logUnavailable(isTimeout(e) ? `no acknowledgement within ${this.timeoutMs} ms` : e instanceof Error ? e.message : String(e), e);
      }
    }
  }
}

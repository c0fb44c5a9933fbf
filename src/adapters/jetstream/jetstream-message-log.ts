import { AckPolicy, DeliverPolicy, type JetStreamManager } from '@nats-io/jetstream';
import { createInbox, nanos, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { PsMessage } from '../../domain/pubsub/pubsub-model.js';
import type { MessageLog } from '../../services/pubsub/pubsub-ports.js';
import { TopicWatchers } from '../sinks/topic-watchers.js';
import { commitSubjectOf } from './jetstream-sink.js';
import { isStreamNotFound, logUnavailable, type JetStreamStreams } from './jetstream-streams.js';
import { decodeEnvelope } from './message-envelope.js';

export interface JetStreamMessageLogOptions {
  /** Shared with the node's other NATS users; the log never closes it. */
  nc: NatsConnection;
  streams: JetStreamStreams;
  /** Bound of each read, count, seek or head (each is a few JetStream API calls). Default 5 s. */
  timeoutMs?: number;
  /** Failures outside any caller's request (a throwing watcher). Default: ignored. */
  onError?: (error: unknown) => void;
}

/**
 * Messages a read fetches one get at a time before it opens a consumer for the rest: a get costs
 * ~0.12 ms, a consumer ~4 ms plus ~0.016 ms a message (bench/jetstream-log-bench.ts, local server).
 */
const SINGLE_GETS = 8;
const API = '$JS.API';

/**
 * The read side of the JetStream telemetry log (cluster mode), for Pub/Sub subscriptions and the
 * REST event-log routes. A topic's messages are the project stream's messages on the topic's
 * subject; seqs are the stream's, so they increase across the project's topics.
 *
 * A page (`read`) starts with up to SINGLE_GETS gets of the subject's next message (one round trip
 * each; a read at the head usually ends there), then, for a larger page, an ephemeral pull
 * consumer filtered to the subject and starting after the cursor: its creation answers how many
 * messages are pending, one no-wait pull of at most that many brings them, and the consumer is
 * deleted without waiting. `count` is such a consumer's pending count without the pull.
 *
 * `watch` listens to the core-NATS commit announcements of JetStreamSink (any node's), one
 * subscription per watched topic; after a reconnect every watcher is woken, since announcements
 * sent while disconnected are lost.
 */
export class JetStreamMessageLog implements MessageLog {
  private readonly nc: NatsConnection;
  private readonly streams: JetStreamStreams;
  private readonly timeoutMs: number;
  private readonly onError: (error: unknown) => void;
  private readonly watchers = new TopicWatchers();
  private readonly subscriptions = new Map<string, { sub: Subscription; listeners: number }>();
  private closed = false;

  constructor(opts: JetStreamMessageLogOptions) {
    this.nc = opts.nc;
    this.streams = opts.streams;
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    this.onError = opts.onError ?? (() => undefined);
    void this.wakeOnReconnect();
  }

  async read(topic: string, afterSeq: number, limit: number): Promise<PsMessage[]> {
    // No cap of our own: a short page tells the Pub/Sub engine it has caught up, so a page holds
    // min(limit, available) like the embedded log's, and the caller's limit bounds its memory.
    const n = Math.max(1, Math.floor(limit));
    const jsm = await this.manager();
    const stream = this.streams.names.streamOf(topic);
    const subject = this.streams.names.subjectOf(topic);
    // The first few one get each: a read at the head (the usual wake-up) costs one round trip.
    const out: PsMessage[] = [];
    let cursor = Math.max(0, Math.floor(afterSeq));
    while (out.length < Math.min(n, SINGLE_GETS)) {
      const m = await this.nextOf(jsm, stream, subject, cursor + 1, topic);
      if (!m) return out;
      out.push(m);
      cursor = m.seq;
    }
    if (out.length === n) return out;
    const consumer = await this.openConsumer(topic, cursor);
    if (!consumer) return out;
    try {
      const want = Math.min(n - out.length, consumer.pending);
      return want === 0 ? out : out.concat(await this.pull(stream, consumer.name, want));
    } finally {
      this.dropConsumer(stream, consumer.name);
    }
  }

  /**
   * Binary search by seq over the topic's messages, comparing envelope publishTimes: nats-server
   * 2.9 has no get-by-time, and the stream's own timestamps are the server's, not publishTime.
   * Assumes publishTime does not decrease along the stream (the bridges stamp messages as they
   * arrive), as a Seek to a time needs only approximately. About log2(stream length) gets.
   */
  async seqBefore(topic: string, time: number): Promise<number> {
    const jsm = await this.manager();
    const stream = this.streams.names.streamOf(topic);
    const subject = this.streams.names.subjectOf(topic);
    const state = await this.streamState(jsm, stream);
    if (!state || state.last_seq === 0) return 0;
    const at = async (seq: number): Promise<PsMessage | undefined> => this.nextOf(jsm, stream, subject, seq, topic);
    const first = await at(Math.max(1, state.first_seq));
    if (!first || first.publishTime >= time) return 0;
    let best = first.seq;
    let lo = first.seq + 1;
    let hi = state.last_seq;
    while (lo <= hi) {
      const mid = Math.floor((lo + hi) / 2);
      const m = await at(mid);
      if (!m || m.seq > hi || m.publishTime >= time) {
        hi = mid - 1;
      } else {
        best = m.seq;
        lo = m.seq + 1;
      }
    }
    return best;
  }

  async count(topic: string, afterSeq: number): Promise<number> {
    const consumer = await this.openConsumer(topic, afterSeq);
    if (!consumer) return 0;
    this.dropConsumer(this.streams.names.streamOf(topic), consumer.name);
    return consumer.pending;
  }

  /** The last seq of the topic's project stream (0 without one): seqs are per project. */
  async headSeq(topic: string): Promise<number> {
    const state = await this.streamState(await this.manager(), this.streams.names.streamOf(topic));
    return state?.last_seq ?? 0;
  }

  watch(topic: string, listener: (lastSeq: number) => void): () => void {
    const remove = this.watchers.add(topic, listener);
    let entry = this.subscriptions.get(topic);
    if (!entry) {
      let sub: Subscription;
      try {
        sub = this.nc.subscribe(commitSubjectOf(this.streams.names, topic), {
          callback: (err, msg) => {
            if (err) return;
            const seq = Number(msg.string());
            this.watchers.dispatch([topic], Number.isSafeInteger(seq) ? seq : 0, this.onError);
          },
        });
      } catch (e) {
        // A closed connection (the node is stopping): the watcher is kept but never called, as
        // watching has no error path; its reads fail with LOG_UNAVAILABLE instead.
        this.onError(e);
        return remove;
      }
      entry = { sub, listeners: 0 };
      this.subscriptions.set(topic, entry);
    }
    entry.listeners++;
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      remove();
      const e = this.subscriptions.get(topic);
      if (e && --e.listeners === 0) {
        this.subscriptions.delete(topic);
        e.sub.unsubscribe();
      }
    };
  }

  /** Live watchers over all topics: lets tests see that readers clean up. */
  watcherCount(): number {
    return this.watchers.count();
  }

  /** Drops every watcher; the connection stays open. */
  close(): void {
    this.closed = true;
    for (const { sub } of this.subscriptions.values()) sub.unsubscribe();
    this.subscriptions.clear();
    this.watchers.clear();
  }

  private async manager(): Promise<JetStreamManager> {
    if (this.closed) throw logUnavailable('the log reader is closed');
    try {
      return await this.streams.manager();
    } catch (e) {
      throw logUnavailable('JetStream does not answer', e);
    }
  }

  private async streamState(jsm: JetStreamManager, stream: string): Promise<{ first_seq: number; last_seq: number } | undefined> {
    try {
      return (await jsm.streams.info(stream)).state;
    } catch (e) {
      if (isStreamNotFound(e)) return undefined;
      throw logUnavailable(`cannot read stream ${stream}`, e);
    }
  }

  /** The topic's first message with seq >= `seq` (STREAM.MSG.GET next_by_subj, answered by the stream leader). */
  private async nextOf(jsm: JetStreamManager, stream: string, subject: string, seq: number, topic: string): Promise<PsMessage | undefined> {
    for (;;) {
      let m;
      try {
        m = await jsm.streams.getMessage(stream, { seq, next_by_subj: subject } as unknown as { seq: number });
      } catch (e) {
        if (isStreamNotFound(e)) return undefined;
        throw logUnavailable(`cannot read the log of ${topic}`, e);
      }
      if (!m) return undefined;
      const decoded = toPsMessage(m.seq, m.data);
      if (decoded) return decoded;
      // Someone else's message on our subject: skip it.
      seq = m.seq + 1;
    }
  }

  /** An ephemeral consumer of the topic after `afterSeq`, and what it has pending; undefined without a stream. */
  private async openConsumer(topic: string, afterSeq: number): Promise<{ name: string; pending: number } | undefined> {
    const jsm = await this.manager();
    const stream = this.streams.names.streamOf(topic);
    try {
      const info = await jsm.consumers.add(stream, {
        ack_policy: AckPolicy.None,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: Math.max(0, Math.floor(afterSeq)) + 1,
        filter_subject: this.streams.names.subjectOf(topic),
        mem_storage: true,
        num_replicas: 1,
        // Reclaimed by the server should our delete be lost (the node died, NATS went away).
        inactive_threshold: nanos(30_000),
      });
      return { name: info.name, pending: info.num_pending };
    } catch (e) {
      if (isStreamNotFound(e)) return undefined;
      throw logUnavailable(`cannot read the log of ${topic}`, e);
    }
  }

  private dropConsumer(stream: string, name: string): void {
    void this.streams
      .manager()
      .then((jsm) => jsm.consumers.delete(stream, name))
      .catch(() => undefined);
  }

  /** One no-wait pull of `n` messages (the consumer said that many are pending), bounded in time. */
  private pull(stream: string, consumer: string, n: number): Promise<PsMessage[]> {
    return new Promise((resolve, reject) => {
      const out: PsMessage[] = [];
      let delivered = 0;
      const inbox = createInbox();
      const finish = (error?: Error): void => {
        clearTimeout(timer);
        sub.unsubscribe();
        if (error) reject(error);
        else resolve(out);
      };
      const sub = this.nc.subscribe(inbox, {
        callback: (err, msg) => {
          if (err) return finish(logUnavailable('the read failed', err));
          // A status message (404 no messages, 408 expired): whatever there was has come.
          if (msg.data.length === 0 && msg.headers !== undefined) return finish();
          const m = toPsMessage(streamSeqOf(msg.reply), msg.data);
          if (m) out.push(m);
          if (++delivered >= n) finish();
        },
      });
      const timer = setTimeout(() => finish(logUnavailable(`no messages within ${this.timeoutMs} ms`)), this.timeoutMs);
      this.nc.publish(`${API}.CONSUMER.MSG.NEXT.${stream}.${consumer}`, JSON.stringify({ batch: n, no_wait: true }), { reply: inbox });
    });
  }

  private async wakeOnReconnect(): Promise<void> {
    try {
      for await (const s of this.nc.status()) {
        if (this.closed) return;
        if (s.type === 'reconnect') this.watchers.dispatch([...this.subscriptions.keys()], 0, this.onError);
      }
    } catch {
      // The status iterator ends with the connection.
    }
  }
}

/**
 * The stream seq from the delivery's ack subject: `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>...`
 * (9 tokens), or with domain and account hash `$JS.ACK.<domain>.<hash>.<stream>...` (12+).
 */
function streamSeqOf(reply: string | undefined): number {
  const t = reply?.split('.') ?? [];
  if (t.length === 9) return Number(t[5]);
  if (t.length >= 12) return Number(t[7]);
  return NaN;
}

function toPsMessage(seq: number, bytes: Uint8Array): PsMessage | undefined {
  if (!Number.isSafeInteger(seq)) return undefined;
  let d;
  try {
    d = decodeEnvelope(bytes);
  } catch {
    // Someone else's message on our subject: not a Pub/Sub message.
    return undefined;
  }
  return {
    seq,
    messageId: String(seq),
    publishTime: d.publishTime,
    attributes: d.attributes,
    // A copy: the delivery's bytes may share a buffer with the rest of the socket read.
    data: new Uint8Array(d.data),
    orderingKey: d.orderingKey,
  };
}

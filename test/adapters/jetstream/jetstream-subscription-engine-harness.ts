import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { JetStreamNames } from '../../../src/adapters/jetstream/jetstream-names.js';
import { JetStreamSubscriptionEngine, type JetStreamSubscriptionEngineDeps } from '../../../src/adapters/jetstream/jetstream-subscription-engine.js';
import { encodeEnvelope } from '../../../src/adapters/jetstream/message-envelope.js';
import { MemoryPubSubStore } from '../../../src/adapters/store/memory/memory-pubsub-store.js';
import { systemClock, systemTimers } from '../../../src/adapters/timers/system-timers.js';
import type { ApiError } from '../../../src/domain/errors.js';
import type { PsSubscription } from '../../../src/domain/pubsub/pubsub-model.js';
import type { Sink, SinkMessage } from '../../../src/services/ports.js';
import type { ReceivedMessage, StreamingPullSink } from '../../../src/services/pubsub/pubsub-api.js';
import { newSub } from '../../contracts/pubsub-store-fixtures.js';
import type { TestNats } from '../../support/nats.js';

/**
 * One project per test on a shared nats-server: its own stream, topic, dead-letter topic and
 * subscription in a MemoryPubSubStore, and engines ("nodes") each on their own NATS connection.
 * Engines run on real time with `secondMs` shrunk (default 100: a 10 s ack deadline lasts 1 s).
 */

let projects = 0;

export const STREAM = { ackDeadlineSeconds: 10, maxOutstandingMessages: 0, maxOutstandingBytes: 0 };

export class RecordingSink implements StreamingPullSink {
  received: ReceivedMessage[] = [];
  ended: ApiError | undefined;
  accept = true;
  private waiters: { n: number; resolve: () => void }[] = [];
  private endWaiters: (() => void)[] = [];
  onDeliver: (m: ReceivedMessage) => void = () => {};

  deliver(messages: ReceivedMessage[]): boolean {
    this.received.push(...messages);
    for (const m of messages) this.onDeliver(m);
    for (const w of [...this.waiters]) if (this.received.length >= w.n) w.resolve();
    return this.accept;
  }

  end(error: ApiError): void {
    this.ended = error;
    for (const w of this.endWaiters.splice(0)) w();
  }

  /** Resolves once `n` messages in all were received; rejects after `ms`. */
  waitFor(n: number, ms = 10_000): Promise<void> {
    if (this.received.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`received ${this.received.length} of ${n} within ${ms} ms`)), ms);
      const w = {
        n,
        resolve: () => {
          clearTimeout(timer);
          this.waiters = this.waiters.filter((x) => x !== w);
          resolve();
        },
      };
      this.waiters.push(w);
    });
  }

  waitEnd(ms = 5000): Promise<ApiError> {
    if (this.ended) return Promise.resolve(this.ended);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`stream not ended within ${ms} ms`)), ms);
      this.endWaiters.push(() => {
        clearTimeout(timer);
        resolve(this.ended!);
      });
    });
  }

  texts(): string[] {
    return this.received.map(text);
  }
}

export const text = (r: ReceivedMessage): string => new TextDecoder().decode(r.message.data);
export const texts = (rs: readonly ReceivedMessage[]): string[] => rs.map(text);
export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The dead-letter side: what the engine appends goes to JetStream as the real sink would put it. */
class JetStreamTestSink implements Sink {
  constructor(
    private readonly js: JetStreamClient,
    private readonly names: JetStreamNames,
  ) {}

  async append(messages: readonly SinkMessage[]): Promise<string[]> {
    const ids: string[] = [];
    for (const m of messages) ids.push(String((await this.js.publish(this.names.subjectOf(m.topic), encodeEnvelope(m))).seq));
    return ids;
  }
  saturated(): boolean {
    return false;
  }
  onDrain(): void {}
  async close(): Promise<void> {}
}

export interface JsHarness {
  project: string;
  topic: string;
  sub: string;
  dlq: string;
  names: JetStreamNames;
  store: MemoryPubSubStore;
  nc: NatsConnection;
  jsm: JetStreamManager;
  errors: unknown[];
  engine: JetStreamSubscriptionEngine;
  newEngine(over?: Partial<JetStreamSubscriptionEngineDeps>): Promise<JetStreamSubscriptionEngine>;
  createStream(): Promise<void>;
  /** Publishes to the topic (default the subscription's); resolves to the stream seqs. */
  publish(texts: string[], over?: { attributes?: Record<string, string>; orderingKey?: string; topic?: string }): Promise<number[]>;
  addSubscription(name: string, topic: string, over?: Partial<PsSubscription>): Promise<void>;
  cleanup(): Promise<void>;
}

export async function jsHarness(
  nats: TestNats,
  sub: Partial<PsSubscription> = {},
  deps: Partial<JetStreamSubscriptionEngineDeps> = {},
  options: { stream?: boolean } = {},
): Promise<JsHarness> {
  const project = `p${process.pid}-${++projects}`;
  const topic = `projects/${project}/topics/t`;
  const subName = `projects/${project}/subscriptions/s`;
  const dlq = `projects/${project}/topics/dead`;
  const names = new JetStreamNames();
  const store = new MemoryPubSubStore();
  const errors: unknown[] = [];
  const connections: NatsConnection[] = [];
  const engines: JetStreamSubscriptionEngine[] = [];
  const open = async (): Promise<NatsConnection> => {
    const c = await connect({ servers: nats.url, timeout: 2000, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
    connections.push(c);
    return c;
  };
  const nc = await open();
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  for (const name of [topic, dlq]) await store.createTopic({ name, labels: {}, messageRetentionMs: undefined, createTime: Date.now() });
  const addSubscription = async (name: string, t: string, over: Partial<PsSubscription> = {}): Promise<void> => {
    await store.createSubscription(newSub(name, t, { startSeq: 0, createTime: Date.now(), ...over }));
  };
  await addSubscription(subName, topic, sub);
  const createStream = async (): Promise<void> => {
    await jsm.streams.add({ name: names.streamOfProject(project), subjects: [names.projectSubjects(project)] });
  };
  if (options.stream !== false) await createStream();
  const newEngine = async (over: Partial<JetStreamSubscriptionEngineDeps> = {}): Promise<JetStreamSubscriptionEngine> => {
    const c = await open();
    const engine = new JetStreamSubscriptionEngine({
      nc: c,
      names,
      store,
      sink: new JetStreamTestSink(jetstream(c), names),
      clock: systemClock,
      timers: systemTimers,
      onError: (e) => errors.push(e),
      secondMs: 100,
      requestTimeoutMs: 2000,
      ...deps,
      ...over,
    });
    engines.push(engine);
    return engine;
  };
  const publish = async (list: string[], over: { attributes?: Record<string, string>; orderingKey?: string; topic?: string } = {}): Promise<number[]> => {
    const seqs: number[] = [];
    for (const t of list) {
      const m: SinkMessage = {
        topic: over.topic ?? topic,
        attributes: over.attributes ?? {},
        data: new TextEncoder().encode(t),
        publishTime: Date.now(),
        ...(over.orderingKey ? { orderingKey: over.orderingKey } : {}),
      };
      seqs.push((await js.publish(names.subjectOf(m.topic), encodeEnvelope(m))).seq);
    }
    return seqs;
  };
  return {
    project,
    topic,
    sub: subName,
    dlq,
    names,
    store,
    nc,
    jsm,
    errors,
    engine: await newEngine(),
    newEngine,
    createStream,
    publish,
    addSubscription,
    async cleanup() {
      await Promise.all(engines.map((e) => e.close()));
      await Promise.all(connections.map((c) => c.close()));
    },
  };
}

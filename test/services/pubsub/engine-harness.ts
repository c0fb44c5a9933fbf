import type { ApiError } from '../../../src/domain/errors.js';
import type { PsSubscription } from '../../../src/domain/pubsub/pubsub-model.js';
import { MemoryMessageLog } from '../../../src/adapters/sinks/memory-log/memory-message-log.js';
import { MemoryPubSubStore } from '../../../src/adapters/store/memory/memory-pubsub-store.js';
import type { ReceivedMessage, StreamingPullSink } from '../../../src/services/pubsub/pubsub-api.js';
import { LogSubscriptionEngine, type SubscriptionEngineDeps } from '../../../src/services/pubsub/subscription-engine.js';
import { ManualTime, settle } from '../../support/manual-time.js';
import { newSub } from '../../contracts/pubsub-store-fixtures.js';

export const TOPIC = 'projects/p/topics/t';
export const SUB = 'projects/p/subscriptions/s';
export const DLQ = 'projects/p/topics/dead';
export const DAY_MS = 86_400_000;

/** A stream's edge that records what it got; `accept` is what deliver answers (false = buffer full). */
export class RecordingSink implements StreamingPullSink {
  received: ReceivedMessage[] = [];
  ended: ApiError | undefined;
  accept = true;
  deliveries = 0;

  deliver(messages: ReceivedMessage[]): boolean {
    this.deliveries++;
    this.received.push(...messages);
    return this.accept;
  }

  end(error: ApiError): void {
    this.ended = error;
  }

  /** Data of what was received, as text. */
  texts(): string[] {
    return this.received.map((r) => new TextDecoder().decode(r.message.data));
  }

  take(): ReceivedMessage[] {
    return this.received.splice(0);
  }
}

export interface Harness {
  time: ManualTime;
  store: MemoryPubSubStore;
  log: MemoryMessageLog;
  engine: LogSubscriptionEngine;
  errors: unknown[];
  newEngine(over?: Partial<SubscriptionEngineDeps>): LogSubscriptionEngine;
  publish(texts: string[], over?: { attributes?: Record<string, string>; orderingKey?: string; topic?: string }): Promise<void>;
}

export async function harness(sub: Partial<PsSubscription> = {}, deps: Partial<SubscriptionEngineDeps> = {}): Promise<Harness> {
  const time = new ManualTime();
  const store = new MemoryPubSubStore();
  const log = new MemoryMessageLog();
  const errors: unknown[] = [];
  for (const name of [TOPIC, DLQ, 'projects/p/topics/other']) {
    await store.createTopic({ name, labels: {}, messageRetentionMs: undefined, createTime: time.now() });
  }
  await store.createSubscription(newSub(SUB, TOPIC, { startSeq: await log.headSeq(TOPIC), createTime: time.now(), ...sub }));

  const newEngine = (over: Partial<SubscriptionEngineDeps> = {}): LogSubscriptionEngine =>
    new LogSubscriptionEngine({ store, log, sink: log, clock: time, timers: time, onError: (e) => errors.push(e), ...deps, ...over });
  const publish = async (texts: string[], over: { attributes?: Record<string, string>; orderingKey?: string; topic?: string } = {}): Promise<void> => {
    await log.append(
      texts.map((t) => ({
        topic: over.topic ?? TOPIC,
        attributes: over.attributes ?? {},
        data: new TextEncoder().encode(t),
        publishTime: time.now(),
        ...(over.orderingKey ? { orderingKey: over.orderingKey } : {}),
      })),
    );
    await settle();
  };
  return { time, store, log, engine: newEngine(), errors, newEngine, publish };
}

export const text = (r: ReceivedMessage): string => new TextDecoder().decode(r.message.data);
export const texts = (rs: readonly ReceivedMessage[]): string[] => rs.map(text);
export const ids = (rs: readonly ReceivedMessage[]): string[] => rs.map((r) => r.ackId);
export const STREAM = { ackDeadlineSeconds: 10, maxOutstandingMessages: 0, maxOutstandingBytes: 0 };

import { ApiError } from '../../../domain/errors.js';
import type { PsMessage } from '../../../domain/pubsub/pubsub-model.js';
import type { Sink, SinkMessage } from '../../../services/ports.js';
import type { MessageLog } from '../../../services/pubsub/pubsub-ports.js';
import { TopicWatchers } from '../topic-watchers.js';

export interface MemoryMessageLogOptions {
  /** A watch listener threw. Default: rethrown on a later microtask, so a test sees its bug. */
  onError?: (error: unknown) => void;
}

const copyMessage = (m: PsMessage): PsMessage => ({ ...m, attributes: { ...m.attributes }, data: new Uint8Array(m.data) });

/**
 * The durable log's two sides in process memory, for the Pub/Sub services' unit tests: a Sink that
 * assigns seqs from 1 (never reused) and the MessageLog that reads them back. Each append is its
 * own commit, stored before `append` returns its promise and announced to watchers right away:
 * tests then control delivery order without timers. Nothing survives the process.
 */
export class MemoryMessageLog implements Sink, MessageLog {
  /** Per topic, ascending by seq. */
  private readonly byTopic = new Map<string, PsMessage[]>();
  private readonly watchers = new TopicWatchers();
  private readonly onError: (error: unknown) => void;
  private head = 0;
  private closed = false;

  constructor(options: MemoryMessageLogOptions = {}) {
    this.onError =
      options.onError ??
      ((e) =>
        queueMicrotask(() => {
          throw e;
        }));
  }

  async append(messages: readonly SinkMessage[]): Promise<string[]> {
    if (this.closed) throw new ApiError('UNAVAILABLE', 'The event log is closed.');
    const ids: string[] = [];
    const topics = new Set<string>();
    for (const m of messages) {
      const seq = ++this.head;
      const stored: PsMessage = {
        seq,
        messageId: String(seq),
        publishTime: m.publishTime,
        attributes: { ...m.attributes },
        data: new Uint8Array(m.data),
        orderingKey: m.orderingKey ?? '',
      };
      let list = this.byTopic.get(m.topic);
      if (!list) this.byTopic.set(m.topic, (list = []));
      list.push(stored);
      topics.add(m.topic);
      ids.push(stored.messageId);
    }
    this.watchers.dispatch(topics, this.head, this.onError);
    return ids;
  }

  saturated(): boolean {
    return false;
  }

  /** Never saturated, so never drains. */
  onDrain(): void {}

  async close(): Promise<void> {
    this.closed = true;
    this.watchers.clear();
  }

  async read(topic: string, afterSeq: number, limit: number): Promise<PsMessage[]> {
    const list = this.byTopic.get(topic) ?? [];
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid]!.seq <= afterSeq) lo = mid + 1;
      else hi = mid;
    }
    return list.slice(lo, lo + Math.max(1, Math.floor(limit))).map(copyMessage);
  }

  /** By seq, not by time order, as the embedded log answers it (docs/compat.md C-PS-SEEK-TIME). */
  async seqBefore(topic: string, time: number): Promise<number> {
    let best = 0;
    for (const m of this.byTopic.get(topic) ?? []) if (m.publishTime < time && m.seq > best) best = m.seq;
    return best;
  }

  async count(topic: string, afterSeq: number): Promise<number> {
    let n = 0;
    for (const m of this.byTopic.get(topic) ?? []) if (m.seq > afterSeq) n++;
    return n;
  }

  /** One seq space for every topic: the topic does not matter. */
  async headSeq(_topic?: string): Promise<number> {
    return this.head;
  }

  watch(topic: string, listener: (lastSeq: number) => void): () => void {
    return this.watchers.add(topic, listener);
  }

  /** Live watchers over all topics: lets tests see that the engine unsubscribes. */
  watcherCount(): number {
    return this.watchers.count();
  }
}

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { EmbeddedLogSink } from '../../../src/adapters/sinks/embedded-log/embedded-log-sink.js';
import { EmbeddedMessageLog } from '../../../src/adapters/sinks/embedded-log/embedded-message-log.js';
import { SqlitePubSubStore } from '../../../src/adapters/store/sqlite/sqlite-pubsub-store.js';
import type { ReceivedMessage, StreamingPullSink } from '../../../src/services/pubsub/pubsub-api.js';
import { LogSubscriptionEngine } from '../../../src/services/pubsub/subscription-engine.js';
import type { ApiError } from '../../../src/domain/errors.js';
import { ManualTime } from '../../support/manual-time.js';
import { DAY_MS } from './engine-harness.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bridgehead-engine-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const TOPIC = 'projects/p/topics/t';
const SUB = 'projects/p/subscriptions/s';

/** A stream edge that lets a test await the n-th message instead of polling. */
class CountingSink implements StreamingPullSink {
  readonly received: ReceivedMessage[] = [];
  private waiters: { n: number; resolve: () => void }[] = [];

  deliver(messages: ReceivedMessage[]): boolean {
    this.received.push(...messages);
    this.waiters = this.waiters.filter((w) => (this.received.length >= w.n ? (w.resolve(), false) : true));
    return true;
  }

  end(_error: ApiError): void {}

  atLeast(n: number): Promise<void> {
    if (this.received.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }
}

function openAll(time: ManualTime): { store: SqlitePubSubStore; sink: EmbeddedLogSink; log: EmbeddedMessageLog; engine: LogSubscriptionEngine } {
  const store = SqlitePubSubStore.open(path.join(dir, 'pubsub.db'));
  const sink = EmbeddedLogSink.open(path.join(dir, 'events.db'), { writerThread: false });
  const log = EmbeddedMessageLog.open(path.join(dir, 'events.db'), sink);
  const engine = new LogSubscriptionEngine({ store, log, sink, clock: time, timers: time });
  return { store, sink, log, engine };
}

describe('SubscriptionEngine over the SQLite store and the embedded log', () => {
  test('after a crash half-way through a backlog: nothing acked and committed comes back, nothing unacked is lost', async () => {
    const time = new ManualTime();
    const first = openAll(time);
    await first.store.createTopic({ name: TOPIC, labels: {}, messageRetentionMs: undefined, createTime: time.now() });
    await first.store.createSubscription({
      name: SUB, topic: TOPIC, ackDeadlineSeconds: 60, retainAckedMessages: false, messageRetentionMs: 7 * DAY_MS, labels: {}, filter: '',
      enableMessageOrdering: false, deadLetterPolicy: undefined, retryPolicy: undefined, pushConfig: undefined, detached: false,
      startSeq: await first.log.headSeq(TOPIC), createTime: time.now(),
    });
    const data = new Uint8Array(16);
    for (let i = 0; i < 10; i++) {
      await first.sink.append(Array.from({ length: 100 }, () => ({ topic: TOPIC, attributes: { i: String(i) }, data, publishTime: time.now() })));
    }
    const stream = new CountingSink();
    const session = await first.engine.open(SUB, { ackDeadlineSeconds: 60, maxOutstandingMessages: 100, maxOutstandingBytes: 0 }, stream);
    const acked = new Set<number>();
    // Half of the backlog acked over the stream (batched commits), every other message of a second half left unacked.
    for (let n = 100; n <= 500; n += 100) {
      await stream.atLeast(n);
      const batch = stream.received.slice(n - 100, n);
      session.request({ ackIds: batch.map((r) => r.ackId) });
      batch.forEach((r) => acked.add(r.message.seq));
      await time.advance(50);
    }
    await stream.atLeast(600);
    const odd = stream.received.slice(500, 600).filter((r) => r.message.seq % 2 === 1);
    await first.engine.acknowledge(SUB, odd.map((r) => r.ackId));
    odd.forEach((r) => acked.add(r.message.seq));
    // kill -9: the engine is never closed; only the files remain.
    first.log.close();
    await first.sink.close();
    await first.store.close();

    const second = openAll(time);
    const redelivered: number[] = [];
    for (;;) {
      const got = await second.engine.pull(SUB, 1000, 0);
      if (got.length === 0) break;
      redelivered.push(...got.map((r) => r.message.seq));
      await second.engine.acknowledge(SUB, got.map((r) => r.ackId));
    }
    const all = (await second.log.read(TOPIC, 0, 5000)).map((m) => m.seq);
    assert.equal(all.length, 1000);
    assert.deepEqual(redelivered, all.filter((s) => !acked.has(s)));
    const state = await second.store.loadAckState(SUB);
    assert.deepEqual(state, { floor: all[all.length - 1], acked: [] });
    await second.engine.close();
    second.log.close();
    await second.sink.close();
    await second.store.close();
  });
});

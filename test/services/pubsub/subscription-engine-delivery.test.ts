import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { settle } from '../../support/manual-time.js';
import { harness, ids, RecordingSink, STREAM, SUB, texts, TOPIC } from './engine-harness.js';

describe('SubscriptionEngine: delivery', () => {
  test('at-least-once: a message not acked within the deadline is redelivered with deliveryAttempt + 1 (dead-letter policy set)', async () => {
    const h = await harness({ deadLetterPolicy: { deadLetterTopic: 'projects/p/topics/dead', maxDeliveryAttempts: 5 } });
    await h.publish(['a', 'b']);
    const first = await h.engine.pull(SUB, 10, 0);
    assert.deepEqual(texts(first), ['a', 'b']);
    assert.deepEqual(first.map((r) => r.deliveryAttempt), [1, 1]);
    assert.equal(first[0]!.message.messageId, String(first[0]!.message.seq));
    await h.engine.acknowledge(SUB, [first[1]!.ackId]);
    await h.time.advance(9_999);
    assert.deepEqual(await h.engine.pull(SUB, 10, 0), [], 'still leased');
    await h.time.advance(1);
    const second = await h.engine.pull(SUB, 10, 0);
    assert.deepEqual(texts(second), ['a'], 'the acked one is not redelivered');
    assert.equal(second[0]!.deliveryAttempt, 2);
    assert.notEqual(second[0]!.ackId, first[0]!.ackId);
  });

  test('deliveryAttempt is 0 without a dead-letter policy', async () => {
    const h = await harness();
    await h.publish(['a']);
    assert.equal((await h.engine.pull(SUB, 1, 0))[0]!.deliveryAttempt, 0);
  });

  test('a subscription gets only messages of its topic published after it was created', async () => {
    const h = await harness({ startSeq: 0 });
    await h.publish(['other'], { topic: 'projects/p/topics/other' });
    await h.publish(['mine']);
    assert.deepEqual(texts(await h.engine.pull(SUB, 10, 0)), ['mine']);
  });

  test('Acknowledge resolves after the acks are committed to the store', async () => {
    const h = await harness();
    await h.publish(['a', 'b', 'c']);
    const got = await h.engine.pull(SUB, 10, 0);
    await h.engine.acknowledge(SUB, [got[0]!.ackId, got[2]!.ackId]);
    assert.deepEqual(await h.store.loadAckState(SUB), { floor: 1, acked: [3] });
    await h.engine.acknowledge(SUB, [got[1]!.ackId]);
    assert.deepEqual(await h.store.loadAckState(SUB), { floor: 3, acked: [] });
  });

  test('nack (modifyAckDeadline 0) redelivers at once; an extension keeps the lease past the old deadline', async () => {
    const h = await harness();
    await h.publish(['a', 'b']);
    const [a, b] = await h.engine.pull(SUB, 10, 0);
    await h.engine.modifyAckDeadline(SUB, [a!.ackId], 0);
    await h.engine.modifyAckDeadline(SUB, [b!.ackId], 60);
    assert.deepEqual(texts(await h.engine.pull(SUB, 10, 0)), ['a']);
    await h.time.advance(30_000);
    const aAgain = await h.engine.pull(SUB, 10, 0);
    assert.deepEqual(texts(aAgain), ['a'], 'a expired again; b is extended');
    await h.engine.acknowledge(SUB, ids(aAgain));
    await h.time.advance(30_000);
    assert.deepEqual(texts(await h.engine.pull(SUB, 10, 0)), ['b']);
  });

  test('foreign, garbage, stale and repeated ack IDs are ignored', async () => {
    const h = await harness();
    await h.store.createSubscription({ ...(await h.store.getSubscription(SUB))!, name: 'projects/p/subscriptions/other' });
    await h.publish(['a']);
    const [a] = await h.engine.pull(SUB, 1, 0);
    const [foreign] = await h.engine.pull('projects/p/subscriptions/other', 1, 0);
    await h.engine.acknowledge(SUB, ['', 'garbage', 'x'.repeat(10_000), foreign!.ackId, `${a!.ackId}0`]);
    await h.engine.modifyAckDeadline(SUB, ['garbage', foreign!.ackId], 0);
    assert.deepEqual(await h.store.loadAckState(SUB), { floor: 0, acked: [] });
    await h.time.advance(10_000);
    const [again] = await h.engine.pull(SUB, 1, 0);
    await h.engine.acknowledge(SUB, [a!.ackId]);
    assert.deepEqual(await h.store.loadAckState(SUB), { floor: 0, acked: [] }, 'the expired lease\'s ID does not ack the redelivery');
    await h.engine.acknowledge(SUB, [again!.ackId, again!.ackId]);
    await h.engine.acknowledge(SUB, [again!.ackId]);
    assert.deepEqual(await h.store.loadAckState(SUB), { floor: 1, acked: [] });
    assert.deepEqual(h.errors, []);
  });

  test('Pull waits for a message up to its bound, and an abort ends the wait', async () => {
    const h = await harness();
    const waiting = h.engine.pull(SUB, 10, 5_000);
    await settle();
    await h.publish(['late']);
    assert.deepEqual(texts(await waiting), ['late']);
    const timedOut = h.engine.pull(SUB, 10, 5_000);
    await h.time.advance(5_000);
    assert.deepEqual(await timedOut, []);
    const ac = new AbortController();
    const aborted = h.engine.pull(SUB, 10, 60_000, ac.signal);
    ac.abort();
    assert.deepEqual(await aborted, []);
  });

  test('a stream receives messages as they are committed and its acks are committed within 50 ms', async () => {
    const h = await harness();
    const sink = new RecordingSink();
    const session = await h.engine.open(SUB, STREAM, sink);
    await h.publish(['a', 'b']);
    assert.deepEqual(sink.texts(), ['a', 'b']);
    session.request({ ackIds: ids(sink.received) });
    await settle();
    assert.deepEqual(await h.store.loadAckState(SUB), { floor: 0, acked: [] }, 'batched');
    await h.time.advance(50);
    assert.deepEqual(await h.store.loadAckState(SUB), { floor: 2, acked: [] });
  });

  test('stream deadline changes: 0 redelivers at once, 60 holds the lease, 1..9 lease for 10 s', async () => {
    const h = await harness();
    const sink = new RecordingSink();
    const session = await h.engine.open(SUB, STREAM, sink);
    await h.publish(['a', 'b', 'c']);
    const [a, b, c] = sink.take();
    session.request({ modifyDeadlineAckIds: [a!.ackId, b!.ackId, c!.ackId], modifyDeadlineSeconds: [0, 60, 5] });
    await settle();
    assert.deepEqual(texts(sink.take()), ['a']);
    await h.time.advance(9_999);
    assert.deepEqual(sink.take(), []);
    await h.time.advance(1);
    const again = sink.take();
    assert.deepEqual(texts(again), ['a', 'c'], 'a from its second lease (10 s from the nack), c after 10 s, not 5');
    session.request({ ackIds: ids(again) });
    await h.time.advance(49_999);
    assert.deepEqual(sink.take(), []);
    await h.time.advance(1);
    assert.deepEqual(texts(sink.take()), ['b']);
  });

  test('flow control: a stream never has more outstanding than maxOutstandingMessages / Bytes', async () => {
    const h = await harness();
    const sink = new RecordingSink();
    const session = await h.engine.open(SUB, { ackDeadlineSeconds: 10, maxOutstandingMessages: 3, maxOutstandingBytes: 0 }, sink);
    await h.publish(['1', '2', '3', '4', '5', '6', '7']);
    assert.deepEqual(sink.texts(), ['1', '2', '3']);
    session.request({ ackIds: [sink.received[0]!.ackId] });
    await settle();
    assert.deepEqual(sink.texts(), ['1', '2', '3', '4']);
    session.request({ maxOutstandingMessages: 0, maxOutstandingBytes: 4 });
    await settle();
    assert.deepEqual(sink.texts(), ['1', '2', '3', '4', '5'], 'up to 4 bytes outstanding: 2, 3, 4 and 5');

    const bytes = await harness();
    const small = new RecordingSink();
    await bytes.engine.open(SUB, { ackDeadlineSeconds: 10, maxOutstandingMessages: 0, maxOutstandingBytes: 10 }, small);
    await bytes.publish(['xxxx', 'yyyy', 'zzzz']);
    assert.deepEqual(small.texts(), ['xxxx', 'yyyy']);
  });

  test('backpressure: after deliver returns false nothing more is sent until resume()', async () => {
    const h = await harness();
    const sink = new RecordingSink();
    sink.accept = false;
    const session = await h.engine.open(SUB, STREAM, sink);
    await h.publish(['a']);
    await h.publish(['b']);
    assert.deepEqual(sink.texts(), ['a']);
    sink.accept = true;
    session.resume();
    await settle();
    assert.deepEqual(sink.texts(), ['a', 'b']);
  });

  test('read-ahead is bounded: a stream that takes nothing leaves the log unread', async () => {
    const h = await harness({}, { readAheadMessages: 20, pageSize: 5 });
    const sink = new RecordingSink();
    await h.engine.open(SUB, { ackDeadlineSeconds: 10, maxOutstandingMessages: 2, maxOutstandingBytes: 0 }, sink);
    const reads: number[] = [];
    const read = h.log.read.bind(h.log);
    h.log.read = async (topic, after, limit) => {
      reads.push(limit);
      return read(topic, after, limit);
    };
    await h.publish(Array.from({ length: 500 }, (_, i) => `m${i}`));
    assert.equal(sink.received.length, 2);
    assert.ok(reads.reduce((a, b) => a + b, 0) <= 20, `read ${reads.join('+')}`);
  });

  test('a puller that never acks cannot make the subscription hold more than maxUnackedMessages', async () => {
    const h = await harness({}, { maxUnackedMessages: 10, pageSize: 4 });
    await h.publish(Array.from({ length: 30 }, (_, i) => `m${i}`));
    const first: string[] = [];
    for (let i = 0; i < 5; i++) first.push(...texts(await h.engine.pull(SUB, 100, 0)));
    assert.deepEqual(first, Array.from({ length: 10 }, (_, i) => `m${i}`));
    await h.time.advance(10_000);
    assert.deepEqual(texts(await h.engine.pull(SUB, 100, 0)), first, 'the same ten, redelivered');
  });

  test('after its topic is deleted a subscription reads nothing, even from a new topic of the same name', async () => {
    const h = await harness();
    const sink = new RecordingSink();
    await h.engine.open(SUB, STREAM, sink);
    await h.store.deleteTopic(TOPIC);
    h.engine.subscriptionChanged(SUB);
    await settle();
    await h.store.createTopic({ name: TOPIC, labels: {}, messageRetentionMs: undefined, createTime: h.time.now() });
    await h.publish(['new topic']);
    assert.deepEqual(sink.received, []);
    assert.equal(sink.ended, undefined);
  });

  test('many streams on one subscription share it: no message is leased to two at once, all are delivered', async () => {
    const h = await harness();
    const sinks = Array.from({ length: 8 }, () => new RecordingSink());
    const sessions = await Promise.all(sinks.map((s) => h.engine.open(SUB, { ackDeadlineSeconds: 10, maxOutstandingMessages: 7, maxOutstandingBytes: 0 }, s)));
    const pulled: string[] = [];
    await h.publish(Array.from({ length: 300 }, (_, i) => `m${i}`));
    // Consumers ack what they hold, in waves, while Pull takes some too.
    for (let round = 0; round < 100; round++) {
      const outstanding = sinks.flatMap((s) => s.received);
      const seen = new Set(outstanding.map((r) => r.message.seq));
      assert.equal(seen.size, outstanding.length, 'a message leased twice');
      sinks.forEach((s, i) => sessions[i]!.request({ ackIds: ids(s.received) }));
      const got = sinks.flatMap((s) => s.take());
      pulled.push(...texts(got));
      const p = await h.engine.pull(SUB, 3, 0);
      pulled.push(...texts(p));
      await h.engine.acknowledge(SUB, ids(p));
      await settle();
    }
    assert.equal(new Set(pulled).size, 300);
    assert.equal(pulled.length, 300);
    const shares = sinks.map((s) => s.deliveries);
    assert.ok(shares.every((n) => n > 0), `every stream got some: ${shares.join(',')}`);
  });
});

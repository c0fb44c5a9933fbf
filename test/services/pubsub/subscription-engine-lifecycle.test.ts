import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { settle } from '../../support/manual-time.js';
import { DLQ, harness, ids, RecordingSink, STREAM, SUB, texts } from './engine-harness.js';

describe('SubscriptionEngine: ordering, retries, dead letters, filters', () => {
  test('ordering keys: in seq order, one outstanding per key, the order kept after a nack', async () => {
    const h = await harness({ enableMessageOrdering: true });
    await h.publish(['a1', 'a2'], { orderingKey: 'a' });
    await h.publish(['b1'], { orderingKey: 'b' });
    await h.publish(['a3'], { orderingKey: 'a' });
    await h.publish(['free']);
    const first = await h.engine.pull(SUB, 10, 0);
    assert.deepEqual(texts(first), ['a1', 'b1', 'free']);
    await h.engine.modifyAckDeadline(SUB, [first[0]!.ackId], 0);
    const again = await h.engine.pull(SUB, 10, 0);
    assert.deepEqual(texts(again), ['a1']);
    await h.engine.acknowledge(SUB, ids(again));
    const next = await h.engine.pull(SUB, 10, 0);
    assert.deepEqual(texts(next), ['a2']);
    await h.engine.acknowledge(SUB, ids(next));
    assert.deepEqual(texts(await h.engine.pull(SUB, 10, 0)), ['a3']);
  });

  test('retry policy: a nacked or expired message waits min(max, min * 2^(attempt-1)) before redelivery', async () => {
    const h = await harness({ retryPolicy: { minimumBackoffMs: 10_000, maximumBackoffMs: 15_000 } });
    await h.publish(['a']);
    let [a] = await h.engine.pull(SUB, 1, 0);
    await h.engine.modifyAckDeadline(SUB, [a!.ackId], 0);
    await h.time.advance(9_999);
    assert.deepEqual(await h.engine.pull(SUB, 1, 0), []);
    await h.time.advance(1);
    [a] = await h.engine.pull(SUB, 1, 0);
    assert.ok(a);
    await h.time.advance(10_000); // the lease expires: second failure, backoff 15 s (20 s capped)
    await h.time.advance(14_999);
    assert.deepEqual(await h.engine.pull(SUB, 1, 0), []);
    await h.time.advance(1);
    assert.deepEqual(texts(await h.engine.pull(SUB, 1, 0)), ['a']);
  });

  test('dead-lettering: after maxDeliveryAttempts the message goes to the dead-letter topic and is acked here', async () => {
    const h = await harness({ deadLetterPolicy: { deadLetterTopic: DLQ, maxDeliveryAttempts: 5 } });
    await h.publish(['poison'], { attributes: { k: 'v' }, orderingKey: 'key' });
    for (let attempt = 1; attempt <= 5; attempt++) {
      const [m] = await h.engine.pull(SUB, 1, 0);
      assert.equal(m?.deliveryAttempt, attempt);
      await h.engine.modifyAckDeadline(SUB, [m!.ackId], 0);
    }
    await settle();
    assert.deepEqual(await h.engine.pull(SUB, 1, 0), []);
    const dead = await h.log.read(DLQ, 0, 10);
    assert.equal(dead.length, 1);
    assert.deepEqual(dead[0]!.attributes, { k: 'v' });
    assert.equal(new TextDecoder().decode(dead[0]!.data), 'poison');
    assert.equal(dead[0]!.orderingKey, 'key');
    await h.time.advance(50);
    assert.deepEqual(await h.store.loadAckState(SUB), { floor: 1, acked: [] });
  });

  test('a dead-letter topic that does not exist keeps the message here and retries', async () => {
    const h = await harness({ deadLetterPolicy: { deadLetterTopic: 'projects/p/topics/missing', maxDeliveryAttempts: 5 } });
    await h.publish(['poison']);
    for (let attempt = 1; attempt <= 5; attempt++) {
      const [m] = await h.engine.pull(SUB, 1, 0);
      await h.engine.modifyAckDeadline(SUB, [m!.ackId], 0);
    }
    await settle();
    assert.equal(h.errors.length, 1);
    await h.store.createTopic({ name: 'projects/p/topics/missing', labels: {}, messageRetentionMs: undefined, createTime: h.time.now() });
    await h.time.advance(1000);
    assert.equal((await h.log.read('projects/p/topics/missing', 0, 10)).length, 1);
  });

  test('the filter skips messages whose attributes do not match; skipped ones raise the floor', async () => {
    const h = await harness({ filter: 'attributes.kind = "alert" OR hasPrefix(attributes.kind, "crit")' });
    await h.publish(['no'], { attributes: { kind: 'info' } });
    await h.publish(['yes'], { attributes: { kind: 'alert' } });
    await h.publish(['none']);
    await h.publish(['critical'], { attributes: { kind: 'critical' } });
    const got = await h.engine.pull(SUB, 10, 0);
    assert.deepEqual(texts(got), ['yes', 'critical']);
    await h.engine.acknowledge(SUB, ids(got));
    assert.deepEqual(await h.store.loadAckState(SUB), { floor: 4, acked: [] });
  });

  test('messages older than messageRetentionMs are not delivered', async () => {
    const h = await harness({ messageRetentionMs: 600_000 });
    await h.publish(['old']);
    await h.time.advance(600_001);
    await h.publish(['new']);
    assert.deepEqual(texts(await h.engine.pull(SUB, 10, 0)), ['new']);
  });
});

describe('SubscriptionEngine: seek, restart, detach, delete, close', () => {
  test('seek replaces the ack state: leases are dropped and the cursor rewinds', async () => {
    const h = await harness();
    await h.publish(['a', 'b', 'c']);
    const snapshotState = await h.engine.ackState(SUB);
    const got = await h.engine.pull(SUB, 10, 0);
    await h.engine.acknowledge(SUB, ids(got.slice(0, 2)));
    assert.deepEqual(await h.engine.ackState(SUB), { floor: 2, acked: [] });
    await h.engine.seek(SUB, snapshotState);
    assert.deepEqual(await h.store.loadAckState(SUB), { floor: 0, acked: [] });
    const again = await h.engine.pull(SUB, 10, 0);
    assert.deepEqual(texts(again), ['a', 'b', 'c'], 'c was leased: the seek redelivers it at once');
    await h.engine.acknowledge(SUB, [got[2]!.ackId]);
    assert.deepEqual(await h.store.loadAckState(SUB), { floor: 0, acked: [] }, 'an ID from before the seek is stale');
    await h.engine.seek(SUB, { floor: 1, acked: [3] });
    assert.deepEqual(texts(await h.engine.pull(SUB, 10, 0)), ['b']);
  });

  test('seek: a stream\'s flow control no longer counts the leases it dropped (push delivery bounds its own requests)', async () => {
    const h = await harness();
    await h.publish(['a', 'b', 'c']);
    const start = await h.engine.ackState(SUB);
    const sink = new RecordingSink();
    await h.engine.open(SUB, { ...STREAM, maxOutstandingMessages: 2 }, sink);
    await settle();
    assert.deepEqual(sink.texts(), ['a', 'b']);
    await h.engine.seek(SUB, start);
    await settle();
    assert.deepEqual(sink.texts(), ['a', 'b', 'a', 'b'], 'a and b are held still, yet two more came');
  });

  test('seek to a time: everything published before it acknowledged, everything after it delivered again', async () => {
    const h = await harness();
    await h.publish(['early']);
    await h.time.advance(1000);
    const t = h.time.now();
    await h.publish(['late1', 'late2']);
    const got = await h.engine.pull(SUB, 10, 0);
    await h.engine.acknowledge(SUB, ids(got));
    const floor = await h.log.seqBefore('projects/p/topics/t', t);
    await h.engine.seek(SUB, { floor, acked: [] });
    assert.deepEqual(texts(await h.engine.pull(SUB, 10, 0)), ['late1', 'late2']);
  });

  test('restart: a new engine on the same store does not redeliver acked messages and redelivers the unacked ones', async () => {
    const h = await harness();
    await h.publish(['a', 'b', 'c', 'd']);
    const sink = new RecordingSink();
    const session = await h.engine.open(SUB, STREAM, sink);
    assert.equal(sink.received.length, 4);
    await h.engine.acknowledge(SUB, [sink.received[1]!.ackId]);
    session.request({ ackIds: [sink.received[3]!.ackId] });
    await h.time.advance(50);
    // kill -9: the old engine is dropped without close.
    const after = h.newEngine();
    const got = await after.pull(SUB, 10, 0);
    assert.deepEqual(texts(got), ['a', 'c']);
    assert.equal(await after.acknowledge(SUB, [sink.received[0]!.ackId]), undefined);
    assert.deepEqual(await h.store.loadAckState(SUB), { floor: 0, acked: [2, 4] }, 'IDs issued before the restart are stale');
    assert.equal(await after.backlog(SUB), 2);
    await h.publish(['e']);
    assert.equal(await after.backlog(SUB), 3);
  });

  test('close ends streams with UNAVAILABLE and commits pending stream acks', async () => {
    const h = await harness();
    await h.publish(['a', 'b']);
    const sink = new RecordingSink();
    const session = await h.engine.open(SUB, STREAM, sink);
    await settle();
    session.request({ ackIds: [sink.received[0]!.ackId] });
    const waiting = assert.rejects(h.engine.pull(SUB, 1, 60_000), { kind: 'UNAVAILABLE' });
    await settle();
    await h.engine.close();
    await waiting;
    assert.equal(sink.ended?.kind, 'UNAVAILABLE');
    assert.deepEqual(await h.store.loadAckState(SUB), { floor: 1, acked: [] });
    await assert.rejects(h.engine.pull(SUB, 1, 0), { kind: 'UNAVAILABLE' });
    assert.equal(h.log.watcherCount(), 0);
    assert.equal(h.time.pending, 0, 'no timer left behind');
  });

  test('delete ends streams and pulls with NOT_FOUND; later acks of its ack IDs are harmless', async () => {
    const h = await harness();
    await h.publish(['a']);
    const sink = new RecordingSink();
    const session = await h.engine.open(SUB, STREAM, sink);
    const waiting = assert.rejects(h.engine.pull(SUB, 1, 60_000), { kind: 'NOT_FOUND' });
    await h.store.deleteSubscription(SUB);
    h.engine.subscriptionDeleted(SUB);
    await settle();
    assert.equal(sink.ended?.kind, 'NOT_FOUND');
    await waiting;
    session.request({ ackIds: ids(sink.received) });
    session.resume();
    session.close();
    await assert.rejects(h.engine.acknowledge(SUB, ids(sink.received)), { kind: 'NOT_FOUND' });
    await assert.rejects(h.engine.open(SUB, STREAM, new RecordingSink()), { kind: 'NOT_FOUND' });
    await h.time.advance(60_000);
    assert.deepEqual(h.errors, []);
    assert.equal(h.log.watcherCount(), 0);
  });

  test('an ack racing the deletion is dropped, not an error', async () => {
    const h = await harness();
    await h.publish(['a']);
    const got = await h.engine.pull(SUB, 1, 0);
    const acking = h.engine.acknowledge(SUB, ids(got));
    await h.store.deleteSubscription(SUB);
    h.engine.subscriptionDeleted(SUB);
    await acking;
    assert.equal(await h.store.getSubscription(SUB), undefined);
  });

  test('a delete or close racing an open, at any point of it: open rejects, or its stream is ended', async () => {
    // Whatever the promise order inside open, a stream must never be left on a dropped runtime.
    const runAfter = (jobs: number, fn: () => void): void => {
      let p = Promise.resolve();
      for (let i = 0; i < jobs; i++) p = p.then(() => undefined);
      void p.then(fn);
    };
    for (const kind of ['delete', 'close'] as const) {
      for (const loaded of [true, false]) {
        for (let jobs = 0; jobs <= 12; jobs++) {
          const h = await harness();
          if (loaded) await h.engine.pull(SUB, 1, 0);
          if (kind === 'delete') await h.store.deleteSubscription(SUB);
          const sink = new RecordingSink();
          const opening = h.engine.open(SUB, STREAM, sink);
          runAfter(jobs, () => (kind === 'delete' ? h.engine.subscriptionDeleted(SUB) : void h.engine.close()));
          const want = kind === 'delete' ? 'NOT_FOUND' : 'UNAVAILABLE';
          const outcome = await opening.then(
            async () => {
              await settle();
              return sink.ended?.kind ?? 'still open';
            },
            (e: { kind?: string }) => e.kind,
          );
          assert.equal(outcome, want, `${kind}, runtime ${loaded ? 'loaded' : 'loading'}, ${jobs} promise jobs after open`);
        }
      }
    }
  });

  test('detach ends streams with FAILED_PRECONDITION and refuses new pulls', async () => {
    const h = await harness();
    const sink = new RecordingSink();
    await h.engine.open(SUB, STREAM, sink);
    const sub = (await h.store.getSubscription(SUB))!;
    await h.store.updateSubscription({ ...sub, detached: true });
    h.engine.subscriptionChanged(SUB);
    await settle();
    assert.equal(sink.ended?.kind, 'FAILED_PRECONDITION');
    await assert.rejects(h.engine.pull(SUB, 1, 0), { kind: 'FAILED_PRECONDITION' });
  });

  test('settings changes are picked up: a longer ack deadline for pulls', async () => {
    const h = await harness();
    await h.engine.pull(SUB, 1, 0);
    await h.store.updateSubscription({ ...(await h.store.getSubscription(SUB))!, ackDeadlineSeconds: 60 });
    h.engine.subscriptionChanged(SUB);
    await settle();
    await h.publish(['a']);
    await h.engine.pull(SUB, 1, 0);
    await h.time.advance(30_000);
    assert.deepEqual(await h.engine.pull(SUB, 1, 0), []);
    await h.time.advance(30_000);
    assert.deepEqual(texts(await h.engine.pull(SUB, 1, 0)), ['a']);
  });

  test('an unknown subscription is NOT_FOUND; a malformed stream request is INVALID_ARGUMENT', async () => {
    const h = await harness();
    await assert.rejects(h.engine.pull('projects/p/subscriptions/nope', 1, 0), { kind: 'NOT_FOUND' });
    const session = await h.engine.open(SUB, STREAM, new RecordingSink());
    assert.throws(() => session.request({ modifyDeadlineAckIds: ['x'], modifyDeadlineSeconds: [] }), { kind: 'INVALID_ARGUMENT', field: 'modify_deadline_seconds' });
    assert.throws(() => session.request({ streamAckDeadlineSeconds: 5 }), { kind: 'INVALID_ARGUMENT', field: 'stream_ack_deadline_seconds' });
    assert.throws(() => session.request({ maxOutstandingMessages: '12abc' }), { kind: 'INVALID_ARGUMENT', field: 'max_outstanding_messages' });
  });
});

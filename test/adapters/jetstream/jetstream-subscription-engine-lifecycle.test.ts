import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApiError } from '../../../src/domain/errors.js';
import { startNats, type TestNats } from '../../support/nats.js';
import { delay, jsHarness, RecordingSink, STREAM, texts, type JsHarness } from './jetstream-subscription-engine-harness.js';

/** Seek, snapshots, backlog, settings changes, deletion, shutdown and a NATS outage. */
describe('JetStreamSubscriptionEngine: lifecycle', () => {
  let nats: TestNats;
  const harnesses: JsHarness[] = [];
  const make = async (...args: Parameters<typeof jsHarness> extends [unknown, ...infer R] ? R : never): Promise<JsHarness> => {
    const h = await jsHarness(nats, ...args);
    harnesses.push(h);
    return h;
  };
  before(async () => {
    nats = await startNats();
  });
  after(async () => {
    await Promise.all(harnesses.map((h) => h.cleanup()));
    await nats?.cleanup();
  });

  const pullAll = async (h: JsHarness, n: number): Promise<ReturnType<JsHarness['engine']['pull']> extends Promise<infer T> ? T : never> => {
    const out = [...(await h.engine.pull(h.sub, n, 3000))];
    while (out.length < n) {
      const more = await h.engine.pull(h.sub, n - out.length, 3000);
      if (more.length === 0) break;
      out.push(...more);
    }
    return out;
  };

  test('backlog counts undelivered and unacked messages; ackState reports the consumer ack floor', async () => {
    const h = await make({}, { secondMs: 1000 });
    const seqs = await h.publish(['a', 'b', 'c', 'd', 'e']);
    assert.deepEqual(await h.engine.ackState(h.sub), { floor: 0, acked: [] });
    assert.equal(await h.engine.backlog(h.sub), 5);
    const got = await pullAll(h, 2);
    assert.equal(await h.engine.backlog(h.sub), 5, 'delivered but unacked still count');
    await h.engine.acknowledge(h.sub, got.map((r) => r.ackId));
    assert.equal(await h.engine.backlog(h.sub), 3);
    assert.deepEqual(await h.engine.ackState(h.sub), { floor: seqs[1], acked: [] });
  });

  test('seek to a floor (a time or a snapshot) redelivers everything after it, acked or not, on every node', async () => {
    const h = await make({}, { secondMs: 1000 });
    const seqs = await h.publish(['a', 'b', 'c', 'd', 'e']);
    const first = await pullAll(h, 5);
    await h.engine.acknowledge(h.sub, first.slice(0, 3).map((r) => r.ackId));
    const snapshot = await h.engine.ackState(h.sub);
    assert.deepEqual(snapshot, { floor: seqs[2], acked: [] });
    await h.engine.acknowledge(h.sub, first.slice(3).map((r) => r.ackId));
    assert.equal(await h.engine.backlog(h.sub), 0);

    await h.engine.seek(h.sub, snapshot);
    assert.deepEqual(texts(await pullAll(h, 2)), ['d', 'e'], 'after the snapshot floor');
    // Another node that never saw the consumer recreates nothing older: it starts where the seek put it.
    const b = await h.newEngine();
    assert.deepEqual(await b.pull(h.sub, 10, 0), [], 'd and e are leased on the first node');

    await h.engine.seek(h.sub, { floor: 0, acked: [] });
    const all = await pullAll(h, 5);
    assert.deepEqual(texts(all), ['a', 'b', 'c', 'd', 'e'], 'seek to the start');
    assert.equal((await h.store.loadAckState(h.sub)).floor, 0, 'the floor is stored for nodes that create the consumer later');

    // A snapshot with acks above its floor: JetStream cannot skip them, so they come again (C-PS-JS-SNAPSHOT).
    await h.engine.acknowledge(h.sub, all.map((r) => r.ackId));
    await h.engine.seek(h.sub, { floor: seqs[0]!, acked: [seqs[2]!] });
    assert.deepEqual(texts(await pullAll(h, 4)), ['b', 'c', 'd', 'e']);
  });

  test('a stream open across a seek keeps receiving from the new position', async () => {
    const h = await make({}, { secondMs: 1000 });
    const sink = new RecordingSink();
    const session = await h.engine.open(h.sub, STREAM, sink);
    const seqs = await h.publish(['a', 'b']);
    await sink.waitFor(2);
    session.request({ ackIds: sink.received.map((r) => r.ackId) });
    await delay(100);
    await h.engine.seek(h.sub, { floor: seqs[0]!, acked: [] });
    await sink.waitFor(3, 10_000);
    assert.deepEqual(sink.texts(), ['a', 'b', 'b']);
    assert.equal(sink.ended, undefined);
  });

  test('subscriptionDeleted ends streams NOT_FOUND, on the node told and on another node, and removes the consumer', async () => {
    const h = await make();
    const b = await h.newEngine();
    const sinkA = new RecordingSink();
    const sinkB = new RecordingSink();
    await h.engine.open(h.sub, STREAM, sinkA);
    await b.open(h.sub, STREAM, sinkB);
    await h.publish(['a']);
    while (sinkA.received.length + sinkB.received.length < 1) await delay(20);
    await h.store.deleteSubscription(h.sub);
    h.engine.subscriptionDeleted(h.sub);
    assert.equal((await sinkA.waitEnd()).kind, 'NOT_FOUND');
    assert.equal((await sinkB.waitEnd(10_000)).kind, 'NOT_FOUND', 'the other node saw its consumer go');
    await assert.rejects(h.engine.pull(h.sub, 1, 0), (e: ApiError) => e.kind === 'NOT_FOUND');
    await assert.rejects(h.jsm.consumers.info(h.names.streamOf(h.topic), h.names.consumerOf(h.sub)), /consumer not found/i);
  });

  test('a subscription loaded only after its topic was deleted still has its consumer removed when deleted (a new one of the name starts afresh)', async () => {
    const h = await make();
    await h.publish(['a']);
    assert.equal((await h.engine.pull(h.sub, 1, 2000)).length, 1, 'the consumer exists');
    await h.store.deleteTopic(h.topic);
    // Another node (or this one after a restart) loads it now: on _deleted-topic_, without a stream.
    const b = await h.newEngine();
    assert.deepEqual(await b.pull(h.sub, 1, 0), []);
    await h.store.deleteSubscription(h.sub);
    b.subscriptionDeleted(h.sub);
    const consumer = (): Promise<unknown> => h.jsm.consumers.info(h.names.streamOf(h.topic), h.names.consumerOf(h.sub));
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && (await consumer().then(() => true, () => false))) await delay(50);
    await assert.rejects(consumer(), /consumer not found/i);
  });

  test('detach ends streams FAILED_PRECONDITION and refuses pulls; a changed ack deadline reaches the consumer', async () => {
    const h = await make();
    await h.publish(['a']);
    assert.equal((await h.engine.pull(h.sub, 1, 2000)).length, 1);
    const s = (await h.store.getSubscription(h.sub))!;
    const updated = await h.store.updateSubscription({ ...s, ackDeadlineSeconds: 42 });
    h.engine.subscriptionChanged(h.sub);
    const consumer = h.names.consumerOf(h.sub);
    const deadline = Date.now() + 5000;
    let ackWait = 0;
    while (Date.now() < deadline && ackWait !== 4_200_000_000) {
      ackWait = (await h.jsm.consumers.info(h.names.streamOf(h.topic), consumer)).config.ack_wait ?? 0;
      await delay(50);
    }
    assert.equal(ackWait, 4_200_000_000, '42 s (4.2 s at this scale)');
    const sink = new RecordingSink();
    await h.engine.open(h.sub, STREAM, sink);
    await h.store.updateSubscription({ ...updated, detached: true });
    h.engine.subscriptionChanged(h.sub);
    assert.equal((await sink.waitEnd()).kind, 'FAILED_PRECONDITION');
    await assert.rejects(h.engine.pull(h.sub, 1, 0), (e: ApiError) => e.kind === 'FAILED_PRECONDITION');
    await assert.rejects(h.engine.open(h.sub, STREAM, new RecordingSink()), (e: ApiError) => e.kind === 'FAILED_PRECONDITION');
  });

  test('an unknown subscription is NOT_FOUND', async () => {
    const h = await make();
    await assert.rejects(h.engine.pull(`projects/${h.project}/subscriptions/nope`, 1, 0), (e: ApiError) => e.kind === 'NOT_FOUND');
    await assert.rejects(h.engine.open(`projects/${h.project}/subscriptions/nope`, STREAM, new RecordingSink()), (e: ApiError) => e.kind === 'NOT_FOUND');
  });

  test('close ends streams UNAVAILABLE, hands back what it still receives, and refuses later calls', async () => {
    const h = await make({}, { secondMs: 1000 });
    const sink = new RecordingSink();
    await h.engine.open(h.sub, STREAM, sink);
    await h.publish(['a']);
    await sink.waitFor(1);
    const t0 = Date.now();
    await h.engine.close();
    assert.ok(Date.now() - t0 < 5000, `closed in ${Date.now() - t0} ms`);
    assert.equal(sink.ended?.kind, 'UNAVAILABLE');
    await assert.rejects(h.engine.pull(h.sub, 1, 0), (e: ApiError) => e.kind === 'UNAVAILABLE');
    await h.publish(['b']);
    const b = await h.newEngine();
    assert.deepEqual(texts(await b.pull(h.sub, 10, 3000)), ['b'], 'b is not stuck in the closed engine; a is still leased to its client');
  });

  test('NATS down: pulls and acks fail UNAVAILABLE within the bound, streams stay open and deliver again after the restart', async () => {
    const h = await make({}, { requestTimeoutMs: 1000, retryMs: 200, fetchExpiresMs: 1000 });
    const sink = new RecordingSink();
    await h.engine.open(h.sub, STREAM, sink);
    await h.publish(['before']);
    await sink.waitFor(1);
    await nats.stop('kill');
    try {
      const t0 = Date.now();
      await assert.rejects(h.engine.pull(h.sub, 1, 0), (e: ApiError) => e.kind === 'UNAVAILABLE');
      await assert.rejects(h.engine.acknowledge(h.sub, [sink.received[0]!.ackId]), (e: ApiError) => e.kind === 'UNAVAILABLE');
      await assert.rejects(h.engine.backlog(h.sub), (e: ApiError) => e.kind === 'UNAVAILABLE');
      await assert.rejects(h.engine.modifyAckDeadline(h.sub, [sink.received[0]!.ackId], 60), (e: ApiError) => e.kind === 'UNAVAILABLE');
      assert.ok(Date.now() - t0 < 8000, `failed within ${Date.now() - t0} ms`);
      assert.equal(sink.ended, undefined, 'the stream stays open');
    } finally {
      await nats.start();
    }
    // The test's own client reconnects and JetStream recovers its streams on its own schedule.
    for (let tries = 0; ; tries++) {
      try {
        await h.publish(['after']);
        break;
      } catch (e) {
        if (tries >= 20) throw e;
        await delay(250);
      }
    }
    // 'before' was never acked, so it may come again first.
    const until = Date.now() + 15_000;
    while (!texts(sink.received).includes('after') && Date.now() < until) await delay(50);
    assert.ok(texts(sink.received).includes('after'), `received ${texts(sink.received).join(',')}`);
    assert.equal(sink.ended, undefined);
  });
});

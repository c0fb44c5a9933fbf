import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startNats, type TestNats } from '../../support/nats.js';
import { delay, jsHarness, texts, type JsHarness } from './jetstream-subscription-engine-harness.js';

/** Pull delivery on a real nats-server; a 10 s ack deadline lasts 1 s here (secondMs 100). */
describe('JetStreamSubscriptionEngine: delivery', () => {
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

  test('delivers once; acked messages are never redelivered; Acknowledge resolves once JetStream recorded it', async () => {
    const h = await make();
    await h.publish(['a', 'b', 'c']);
    const got = await h.engine.pull(h.sub, 10, 2000);
    assert.deepEqual(texts(got), ['a', 'b', 'c']);
    assert.deepEqual(got.map((r) => r.deliveryAttempt), [0, 0, 0], 'no dead-letter policy: attempt unset');
    assert.equal(got[0]!.message.messageId, String(got[0]!.message.seq));
    assert.ok(got[0]!.ackId.startsWith('$JS.ACK.'));
    await h.engine.acknowledge(h.sub, got.map((r) => r.ackId));
    assert.equal(await h.engine.backlog(h.sub), 0, 'recorded by the time acknowledge resolved');
    await delay(1500);
    assert.deepEqual(await h.engine.pull(h.sub, 10, 0), [], 'nothing redelivered after the deadline');
    assert.deepEqual(h.errors, []);
  });

  test('a pull waits for the first message and returns at its deadline with nothing', async () => {
    const h = await make();
    const t0 = Date.now();
    assert.deepEqual(await h.engine.pull(h.sub, 10, 300), []);
    assert.ok(Date.now() - t0 >= 250 && Date.now() - t0 < 2000, `waited ${Date.now() - t0} ms`);
    const waiting = h.engine.pull(h.sub, 10, 5000);
    await delay(200);
    await h.publish(['late']);
    assert.deepEqual(texts(await waiting), ['late']);
    const aborted = new AbortController();
    const abortedPull = h.engine.pull(h.sub, 10, 10_000, aborted.signal);
    aborted.abort();
    assert.deepEqual(await abortedPull, []);
  });

  test('nack redelivers at once with deliveryAttempt + 1; an expired deadline redelivers again', async () => {
    const h = await make({ deadLetterPolicy: { deadLetterTopic: 'projects/x/topics/dead', maxDeliveryAttempts: 10 } });
    await h.publish(['a']);
    const [first] = await h.engine.pull(h.sub, 1, 2000);
    assert.equal(first!.deliveryAttempt, 1);
    await h.engine.modifyAckDeadline(h.sub, [first!.ackId], 0);
    const [second] = await h.engine.pull(h.sub, 1, 2000);
    assert.equal(text(second!), 'a');
    assert.equal(second!.deliveryAttempt, 2);
    assert.notEqual(second!.ackId, first!.ackId);
    assert.deepEqual(await h.engine.pull(h.sub, 1, 0), [], 'leased');
    const t0 = Date.now();
    const [third] = await h.engine.pull(h.sub, 1, 5000);
    assert.equal(third!.deliveryAttempt, 3, 'redelivered after the 1 s deadline');
    assert.ok(Date.now() - t0 > 500, `redelivered after ${Date.now() - t0} ms`);
  });

  test('the retry policy delays a nacked message by its backoff', async () => {
    // 10 s minimum backoff = 1 s here.
    const h = await make({ retryPolicy: { minimumBackoffMs: 10_000, maximumBackoffMs: 600_000 } });
    await h.publish(['a']);
    const [first] = await h.engine.pull(h.sub, 1, 2000);
    await h.engine.modifyAckDeadline(h.sub, [first!.ackId], 0);
    const t0 = Date.now();
    assert.deepEqual(await h.engine.pull(h.sub, 1, 300), [], 'still backing off');
    const [again] = await h.engine.pull(h.sub, 1, 5000);
    assert.equal(text(again!), 'a');
    assert.ok(Date.now() - t0 >= 800, `redelivered after ${Date.now() - t0} ms`);
  });

  test('modifyAckDeadline beyond ack_wait keeps the lease until the new deadline, then it ends', async () => {
    const h = await make();
    await h.publish(['a']);
    const [a] = await h.engine.pull(h.sub, 1, 2000);
    // 40 s = 4 s here, four times ack_wait.
    await h.engine.modifyAckDeadline(h.sub, [a!.ackId], 40);
    const t0 = Date.now();
    assert.deepEqual(await h.engine.pull(h.sub, 1, 2500), [], 'held past ack_wait');
    const [again] = await h.engine.pull(h.sub, 1, 5000);
    assert.equal(text(again!), 'a');
    const held = Date.now() - t0;
    assert.ok(held >= 3000 && held < 6500, `lease held ${held} ms`);
  });

  test('an expired lease\'s ack ID still acks its redelivery (JetStream acks by stream sequence; C-PS-JS-STALE-ACK)', async () => {
    const h = await make();
    await h.publish(['a']);
    const [first] = await h.engine.pull(h.sub, 1, 2000);
    const [second] = await h.engine.pull(h.sub, 1, 5000);
    assert.equal(text(second!), 'a', 'redelivered after the deadline');
    await h.engine.acknowledge(h.sub, [first!.ackId]);
    assert.equal(await h.engine.backlog(h.sub), 0);
  });

  test('garbage, foreign and other-consumer ack IDs are ignored', async () => {
    const h = await make();
    const other = `projects/${h.project}/subscriptions/other`;
    await h.addSubscription(other, h.topic);
    await h.publish(['a']);
    const [a] = await h.engine.pull(h.sub, 1, 2000);
    const [foreign] = await h.engine.pull(other, 1, 2000);
    const forged = a!.ackId.replace(/^(\$JS\.ACK\.[^.]+\.)[^.]+/, '$1sub_forged');
    await h.engine.acknowledge(h.sub, ['', 'garbage', '$JS.ACK.>', '$JS.ACK.*.*.1.1.1.1.1', 'x'.repeat(10_000), foreign!.ackId, forged, `${a!.ackId} `]);
    await h.engine.modifyAckDeadline(h.sub, ['garbage', foreign!.ackId], 0);
    assert.equal(await h.engine.backlog(h.sub), 1);
    assert.equal(await h.engine.backlog(other), 1, "the other subscription's message was not acked through this one");
    const [again] = await h.engine.pull(h.sub, 1, 5000);
    assert.equal(text(again!), 'a', 'redelivered: nothing acked it');
    assert.deepEqual(h.errors, []);
  });

  test('dead-letters after maxDeliveryAttempts: same data, attributes and ordering key on the dead-letter topic', async () => {
    const h = await make({ deadLetterPolicy: { deadLetterTopic: '', maxDeliveryAttempts: 5 } });
    const dl = `projects/${h.project}/subscriptions/dl`;
    const s = (await h.store.getSubscription(h.sub))!;
    await h.store.updateSubscription({ ...s, deadLetterPolicy: { deadLetterTopic: h.dlq, maxDeliveryAttempts: 5 } });
    await h.addSubscription(dl, h.dlq);
    await h.publish(['poison'], { attributes: { k: 'v\nw' }, orderingKey: 'key-1' });
    for (let attempt = 1; attempt <= 5; attempt++) {
      const [m] = await h.engine.pull(h.sub, 1, 3000);
      assert.equal(m?.deliveryAttempt, attempt);
      await h.engine.modifyAckDeadline(h.sub, [m!.ackId], 0);
    }
    assert.deepEqual(await h.engine.pull(h.sub, 1, 500), [], 'the sixth delivery went to the dead-letter topic');
    const [dead] = await h.engine.pull(dl, 1, 5000);
    assert.equal(text(dead!), 'poison');
    assert.deepEqual(dead!.message.attributes, { k: 'v\nw' });
    assert.equal(dead!.message.orderingKey, 'key-1');
    await delay(300);
    assert.equal(await h.engine.backlog(h.sub), 0, 'terminated on the source subscription');
  });

  test('a filter delivers only matching messages; the others are acked and never delivered', async () => {
    const h = await make({ filter: 'attributes.kind = "keep"' });
    await h.publish(['x1'], { attributes: { kind: 'drop' } });
    await h.publish(['k1'], { attributes: { kind: 'keep' } });
    await h.publish(['x2']);
    await h.publish(['k2'], { attributes: { kind: 'keep' } });
    const got = [...(await h.engine.pull(h.sub, 10, 2000))];
    while (got.length < 2) got.push(...(await h.engine.pull(h.sub, 10, 2000)));
    assert.deepEqual(texts(got), ['k1', 'k2']);
    await h.engine.acknowledge(h.sub, got.map((r) => r.ackId));
    await delay(1500);
    assert.deepEqual(await h.engine.pull(h.sub, 10, 0), []);
    assert.equal(await h.engine.backlog(h.sub), 0);
  });

  test('only messages of its own topic published after the subscription was created', async () => {
    const h = await make();
    const otherTopic = `projects/${h.project}/topics/other`;
    await h.store.createTopic({ name: otherTopic, labels: {}, messageRetentionMs: undefined, createTime: Date.now() });
    const [beforeSeq] = await h.publish(['before']);
    const late = `projects/${h.project}/subscriptions/late`;
    await h.addSubscription(late, h.topic, { startSeq: beforeSeq! });
    await h.publish(['other'], { topic: otherTopic });
    await h.publish(['mine']);
    assert.deepEqual(texts(await h.engine.pull(late, 10, 2000)), ['mine']);
  });

  test('a project with no stream yet: pulls come back empty, and messages flow once the stream exists', async () => {
    const h = await make({}, {}, { stream: false });
    assert.deepEqual(await h.engine.pull(h.sub, 10, 0), []);
    assert.deepEqual(await h.engine.pull(h.sub, 10, 300), []);
    assert.equal(await h.engine.backlog(h.sub), 0);
    await h.createStream();
    await h.publish(['first']);
    assert.deepEqual(texts(await h.engine.pull(h.sub, 10, 3000)), ['first']);
  });
});

const text = (r: { message: { data: Uint8Array } }): string => new TextDecoder().decode(r.message.data);

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { credentials, makeGenericClientConstructor, status, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { pubSubDefinitions } from '../../src/adapters/grpc/protos.js';
import { Collector, PS_PROJECT, startPubSubServer, type PubSubServer } from '../support/pubsub.js';

/**
 * google.pubsub.v1 as a backend sees it through the real @google-cloud/pubsub client, pointed at
 * the plaintext gRPC listener with only `apiEndpoint` changed: resources, publishing with
 * attributes and ordering keys, streaming pull, filters, IAM, and the errors as the client
 * surfaces them.
 */

const codeOf = (code: status) => (e: ServiceError) => e.code === code;

describe('Pub/Sub API with @google-cloud/pubsub', () => {
  let ps: PubSubServer;

  before(async () => {
    ps = await startPubSubServer();
  });
  after(() => ps.cleanup());

  test('topics and subscriptions: create, read, list, delete; the errors Pub/Sub answers', async () => {
    const { pubsub } = ps;
    const [topic] = await pubsub.createTopic({ name: 'orders', labels: { team: 'iot' } });
    assert.equal(topic.name, `projects/${PS_PROJECT}/topics/orders`);
    await assert.rejects(pubsub.createTopic('orders'), codeOf(status.ALREADY_EXISTS));
    await assert.rejects(pubsub.createTopic('go'), codeOf(status.INVALID_ARGUMENT), 'names are 3..255 characters');
    await assert.rejects(pubsub.topic('nope').getMetadata(), codeOf(status.NOT_FOUND));
    await assert.rejects(pubsub.topic('nope').publishMessage({ data: Buffer.from('x') }), codeOf(status.NOT_FOUND));
    const [metadata] = await topic.getMetadata();
    assert.deepEqual(metadata.labels, { team: 'iot' });

    const [sub] = await topic.createSubscription('orders-sub', { ackDeadlineSeconds: 30, enableMessageOrdering: true });
    await assert.rejects(topic.createSubscription('orders-sub'), codeOf(status.ALREADY_EXISTS));
    await assert.rejects(pubsub.topic('nope').createSubscription('s-of-nope'), codeOf(status.NOT_FOUND));
    await assert.rejects(topic.createSubscription('bad-deadline', { ackDeadlineSeconds: 5 }), (e: ServiceError) => {
      return e.code === status.INVALID_ARGUMENT && /ack_?deadline/i.test(e.details);
    });
    const [subMeta] = await sub.getMetadata();
    assert.equal(subMeta.topic, topic.name);
    assert.equal(subMeta.ackDeadlineSeconds, 30);
    assert.equal(subMeta.enableMessageOrdering, true);
    const [subs] = await topic.getSubscriptions();
    assert.deepEqual(
      subs.map((s) => s.name),
      [`projects/${PS_PROJECT}/subscriptions/orders-sub`],
    );
    const [topics] = await pubsub.getTopics();
    assert.ok(topics.some((t) => t.name === topic.name));

    await pubsub.createTopic('short-lived');
    await pubsub.topic('short-lived').delete();
    await assert.rejects(pubsub.topic('short-lived').getMetadata(), codeOf(status.NOT_FOUND));
    await assert.rejects(pubsub.subscription('never-made').delete(), codeOf(status.NOT_FOUND));
  });

  test("a subscription reports its topic's message retention (topic_message_retention_duration) in create, get, update and list", async () => {
    const { pubsub } = ps;
    const twoDays = { seconds: 2 * 86_400, nanos: 0 };
    const [kept] = await pubsub.createTopic({ name: 'retained-orders', messageRetentionDuration: twoDays });
    const [plain] = await pubsub.createTopic('unretained-orders');
    const [created] = await kept.createSubscription('retained-orders-sub');
    assert.deepEqual(created.metadata?.topicMessageRetentionDuration, { seconds: '172800', nanos: 0 });
    const [got] = await created.getMetadata();
    assert.deepEqual(got.topicMessageRetentionDuration, { seconds: '172800', nanos: 0 });
    const [updated] = await created.setMetadata({ ackDeadlineSeconds: 45 });
    assert.deepEqual(updated.topicMessageRetentionDuration, { seconds: '172800', nanos: 0 });
    await plain.createSubscription('unretained-orders-sub');
    const [listed] = await pubsub.getSubscriptions();
    const retention = (id: string) => listed.find((s) => s.name === `projects/${PS_PROJECT}/subscriptions/${id}`)?.metadata?.topicMessageRetentionDuration;
    assert.deepEqual(retention('retained-orders-sub'), { seconds: '172800', nanos: 0 });
    // Unset (a topic without retention): proto3 leaves the message out, which the client reads as null.
    assert.equal(retention('unretained-orders-sub'), null);
  });

  test('publish and streaming pull: data, attributes, server-assigned IDs and times; ordering keys in order', async () => {
    const { pubsub } = ps;
    const [topic] = await pubsub.createTopic('ordered');
    await topic.createSubscription('ordered-sub', { enableMessageOrdering: true });
    const publisher = pubsub.topic('ordered', { messageOrdering: true, batching: { maxMessages: 10, maxMilliseconds: 5 } });
    const before = Date.now();
    const sent: Promise<string>[] = [];
    for (let i = 0; i < 20; i++) {
      sent.push(publisher.publishMessage({ data: Buffer.from(`m${i}`), attributes: { i: String(i), parity: String(i % 2) }, orderingKey: `k${i % 2}` }));
    }
    const ids = await Promise.all(sent);
    assert.equal(new Set(ids).size, 20);
    const collector = new Collector(pubsub.subscription('ordered-sub'));
    const got = await collector.next(20);
    await collector.close();
    for (const key of ['k0', 'k1']) {
      const ofKey = got.filter((m) => m.orderingKey === key).map((m) => Number(m.attributes.i));
      assert.deepEqual(ofKey, [...ofKey].sort((a, b) => a - b), `${key} in publish order`);
      assert.equal(ofKey.length, 10);
    }
    for (const m of got) {
      const i = Number(m.attributes.i);
      assert.equal(m.data.toString(), `m${i}`);
      assert.equal(m.id, ids[i]);
      assert.deepEqual(m.attributes, { i: String(i), parity: String(i % 2) });
      assert.ok(m.publishTime.getTime() >= before - 1000 && m.publishTime.getTime() <= Date.now());
      assert.equal(m.deliveryAttempt, 0, 'no dead-letter policy: not reported');
    }
  });

  test("every StreamingPullResponse states the subscription's message ordering", async () => {
    const { pubsub } = ps;
    const [topic] = await pubsub.createTopic('props');
    await topic.createSubscription('props-ordered', { enableMessageOrdering: true });
    await topic.createSubscription('props-plain');
    // The Node client does not surface subscription_properties; other languages' clients read it.
    const Subscriber = makeGenericClientConstructor(pubSubDefinitions().subscriber, 'Subscriber');
    const raw = new Subscriber(ps.endpoint, credentials.createInsecure());
    const firstResponse = (subscription: string): Promise<Record<string, unknown>> => {
      const call = (raw as unknown as { StreamingPull(): ClientDuplexStream<unknown, Record<string, unknown>> }).StreamingPull();
      call.on('error', () => undefined);
      call.write({ subscription: `projects/${PS_PROJECT}/subscriptions/${subscription}`, streamAckDeadlineSeconds: 10 });
      return new Promise((resolve) =>
        call.once('data', (response: Record<string, unknown>) => {
          call.cancel();
          resolve(response);
        }),
      );
    };
    const responses = Promise.all([firstResponse('props-ordered'), firstResponse('props-plain')]);
    await topic.publishMessage({ data: Buffer.from('p') });
    const [ordered, plain] = await responses;
    raw.close();
    assert.deepEqual(ordered!.subscriptionProperties, { messageOrderingEnabled: true });
    assert.notEqual((plain!.subscriptionProperties as { messageOrderingEnabled?: boolean } | undefined)?.messageOrderingEnabled, true);
  });

  test('a filter delivers only matching messages; the rest are never delivered', async () => {
    const { pubsub } = ps;
    const [topic] = await pubsub.createTopic('filtered');
    await topic.createSubscription('only-alerts', { filter: 'attributes.kind = "alert" AND hasPrefix(attributes.zone, "eu-")' });
    await assert.rejects(topic.createSubscription('bad-filter', { filter: 'attributes.kind = ' }), codeOf(status.INVALID_ARGUMENT));
    await Promise.all([
      topic.publishMessage({ data: Buffer.from('1'), attributes: { kind: 'alert', zone: 'eu-west' } }),
      topic.publishMessage({ data: Buffer.from('2'), attributes: { kind: 'alert', zone: 'us-east' } }),
      topic.publishMessage({ data: Buffer.from('3'), attributes: { kind: 'info', zone: 'eu-west' } }),
      topic.publishMessage({ data: Buffer.from('4'), attributes: { kind: 'alert', zone: 'eu-north' } }),
    ]);
    // Pull returns at once what is available: both matches, and nothing else even on a second pull.
    const client = ps.subscriberClient();
    const subscription = `projects/${PS_PROJECT}/subscriptions/only-alerts`;
    const [first] = await client.pull({ subscription, maxMessages: 10 });
    const data = (first.receivedMessages ?? []).map((r) => Buffer.from(r.message!.data as Uint8Array).toString()).sort();
    assert.deepEqual(data, ['1', '4']);
    await client.acknowledge({ subscription, ackIds: first.receivedMessages!.map((r) => r.ackId!) });
    const [second] = await client.pull({ subscription, maxMessages: 10, returnImmediately: true });
    assert.equal(second.receivedMessages?.length ?? 0, 0);
  });

  test('IAM on a topic: the policy read and written with its etag; a stale etag is refused', async () => {
    const { pubsub } = ps;
    const [topic] = await pubsub.createTopic('guarded');
    const [empty] = await topic.iam.getPolicy();
    assert.equal(empty.bindings?.length ?? 0, 0);
    const binding = { role: 'roles/pubsub.publisher', members: ['serviceAccount:cloud-iot@system.gserviceaccount.com'] };
    const [written] = await topic.iam.setPolicy({ bindings: [binding], etag: empty.etag });
    assert.deepEqual(
      written.bindings?.map((b) => [b.role, b.members]),
      [[binding.role, binding.members]],
    );
    assert.notDeepEqual(Buffer.from(written.etag as Uint8Array), Buffer.from((empty.etag as Uint8Array | undefined) ?? []));
    await assert.rejects(topic.iam.setPolicy({ bindings: [], etag: empty.etag }), codeOf(status.ABORTED));
    const [read] = await topic.iam.getPolicy();
    assert.deepEqual(Buffer.from(read.etag as Uint8Array), Buffer.from(written.etag as Uint8Array));
    const [granted] = await topic.iam.testPermissions(['pubsub.topics.publish', 'pubsub.topics.delete']);
    assert.deepEqual(granted, { 'pubsub.topics.publish': true, 'pubsub.topics.delete': true }, 'an anonymous caller here is the admin');
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { apiErrorOn, invalidOn } from '../../support/assertions.js';
import type { ApiError } from '../../../src/domain/errors.js';
import type { Principal } from '../../../src/services/api-auth.js';
import { StreamRechecks } from '../../../src/services/pubsub/stream-rechecks.js';
import { ManualTime } from '../../support/manual-time.js';
import { ADMIN, bytes, harness, subName, T0, topicName } from './pubsub-admin-support.js';

const DAY = 24 * 3600 * 1000;
const sink = { deliver: () => true, end: () => undefined };

async function withTopic() {
  const h = harness();
  await h.admin.createTopic(ADMIN, { name: topicName('t-1') });
  await h.admin.createTopic(ADMIN, { name: topicName('dlq') });
  return h;
}

describe('PubSubAdmin subscriptions', () => {
  it('creates with Pub/Sub defaults, starting after the log head at creation', async () => {
    const h = await withTopic();
    await h.admin.publish(ADMIN, { topic: topicName('t-1'), messages: [{ data: bytes('before') }] });
    const sub = await h.admin.createSubscription(ADMIN, { name: subName('s-1'), topic: topicName('t-1') });
    assert.deepEqual(sub, {
      name: subName('s-1'),
      topic: topicName('t-1'),
      ackDeadlineSeconds: 10,
      retainAckedMessages: false,
      messageRetentionMs: 7 * DAY,
      labels: {},
      filter: '',
      enableMessageOrdering: false,
      deadLetterPolicy: undefined,
      retryPolicy: undefined,
      pushConfig: undefined,
      detached: false,
      startSeq: 1,
      createTime: T0,
      revision: 1,
      topicMessageRetentionMs: undefined,
    });
  });

  it("reports the topic's message retention (topic_message_retention_duration) from create, get, update and list; not once the topic is gone", async () => {
    const h = harness();
    await h.admin.createTopic(ADMIN, { name: topicName('kept'), messageRetentionDuration: { seconds: 2 * 86_400 } });
    await h.admin.createTopic(ADMIN, { name: topicName('plain') });
    const created = await h.admin.createSubscription(ADMIN, { name: subName('s-kept'), topic: topicName('kept') });
    await h.admin.createSubscription(ADMIN, { name: subName('s-plain'), topic: topicName('plain') });
    await h.admin.createSubscription(ADMIN, { name: subName('s-kept-2'), topic: topicName('kept') });
    assert.equal(created.topicMessageRetentionMs, 2 * DAY);
    assert.equal((await h.admin.getSubscription(ADMIN, { subscription: subName('s-kept') })).topicMessageRetentionMs, 2 * DAY);
    assert.equal((await h.admin.getSubscription(ADMIN, { subscription: subName('s-plain') })).topicMessageRetentionMs, undefined);
    // A change of the topic's retention shows in its subscriptions at once.
    await h.admin.updateTopic(ADMIN, { topic: { name: topicName('kept'), messageRetentionDuration: { seconds: 3 * 86_400 } }, updateMask: { paths: ['message_retention_duration'] } });
    const updated = await h.admin.updateSubscription(ADMIN, { subscription: { name: subName('s-kept'), ackDeadlineSeconds: 30 }, updateMask: { paths: ['ack_deadline_seconds'] } });
    assert.equal(updated.topicMessageRetentionMs, 3 * DAY);
    const listed = await h.admin.listSubscriptions(ADMIN, { project: 'projects/proj' });
    assert.deepEqual(
      listed.items.map((s) => [s.name, s.topicMessageRetentionMs]),
      [
        [subName('s-kept'), 3 * DAY],
        [subName('s-kept-2'), 3 * DAY],
        [subName('s-plain'), undefined],
      ],
    );
    // Deleted and created again: the new topic's retention is not the orphaned subscription's.
    await h.admin.deleteTopic(ADMIN, { topic: topicName('kept') });
    await h.admin.createTopic(ADMIN, { name: topicName('kept'), messageRetentionDuration: { seconds: 86_400 } });
    assert.equal((await h.admin.getSubscription(ADMIN, { subscription: subName('s-kept') })).topicMessageRetentionMs, undefined);
  });

  it('keeps every field given, filter and policies included', async () => {
    const h = await withTopic();
    const sub = await h.admin.createSubscription(ADMIN, {
      name: subName('s-1'),
      topic: topicName('t-1'),
      ackDeadlineSeconds: 60,
      filter: 'attributes.subFolder = "alerts"',
      enableMessageOrdering: true,
      deadLetterPolicy: { deadLetterTopic: topicName('dlq') },
      retryPolicy: { minimumBackoff: { seconds: 1 } },
      pushConfig: { pushEndpoint: 'https://push.example/x' },
      expirationPolicy: { ttl: { seconds: 86400 } },
    });
    assert.equal(sub.ackDeadlineSeconds, 60);
    assert.equal(sub.filter, 'attributes.subFolder = "alerts"');
    assert.equal(sub.enableMessageOrdering, true);
    assert.deepEqual(sub.deadLetterPolicy, { deadLetterTopic: topicName('dlq'), maxDeliveryAttempts: 5 });
    assert.deepEqual(sub.retryPolicy, { minimumBackoffMs: 1000, maximumBackoffMs: 600_000 });
    assert.deepEqual(sub.pushConfig, { pushEndpoint: 'https://push.example/x', attributes: {}, oidcToken: undefined });
  });

  it('refuses bad fields naming them, a missing topic or dead-letter topic, and a taken name', async () => {
    const h = await withTopic();
    const base = { name: subName('s-1'), topic: topicName('t-1') };
    await assert.rejects(h.admin.createSubscription(ADMIN, { ...base, filter: 'attributes:a AND attributes:b OR attributes:c' }), invalidOn('filter', /position/));
    await assert.rejects(h.admin.createSubscription(ADMIN, { ...base, ackDeadlineSeconds: 601 }), invalidOn('ack_deadline_seconds'));
    await assert.rejects(h.admin.createSubscription(ADMIN, { ...base, topic: 't-1' }), invalidOn('topic'));
    await assert.rejects(h.admin.createSubscription(ADMIN, { ...base, enableExactlyOnceDelivery: true }), invalidOn('enable_exactly_once_delivery'));
    await assert.rejects(h.admin.createSubscription(ADMIN, { ...base, topic: topicName('nope') }), apiErrorOn('NOT_FOUND', undefined));
    await assert.rejects(
      h.admin.createSubscription(ADMIN, { ...base, deadLetterPolicy: { deadLetterTopic: topicName('nope') } }),
      apiErrorOn('NOT_FOUND', 'dead_letter_policy.dead_letter_topic'),
    );
    await h.admin.createSubscription(ADMIN, base);
    await assert.rejects(h.admin.createSubscription(ADMIN, base), apiErrorOn('ALREADY_EXISTS', undefined));
  });

  it('updates the masked fields only, refuses immutable ones, and tells the engine', async () => {
    const h = await withTopic();
    await h.admin.createSubscription(ADMIN, { name: subName('s-1'), topic: topicName('t-1'), labels: { a: 'b' } });
    const updated = await h.admin.updateSubscription(ADMIN, {
      subscription: { name: subName('s-1'), ackDeadlineSeconds: 30, labels: {} },
      updateMask: { paths: ['ack_deadline_seconds'] },
    });
    assert.deepEqual([updated.ackDeadlineSeconds, updated.labels, updated.revision], [30, { a: 'b' }, 2]);
    assert.deepEqual(h.engine.named('subscriptionChanged'), [[subName('s-1')]]);
    for (const path of ['filter', 'topic', 'enable_message_ordering']) {
      await assert.rejects(h.admin.updateSubscription(ADMIN, { subscription: { name: subName('s-1') }, updateMask: { paths: [path] } }), invalidOn('update_mask'));
    }
    await assert.rejects(
      h.admin.updateSubscription(ADMIN, { subscription: { name: subName('s-1'), ackDeadlineSeconds: 5 }, updateMask: { paths: ['ack_deadline_seconds'] } }),
      invalidOn('subscription.ack_deadline_seconds'),
    );
    await h.admin.modifyPushConfig(ADMIN, { subscription: subName('s-1'), pushConfig: { pushEndpoint: 'http://127.0.0.1:9/push' } });
    assert.equal((await h.admin.getSubscription(ADMIN, { subscription: subName('s-1') })).pushConfig?.pushEndpoint, 'http://127.0.0.1:9/push');
    await h.admin.modifyPushConfig(ADMIN, { subscription: subName('s-1'), pushConfig: {} });
    assert.equal((await h.admin.getSubscription(ADMIN, { subscription: subName('s-1') })).pushConfig, undefined, 'an empty push config makes it a pull subscription');
    await assert.rejects(h.admin.modifyPushConfig(ADMIN, { subscription: subName('s-1'), pushConfig: { pushEndpoint: 'ftp://x/' } }), invalidOn('push_config.push_endpoint'));
  });

  it('a mask path inside a policy changes that field and keeps the rest of the policy', async () => {
    const h = await withTopic();
    await h.admin.createTopic(ADMIN, { name: topicName('dlq-2') });
    await h.admin.createSubscription(ADMIN, {
      name: subName('s-1'),
      topic: topicName('t-1'),
      deadLetterPolicy: { deadLetterTopic: topicName('dlq'), maxDeliveryAttempts: 5 },
      retryPolicy: { minimumBackoff: { seconds: 5 }, maximumBackoff: { seconds: 60 } },
      pushConfig: { pushEndpoint: 'https://push.example/x', attributes: { 'x-goog-version': 'v1' } },
    });
    const update = (subscription: object, paths: string[]) => h.admin.updateSubscription(ADMIN, { subscription: { name: subName('s-1'), ...subscription }, updateMask: { paths } });

    let sub = await update({ deadLetterPolicy: { maxDeliveryAttempts: 10 } }, ['dead_letter_policy.max_delivery_attempts']);
    assert.deepEqual(sub.deadLetterPolicy, { deadLetterTopic: topicName('dlq'), maxDeliveryAttempts: 10 });
    sub = await update({ deadLetterPolicy: { deadLetterTopic: topicName('dlq-2') } }, ['deadLetterPolicy.deadLetterTopic']);
    assert.deepEqual(sub.deadLetterPolicy, { deadLetterTopic: topicName('dlq-2'), maxDeliveryAttempts: 10 });
    await assert.rejects(
      update({ deadLetterPolicy: { deadLetterTopic: topicName('nope') } }, ['dead_letter_policy.dead_letter_topic']),
      apiErrorOn('NOT_FOUND', 'subscription.dead_letter_policy.dead_letter_topic'),
    );

    sub = await update({ retryPolicy: { maximumBackoff: { seconds: 120 } } }, ['retry_policy.maximum_backoff']);
    assert.deepEqual(sub.retryPolicy, { minimumBackoffMs: 5_000, maximumBackoffMs: 120_000 });
    await assert.rejects(update({ retryPolicy: { maximumBackoff: { seconds: 2 } } }, ['retry_policy.maximum_backoff']), invalidOn('subscription.retry_policy.minimum_backoff'));
    // Under the default minimum (10 s), but over the kept one: not refused.
    sub = await update({ retryPolicy: { maximumBackoff: { seconds: 8 } } }, ['retry_policy.maximum_backoff']);
    assert.deepEqual(sub.retryPolicy, { minimumBackoffMs: 5_000, maximumBackoffMs: 8_000 });

    sub = await update({ pushConfig: { attributes: { 'x-goog-version': 'v1beta1' } } }, ['push_config.attributes']);
    assert.deepEqual(sub.pushConfig, { pushEndpoint: 'https://push.example/x', attributes: { 'x-goog-version': 'v1beta1' }, oidcToken: undefined });
    sub = await update({ pushConfig: { pushEndpoint: 'https://push.example/y' } }, ['push_config.push_endpoint']);
    assert.deepEqual(sub.pushConfig, { pushEndpoint: 'https://push.example/y', attributes: { 'x-goog-version': 'v1beta1' }, oidcToken: undefined });

    // The whole field named too: replaced whole, as before.
    sub = await update({ retryPolicy: { maximumBackoff: { seconds: 30 } } }, ['retry_policy', 'retry_policy.maximum_backoff']);
    assert.deepEqual(sub.retryPolicy, { minimumBackoffMs: 10_000, maximumBackoffMs: 30_000 });
    // A sub-path left unset clears that field only: the policy's default comes back.
    sub = await update({}, ['dead_letter_policy.max_delivery_attempts']);
    assert.deepEqual(sub.deadLetterPolicy, { deadLetterTopic: topicName('dlq-2'), maxDeliveryAttempts: 5 });
  });

  it('expiration_policy (subscriptions) and message_storage_policy (topics) are accepted on update and ignored, as on create', async () => {
    const h = await withTopic();
    await h.admin.createSubscription(ADMIN, { name: subName('s-1'), topic: topicName('t-1'), labels: { a: 'b' } });
    const sub = await h.admin.updateSubscription(ADMIN, {
      subscription: { name: subName('s-1'), expirationPolicy: { ttl: { seconds: 86400 } }, labels: { c: 'd' } },
      updateMask: { paths: ['expiration_policy', 'labels'] },
    });
    assert.deepEqual(sub.labels, { c: 'd' });
    await h.admin.updateSubscription(ADMIN, { subscription: { name: subName('s-1'), expirationPolicy: {} }, updateMask: { paths: ['expiration_policy.ttl'] } });
    const topic = await h.admin.updateTopic(ADMIN, {
      topic: { name: topicName('t-1'), messageStoragePolicy: { allowedPersistenceRegions: ['europe-west1'] }, labels: { e: 'f' } },
      updateMask: { paths: ['message_storage_policy', 'labels'] },
    });
    assert.deepEqual(topic.labels, { e: 'f' });
  });

  it('lists, deletes (telling the engine) and detaches (then Pull fails with FAILED_PRECONDITION)', async () => {
    const h = await withTopic();
    for (const id of ['s-1', 's-2']) await h.admin.createSubscription(ADMIN, { name: subName(id), topic: topicName('t-1') });
    assert.deepEqual((await h.admin.listSubscriptions(ADMIN, { project: 'projects/proj' })).items.map((s) => s.name), [subName('s-1'), subName('s-2')]);
    await h.admin.deleteSubscription(ADMIN, { subscription: subName('s-2') });
    assert.deepEqual(h.engine.named('subscriptionDeleted'), [[subName('s-2')]]);
    await assert.rejects(h.admin.deleteSubscription(ADMIN, { subscription: subName('s-2') }), apiErrorOn('NOT_FOUND', undefined));

    await h.admin.detachSubscription(ADMIN, { subscription: subName('s-1') });
    const detached = await h.admin.getSubscription(ADMIN, { subscription: subName('s-1') });
    assert.deepEqual([detached.detached, detached.topic], [true, topicName('t-1')]);
    assert.deepEqual(h.engine.named('subscriptionChanged'), [[subName('s-1')]]);
    await assert.rejects(h.admin.pull(ADMIN, { subscription: subName('s-1'), maxMessages: 1 }, AbortSignal.timeout(1000)), apiErrorOn('FAILED_PRECONDITION', undefined));
    await assert.rejects(h.admin.detachSubscription(ADMIN, { subscription: subName('s-9') }), apiErrorOn('NOT_FOUND', undefined));
  });
});

describe('PubSubAdmin consuming: what reaches the engine', () => {
  it('Pull: max_messages required and capped at 1,000; returnImmediately waits 0, otherwise the bounded wait', async () => {
    const h = await withTopic();
    await h.admin.createSubscription(ADMIN, { name: subName('s-1'), topic: topicName('t-1') });
    const signal = AbortSignal.timeout(60_000);
    await assert.rejects(h.admin.pull(ADMIN, { subscription: subName('s-1') }, signal), invalidOn('max_messages'));
    await h.admin.pull(ADMIN, { subscription: subName('s-1'), maxMessages: 5000, returnImmediately: true }, signal);
    await h.admin.pull(ADMIN, { subscription: subName('s-1'), maxMessages: 3 }, signal);
    assert.deepEqual(h.engine.named('pull'), [
      [subName('s-1'), 1000, 0],
      [subName('s-1'), 3, 10_000],
    ]);
    await assert.rejects(h.admin.pull(ADMIN, { subscription: subName('nope'), maxMessages: 1 }, signal), apiErrorOn('NOT_FOUND', undefined));
  });

  it('Acknowledge and ModifyAckDeadline: ack IDs required; deadlines 0..600 with 1..9 raised to 10', async () => {
    const h = await withTopic();
    await h.admin.createSubscription(ADMIN, { name: subName('s-1'), topic: topicName('t-1') });
    const s = subName('s-1');
    await assert.rejects(h.admin.acknowledge(ADMIN, { subscription: s, ackIds: [] }), invalidOn('ack_ids'));
    await h.admin.acknowledge(ADMIN, { subscription: s, ackIds: ['x', 'not-even-an-ack-id'] });
    await h.admin.modifyAckDeadline(ADMIN, { subscription: s, ackIds: ['x'], ackDeadlineSeconds: 0 });
    await h.admin.modifyAckDeadline(ADMIN, { subscription: s, ackIds: ['x'], ackDeadlineSeconds: 5 });
    await h.admin.modifyAckDeadline(ADMIN, { subscription: s, ackIds: ['x'], ackDeadlineSeconds: 600 });
    await assert.rejects(h.admin.modifyAckDeadline(ADMIN, { subscription: s, ackIds: ['x'], ackDeadlineSeconds: 601 }), invalidOn('ack_deadline_seconds'));
    await assert.rejects(h.admin.acknowledge(ADMIN, { subscription: subName('nope'), ackIds: ['x'] }), apiErrorOn('NOT_FOUND', undefined));
    assert.deepEqual(h.engine.named('acknowledge'), [[s, ['x', 'not-even-an-ack-id']]]);
    assert.deepEqual(h.engine.named('modifyAckDeadline'), [
      [s, ['x'], 0],
      [s, ['x'], 10],
      [s, ['x'], 600],
    ]);
  });

  it('StreamingPull: the first request sets the lease and flow control; its acks and later requests are checked and passed on', async () => {
    const h = await withTopic();
    await h.admin.createSubscription(ADMIN, { name: subName('s-1'), topic: topicName('t-1') });
    const s = subName('s-1');
    await assert.rejects(h.admin.streamingPull(ADMIN, { subscription: s }, sink), invalidOn('stream_ack_deadline_seconds'));
    await assert.rejects(h.admin.streamingPull(ADMIN, { subscription: s, streamAckDeadlineSeconds: 9 }, sink), invalidOn('stream_ack_deadline_seconds'));
    const session = await h.admin.streamingPull(
      ADMIN,
      { subscription: s, streamAckDeadlineSeconds: 60, maxOutstandingMessages: '1000', maxOutstandingBytes: -1, ackIds: ['a1'] },
      sink,
    );
    assert.deepEqual(h.engine.named('open'), [[s, { ackDeadlineSeconds: 60, maxOutstandingMessages: 1000, maxOutstandingBytes: 0 }]]);
    session.request({ modifyDeadlineAckIds: ['a2', 'a3'], modifyDeadlineSeconds: [0, 3] });
    assert.throws(() => session.request({ modifyDeadlineAckIds: ['a2'], modifyDeadlineSeconds: [] }), invalidOn('modify_deadline_seconds'));
    assert.throws(() => session.request({ modifyDeadlineAckIds: ['a2'], modifyDeadlineSeconds: [601] }), invalidOn('modify_deadline_seconds[0]'));
    assert.deepEqual(h.engine.named('session.request'), [
      [{ ackIds: ['a1'], modifyDeadlineAckIds: [], modifyDeadlineSeconds: [] }],
      [{ modifyDeadlineAckIds: ['a2', 'a3'], modifyDeadlineSeconds: [0, 10] }],
    ]);
  });

  it('StreamingPull is held to its caller\'s access while open: a removed role or a revoked key ends it; a closed one is not checked again', async () => {
    const time = new ManualTime(T0);
    const rechecks = new StreamRechecks(time, 30_000, () => undefined);
    const h = harness({ streamRechecks: rechecks });
    await h.admin.createTopic(ADMIN, { name: topicName('t-1') });
    for (const id of ['s-1', 's-2']) await h.admin.createSubscription(ADMIN, { name: subName(id), topic: topicName('t-1') });
    const robot = (keyId: string): Principal => ({ kind: 'service-account', email: 'robot-01@proj.iam.gserviceaccount.com', project: 'proj', keyId });
    const ended: string[] = [];
    const sinkOf = (tag: string) => ({ deliver: () => true, end: (e: ApiError) => void ended.push(`${tag} ${e.kind}: ${e.message}`) });
    const open = (caller: Principal, id: string, tag: string) =>
      h.admin.streamingPull(caller, { subscription: subName(id), streamAckDeadlineSeconds: 10 }, sinkOf(tag));
    await open(robot('k-1'), 's-1', 'role');
    await open(robot('k-2'), 's-2', 'key');
    const admins = await open(ADMIN, 's-2', 'admin');
    assert.equal(rechecks.size, 3);
    await time.advance(30_000);
    assert.deepEqual(ended, [], 'nothing changed: every stream stays');

    h.auth.denied.add(`pubsub.subscriptions.consume ${subName('s-1')}`);
    h.auth.revokedKeys.add('k-2');
    await time.advance(29_999);
    assert.deepEqual(ended, [], 'not before the next round');
    await time.advance(1);
    assert.deepEqual(ended, [
      `role PERMISSION_DENIED: Permission "pubsub.subscriptions.consume" denied on resource "${subName('s-1')}" (or it may not exist).`,
      'key UNAUTHENTICATED: Service-account key "k-2" is disabled.',
    ]);
    assert.equal(rechecks.size, 1, 'the admin\'s stream is still followed');
    admins.close();
    assert.equal(rechecks.size, 0, 'closing the session stops its checks');
    assert.equal(time.pending, 0);
  });

  it('StreamingPull: a subscription deleted or detached without the engine being told (a gap in the bus) still ends its streams at the next check', async () => {
    const time = new ManualTime(T0);
    const h = harness({ streamRechecks: new StreamRechecks(time, 30_000, () => undefined) });
    await h.admin.createTopic(ADMIN, { name: topicName('t-1') });
    for (const id of ['s-1', 's-2', 's-3']) await h.admin.createSubscription(ADMIN, { name: subName(id), topic: topicName('t-1') });
    const ended: string[] = [];
    for (const id of ['s-1', 's-2', 's-3']) {
      await h.admin.streamingPull(ADMIN, { subscription: subName(id), streamAckDeadlineSeconds: 10 }, { deliver: () => true, end: (e: ApiError) => void ended.push(`${id} ${e.kind}`) });
    }
    // Written to the store directly: the engine (and so the streams) hear nothing of it.
    await h.store.deleteSubscription(subName('s-1'));
    const s2 = (await h.store.getSubscription(subName('s-2')))!;
    await h.store.updateSubscription({ ...s2, detached: true });
    await time.advance(30_000);
    assert.deepEqual(ended, ['s-1 NOT_FOUND', 's-2 FAILED_PRECONDITION']);
  });
});

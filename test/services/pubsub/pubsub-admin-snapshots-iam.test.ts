import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../../../src/adapters/store/memory/memory-store.js';
import { ApiAuth } from '../../../src/services/api-auth.js';
import { PubSubAdmin } from '../../../src/services/pubsub/pubsub-admin.js';
import { apiErrorOn, invalidOn } from '../../support/assertions.js';
import { ADMIN, bytes, harness, SA, snapName, subName, T0, topicName } from './pubsub-admin-support.js';

const DAY = 24 * 3600 * 1000;

async function withSubscription(extra: { retainAckedMessages?: boolean } = {}) {
  const h = harness();
  await h.admin.createTopic(ADMIN, { name: topicName('t-1') });
  await h.admin.createTopic(ADMIN, { name: topicName('t-2') });
  await h.admin.createSubscription(ADMIN, { name: subName('s-1'), topic: topicName('t-1'), ...extra });
  await h.admin.createSubscription(ADMIN, { name: subName('other'), topic: topicName('t-2') });
  return h;
}

describe('PubSubAdmin snapshots and seek', () => {
  it('a snapshot captures the engine ack state and the topic, expiring 7 days later', async () => {
    const h = await withSubscription();
    h.engine.state = { floor: 3, acked: [5] };
    const snap = await h.admin.createSnapshot(ADMIN, { name: snapName('snap-1'), subscription: subName('s-1'), labels: { k: 'v' } });
    assert.deepEqual(snap, { name: snapName('snap-1'), topic: topicName('t-1'), expireTime: T0 + 7 * DAY, labels: { k: 'v' }, ackState: { floor: 3, acked: [5] } });
    assert.deepEqual(await h.admin.getSnapshot(ADMIN, { snapshot: snapName('snap-1') }), snap);
    assert.deepEqual((await h.admin.listSnapshots(ADMIN, { project: 'projects/proj' })).items, [snap]);
    assert.deepEqual(await h.admin.listTopicSnapshots(ADMIN, { topic: topicName('t-1') }), { items: [snapName('snap-1')], nextPageToken: '' });
    await assert.rejects(h.admin.createSnapshot(ADMIN, { name: snapName('snap-1'), subscription: subName('s-1') }), apiErrorOn('ALREADY_EXISTS', undefined));
    await assert.rejects(h.admin.createSnapshot(ADMIN, { name: snapName('snap-2'), subscription: subName('nope') }), apiErrorOn('NOT_FOUND', undefined));
  });

  it('UpdateSnapshot changes labels and a future expire time within 7 days; expired snapshots are gone', async () => {
    const h = await withSubscription();
    await h.admin.createSnapshot(ADMIN, { name: snapName('snap-1'), subscription: subName('s-1') });
    const later = T0 + DAY;
    const updated = await h.admin.updateSnapshot(ADMIN, {
      snapshot: { name: snapName('snap-1'), labels: { a: 'b' }, expireTime: { seconds: later / 1000 } },
      updateMask: { paths: ['labels', 'expire_time'] },
    });
    assert.deepEqual([updated.labels, updated.expireTime], [{ a: 'b' }, later]);
    for (const seconds of [T0 / 1000 - 1, (T0 + 8 * DAY) / 1000]) {
      await assert.rejects(
        h.admin.updateSnapshot(ADMIN, { snapshot: { name: snapName('snap-1'), expireTime: { seconds } }, updateMask: { paths: ['expire_time'] } }),
        invalidOn('snapshot.expire_time'),
      );
    }
    h.advance(DAY + 1);
    await assert.rejects(h.admin.getSnapshot(ADMIN, { snapshot: snapName('snap-1') }), apiErrorOn('NOT_FOUND', undefined));
  });

  it('Seek to a snapshot hands its ack state to the engine; a snapshot of another topic is FAILED_PRECONDITION', async () => {
    const h = await withSubscription();
    h.engine.state = { floor: 7, acked: [9] };
    await h.admin.createSnapshot(ADMIN, { name: snapName('mine'), subscription: subName('s-1') });
    await h.admin.createSnapshot(ADMIN, { name: snapName('theirs'), subscription: subName('other') });
    await h.admin.seek(ADMIN, { subscription: subName('s-1'), snapshot: snapName('mine') });
    assert.deepEqual(h.engine.named('seek'), [[subName('s-1'), { floor: 7, acked: [9] }]]);
    await assert.rejects(h.admin.seek(ADMIN, { subscription: subName('s-1'), snapshot: snapName('theirs') }), apiErrorOn('FAILED_PRECONDITION', 'snapshot'));
    await assert.rejects(h.admin.seek(ADMIN, { subscription: subName('s-1'), snapshot: snapName('none') }), apiErrorOn('NOT_FOUND', undefined));
    await assert.rejects(h.admin.seek(ADMIN, { subscription: subName('s-1') }), invalidOn('target'));
    await assert.rejects(h.admin.seek(ADMIN, { subscription: subName('s-1'), snapshot: snapName('mine'), time: { seconds: 1 } }), invalidOn('target'));
  });

  it('Seek to a time: messages published before it are acked, after it not (acked messages retained)', async () => {
    const h = await withSubscription({ retainAckedMessages: true });
    for (let i = 1; i <= 3; i++) {
      h.advance(1000);
      await h.admin.publish(ADMIN, { topic: topicName('t-1'), messages: [{ data: bytes(`m${i}`) }] });
    }
    h.engine.state = { floor: 3, acked: [] };
    // The second message was published at T0 + 2000: seeking to just after it acks it and the first.
    await h.admin.seek(ADMIN, { subscription: subName('s-1'), time: { seconds: (T0 + 2000) / 1000, nanos: 500_000_000 } });
    assert.deepEqual(h.engine.named('seek'), [[subName('s-1'), { floor: 2, acked: [] }]]);
  });

  it('Seek to a time without retention keeps acked messages acked', async () => {
    const h = await withSubscription();
    for (let i = 1; i <= 3; i++) {
      h.advance(1000);
      await h.admin.publish(ADMIN, { topic: topicName('t-1'), messages: [{ data: bytes(`m${i}`) }] });
    }
    h.engine.state = { floor: 0, acked: [3] };
    await h.admin.seek(ADMIN, { subscription: subName('s-1'), time: { seconds: T0 / 1000 } });
    assert.deepEqual(h.engine.named('seek'), [[subName('s-1'), { floor: 0, acked: [3] }]]);
  });
});

describe('PubSubAdmin authorization: the permission Google checks, on the resource it checks it on', () => {
  it('each call asks its permissions', async () => {
    const h = await withSubscription();
    h.auth.checks.length = 0;
    await h.admin.createSubscription(SA, { name: subName('s-2'), topic: topicName('t-1') });
    await h.admin.publish(SA, { topic: topicName('t-1'), messages: [{ data: bytes('x') }] });
    await h.admin.pull(SA, { subscription: subName('s-1'), maxMessages: 1, returnImmediately: true }, AbortSignal.timeout(1000));
    await h.admin.createSnapshot(SA, { name: snapName('snap'), subscription: subName('s-1') });
    await h.admin.seek(SA, { subscription: subName('s-1'), snapshot: snapName('snap') });
    await h.admin.detachSubscription(SA, { subscription: subName('s-2') });
    await h.admin.listTopicSubscriptions(SA, { topic: topicName('t-1') });
    assert.deepEqual(h.auth.checks, [
      'pubsub.subscriptions.create projects/proj',
      `pubsub.topics.attachSubscription ${topicName('t-1')}`,
      `pubsub.topics.publish ${topicName('t-1')}`,
      `pubsub.subscriptions.consume ${subName('s-1')}`,
      'pubsub.snapshots.create projects/proj',
      `pubsub.subscriptions.consume ${subName('s-1')}`,
      `pubsub.subscriptions.consume ${subName('s-1')}`,
      `pubsub.snapshots.seek ${snapName('snap')}`,
      `pubsub.subscriptions.get ${subName('s-2')}`,
      `pubsub.topics.detachSubscription ${topicName('t-1')}`,
      `pubsub.topics.get ${topicName('t-1')}`,
    ]);
  });

  it('a refused permission changes nothing, and is refused before NOT_FOUND can tell what exists', async () => {
    const h = await withSubscription();
    h.auth.denied.add(`pubsub.topics.publish ${topicName('t-1')}`);
    await assert.rejects(h.admin.publish(SA, { topic: topicName('t-1'), messages: [{ data: bytes('x') }] }), apiErrorOn('PERMISSION_DENIED', undefined));
    assert.equal(await h.log.headSeq(topicName('t-1')), 0);
    h.auth.denied.add(`pubsub.subscriptions.get ${subName('ghost')}`);
    await assert.rejects(h.admin.detachSubscription(SA, { subscription: subName('ghost') }), apiErrorOn('PERMISSION_DENIED', undefined));
    h.auth.denied.add(`pubsub.topics.attachSubscription ${topicName('t-1')}`);
    await assert.rejects(h.admin.createSubscription(SA, { name: subName('s-9'), topic: topicName('t-1') }), apiErrorOn('PERMISSION_DENIED', undefined));
    await assert.rejects(h.admin.getSubscription(ADMIN, { subscription: subName('s-9') }), apiErrorOn('NOT_FOUND', undefined));
  });

  it('detaching a subscription the caller may not see tells nothing of it or of its topic', async () => {
    const h = await withSubscription();
    h.auth.denied.add(`pubsub.subscriptions.get ${subName('s-1')}`);
    await assert.rejects(h.admin.detachSubscription(SA, { subscription: subName('s-1') }), (e: Error) => e.message.includes(subName('s-1')) && !e.message.includes('t-1'));
    assert.equal((await h.store.getSubscription(subName('s-1')))?.detached, false);
  });

  it('a dead-letter topic takes pubsub.topics.publish on it, asked before whether it exists', async () => {
    const h = await withSubscription();
    const foreign = topicName('their-topic', 'other-proj');
    await h.admin.createTopic(ADMIN, { name: foreign });
    h.auth.denied.add(`pubsub.topics.publish ${foreign}`);
    const dlq = (topic: string) => ({ deadLetterPolicy: { deadLetterTopic: topic } });
    await assert.rejects(h.admin.createSubscription(SA, { name: subName('s-9'), topic: topicName('t-1'), ...dlq(foreign) }), apiErrorOn('PERMISSION_DENIED', undefined));
    const ghost = topicName('ghost', 'other-proj');
    h.auth.denied.add(`pubsub.topics.publish ${ghost}`);
    await assert.rejects(h.admin.createSubscription(SA, { name: subName('s-9'), topic: topicName('t-1'), ...dlq(ghost) }), apiErrorOn('PERMISSION_DENIED', undefined));
    await assert.rejects(
      h.admin.updateSubscription(SA, { subscription: { name: subName('s-1'), ...dlq(foreign) }, updateMask: { paths: ['dead_letter_policy'] } }),
      apiErrorOn('PERMISSION_DENIED', undefined),
    );
    await assert.rejects(
      h.admin.updateSubscription(SA, { subscription: { name: subName('s-1'), deadLetterPolicy: { deadLetterTopic: foreign } }, updateMask: { paths: ['dead_letter_policy.dead_letter_topic'] } }),
      apiErrorOn('PERMISSION_DENIED', undefined),
    );
    assert.equal((await h.admin.getSubscription(ADMIN, { subscription: subName('s-1') })).deadLetterPolicy, undefined);
    // Where the caller may publish, the topic is taken.
    const sub = await h.admin.createSubscription(SA, { name: subName('s-9'), topic: topicName('t-1'), ...dlq(topicName('t-2')) });
    assert.equal(sub.deadLetterPolicy?.deadLetterTopic, topicName('t-2'));
  });

  it('naming a push identity takes iam.serviceAccounts.actAs on that account; keeping it takes nothing more', async () => {
    const h = await withSubscription();
    const victim = 'victim-bot@other-proj.iam.gserviceaccount.com';
    const push = (email: string, attributes: Record<string, string> = {}) => ({ pushConfig: { pushEndpoint: 'https://push.example/x', attributes, oidcToken: { serviceAccountEmail: email } } });
    const actAs = `iam.serviceAccounts.actAs projects/other-proj/serviceAccounts/${victim}`;
    h.auth.denied.add(actAs);
    await assert.rejects(h.admin.createSubscription(SA, { name: subName('s-9'), topic: topicName('t-1'), ...push(victim) }), apiErrorOn('PERMISSION_DENIED', undefined));
    await assert.rejects(
      h.admin.updateSubscription(SA, { subscription: { name: subName('s-1'), ...push(victim) }, updateMask: { paths: ['push_config'] } }),
      apiErrorOn('PERMISSION_DENIED', undefined),
    );
    await assert.rejects(h.admin.modifyPushConfig(SA, { subscription: subName('s-1'), ...push(victim) }), apiErrorOn('PERMISSION_DENIED', undefined));
    assert.equal((await h.admin.getSubscription(ADMIN, { subscription: subName('s-1') })).pushConfig, undefined);

    // Allowed to act as it (as the admin token is), a caller names it; another caller may then
    // change the rest of the push config.
    h.auth.denied.delete(actAs);
    await h.admin.modifyPushConfig(ADMIN, { subscription: subName('s-1'), ...push(victim) });
    h.auth.denied.add(actAs);
    h.auth.checks.length = 0;
    const updated = await h.admin.updateSubscription(SA, { subscription: { name: subName('s-1'), ...push(victim, { 'x-goog-version': 'v1' }) }, updateMask: { paths: ['push_config'] } });
    assert.equal(updated.pushConfig?.oidcToken?.serviceAccountEmail, victim);
    assert.ok(!h.auth.checks.includes(actAs));
  });

  it('with ApiAuth: no role carries actAs, so only the admin token names a push identity (docs/compat.md C-SA-ADMIN)', async () => {
    const h = await withSubscription();
    const sa = SA.kind === 'service-account' ? SA : undefined;
    const credentials = { authenticateJwt: async () => sa!, authenticateAccessToken: () => undefined, requireUsableKey: async () => undefined };
    const policies = new MemoryStore();
    await policies.setProjectIamPolicy('proj', { version: 1, bindings: [{ role: 'roles/owner', members: [`serviceAccount:${sa!.email}`] }] }, undefined);
    const auth = new ApiAuth('admin-token-0123456789', { credentials, policies, resourcePolicies: h.store });
    const admin = new PubSubAdmin({ store: h.store, sink: h.log, log: h.log, engine: h.engine, auth, clock: { now: () => T0 } });
    const pushConfig = { pushEndpoint: 'https://push.example/x', oidcToken: { serviceAccountEmail: sa!.email } };
    await assert.rejects(admin.createSubscription(SA, { name: subName('s-9'), topic: topicName('t-1'), pushConfig }), apiErrorOn('PERMISSION_DENIED', undefined));
    assert.ok(await admin.createSubscription(SA, { name: subName('s-9'), topic: topicName('t-1'), pushConfig: { pushEndpoint: 'https://push.example/x' } }));
  });

  it('with ApiAuth: a publisher role on the topic lets a service account publish there and nothing more', async () => {
    const h = await withSubscription();
    const sa = SA.kind === 'service-account' ? SA : undefined;
    const credentials = { authenticateJwt: async () => sa!, authenticateAccessToken: () => undefined, requireUsableKey: async () => undefined };
    const auth = new ApiAuth('admin-token-0123456789', { credentials, policies: new MemoryStore(), resourcePolicies: h.store });
    const admin = new PubSubAdmin({ store: h.store, sink: h.log, log: h.log, engine: h.engine, auth, clock: { now: () => T0 } });
    await h.admin.setIamPolicy(ADMIN, { resource: topicName('t-1'), policy: { bindings: [{ role: 'roles/pubsub.publisher', members: [`serviceAccount:${sa!.email}`] }] } });
    assert.deepEqual(await admin.publish(SA, { topic: topicName('t-1'), messages: [{ data: bytes('x') }] }), ['1']);
    await assert.rejects(admin.publish(SA, { topic: topicName('t-2'), messages: [{ data: bytes('x') }] }), apiErrorOn('PERMISSION_DENIED', undefined));
    await assert.rejects(admin.deleteTopic(SA, { topic: topicName('t-1') }), apiErrorOn('PERMISSION_DENIED', undefined));
    assert.deepEqual(
      await admin.testIamPermissions(SA, { resource: topicName('t-1'), permissions: ['pubsub.topics.publish', 'pubsub.topics.delete', 'cloudiot.devices.get', 'bogus'] }),
      ['pubsub.topics.publish'],
    );
  });
});

describe('PubSubAdmin IAM policies', () => {
  it('set and get with etags on topics, subscriptions and snapshots', async () => {
    const h = await withSubscription();
    await h.admin.createSnapshot(ADMIN, { name: snapName('snap'), subscription: subName('s-1') });
    for (const resource of [topicName('t-1'), subName('s-1'), snapName('snap')]) {
      const empty = await h.admin.getIamPolicy(ADMIN, { resource });
      assert.deepEqual(empty.bindings, []);
      const set = await h.admin.setIamPolicy(ADMIN, { resource, policy: { bindings: [{ role: 'roles/pubsub.viewer', members: ['allUsers'] }], etag: empty.etag } });
      assert.deepEqual((await h.admin.getIamPolicy(ADMIN, { resource })).bindings, [{ role: 'roles/pubsub.viewer', members: ['allUsers'] }]);
      await assert.rejects(h.admin.setIamPolicy(ADMIN, { resource, policy: { bindings: [], etag: empty.etag } }), apiErrorOn('ABORTED', 'policy.etag'));
      assert.notDeepEqual(set.etag, empty.etag);
    }
  });

  it('asks the collection permission; refuses names that are no Pub/Sub resource and unknown resources', async () => {
    const h = await withSubscription();
    h.auth.checks.length = 0;
    await h.admin.getIamPolicy(SA, { resource: subName('s-1') });
    await h.admin.setIamPolicy(SA, { resource: topicName('t-1'), policy: { bindings: [] } });
    assert.deepEqual(h.auth.checks, [`pubsub.subscriptions.getIamPolicy ${subName('s-1')}`, `pubsub.topics.setIamPolicy ${topicName('t-1')}`]);
    await assert.rejects(h.admin.getIamPolicy(ADMIN, { resource: 'projects/proj/locations/l/registries/r' }), invalidOn('resource'));
    await assert.rejects(h.admin.getIamPolicy(ADMIN, {}), invalidOn('resource'));
    await assert.rejects(h.admin.getIamPolicy(ADMIN, { resource: topicName('nope') }), apiErrorOn('NOT_FOUND', undefined));
    await assert.rejects(h.admin.setIamPolicy(ADMIN, { resource: topicName('t-1') }), invalidOn('policy'));
    await assert.rejects(
      h.admin.setIamPolicy(ADMIN, { resource: topicName('t-1'), policy: { bindings: [{ role: 'roles/pubsub.viewer', members: [], condition: { title: 'no expression' } }] } }),
      invalidOn('policy.bindings[0].condition.expression'),
    );
    await assert.rejects(h.admin.testIamPermissions(ADMIN, { resource: topicName('nope'), permissions: ['pubsub.topics.get'] }), apiErrorOn('NOT_FOUND', undefined));
  });
});

describe('PubSubAdmin: an expired snapshot', () => {
  it('frees its name for a new snapshot', async () => {
    const h = await withSubscription();
    await h.admin.createSnapshot(ADMIN, { name: snapName('snap-1'), subscription: subName('s-1') });
    h.advance(7 * DAY + 1);
    const again = await h.admin.createSnapshot(ADMIN, { name: snapName('snap-1'), subscription: subName('s-1') });
    assert.equal(again.expireTime, h.now() + 7 * DAY);
  });
});

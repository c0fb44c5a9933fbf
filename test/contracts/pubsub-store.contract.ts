import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { DELETED_TOPIC } from '../../src/domain/pubsub/pubsub-model.js';
import type { PubSubStore } from '../../src/services/pubsub/pubsub-ports.js';
import {
  allPages,
  bytesOf,
  fullSub,
  newSnapshot,
  newSub,
  newTopic,
  rejectsWithReason,
  snapName,
  subName,
  T0,
  topicName,
  viewerPolicy,
  type PubSubContractContext,
  type PubSubStoreUnderTest,
} from './pubsub-store-fixtures.js';
import { pubsubStateContract } from './pubsub-store-state.contract.js';

export type { PubSubStoreUnderTest } from './pubsub-store-fixtures.js';

/**
 * The PubSubStore port contract: the memory store (the services' tests) and SQLite (production)
 * must behave alike, down to error reasons and the ack-state representation.
 */
export function pubsubStoreContract(name: string, make: () => Promise<PubSubStoreUnderTest>): void {
  // Async so one probe decides whether the persistence suite exists (registered, not skipped).
  describe(`PubSubStore contract: ${name}`, async () => {
    const probe = await make();
    const persistent = probe.reopen !== undefined;
    await probe.store.close();

    const opened: PubSubStore[] = [];
    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close();
    });
    const ctx: PubSubContractContext = {
      async freshWithReopen() {
        const handle = await make();
        opened.push(handle.store);
        const reopen = handle.reopen;
        if (!reopen) return handle;
        return {
          store: handle.store,
          reopen: async () => {
            const s = await reopen();
            opened.push(s);
            return s;
          },
        };
      },
      async fresh() {
        return (await ctx.freshWithReopen()).store;
      },
    };

    topicContract(ctx);
    subscriptionContract(ctx);
    pubsubStateContract(ctx, { persistent });
  });
}

function topicContract({ fresh }: PubSubContractContext): void {
  describe('topics', () => {
    it('create stores revision 1; get returns an equal copy that callers cannot alias', async () => {
      const store = await fresh();
      const input = newTopic(topicName('t-1'), { labels: { a: '1' }, messageRetentionMs: 3_600_000 });
      const created = await store.createTopic(input);
      assert.deepEqual(created, { ...input, revision: 1 });
      input.labels.a = 'changed by caller';
      created.labels.b = 'also changed';
      assert.deepEqual(await store.getTopic(topicName('t-1')), { ...newTopic(topicName('t-1'), { labels: { a: '1' }, messageRetentionMs: 3_600_000 }), revision: 1 });
      const got = (await store.getTopic(topicName('t-1')))!;
      got.labels.c = 'x';
      assert.deepEqual((await store.getTopic(topicName('t-1')))?.labels, { a: '1' });
      assert.equal(await store.getTopic(topicName('absent')), undefined);
      assert.equal((await store.createTopic(newTopic(topicName('t-2')))).messageRetentionMs, undefined);
    });

    it('a taken name is ALREADY_EXISTS (TOPIC_EXISTS) and the stored topic is untouched', async () => {
      const store = await fresh();
      await store.createTopic(newTopic(topicName('t'), { labels: { v: '1' } }));
      await rejectsWithReason(store.createTopic(newTopic(topicName('t'), { labels: { v: '2' } })), 'TOPIC_EXISTS');
      assert.deepEqual((await store.getTopic(topicName('t')))?.labels, { v: '1' });
      // The same ID in another project is another topic.
      await store.createTopic(newTopic(topicName('t', 'proj-2')));
    });

    it('lists a project by name, in pages; other projects (even with a prefix in common) stay out', async () => {
      const store = await fresh();
      for (const id of ['t-c', 't-a', 't-e', 't-b', 't-d']) await store.createTopic(newTopic(topicName(id)));
      await store.createTopic(newTopic(topicName('t-0', 'proj-2')));
      await store.createTopic(newTopic(topicName('t-0', 'pro')));
      const expected = ['t-a', 't-b', 't-c', 't-d', 't-e'].map((id) => topicName(id));
      for (const limit of [1, 2, 5, 10]) {
        const { names, pages } = await allPages((after) => store.listTopics('proj', after, limit), (t) => t.name, limit);
        assert.deepEqual(names, expected, `limit ${limit}`);
        // A list ending exactly at a page boundary hands out no empty last page.
        if (limit === 5) assert.deepEqual(pages, [5]);
      }
      assert.deepEqual((await store.listTopics('nobody', undefined, 10)).items, []);
      assert.deepEqual((await store.listTopics('pro', undefined, 10)).items.map((t) => t.name), [topicName('t-0', 'pro')]);
    });

    it('update replaces labels and retention from the current revision, keeps createTime, and bumps the revision', async () => {
      const store = await fresh();
      const created = await store.createTopic(newTopic(topicName('t'), { labels: { a: '1' } }));
      const updated = await store.updateTopic({ ...created, labels: { b: '2' }, messageRetentionMs: 600_000, createTime: T0 + 999 });
      assert.deepEqual(updated, { ...created, labels: { b: '2' }, messageRetentionMs: 600_000, revision: 2 });
      assert.deepEqual(await store.getTopic(created.name), updated);
      const cleared = await store.updateTopic({ ...updated, messageRetentionMs: undefined });
      assert.equal(cleared.messageRetentionMs, undefined);
      assert.equal(cleared.revision, 3);
    });

    it('update from a stale revision is ABORTED (REVISION_CONFLICT) and changes nothing; a missing topic is TOPIC_NOT_FOUND', async () => {
      const store = await fresh();
      const created = await store.createTopic(newTopic(topicName('t')));
      const won = await store.updateTopic({ ...created, labels: { by: 'a' } });
      await rejectsWithReason(store.updateTopic({ ...created, labels: { by: 'b' } }), 'REVISION_CONFLICT');
      assert.deepEqual(await store.getTopic(created.name), won);
      await rejectsWithReason(store.updateTopic({ ...created, name: topicName('ghost') }), 'TOPIC_NOT_FOUND');
      assert.equal(await store.getTopic(topicName('ghost')), undefined);
    });

    it('removeIamMember takes a member out of every topic, subscription and snapshot policy, with new etags; others stay as they are', async () => {
      const store = await fresh();
      const t = topicName('t');
      const s = subName('s');
      const snap = snapName('snap');
      const other = topicName('other');
      await store.createTopic(newTopic(t));
      await store.createTopic(newTopic(other));
      await store.createSubscription(newSub(s, t));
      await store.createSnapshot(newSnapshot(snap, t));
      const gone = 'serviceAccount:Bot-01@proj.iam.gserviceaccount.com';
      const stays = 'user:ops@example.com';
      const both = { version: 1, bindings: [{ role: 'roles/pubsub.publisher', members: [gone, stays] }, { role: 'roles/pubsub.admin', members: [gone] }] };
      const before = new Map<string, Uint8Array>();
      for (const r of [t, s, snap]) before.set(r, (await store.setIamPolicy(r, both, undefined)).etag);
      const untouched = await store.setIamPolicy(other, viewerPolicy(), undefined);
      // Members compare regardless of case, as IAM compares them.
      await store.removeIamMember(gone.toLowerCase());
      for (const r of [t, s, snap]) {
        const p = await store.getIamPolicy(r);
        assert.deepEqual(p.bindings, [{ role: 'roles/pubsub.publisher', members: [stays] }], r);
        assert.notDeepEqual(bytesOf(p.etag), bytesOf(before.get(r)!), `${r}: a new etag`);
      }
      assert.deepEqual(await store.getIamPolicy(other), untouched);
      await store.removeIamMember('serviceAccount:nobody@proj.iam.gserviceaccount.com');
      assert.deepEqual(await store.getIamPolicy(other), untouched);
    });

    it('delete removes the topic and its policy; a second delete is TOPIC_NOT_FOUND; the name can be reused', async () => {
      const store = await fresh();
      const name = topicName('t');
      await store.createTopic(newTopic(name));
      await store.setIamPolicy(name, viewerPolicy(), undefined);
      await store.deleteTopic(name);
      assert.equal(await store.getTopic(name), undefined);
      assert.deepEqual((await store.listTopics('proj', undefined, 10)).items, []);
      await rejectsWithReason(store.deleteTopic(name), 'TOPIC_NOT_FOUND');
      await rejectsWithReason(store.getIamPolicy(name), 'TOPIC_NOT_FOUND');
      const again = await store.createTopic(newTopic(name, { createTime: T0 + 1 }));
      assert.equal(again.revision, 1);
      assert.deepEqual((await store.getIamPolicy(name)).bindings, []);
    });

    it('deleting a topic leaves its subscriptions naming DELETED_TOPIC (next revision) and its snapshots in place', async () => {
      const store = await fresh();
      const t = topicName('t');
      const other = topicName('other');
      await store.createTopic(newTopic(t));
      await store.createTopic(newTopic(other));
      const s1 = await store.createSubscription(newSub(subName('s-1'), t));
      await store.createSubscription(newSub(subName('s-2'), t, { startSeq: 7 }));
      await store.createSubscription(newSub(subName('s-3'), other));
      await store.recordAcks(s1.name, [3, 5], 2);
      await store.createSnapshot(newSnapshot(snapName('snap'), t));
      await store.deleteTopic(t);

      const after1 = await store.getSubscription(s1.name);
      assert.deepEqual(after1, { ...s1, topic: DELETED_TOPIC, revision: 2 });
      assert.equal((await store.getSubscription(subName('s-2')))?.topic, DELETED_TOPIC);
      assert.equal((await store.getSubscription(subName('s-3')))?.topic, other);
      // Their ack state is kept: the subscription is still there, it just receives nothing new.
      assert.deepEqual(await store.loadAckState(s1.name), { floor: 2, acked: [3, 5] });
      assert.deepEqual((await store.listTopicSubscriptions(t, undefined, 10)).items, []);
      // An update read before the deletion must not bring the old topic back.
      await rejectsWithReason(store.updateSubscription({ ...s1, ackDeadlineSeconds: 30 }), 'REVISION_CONFLICT');
      const updated = await store.updateSubscription({ ...after1!, ackDeadlineSeconds: 30 });
      assert.equal(updated.topic, DELETED_TOPIC);
      assert.equal((await store.getSnapshot(snapName('snap'), T0))?.topic, t);

      // A new topic of the same name starts without the old subscriptions.
      await store.createTopic(newTopic(t));
      assert.deepEqual((await store.listTopicSubscriptions(t, undefined, 10)).items, []);
      assert.equal((await store.getSubscription(s1.name))?.topic, DELETED_TOPIC);
    });
  });
}

function subscriptionContract({ fresh }: PubSubContractContext): void {
  describe('subscriptions', () => {
    it('create stores revision 1 with every field; get returns an equal copy that callers cannot alias', async () => {
      const store = await fresh();
      const t = topicName('t');
      await store.createTopic(newTopic(t));
      const input = fullSub(subName('s'), t, topicName('dead'));
      const created = await store.createSubscription(input);
      assert.deepEqual(created, { ...input, revision: 1 });
      input.labels.team = 'changed';
      input.pushConfig!.attributes['x-goog-version'] = 'v2';
      created.deadLetterPolicy!.maxDeliveryAttempts = 99;
      const got = await store.getSubscription(subName('s'));
      assert.deepEqual(got, { ...fullSub(subName('s'), t, topicName('dead')), revision: 1 });
      got!.retryPolicy!.minimumBackoffMs = 1;
      assert.equal((await store.getSubscription(subName('s')))?.retryPolicy?.minimumBackoffMs, 1_500);
      // The optional parts absent, as a minimal pull subscription has them.
      const plain = await store.createSubscription(newSub(subName('plain'), t));
      assert.deepEqual(await store.getSubscription(plain.name), plain);
      assert.equal(plain.pushConfig, undefined);
      assert.equal(plain.deadLetterPolicy, undefined);
      assert.equal(plain.retryPolicy, undefined);
      // A push config without an OIDC token.
      const push = await store.createSubscription(
        newSub(subName('push'), t, { pushConfig: { pushEndpoint: 'https://p.example.com', attributes: {}, oidcToken: undefined } }),
      );
      assert.deepEqual(await store.getSubscription(push.name), push);
      assert.equal(await store.getSubscription(subName('absent')), undefined);
    });

    it('create on a missing topic is NOT_FOUND (TOPIC_NOT_FOUND) and stores nothing', async () => {
      const store = await fresh();
      await rejectsWithReason(store.createSubscription(newSub(subName('s'), topicName('missing'))), 'TOPIC_NOT_FOUND');
      assert.equal(await store.getSubscription(subName('s')), undefined);
      await rejectsWithReason(store.loadAckState(subName('s')), 'SUBSCRIPTION_NOT_FOUND');
    });

    it('a taken name is ALREADY_EXISTS (SUBSCRIPTION_EXISTS), even on another topic, and changes nothing', async () => {
      const store = await fresh();
      await store.createTopic(newTopic(topicName('a')));
      await store.createTopic(newTopic(topicName('b')));
      const s = await store.createSubscription(newSub(subName('s'), topicName('a')));
      await store.recordAcks(s.name, [1], 0);
      await rejectsWithReason(store.createSubscription(newSub(subName('s'), topicName('b'), { startSeq: 50 })), 'SUBSCRIPTION_EXISTS');
      assert.deepEqual(await store.getSubscription(s.name), s);
      assert.deepEqual(await store.loadAckState(s.name), { floor: 0, acked: [1] });
    });

    it('lists a project by name in pages, and a topic\'s subscription names in pages', async () => {
      const store = await fresh();
      const a = topicName('a');
      const b = topicName('b');
      await store.createTopic(newTopic(a));
      await store.createTopic(newTopic(b));
      await store.createTopic(newTopic(topicName('a', 'proj-2')));
      for (const [id, topic] of [['s-4', a], ['s-1', b], ['s-3', a], ['s-0', a], ['s-2', b]] as const) {
        await store.createSubscription(newSub(subName(id), topic));
      }
      await store.createSubscription(newSub(subName('s-9', 'proj-2'), topicName('a', 'proj-2')));
      for (const limit of [1, 2, 3, 5, 50]) {
        const all = await allPages((after) => store.listSubscriptions('proj', after, limit), (s) => s.name, limit);
        assert.deepEqual(all.names, ['s-0', 's-1', 's-2', 's-3', 's-4'].map((id) => subName(id)));
        const ofA = await allPages((after) => store.listTopicSubscriptions(a, after, limit), (n) => n, limit);
        assert.deepEqual(ofA.names, ['s-0', 's-3', 's-4'].map((id) => subName(id)));
      }
      assert.deepEqual((await store.listTopicSubscriptions(topicName('none'), undefined, 10)).items, []);
      assert.deepEqual((await store.listSubscriptions('proj-2', undefined, 10)).items.map((s) => s.name), [subName('s-9', 'proj-2')]);
      for (const limit of [1, 2, 4, 50]) {
        const every = await allPages((after) => store.listAllSubscriptions(after, limit), (s) => s.name, limit);
        assert.deepEqual(every.names, [...['s-0', 's-1', 's-2', 's-3', 's-4'].map((id) => subName(id)), subName('s-9', 'proj-2')].sort());
      }
    });

    it('update replaces the mutable fields, keeps name, topic, filter, startSeq and createTime, and bumps the revision', async () => {
      const store = await fresh();
      const t = topicName('t');
      await store.createTopic(newTopic(t));
      await store.createTopic(newTopic(topicName('other')));
      const created = await store.createSubscription(newSub(subName('s'), t, { filter: 'attributes:x', startSeq: 40 }));
      const changes = fullSub(subName('s'), topicName('other'), topicName('dead'));
      const updated = await store.updateSubscription({ ...changes, detached: true, revision: created.revision });
      assert.deepEqual(updated, {
        ...changes,
        detached: true,
        topic: t,
        filter: 'attributes:x',
        startSeq: 40,
        createTime: created.createTime,
        revision: 2,
      });
      assert.deepEqual(await store.getSubscription(created.name), updated);
      const back = await store.updateSubscription({ ...updated, pushConfig: undefined, deadLetterPolicy: undefined, retryPolicy: undefined, labels: {} });
      assert.deepEqual(back, { ...updated, pushConfig: undefined, deadLetterPolicy: undefined, retryPolicy: undefined, labels: {}, revision: 3 });
    });

    it('update from a stale revision is ABORTED (REVISION_CONFLICT) and changes nothing; a missing one is SUBSCRIPTION_NOT_FOUND', async () => {
      const store = await fresh();
      await store.createTopic(newTopic(topicName('t')));
      const created = await store.createSubscription(newSub(subName('s'), topicName('t')));
      const won = await store.updateSubscription({ ...created, ackDeadlineSeconds: 60 });
      await rejectsWithReason(store.updateSubscription({ ...created, ackDeadlineSeconds: 600 }), 'REVISION_CONFLICT');
      assert.deepEqual(await store.getSubscription(created.name), won);
      await rejectsWithReason(store.updateSubscription({ ...created, name: subName('ghost') }), 'SUBSCRIPTION_NOT_FOUND');
    });

    it('delete removes the subscription, its ack state and its policy; a second delete is SUBSCRIPTION_NOT_FOUND', async () => {
      const store = await fresh();
      const t = topicName('t');
      await store.createTopic(newTopic(t));
      const s = await store.createSubscription(newSub(subName('s'), t, { startSeq: 3 }));
      await store.recordAcks(s.name, [5, 6], 4);
      await store.setIamPolicy(s.name, viewerPolicy(), undefined);
      await store.deleteSubscription(s.name);
      assert.equal(await store.getSubscription(s.name), undefined);
      await rejectsWithReason(store.loadAckState(s.name), 'SUBSCRIPTION_NOT_FOUND');
      await rejectsWithReason(store.getIamPolicy(s.name), 'SUBSCRIPTION_NOT_FOUND');
      await rejectsWithReason(store.deleteSubscription(s.name), 'SUBSCRIPTION_NOT_FOUND');
      assert.deepEqual((await store.listTopicSubscriptions(t, undefined, 10)).items, []);
      // The name comes back as a new subscription: revision 1, fresh ack state, empty policy.
      const again = await store.createSubscription(newSub(subName('s'), t, { startSeq: 9 }));
      assert.equal(again.revision, 1);
      assert.deepEqual(await store.loadAckState(s.name), { floor: 9, acked: [] });
      assert.deepEqual((await store.getIamPolicy(s.name)).bindings, []);
    });

    it('a delete at a revision happens only at that revision: a stale one is ABORTED (REVISION_CONFLICT), also against a new subscription of the name', async () => {
      const store = await fresh();
      const t = topicName('t');
      await store.createTopic(newTopic(t));
      const first = await store.createSubscription(newSub(subName('s'), t, { startSeq: 3 }));
      const changed = await store.updateSubscription({ ...first, ackDeadlineSeconds: 60 });
      await rejectsWithReason(store.deleteSubscription(first.name, first.revision), 'REVISION_CONFLICT');
      assert.deepEqual(await store.getSubscription(first.name), changed);
      await store.deleteSubscription(first.name, changed.revision);
      assert.equal(await store.getSubscription(first.name), undefined);
      await rejectsWithReason(store.deleteSubscription(first.name, changed.revision), 'SUBSCRIPTION_NOT_FOUND');
      // The name taken again (revision 1): a delete decided on the old one's revision misses it.
      const again = await store.createSubscription(newSub(subName('s'), t, { startSeq: 9 }));
      await rejectsWithReason(store.deleteSubscription(again.name, changed.revision), 'REVISION_CONFLICT');
      assert.deepEqual(await store.getSubscription(again.name), again);
    });

    it('replace puts a new subscription in place of the one read, at the next revision, with a fresh ack state and no policy', async () => {
      const store = await fresh();
      const [t1, t2] = [topicName('t1'), topicName('t2')];
      await store.createTopic(newTopic(t1));
      await store.createTopic(newTopic(t2));
      const old = await store.createSubscription(newSub(subName('s'), t1, { startSeq: 3, createTime: T0 }));
      await store.recordAcks(old.name, [5, 6], 4);
      await store.setIamPolicy(old.name, viewerPolicy(), undefined);
      const { name: _name, ...replacement } = newSub(subName('s'), t2, { startSeq: 7, createTime: T0 + 1, ackDeadlineSeconds: 60, labels: { k: 'v' } });
      const stored = await store.replaceSubscription(old, replacement);
      assert.deepEqual(stored, { ...replacement, name: old.name, revision: old.revision + 1 });
      assert.deepEqual(await store.getSubscription(old.name), stored);
      assert.deepEqual(await store.loadAckState(old.name), { floor: 7, acked: [] });
      assert.deepEqual((await store.getIamPolicy(old.name)).bindings, []);
      assert.deepEqual((await store.listTopicSubscriptions(t1, undefined, 10)).items, []);
      assert.deepEqual((await store.listTopicSubscriptions(t2, undefined, 10)).items, [old.name]);
    });

    it('replace happens only to the subscription read: stale, or another of the name (same revision, other createTime), is ABORTED (REVISION_CONFLICT)', async () => {
      const store = await fresh();
      const t = topicName('t');
      await store.createTopic(newTopic(t));
      const { name: _name, ...replacement } = newSub(subName('s'), t, { startSeq: 9, createTime: T0 + 5 });
      await rejectsWithReason(store.replaceSubscription({ name: subName('s'), revision: 1, createTime: T0 }, replacement), 'SUBSCRIPTION_NOT_FOUND');
      const first = await store.createSubscription(newSub(subName('s'), t, { startSeq: 3, createTime: T0 }));
      const changed = await store.updateSubscription({ ...first, detached: true });
      await rejectsWithReason(store.replaceSubscription(first, replacement), 'REVISION_CONFLICT');
      assert.deepEqual(await store.getSubscription(first.name), changed);
      // Deleted and taken again: revision 1 again, a later createTime. Decided on the first, the replacement misses it.
      await store.deleteSubscription(first.name);
      const again = await store.createSubscription(newSub(subName('s'), t, { startSeq: 4, createTime: T0 + 1 }));
      assert.equal(again.revision, first.revision);
      await store.recordAcks(again.name, [6], 5);
      await rejectsWithReason(store.replaceSubscription(first, replacement), 'REVISION_CONFLICT');
      assert.deepEqual(await store.getSubscription(again.name), again);
      assert.deepEqual(await store.loadAckState(again.name), { floor: 5, acked: [6] });
    });

    it('replace onto a missing topic is TOPIC_NOT_FOUND and keeps the subscription, its acks and its policy', async () => {
      const store = await fresh();
      const t = topicName('t');
      await store.createTopic(newTopic(t));
      const old = await store.createSubscription(newSub(subName('s'), t, { startSeq: 3 }));
      await store.recordAcks(old.name, [5], 4);
      await store.setIamPolicy(old.name, viewerPolicy(), undefined);
      const { name: _name, ...replacement } = newSub(subName('s'), topicName('ghost'), { createTime: T0 + 1 });
      await rejectsWithReason(store.replaceSubscription(old, replacement), 'TOPIC_NOT_FOUND');
      assert.deepEqual(await store.getSubscription(old.name), old);
      assert.deepEqual(await store.loadAckState(old.name), { floor: 4, acked: [5] });
      assert.equal((await store.getIamPolicy(old.name)).bindings.length, 1);
    });

    it('two replacements of the same subscription at once: one stands, the other is ABORTED (REVISION_CONFLICT)', async () => {
      const store = await fresh();
      const t = topicName('t');
      await store.createTopic(newTopic(t));
      const old = await store.createSubscription(newSub(subName('s'), t, { createTime: T0 }));
      const mine = (createTime: number) => {
        const { name: _name, ...r } = newSub(subName('s'), t, { createTime });
        return store.replaceSubscription(old, r);
      };
      const results = await Promise.allSettled([mine(T0 + 1), mine(T0 + 2)]);
      const won = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      assert.equal(won.length, 1, 'exactly one replacement stands');
      const lost = results.find((r) => r.status === 'rejected');
      await rejectsWithReason(Promise.reject(lost?.reason), 'REVISION_CONFLICT');
      assert.deepEqual(await store.getSubscription(old.name), won[0]);
    });
  });
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EMPTY_POLICY } from '../../src/domain/iam-policy.js';
import { DELETED_TOPIC } from '../../src/domain/pubsub/pubsub-model.js';
import { ApiError } from '../../src/domain/errors.js';
import {
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
} from './pubsub-store-fixtures.js';
import type { PubSubStore } from '../../src/services/pubsub/pubsub-ports.js';

async function withSubscription(store: PubSubStore, startSeq = 10): Promise<string> {
  await store.createTopic(newTopic(topicName('t')));
  return (await store.createSubscription(newSub(subName('s'), topicName('t'), { startSeq }))).name;
}

/** Ack state, snapshots, IAM policies, racing conditional writes and (persistent stores) reopening. */
export function pubsubStateContract(ctx: PubSubContractContext, { persistent }: { persistent: boolean }): void {
  ackStateContract(ctx);
  snapshotContract(ctx);
  iamContract(ctx);
  concurrencyContract(ctx);
  if (persistent) persistenceContract(ctx);
}

function ackStateContract({ fresh }: PubSubContractContext): void {
  describe('ack state', () => {
    it('a new subscription has acknowledged everything up to its startSeq and nothing above', async () => {
      const store = await fresh();
      const s = await withSubscription(store, 17);
      assert.deepEqual(await store.loadAckState(s), { floor: 17, acked: [] });
    });

    it('recordAcks takes seqs in any order, ignores duplicates and seqs at or below the floor, and is idempotent', async () => {
      const store = await fresh();
      const s = await withSubscription(store);
      await store.recordAcks(s, [30, 12, 30, 9, 10, 25, 12], 10);
      const once = await store.loadAckState(s);
      assert.deepEqual(once, { floor: 10, acked: [12, 25, 30] });
      await store.recordAcks(s, [30, 12, 30, 9, 10, 25, 12], 10);
      assert.deepEqual(await store.loadAckState(s), once);
      await store.recordAcks(s, [], 10);
      assert.deepEqual(await store.loadAckState(s), once);
    });

    it('the floor only rises; seqs at or below a risen floor leave the set', async () => {
      const store = await fresh();
      const s = await withSubscription(store);
      await store.recordAcks(s, [12, 15, 20, 40], 10);
      await store.recordAcks(s, [], 15);
      assert.deepEqual(await store.loadAckState(s), { floor: 15, acked: [20, 40] });
      // A late batch computed against an older floor neither lowers it nor brings old seqs back.
      await store.recordAcks(s, [11, 14, 16], 12);
      assert.deepEqual(await store.loadAckState(s), { floor: 15, acked: [16, 20, 40] });
      // Acks and a new floor in one call: the floor applies to the call's own seqs too.
      await store.recordAcks(s, [35, 41, 50], 40);
      assert.deepEqual(await store.loadAckState(s), { floor: 40, acked: [41, 50] });
      await store.recordAcks(s, [], 1_000_000);
      assert.deepEqual(await store.loadAckState(s), { floor: 1_000_000, acked: [] });
    });

    it('a large batch of acks lands whole', async () => {
      const store = await fresh();
      const s = await withSubscription(store, 0);
      const seqs = Array.from({ length: 5000 }, (_, i) => 2 * i + 2);
      await store.recordAcks(s, seqs.slice().reverse(), 0);
      const state = await store.loadAckState(s);
      assert.equal(state.floor, 0);
      assert.deepEqual(state.acked, seqs);
      await store.recordAcks(s, [], 5000);
      assert.deepEqual((await store.loadAckState(s)).acked, seqs.filter((x) => x > 5000));
    });

    it('acks of a missing (or deleted) subscription are dropped without an error; loading its state is NOT_FOUND', async () => {
      const store = await fresh();
      await store.recordAcks(subName('ghost'), [1, 2], 1);
      await rejectsWithReason(store.loadAckState(subName('ghost')), 'SUBSCRIPTION_NOT_FOUND');
      await rejectsWithReason(store.replaceAckState(subName('ghost'), { floor: 1, acked: [] }), 'SUBSCRIPTION_NOT_FOUND');
    });

    it('replaceAckState replaces the state, lowering the floor if asked (Seek), and stores it normalized', async () => {
      const store = await fresh();
      const s = await withSubscription(store);
      await store.recordAcks(s, [50, 60], 40);
      await store.replaceAckState(s, { floor: 5, acked: [9, 3, 7, 9, 5] });
      assert.deepEqual(await store.loadAckState(s), { floor: 5, acked: [7, 9] });
      await store.recordAcks(s, [8], 5);
      assert.deepEqual(await store.loadAckState(s), { floor: 5, acked: [7, 8, 9] });
      await store.replaceAckState(s, { floor: 100, acked: [] });
      assert.deepEqual(await store.loadAckState(s), { floor: 100, acked: [] });
    });

    it('each subscription has its own ack state', async () => {
      const store = await fresh();
      const a = await withSubscription(store, 0);
      const b = (await store.createSubscription(newSub(subName('b'), topicName('t')))).name;
      await store.recordAcks(a, [1, 2, 3], 0);
      await store.recordAcks(b, [7], 5);
      assert.deepEqual(await store.loadAckState(a), { floor: 0, acked: [1, 2, 3] });
      assert.deepEqual(await store.loadAckState(b), { floor: 5, acked: [7] });
    });

    it('acks recorded concurrently are all kept; the highest floor wins', async () => {
      const store = await fresh();
      const s = await withSubscription(store, 0);
      await Promise.all(Array.from({ length: 20 }, (_, i) => store.recordAcks(s, [100 + 2 * i, 101 + 2 * i], i)));
      assert.deepEqual(await store.loadAckState(s), { floor: 19, acked: Array.from({ length: 40 }, (_, i) => 100 + i) });
    });
  });
}

function snapshotContract({ fresh }: PubSubContractContext): void {
  describe('snapshots', () => {
    it('create then get returns an equal copy until the snapshot expires', async () => {
      const store = await fresh();
      const input = newSnapshot(snapName('snap'), topicName('t'), { labels: { why: 'test' }, expireTime: T0 + 1000, ackState: { floor: 3, acked: [9, 5, 5, 2] } });
      const created = await store.createSnapshot(input);
      const expected = { ...input, labels: { why: 'test' }, ackState: { floor: 3, acked: [5, 9] } };
      assert.deepEqual(created, expected);
      input.labels.why = 'changed';
      created.ackState = { floor: 0, acked: [] };
      assert.deepEqual(await store.getSnapshot(snapName('snap'), T0), expected);
      assert.deepEqual(await store.getSnapshot(snapName('snap'), T0 + 999), expected);
      assert.equal(await store.getSnapshot(snapName('snap'), T0 + 1000), undefined);
      assert.equal(await store.getSnapshot(snapName('absent'), T0), undefined);
    });

    it('a taken name is ALREADY_EXISTS (SNAPSHOT_EXISTS) until the holder expires at the given time', async () => {
      const store = await fresh();
      const first = newSnapshot(snapName('snap'), topicName('t'), { expireTime: T0 + 1000 });
      await store.createSnapshot(first);
      await rejectsWithReason(store.createSnapshot(newSnapshot(snapName('snap'), topicName('u'))), 'SNAPSHOT_EXISTS');
      await rejectsWithReason(store.createSnapshot(newSnapshot(snapName('snap'), topicName('u')), T0 + 999), 'SNAPSHOT_EXISTS');
      assert.deepEqual(await store.getSnapshot(snapName('snap'), T0), first);
      const second = newSnapshot(snapName('snap'), topicName('u'), { expireTime: T0 + 5000, ackState: { floor: 1, acked: [] } });
      await store.createSnapshot(second, T0 + 1000);
      assert.deepEqual(await store.getSnapshot(snapName('snap'), T0 + 1000), second);
    });

    it('lists a project\'s live snapshots by name in pages, and a topic\'s live snapshot names', async () => {
      const store = await fresh();
      const t = topicName('t');
      for (const [id, topic, expireTime] of [
        ['n-3', t, T0 + 10],
        ['n-1', topicName('u'), T0 + 10],
        ['n-4', t, T0 + 1],
        ['n-2', t, T0 + 10],
        ['n-0', t, T0 + 10],
      ] as const) {
        await store.createSnapshot(newSnapshot(snapName(id), topic, { expireTime }));
      }
      await store.createSnapshot(newSnapshot(snapName('n-9', 'proj-2'), topicName('t', 'proj-2')));
      for (const limit of [1, 2, 4, 10]) {
        const pages: string[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await store.listSnapshots('proj', after, limit, T0 + 5);
          assert.ok(page.items.length <= limit);
          pages.push(...page.items.map((s) => s.name));
          if (!page.next) break;
          after = page.next;
        }
        assert.deepEqual(pages, ['n-0', 'n-1', 'n-2', 'n-3'].map((id) => snapName(id)));
      }
      assert.deepEqual((await store.listTopicSnapshots(t, undefined, 10, T0)).items, ['n-0', 'n-2', 'n-3', 'n-4'].map((id) => snapName(id)));
      const firstPage = await store.listTopicSnapshots(t, undefined, 2, T0 + 5);
      assert.deepEqual(firstPage, { items: [snapName('n-0'), snapName('n-2')], next: snapName('n-2') });
      assert.deepEqual(await store.listTopicSnapshots(t, firstPage.next, 2, T0 + 5), { items: [snapName('n-3')], next: undefined });
      assert.deepEqual((await store.listSnapshots('proj', undefined, 10, T0 + 10)).items, []);
    });

    it('update replaces labels and expireTime only; a missing snapshot is SNAPSHOT_NOT_FOUND', async () => {
      const store = await fresh();
      const created = await store.createSnapshot(newSnapshot(snapName('snap'), topicName('t')));
      const updated = await store.updateSnapshot({ ...created, labels: { a: 'b' }, expireTime: T0 + 7, topic: topicName('x'), ackState: { floor: 0, acked: [] } });
      assert.deepEqual(updated, { ...created, labels: { a: 'b' }, expireTime: T0 + 7 });
      assert.deepEqual(await store.getSnapshot(created.name, T0), updated);
      await rejectsWithReason(store.updateSnapshot({ ...created, name: snapName('ghost') }), 'SNAPSHOT_NOT_FOUND');
    });

    it('delete removes the snapshot and its policy; a second delete is SNAPSHOT_NOT_FOUND', async () => {
      const store = await fresh();
      const created = await store.createSnapshot(newSnapshot(snapName('snap'), topicName('t')));
      await store.setIamPolicy(created.name, viewerPolicy(), undefined);
      await store.deleteSnapshot(created.name);
      assert.equal(await store.getSnapshot(created.name, T0), undefined);
      await rejectsWithReason(store.deleteSnapshot(created.name), 'SNAPSHOT_NOT_FOUND');
      await rejectsWithReason(store.getIamPolicy(created.name), 'SNAPSHOT_NOT_FOUND');
      await store.createSnapshot(newSnapshot(snapName('snap'), topicName('t')));
      assert.deepEqual((await store.getIamPolicy(created.name)).bindings, []);
    });
  });
}

function iamContract({ fresh }: PubSubContractContext): void {
  describe('IAM policies of topics, subscriptions and snapshots', () => {
    it('each resource starts with the empty policy; set/get round-trip with a new etag, per resource', async () => {
      const store = await fresh();
      const t = topicName('t');
      const s = await withSubscription(store);
      await store.createSnapshot(newSnapshot(snapName('snap'), t));
      for (const name of [t, s, snapName('snap')]) {
        const empty = await store.getIamPolicy(name);
        assert.deepEqual(empty, { ...EMPTY_POLICY });
        const set = await store.setIamPolicy(name, viewerPolicy(`user:${name.split('/')[2]}@example.com`), empty.etag);
        assert.notDeepEqual(bytesOf(set.etag), bytesOf(empty.etag));
        assert.deepEqual(await store.getIamPolicy(name), set);
        const next = await store.setIamPolicy(name, { version: 3, bindings: [] }, undefined);
        assert.notDeepEqual(bytesOf(next.etag), bytesOf(set.etag));
        assert.equal(next.version, 3);
      }
      // One resource's policy is not another's.
      await store.setIamPolicy(t, viewerPolicy('user:topic-only@example.com'), undefined);
      assert.deepEqual((await store.getIamPolicy(s)).bindings, []);
    });

    it('a stale etag is ABORTED (ETAG_MISMATCH) and changes nothing', async () => {
      const store = await fresh();
      const t = topicName('t');
      await store.createTopic(newTopic(t));
      const read = await store.getIamPolicy(t);
      const won = await store.setIamPolicy(t, viewerPolicy('user:a@example.com'), read.etag);
      await rejectsWithReason(store.setIamPolicy(t, viewerPolicy('user:b@example.com'), read.etag), 'ETAG_MISMATCH');
      assert.deepEqual(await store.getIamPolicy(t), won);
    });

    it('of two writers holding one etag exactly one wins', async () => {
      const store = await fresh();
      const s = await withSubscription(store);
      const read = await store.getIamPolicy(s);
      const results = await Promise.allSettled([
        store.setIamPolicy(s, viewerPolicy('user:a@example.com'), read.etag),
        store.setIamPolicy(s, viewerPolicy('user:b@example.com'), read.etag),
      ]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r) => r.status === 'rejected');
      assert.equal(won.length, 1);
      assert.equal(lost.length, 1);
      assert.ok(lost[0]!.reason instanceof ApiError && lost[0]!.reason.reason === 'ETAG_MISMATCH');
      assert.deepEqual(await store.getIamPolicy(s), won[0]!.value);
    });

    it('the policy of a missing resource is NOT_FOUND with the reason of its kind', async () => {
      const store = await fresh();
      await rejectsWithReason(store.getIamPolicy(topicName('t')), 'TOPIC_NOT_FOUND');
      await rejectsWithReason(store.setIamPolicy(subName('s'), viewerPolicy(), undefined), 'SUBSCRIPTION_NOT_FOUND');
      await rejectsWithReason(store.getIamPolicy(snapName('n')), 'SNAPSHOT_NOT_FOUND');
      await rejectsWithReason(store.getIamPolicy('projects/proj/registries/r'), 'NOT_FOUND');
      await rejectsWithReason(store.getIamPolicy(''), 'NOT_FOUND');
    });
  });
}

function concurrencyContract({ fresh }: PubSubContractContext): void {
  describe('racing writes', () => {
    it('of two creates of one name exactly one wins', async () => {
      const store = await fresh();
      const topics = await Promise.allSettled([store.createTopic(newTopic(topicName('t'))), store.createTopic(newTopic(topicName('t')))]);
      assert.deepEqual(topics.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
      const subs = await Promise.allSettled([
        store.createSubscription(newSub(subName('s'), topicName('t'))),
        store.createSubscription(newSub(subName('s'), topicName('t'), { startSeq: 5 })),
      ]);
      assert.deepEqual(subs.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
    });

    it('of two updates from one revision exactly one wins, for topics and subscriptions', async () => {
      const store = await fresh();
      const t = await store.createTopic(newTopic(topicName('t')));
      const s = await store.createSubscription(newSub(subName('s'), t.name));
      const topicResults = await Promise.allSettled([
        store.updateTopic({ ...t, labels: { by: 'a' } }),
        store.updateTopic({ ...t, labels: { by: 'b' } }),
      ]);
      const subResults = await Promise.allSettled([
        store.updateSubscription({ ...s, ackDeadlineSeconds: 20 }),
        store.updateSubscription({ ...s, ackDeadlineSeconds: 30 }),
      ]);
      for (const results of [topicResults, subResults]) {
        assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
        const lost = results.find((r) => r.status === 'rejected');
        assert.ok(lost?.status === 'rejected' && lost.reason instanceof ApiError && lost.reason.reason === 'REVISION_CONFLICT');
      }
      const wonTopic = topicResults.find((r) => r.status === 'fulfilled');
      assert.deepEqual(await store.getTopic(t.name), wonTopic?.status === 'fulfilled' ? wonTopic.value : undefined);
      assert.equal((await store.getSubscription(s.name))?.revision, 2);
    });

    it('a subscription created while its topic is deleted either fails or ends up naming DELETED_TOPIC', async () => {
      const store = await fresh();
      await store.createTopic(newTopic(topicName('t')));
      const [created] = await Promise.allSettled([
        store.createSubscription(newSub(subName('s'), topicName('t'))),
        store.deleteTopic(topicName('t')),
      ]);
      const stored = await store.getSubscription(subName('s'));
      if (created.status === 'fulfilled') assert.equal(stored?.topic, DELETED_TOPIC);
      else assert.equal(stored, undefined);
    });

    it('acks racing a delete of their subscription neither fail nor bring it back', async () => {
      const store = await fresh();
      const s = await withSubscription(store);
      await Promise.all([store.recordAcks(s, [11], 10), store.deleteSubscription(s), store.recordAcks(s, [12], 10)]);
      assert.equal(await store.getSubscription(s), undefined);
      await rejectsWithReason(store.loadAckState(s), 'SUBSCRIPTION_NOT_FOUND');
    });

    it('a closed store refuses calls with UNAVAILABLE (STORE_CLOSED); closing twice is fine', async () => {
      const store = await fresh();
      await store.close();
      await store.close();
      await rejectsWithReason(store.getTopic(topicName('t')), 'STORE_CLOSED');
      await rejectsWithReason(store.recordAcks(subName('s'), [1], 0), 'STORE_CLOSED');
    });
  });
}

function persistenceContract({ freshWithReopen }: PubSubContractContext): void {
  describe('persistence', () => {
    it('every resource, ack state and policy survives close and reopen', async () => {
      const { store, reopen } = await freshWithReopen();
      const t = await store.createTopic(newTopic(topicName('t'), { labels: { k: 'v' }, messageRetentionMs: 60_000 }));
      await store.updateTopic({ ...t, labels: { k: 'v2' } });
      const s = await store.createSubscription(fullSub(subName('s'), t.name, topicName('dead')));
      const plain = await store.createSubscription(newSub(subName('plain'), t.name, { startSeq: 4 }));
      await store.recordAcks(s.name, [1300, 1240, 1250], 1235);
      const snap = await store.createSnapshot(newSnapshot(snapName('snap'), t.name, { labels: { l: '1' } }));
      const policy = await store.setIamPolicy(s.name, viewerPolicy(), undefined);
      const before = {
        topic: await store.getTopic(t.name),
        subs: await store.listSubscriptions('proj', undefined, 10),
        acks: await store.loadAckState(s.name),
        plainAcks: await store.loadAckState(plain.name),
        snap: await store.getSnapshot(snap.name, T0),
        policy: await store.getIamPolicy(s.name),
      };
      assert.deepEqual(before.policy, policy);
      await store.close();
      const again = await reopen!();
      assert.deepEqual(
        {
          topic: await again.getTopic(t.name),
          subs: await again.listSubscriptions('proj', undefined, 10),
          acks: await again.loadAckState(s.name),
          plainAcks: await again.loadAckState(plain.name),
          snap: await again.getSnapshot(snap.name, T0),
          policy: await again.getIamPolicy(s.name),
        },
        before,
      );
      // Etags go on from the stored one, so a client's read from before the restart still works.
      const next = await again.setIamPolicy(s.name, { version: 1, bindings: [] }, policy.etag);
      assert.notDeepEqual(bytesOf(next.etag), bytesOf(policy.etag));
    });
  });
}

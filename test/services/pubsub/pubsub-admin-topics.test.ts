import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../../../src/adapters/store/memory/memory-store.js';
import { DELETED_TOPIC } from '../../../src/domain/pubsub/pubsub-model.js';
import { apiErrorOn, invalidOn } from '../../support/assertions.js';
import { makeRegistry, regKey } from '../../contracts/store-fixtures.js';
import { ADMIN, bytes, harness, subName, T0, topicName } from './pubsub-admin-support.js';

const reasonOf = (reason: string) => (e: unknown): true => {
  assert.equal((e as { reason?: string }).reason, reason);
  return true;
};

describe('PubSubAdmin topics', () => {
  it('creates, gets, updates with a mask, lists page by page and deletes', async () => {
    const h = harness();
    const created = await h.admin.createTopic(ADMIN, { name: topicName('t-1'), labels: { env: 'dev' } });
    assert.deepEqual(created, { name: topicName('t-1'), labels: { env: 'dev' }, messageRetentionMs: undefined, createTime: T0, revision: 1 });
    assert.deepEqual(await h.admin.getTopic(ADMIN, { topic: topicName('t-1') }), created);

    const updated = await h.admin.updateTopic(ADMIN, {
      topic: { name: topicName('t-1'), labels: { env: 'prod' }, messageRetentionDuration: { seconds: 3600 } },
      updateMask: { paths: ['message_retention_duration'] },
    });
    assert.deepEqual([updated.labels, updated.messageRetentionMs], [{ env: 'dev' }, 3_600_000], 'only the masked field changed');

    for (const id of ['t-2', 't-3']) await h.admin.createTopic(ADMIN, { name: topicName(id) });
    await h.admin.createTopic(ADMIN, { name: topicName('t-0', 'other') });
    const first = await h.admin.listTopics(ADMIN, { project: 'projects/proj', pageSize: 2 });
    assert.deepEqual(first.items.map((t) => t.name), [topicName('t-1'), topicName('t-2')]);
    assert.notEqual(first.nextPageToken, '');
    const second = await h.admin.listTopics(ADMIN, { project: 'projects/proj', pageSize: 2, pageToken: first.nextPageToken });
    assert.deepEqual(second, { items: [await h.admin.getTopic(ADMIN, { topic: topicName('t-3') })], nextPageToken: '' });

    await h.admin.deleteTopic(ADMIN, { topic: topicName('t-1') });
    await assert.rejects(h.admin.getTopic(ADMIN, { topic: topicName('t-1') }), apiErrorOn('NOT_FOUND', undefined));
  });

  it('refuses bad names, fields and masks naming the field, and taken names', async () => {
    const h = harness();
    await assert.rejects(h.admin.createTopic(ADMIN, { name: 'projects/proj/topics/goog-x' }), invalidOn('name', /goog/));
    await assert.rejects(h.admin.createTopic(ADMIN, {}), invalidOn('name', /required/));
    await assert.rejects(h.admin.createTopic(ADMIN, { name: topicName('t-1'), labels: { Bad: 'x' } }), invalidOn('labels'));
    await assert.rejects(h.admin.createTopic(ADMIN, { name: topicName('t-1'), kmsKeyName: 'k' }), invalidOn('kms_key_name', /not supported/));
    await assert.rejects(
      h.admin.createTopic(ADMIN, { name: topicName('t-1'), messageRetentionDuration: { seconds: 60 } }),
      invalidOn('message_retention_duration'),
    );
    await h.admin.createTopic(ADMIN, { name: topicName('t-1') });
    await assert.rejects(h.admin.createTopic(ADMIN, { name: topicName('t-1') }), apiErrorOn('ALREADY_EXISTS', undefined));
    await assert.rejects(h.admin.updateTopic(ADMIN, { topic: { name: topicName('t-1') }, updateMask: { paths: ['name'] } }), invalidOn('update_mask'));
    await assert.rejects(h.admin.updateTopic(ADMIN, { topic: { name: topicName('t-1') } }), invalidOn('update_mask'));
    await assert.rejects(h.admin.listTopics(ADMIN, { project: 'proj' }), invalidOn('project'));
    await assert.rejects(h.admin.listTopics(ADMIN, { project: 'projects/proj', pageToken: 'garbage!' }), invalidOn('page_token'));
    await assert.rejects(h.admin.getTopic(ADMIN, { topic: topicName('nope') }), reasonOf('TOPIC_NOT_FOUND'));
  });

  it('deleting a topic leaves its subscriptions naming the deleted topic and tells the engine', async () => {
    const h = harness();
    await h.admin.createTopic(ADMIN, { name: topicName('t-1') });
    await h.admin.createSubscription(ADMIN, { name: subName('s-1'), topic: topicName('t-1') });
    await h.admin.createSubscription(ADMIN, { name: subName('s-2'), topic: topicName('t-1') });
    assert.deepEqual(await h.admin.listTopicSubscriptions(ADMIN, { topic: topicName('t-1') }), { items: [subName('s-1'), subName('s-2')], nextPageToken: '' });
    await h.admin.deleteTopic(ADMIN, { topic: topicName('t-1') });
    assert.equal((await h.admin.getSubscription(ADMIN, { subscription: subName('s-1') })).topic, DELETED_TOPIC);
    assert.deepEqual(h.engine.named('subscriptionChanged'), [[subName('s-1')], [subName('s-2')]]);
    await assert.rejects(h.admin.deleteTopic(ADMIN, { topic: topicName('t-1') }), apiErrorOn('NOT_FOUND', undefined));
  });
});

describe('PubSubAdmin.publish', () => {
  it('appends to the log with the server time and returns the ids the log assigned, in order', async () => {
    const h = harness();
    await h.admin.createTopic(ADMIN, { name: topicName('t-1') });
    h.advance(5);
    const ids = await h.admin.publish(ADMIN, {
      topic: topicName('t-1'),
      messages: [
        { data: bytes('a'), attributes: { k: 'v' }, messageId: 'ignored', publishTime: { seconds: 1 } },
        { data: bytes('b'), orderingKey: 'dev-1' },
      ],
    });
    assert.deepEqual(ids, ['1', '2']);
    const stored = await h.log.read(topicName('t-1'), 0, 10);
    assert.deepEqual(
      stored.map((m) => [m.messageId, m.publishTime, m.attributes, new TextDecoder().decode(m.data), m.orderingKey]),
      [
        ['1', T0 + 5, { k: 'v' }, 'a', ''],
        ['2', T0 + 5, {}, 'b', 'dev-1'],
      ],
    );
  });

  it('refuses an unknown topic, and messages over the limits naming the message; nothing is appended', async () => {
    const h = harness();
    await assert.rejects(h.admin.publish(ADMIN, { topic: topicName('nope'), messages: [{ data: bytes('x') }] }), reasonOf('TOPIC_NOT_FOUND'));
    await h.admin.createTopic(ADMIN, { name: topicName('t-1') });
    await assert.rejects(h.admin.publish(ADMIN, { topic: topicName('t-1'), messages: [{ data: bytes('x') }, {}] }), invalidOn('messages[1]'));
    await assert.rejects(
      h.admin.publish(ADMIN, { topic: topicName('t-1'), messages: [{ attributes: { googx: 'v' } }] }),
      invalidOn('messages[0].attributes', /goog/),
    );
    await assert.rejects(h.admin.publish(ADMIN, { topic: topicName('t-1'), messages: [] }), invalidOn('messages'));
    assert.equal(await h.log.headSeq(topicName('t-1')), 0);
  });
});

describe('PubSubAdmin: topics of the IoT registries (docs/compat.md C-PS-AUTO-TOPICS)', () => {
  it('ensureTopics creates the missing ones only, each once, and keeps existing ones untouched', async () => {
    const h = harness();
    await h.admin.createTopic(ADMIN, { name: topicName('events'), labels: { keep: 'me' } });
    h.advance(1000);
    await h.admin.ensureTopics([topicName('events'), topicName('state'), topicName('state')]);
    assert.deepEqual((await h.admin.getTopic(ADMIN, { topic: topicName('events') })).labels, { keep: 'me' });
    assert.equal((await h.admin.getTopic(ADMIN, { topic: topicName('state') })).createTime, T0 + 1000);
    await assert.rejects(h.admin.ensureTopics(['projects/proj/topics/goog-x']), invalidOn('pubsub_topic_name'));
  });

  it('ensureExistingRegistryTopics creates the topics of every registry of every project', async () => {
    const h = harness();
    const registries = new MemoryStore();
    await registries.createRegistry(
      makeRegistry(regKey('r-1', 'a'), {
        eventNotificationConfigs: [{ pubsubTopicName: topicName('events', 'a'), subfolderMatches: '' }],
        stateNotificationConfig: { pubsubTopicName: topicName('state', 'a') },
      }),
    );
    // Registries accepted topic IDs Pub/Sub refuses ("goog..."): such a name is reported, not fatal.
    await registries.createRegistry(
      makeRegistry(regKey('r-2', 'b'), {
        eventNotificationConfigs: [
          { pubsubTopicName: topicName('google-events', 'b'), subfolderMatches: 'x' },
          { pubsubTopicName: topicName('events', 'b'), subfolderMatches: '' },
        ],
      }),
    );
    await registries.createRegistry(makeRegistry(regKey('r-3', 'b'), { eventNotificationConfigs: [] }));
    assert.deepEqual(await h.admin.ensureExistingRegistryTopics(registries), { registries: 3, skipped: [topicName('google-events', 'b')] });
    for (const name of [topicName('events', 'a'), topicName('state', 'a'), topicName('events', 'b')]) {
      assert.equal((await h.admin.getTopic(ADMIN, { topic: name })).name, name);
    }
    assert.equal((await h.admin.listTopics(ADMIN, { project: 'projects/b' })).items.length, 1);
    const again = await h.admin.ensureExistingRegistryTopics(registries);
    assert.equal(again.registries, 3, 'a second start changes nothing');
  });
});

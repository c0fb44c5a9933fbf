import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  isPubSubId,
  parseProjectName,
  parseSnapshotName,
  parseSubscriptionName,
  parseTopicName,
  pubSubCollection,
} from '../../../src/domain/pubsub/pubsub-names.js';
import { invalidOn } from '../../support/assertions.js';

describe('Pub/Sub resource names', () => {
  test('parse project and ID of each collection', () => {
    assert.deepEqual(parseTopicName('projects/p1/topics/t-1', 'topic'), { project: 'p1', id: 't-1', name: 'projects/p1/topics/t-1' });
    assert.equal(parseSubscriptionName('projects/example.com:p/subscriptions/sub', 'name').project, 'example.com:p');
    assert.equal(parseSnapshotName('projects/p/snapshots/snap', 'name').id, 'snap');
    assert.equal(parseProjectName('projects/p', 'project'), 'p');
  });

  test('ID rules: 3..255 characters, a letter first, [A-Za-z0-9-_.~+%], not "goog"', () => {
    for (const ok of ['abc', 'a'.repeat(255), 'A-_.~+%9']) assert.ok(isPubSubId(ok), ok);
    for (const bad of ['ab', 'a'.repeat(256), '1ab', '-ab', 'ab/c', 'ab c', 'abé', 'ab@c', 'goog-x', 'googabc']) assert.ok(!isPubSubId(bad), bad);
    assert.throws(() => parseTopicName('projects/p/topics/ab', 'topic'), invalidOn('topic', /3-255 characters/));
    assert.throws(() => parseTopicName('projects/p/topics/google', 'topic'), invalidOn('topic', /must not start with "goog"/));
    // "Goog" is another prefix: the rule is case-sensitive as Pub/Sub's is.
    assert.equal(parseTopicName('projects/p/topics/Google', 'topic').id, 'Google');
  });

  test('wrong shapes name the field; an absent name is REQUIRED_FIELD', () => {
    for (const bad of ['projects/p/subscriptions/abc', 'projects/p/topics', 'projects/p/topics/abc/x', 'topics/abc', 'projects//topics/abc', 'projects/p q/topics/abc']) {
      assert.throws(() => parseTopicName(bad, 'subscription.topic'), invalidOn('subscription.topic', /expected a topic name/));
    }
    assert.throws(() => parseSubscriptionName(undefined, 'subscription'), (e: unknown) => {
      invalidOn('subscription', /required/)(e);
      return (e as { reason: string }).reason === 'REQUIRED_FIELD';
    });
    assert.throws(() => parseProjectName('projects/p/topics/t', 'project'), invalidOn('project', /expected "projects\/\{project\}"/));
    assert.throws(() => parseProjectName('', 'project'), invalidOn('project', /required/));
  });

  test('pubSubCollection tells topics, subscriptions and snapshots from other names', () => {
    assert.equal(pubSubCollection('projects/p/topics/t'), 'topics');
    assert.equal(pubSubCollection('projects/p/subscriptions/s'), 'subscriptions');
    assert.equal(pubSubCollection('projects/p/snapshots/s'), 'snapshots');
    assert.equal(pubSubCollection('projects/p/locations/l/registries/r'), undefined);
    assert.equal(pubSubCollection('projects/p'), undefined);
  });
});

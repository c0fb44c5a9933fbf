import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { forwardSubscriptionStep } from '../../../src/domain/pubsub/forward-subscription.js';
import { DELETED_TOPIC, type PsSubscription } from '../../../src/domain/pubsub/pubsub-model.js';
import { newSub } from '../../contracts/pubsub-store-fixtures.js';

const TOPIC = 'projects/p/topics/telemetry';

const sub = (over: Partial<PsSubscription> = {}): PsSubscription => ({
  ...newSub('projects/p/subscriptions/bridgehead-forward-telemetry', TOPIC, { ackDeadlineSeconds: 60, startSeq: 5, createTime: 1 }),
  revision: 3,
  ...over,
});

/** What the replacement is conditional on: the subscription read, by revision and createTime. */
const read = (revision: number) => ({ name: sub().name, revision, createTime: 1 });

describe('forwardSubscriptionStep (C-PS-FORWARD)', () => {
  const step = (subscription: PsSubscription | undefined, topicExists = true, createMissing = true) =>
    forwardSubscriptionStep({ topic: TOPIC, subscription, topicExists, createMissing });

  test('attached to the topic: used as it is', () => {
    assert.deepEqual(step(sub()), { action: 'use' });
  });

  test('its topic deleted and created again: the one read is replaced, from where the new topic began', () => {
    assert.deepEqual(step(sub({ topic: DELETED_TOPIC })), { action: 'replace', replaced: read(3), start: 'topic-creation' });
  });

  test('detached, or on another topic: replaced, from the head', () => {
    assert.deepEqual(step(sub({ detached: true, revision: 4 })), { action: 'replace', replaced: read(4), start: 'head' });
    assert.deepEqual(step(sub({ topic: 'projects/p/topics/other' })), { action: 'replace', replaced: read(3), start: 'head' });
  });

  test('the topic gone: nothing to read, nothing replaced', () => {
    assert.deepEqual(step(sub({ topic: DELETED_TOPIC }), false), { action: 'wait' });
    assert.deepEqual(step(undefined, false), { action: 'wait' });
  });

  test('missing: created from the head, or at a periodic look only once seen missing before', () => {
    assert.deepEqual(step(undefined), { action: 'create', start: 'head' });
    assert.deepEqual(step(undefined, true, false), { action: 'wait' });
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ackDeadlineSeconds,
  deadLetterPolicy,
  durationMs,
  labels,
  parseSnapshotUpdateMask,
  parseSubscriptionUpdateMask,
  parseTopicUpdateMask,
  partialSubscriptionFields,
  pushConfig,
  retryPolicy,
  subscriptionRetentionMs,
  timestampMs,
  topicRetentionMs,
} from '../../../src/domain/pubsub/pubsub-fields.js';
import { invalidOn } from '../../support/assertions.js';

const MIN = 60_000;
const DAY = 24 * 60 * MIN;

describe('durations and timestamps', () => {
  test('seconds (number or int64 string) and nanos become milliseconds', () => {
    assert.equal(durationMs({ seconds: '90', nanos: 500_000_000 }, 'd'), 90_500);
    assert.equal(durationMs({ seconds: 2 }, 'd'), 2000);
    assert.equal(durationMs({ nanos: 1_999_999 }, 'd'), 1);
    assert.equal(durationMs(undefined, 'd'), undefined);
    assert.equal(timestampMs({ seconds: '1700000000', nanos: 0 }, 't'), 1_700_000_000_000);
  });

  test('malformed or negative values name the field', () => {
    for (const bad of [{ seconds: 'x' }, { seconds: '1.5' }, { seconds: -1 }, { seconds: '-5' }, { nanos: -1 }, { nanos: 1e9 }, { nanos: 0.5 }]) {
      assert.throws(() => durationMs(bad, 'retry_policy.minimum_backoff'), invalidOn('retry_policy.minimum_backoff'));
    }
  });
});

describe('subscription fields', () => {
  test('ack_deadline_seconds: 0 or absent = 10; 10..600 kept; others refused', () => {
    assert.equal(ackDeadlineSeconds(undefined, 'ack_deadline_seconds'), 10);
    assert.equal(ackDeadlineSeconds(0, 'ack_deadline_seconds'), 10);
    assert.equal(ackDeadlineSeconds(10, 'ack_deadline_seconds'), 10);
    assert.equal(ackDeadlineSeconds(600, 'ack_deadline_seconds'), 600);
    for (const bad of [9, 601, -1, 12.5]) assert.throws(() => ackDeadlineSeconds(bad, 'ack_deadline_seconds'), invalidOn('ack_deadline_seconds', /10\.\.600/));
  });

  test('message_retention_duration: 10 min .. 7 days, default 7 days; topics up to 31 days, default unset', () => {
    assert.equal(subscriptionRetentionMs(undefined, 'f'), 7 * DAY);
    assert.equal(subscriptionRetentionMs({ seconds: 600 }, 'f'), 10 * MIN);
    assert.throws(() => subscriptionRetentionMs({ seconds: 599 }, 'f'), invalidOn('f', /10 minutes and 7 days/));
    assert.throws(() => subscriptionRetentionMs({ seconds: 7 * 86400 + 1 }, 'f'), invalidOn('f'));
    assert.equal(topicRetentionMs(undefined, 'f'), undefined);
    assert.equal(topicRetentionMs({ seconds: 31 * 86400 }, 'f'), 31 * DAY);
    assert.throws(() => topicRetentionMs({ seconds: 31 * 86400 + 1 }, 'f'), invalidOn('f', /31 days/));
  });

  test('retry_policy: defaults 10 s / 600 s, bounds 0..600 s, min <= max', () => {
    assert.equal(retryPolicy(undefined, 'retry_policy'), undefined);
    assert.deepEqual(retryPolicy({}, 'retry_policy'), { minimumBackoffMs: 10_000, maximumBackoffMs: 600_000 });
    assert.deepEqual(retryPolicy({ minimumBackoff: { seconds: 0 }, maximumBackoff: { seconds: 1 } }, 'retry_policy'), {
      minimumBackoffMs: 0,
      maximumBackoffMs: 1000,
    });
    assert.throws(() => retryPolicy({ maximumBackoff: { seconds: 601 } }, 'retry_policy'), invalidOn('retry_policy.maximum_backoff'));
    assert.throws(() => retryPolicy({ minimumBackoff: { seconds: 601 } }, 'retry_policy'), invalidOn('retry_policy.minimum_backoff'));
    assert.throws(
      () => retryPolicy({ minimumBackoff: { seconds: 20 }, maximumBackoff: { seconds: 15 } }, 'retry_policy'),
      invalidOn('retry_policy.minimum_backoff', /must not exceed/),
    );
  });

  test('dead_letter_policy: a valid topic, 5..100 attempts (0 = 5); no topic = no policy', () => {
    assert.equal(deadLetterPolicy(undefined, 'dead_letter_policy'), undefined);
    assert.equal(deadLetterPolicy({ maxDeliveryAttempts: 7 }, 'dead_letter_policy'), undefined);
    assert.deepEqual(deadLetterPolicy({ deadLetterTopic: 'projects/p/topics/dlq' }, 'dead_letter_policy'), {
      deadLetterTopic: 'projects/p/topics/dlq',
      maxDeliveryAttempts: 5,
    });
    assert.equal(deadLetterPolicy({ deadLetterTopic: 'projects/p/topics/dlq', maxDeliveryAttempts: 100 }, 'd')!.maxDeliveryAttempts, 100);
    for (const bad of [4, 101, 5.5]) {
      assert.throws(() => deadLetterPolicy({ deadLetterTopic: 'projects/p/topics/dlq', maxDeliveryAttempts: bad }, 'd'), invalidOn('d.max_delivery_attempts'));
    }
    assert.throws(() => deadLetterPolicy({ deadLetterTopic: 'dlq' }, 'd'), invalidOn('d.dead_letter_topic'));
  });

  test('push_config: absolute http(s) endpoint; empty = pull; OIDC audience defaults to the endpoint', () => {
    assert.equal(pushConfig(undefined, 'push_config'), undefined);
    assert.equal(pushConfig({ pushEndpoint: '' }, 'push_config'), undefined);
    assert.deepEqual(pushConfig({ pushEndpoint: 'https://h.example/push', oidcToken: { serviceAccountEmail: 'sa@p.iam.gserviceaccount.com' } }, 'push_config'), {
      pushEndpoint: 'https://h.example/push',
      attributes: {},
      oidcToken: { serviceAccountEmail: 'sa@p.iam.gserviceaccount.com', audience: 'https://h.example/push' },
    });
    for (const bad of ['ftp://h/x', '/relative', 'http://', 'https//h', 'not a url']) {
      assert.throws(() => pushConfig({ pushEndpoint: bad }, 'push_config'), invalidOn('push_config.push_endpoint'));
    }
    assert.throws(() => pushConfig({ pushEndpoint: 'http://h/', oidcToken: {} }, 'push_config'), invalidOn('push_config.oidc_token.service_account_email'));
  });

  test('labels: lower-case keys starting with a letter, values <= 63, at most 64', () => {
    assert.deepEqual(labels({ env: 'prod', 'a_b-1': '' }, 'labels'), { env: 'prod', 'a_b-1': '' });
    for (const bad of <Record<string, string>[]>[{ Env: 'x' }, { '1a': 'x' }, { '': 'x' }, { ['a'.repeat(64)]: 'x' }, { a: 'X' }, { a: 'x'.repeat(64) }, { a: 'a b' }]) {
      assert.throws(() => labels(bad, 'labels'), invalidOn('labels'));
    }
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));
    assert.throws(() => labels(many, 'labels'), invalidOn('labels', /at most 64/));
  });
});

describe('update masks', () => {
  test('allowed paths per resource, snake_case or camelCase, sub-paths of policies', () => {
    assert.deepEqual([...parseTopicUpdateMask(['labels', 'message_retention_duration'])], ['labels', 'messageRetentionDuration']);
    assert.deepEqual([...parseSubscriptionUpdateMask(['ack_deadline_seconds', 'push_config.push_endpoint', 'retry_policy'])], [
      'ackDeadlineSeconds',
      'pushConfig',
      'retryPolicy',
    ]);
    assert.deepEqual([...parseSnapshotUpdateMask(['expire_time'])], ['expireTime']);
  });

  test('the policies a mask names only in part, with the sub-fields named; a policy also named whole is not partial', () => {
    assert.deepEqual(
      [...partialSubscriptionFields(['retry_policy.maximum_backoff', 'push_config.attributes', 'pushConfig.pushEndpoint', 'labels', 'dead_letter_policy', 'deadLetterPolicy.maxDeliveryAttempts'])],
      [
        ['retryPolicy', ['maximumBackoff']],
        ['pushConfig', ['attributes', 'pushEndpoint']],
      ],
    );
    assert.deepEqual([...partialSubscriptionFields(['ack_deadline_seconds'])], []);
  });

  test('immutable or unknown paths and empty masks are refused naming update_mask', () => {
    for (const bad of [['filter'], ['topic'], ['name'], ['enable_message_ordering'], []]) {
      assert.throws(() => parseSubscriptionUpdateMask(bad), invalidOn('update_mask'));
    }
    assert.throws(() => parseTopicUpdateMask(['kms_key_name']), invalidOn('update_mask'));
    assert.throws(() => parseSnapshotUpdateMask(['topic']), invalidOn('update_mask'));
  });
});

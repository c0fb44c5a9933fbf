import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isPushAck, pushEnvelope } from '../../../src/adapters/pubsub-push/push-envelope.js';
import type { PsMessage } from '../../../src/domain/pubsub/pubsub-model.js';

const message: PsMessage = {
  seq: 42,
  messageId: '42',
  publishTime: Date.UTC(2026, 11, 4, 19, 13, 55, 749),
  attributes: { deviceId: 'dev-1', deviceNumId: '2001' },
  data: new TextEncoder().encode('Hello Pub/Sub'),
  orderingKey: '',
};
const SUB = 'projects/p/subscriptions/push-sub';

describe('pushEnvelope', () => {
  test('v1 (the default): both spellings of the ID and time, data in base64, no deliveryAttempt without a dead-letter policy', () => {
    assert.deepEqual(pushEnvelope(SUB, { ackId: 'a', message, deliveryAttempt: 0 }, { attributes: {} }), {
      message: {
        data: Buffer.from('Hello Pub/Sub').toString('base64'),
        attributes: { deviceId: 'dev-1', deviceNumId: '2001' },
        messageId: '42',
        message_id: '42',
        publishTime: '2026-12-04T19:13:55.749Z',
        publish_time: '2026-12-04T19:13:55.749Z',
      },
      subscription: SUB,
    });
    assert.deepEqual(
      pushEnvelope(SUB, { ackId: 'a', message, deliveryAttempt: 0 }, { attributes: { 'x-goog-version': 'v1' } }),
      pushEnvelope(SUB, { ackId: 'a', message, deliveryAttempt: 0 }, { attributes: { 'x-goog-version': 'v1beta2' } }),
    );
  });

  test('deliveryAttempt and orderingKey when set; data taken from a view into a larger buffer', () => {
    const backing = new TextEncoder().encode('xxabcxx');
    const env = pushEnvelope(SUB, { ackId: 'a', message: { ...message, data: backing.subarray(2, 5), attributes: {}, orderingKey: 'k1' }, deliveryAttempt: 3 }, { attributes: {} });
    assert.equal(env.deliveryAttempt, 3);
    assert.equal(env.message.orderingKey, 'k1');
    assert.equal(env.message.data, Buffer.from('abc').toString('base64'));
    assert.equal('attributes' in env.message, false);
  });

  test('x-goog-version v1beta1: the snake_case fields only', () => {
    const env = pushEnvelope(SUB, { ackId: 'a', message: { ...message, orderingKey: 'k1' }, deliveryAttempt: 0 }, { attributes: { 'x-goog-version': 'v1beta1' } });
    assert.deepEqual(Object.keys(env.message).sort(), ['attributes', 'data', 'message_id', 'publish_time']);
  });
});

test('isPushAck: the statuses Pub/Sub documents as acknowledgements, nothing else', () => {
  assert.deepEqual([102, 200, 201, 202, 204].map(isPushAck), [true, true, true, true, true]);
  assert.deepEqual([100, 203, 206, 301, 304, 400, 404, 429, 500, 503].map(isPushAck), Array(10).fill(false));
});

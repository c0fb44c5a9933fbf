import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkPublishMessages, PUBLISH_LIMITS } from '../../../src/domain/pubsub/publish-limits.js';
import { invalidOn } from '../../support/assertions.js';

const bytes = (n: number): Uint8Array => new Uint8Array(n);

describe('Publish limits (Pub/Sub quotas)', () => {
  test('fills absent fields and keeps the data', () => {
    const [m] = checkPublishMessages([{ data: bytes(3) }]);
    assert.deepEqual(m, { data: bytes(3), attributes: {}, orderingKey: '' });
    assert.deepEqual(checkPublishMessages([{ attributes: { a: '' }, orderingKey: 'k' }])[0], { data: new Uint8Array(0), attributes: { a: '' }, orderingKey: 'k' });
  });

  test('1..1000 messages per request', () => {
    assert.throws(() => checkPublishMessages([]), invalidOn('messages', /at least one/));
    assert.throws(() => checkPublishMessages(undefined), invalidOn('messages'));
    const many = Array.from({ length: 1001 }, () => ({ data: bytes(1) }));
    assert.throws(() => checkPublishMessages(many), invalidOn('messages', /at most 1000/));
    assert.equal(checkPublishMessages(many.slice(1)).length, 1000);
  });

  test('a message needs data or an attribute', () => {
    assert.throws(() => checkPublishMessages([{ data: bytes(1) }, {}]), invalidOn('messages[1]', /non-empty data or at least one attribute/));
    assert.throws(() => checkPublishMessages([{ data: bytes(0), attributes: {} }]), invalidOn('messages[0]'));
  });

  test('attribute count, key and value sizes, reserved keys', () => {
    const hundred = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, 'v']));
    assert.equal(Object.keys(checkPublishMessages([{ attributes: hundred }])[0]!.attributes).length, 100);
    assert.throws(() => checkPublishMessages([{ attributes: { ...hundred, extra: 'v' } }]), invalidOn('messages[0].attributes', /at most 100/));
    assert.doesNotThrow(() => checkPublishMessages([{ attributes: { ['k'.repeat(256)]: 'v'.repeat(1024) } }]));
    assert.throws(() => checkPublishMessages([{ attributes: { ['k'.repeat(257)]: 'v' } }]), invalidOn('messages[0].attributes', /256/));
    assert.throws(() => checkPublishMessages([{ attributes: { k: 'v'.repeat(1025) } }]), invalidOn('messages[0].attributes', /1024/));
    // Bytes, not characters: 513 two-byte characters are 1,026 bytes.
    assert.throws(() => checkPublishMessages([{ attributes: { k: 'é'.repeat(513) } }]), invalidOn('messages[0].attributes', /1026 bytes/));
    assert.throws(() => checkPublishMessages([{ attributes: { googKey: 'v' } }]), invalidOn('messages[0].attributes', /goog/));
    assert.throws(() => checkPublishMessages([{ attributes: { '': 'v' } }]), invalidOn('messages[0].attributes', /empty/));
  });

  test('ordering key at most 1,024 bytes', () => {
    assert.doesNotThrow(() => checkPublishMessages([{ data: bytes(1), orderingKey: 'k'.repeat(1024) }]));
    assert.throws(() => checkPublishMessages([{ data: bytes(1), orderingKey: 'k'.repeat(1025) }]), invalidOn('messages[0].ordering_key'));
  });

  test('10 MiB per message (data and attributes) and per request', () => {
    const max = PUBLISH_LIMITS.maxMessageBytes;
    assert.doesNotThrow(() => checkPublishMessages([{ data: bytes(max) }]));
    assert.throws(() => checkPublishMessages([{ data: bytes(max - 1), attributes: { k: 'v' } }]), invalidOn('messages[0]', /data and attributes/));
    assert.throws(() => checkPublishMessages([{ data: bytes(max / 2) }, { data: bytes(max / 2 + 1) }]), invalidOn('messages', /total/));
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeAckId, encodeAckId, subscriptionTag } from '../../../src/domain/pubsub/ack-id.js';

describe('ack IDs', () => {
  const tag = subscriptionTag('projects/p/subscriptions/s');

  test('round-trip the subscription tag, seq and generation', () => {
    const id = encodeAckId(tag, 123456789, 1733342400000);
    assert.deepEqual(decodeAckId(id), { tag, seq: 123456789, generation: 1733342400000 });
  });

  test('the tag is stable and differs between subscriptions (and projects)', () => {
    assert.equal(subscriptionTag('projects/p/subscriptions/s'), tag);
    assert.notEqual(subscriptionTag('projects/p/subscriptions/t'), tag);
    assert.notEqual(subscriptionTag('projects/q/subscriptions/s'), tag);
    assert.match(tag, /^[0-9a-z]{14}$/);
  });

  test('garbage decodes to undefined, never throws', () => {
    const garbage: unknown[] = [
      '', 'x', '-', '--', `${tag}--`, `${tag}-1`, `${tag}-1-2-3`, `${tag}-0-1`, `${tag}-zzzzzzzzzzz-1`,
      `${tag.toUpperCase()}-1-1`, `${tag}-1-1 `, `${tag}-1-${'1'.repeat(60)}`, 'a'.repeat(100000), '\u0000', '🙂',
      undefined, null, 42, {}, ['x'],
    ];
    for (const g of garbage) assert.equal(decodeAckId(g), undefined, JSON.stringify(g)?.slice(0, 40));
  });

  test('random strings never decode to a seq that is not a positive safe integer', () => {
    const alphabet = 'abcz019-';
    for (let n = 0; n < 2000; n++) {
      let s = '';
      const len = 16 + (n % 30);
      for (let i = 0; i < len; i++) s += alphabet[(n * 7 + i * 13 + ((n * i) % 5)) % alphabet.length];
      const ref = decodeAckId(s);
      if (ref) assert.ok(Number.isSafeInteger(ref.seq) && ref.seq >= 1);
    }
  });
});

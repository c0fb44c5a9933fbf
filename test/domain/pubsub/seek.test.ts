import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { seekToTimeState } from '../../../src/domain/pubsub/seek.js';

describe('seekToTimeState (Seek to a time)', () => {
  const current = { floor: 20, acked: [22, 25, 30] };

  test('with acked messages retained: everything up to the time acked, everything after it not', () => {
    const r = { startSeq: 10, retainAckedMessages: true, topicRetention: false };
    assert.deepEqual(seekToTimeState(current, 24, r), { floor: 24, acked: [] });
    assert.deepEqual(seekToTimeState(current, 15, r), { floor: 15, acked: [] }, 'back in time: acked messages come back');
    assert.deepEqual(seekToTimeState(current, 3, r), { floor: 10, acked: [] }, 'never before the subscription existed');
  });

  test('with topic retention, even messages from before the subscription come back', () => {
    assert.deepEqual(seekToTimeState(current, 3, { startSeq: 10, retainAckedMessages: false, topicRetention: true }), { floor: 3, acked: [] });
  });

  test('without retention, acked messages stay acked: only the unacked ones move', () => {
    const r = { startSeq: 10, retainAckedMessages: false, topicRetention: false };
    assert.deepEqual(seekToTimeState(current, 5, r), current, 'back in time changes nothing');
    assert.deepEqual(seekToTimeState(current, 25, r), { floor: 25, acked: [30] }, 'forward: acks up to the time');
  });
});

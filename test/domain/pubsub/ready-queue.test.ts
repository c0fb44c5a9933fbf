import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ReadyQueue, type ReadyVerdict } from '../../../src/domain/pubsub/ready-queue.js';

const drain = (q: ReadyQueue): number[] => {
  const out: number[] = [];
  q.scan((s) => (out.push(s), 'take'));
  return out;
};

describe('ReadyQueue', () => {
  test('scan verdicts: take and drop remove, keep stays in order, stop leaves the rest', () => {
    const q = new ReadyQueue();
    for (const s of [1, 2, 3, 4, 5, 6]) q.append(s);
    const verdicts: Record<number, ReadyVerdict> = { 1: 'take', 2: 'keep', 3: 'drop', 4: 'keep', 5: 'stop' };
    q.scan((s) => verdicts[s] ?? 'take');
    assert.equal(q.size, 4);
    assert.deepEqual(drain(q), [2, 4, 5, 6]);
    assert.equal(q.size, 0);
  });

  test('redeliveries are inserted in seq order, also after the head moved', () => {
    const q = new ReadyQueue();
    for (let s = 1; s <= 3000; s++) q.append(s * 2);
    let n = 0;
    q.scan(() => (++n <= 2000 ? 'take' : 'stop'));
    q.insert(4001);
    q.insert(5);
    q.insert(9999);
    const rest = drain(q);
    assert.equal(rest.length, 1003);
    assert.deepEqual(rest.slice(0, 3), [5, 4001, 4002]);
    assert.ok(rest.every((s, i) => i === 0 || rest[i - 1]! < s));
  });
});

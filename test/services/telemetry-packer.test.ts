import assert from 'node:assert/strict';
import { test } from 'node:test';
import { columnsOf, TelemetryPacker } from '../../src/services/telemetry-packer.js';

test('packs messages into one buffer with topic and attribute tables, and starts empty again', () => {
  const p = new TelemetryPacker();
  const attrs = Array.from({ length: 40 }, (_v, i) => Object.freeze({ deviceId: `d${i}` }));
  const expected: Array<{ topic: string; attrs: Readonly<Record<string, string>>; data: string; at: number }> = [];
  // More distinct values than the scanned tables hold, repeated out of order.
  for (let i = 0; i < 200; i++) {
    const m = { topic: `projects/p/topics/t${i % 23}`, attrs: attrs[(i * 7) % 40]!, data: 'x'.repeat(i % 5), at: 1_700_000_000_000 + i };
    expected.push(m);
    p.add(m.topic, m.attrs, Buffer.from(m.data), m.at);
  }
  assert.equal(p.count, 200);
  const packed = p.finish();
  assert.equal(packed.count, 200);
  assert.equal(packed.topics.length, 23);
  assert.equal(packed.attributes.length, 40);
  const c = columnsOf(packed);
  let start = 0;
  for (let i = 0; i < 200; i++) {
    const m = expected[i]!;
    assert.equal(packed.topics[c.topicIndex[i]!], m.topic);
    assert.equal(packed.attributes[c.attributesIndex[i]!], m.attrs);
    assert.equal(c.publishTimes[i], m.at);
    assert.equal(Buffer.from(c.bytes.subarray(start, c.ends[i])).toString(), m.data);
    start = c.ends[i]!;
  }
  assert.equal(p.count, 0);
  const empty = p.finish();
  assert.equal(empty.count, 0);
  assert.equal(empty.buffer.byteLength, 0);
  p.add('t', attrs[0]!, new Uint8Array([1, 2]), 5);
  const again = p.finish();
  assert.deepEqual([again.count, again.topics, columnsOf(again).bytes.length], [1, ['t'], 2]);
});

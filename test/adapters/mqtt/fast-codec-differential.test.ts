import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runDifferential } from '../../support/mqtt-codec-differential.js';

/**
 * The fast path refuses exactly what mqtt-packet refuses and decodes every other input the same,
 * except the documented differences where mqtt-packet is wrong (fast-codec.ts); `npm run bench --
 * codec-fuzz` runs 2,000,000 inputs.
 */
test('fast codec against mqtt-packet: 100,000 generated inputs, no mismatch', (t) => {
  const stats = runDifferential(100_000, 0x13c0dec);
  t.diagnostic(JSON.stringify({ ...stats, examples: undefined }));
  assert.deepEqual(stats.examples, []);
  assert.equal(stats.mismatches, 0);
  assert.ok(stats.inputs >= 100_000);
  // The generator reaches both sides' decoders and refusals, and every documented difference.
  assert.ok(stats.packets > 120_000, `packets ${stats.packets}`);
  assert.ok(stats.refused > 10_000, `refused ${stats.refused}`);
  for (const [name, n] of Object.entries(stats.differences)) assert.ok(n > 0, `difference ${name} never generated`);
});

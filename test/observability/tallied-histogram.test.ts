import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import { TalliedHistogram } from '../../src/observability/tallied-histogram.js';

const BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

test('weighted tallies export exactly what prom-client exports for the same observations one by one', async () => {
  const mine = new Registry();
  const theirs = new Registry();
  const tallied = new TalliedHistogram('h_seconds', 'help text', BUCKETS, mine);
  const reference = new Histogram({ name: 'h_seconds', help: 'help text', buckets: BUCKETS, registers: [theirs] });
  const observations: Array<[number, number]> = [[0.0001, 3], [0.0005, 1], [0.0007, 250], [0.01, 2], [0.3, 7], [2.5, 1], [4, 5], [0.05, 1]];
  for (const [value, weight] of observations) {
    tallied.observe(value, weight);
    for (let i = 0; i < weight; i++) reference.observe(value);
  }
  assert.equal(await mine.metrics(), await theirs.metrics());
  // Invalid input is ignored, never counted.
  tallied.observe(Number.NaN, 1);
  tallied.observe(0.1, 0);
  tallied.observe(0.1, -1);
  assert.equal(await mine.metrics(), await theirs.metrics());
  tallied.reset();
  reference.reset();
  assert.equal(await mine.metrics(), await theirs.metrics());
});

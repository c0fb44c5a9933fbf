import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MetricsHistory } from '../../src/observability/metrics-history.js';
import type { MetricTotals } from '../../src/observability/metrics.js';

test('MetricsHistory: rates per interval from running totals, errors per interval, at most an hour kept', () => {
  let now = 1_000_000;
  const totals: MetricTotals = { messagesIn: 0, messagesOut: 0, errors: 0 };
  let connected = 0;
  const h = new MetricsHistory({ totals: () => ({ ...totals }), connectedDevices: () => connected, now: () => now, intervalMs: 10_000, windowMs: 30_000 });
  now += 10_000;
  totals.messagesIn = 50;
  totals.messagesOut = 5;
  totals.errors = 2;
  connected = 3;
  assert.deepEqual(h.sample(), { at: 1_010_000, connectedDevices: 3, messagesInPerSecond: 5, messagesOutPerSecond: 0.5, errors: 2 });
  now += 10_000;
  assert.deepEqual(h.sample(), { at: 1_020_000, connectedDevices: 3, messagesInPerSecond: 0, messagesOutPerSecond: 0, errors: 0 });
  now += 10_000;
  h.sample();
  now += 10_000;
  h.sample();
  assert.equal(h.list().length, 3, 'the window holds 30 s of 10 s samples');
  assert.equal(h.list()[0]!.at, 1_020_000);
});

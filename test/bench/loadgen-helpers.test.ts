import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bucketLow, bucketOf, bucketValue, Histogram, HISTOGRAM_BUCKETS } from '../../bench/loadgen/histogram.js';
import { tally } from '../../bench/loadgen/jobs.js';
import { median } from '../../bench/loadgen/proc.js';
import { formatValue, ratio, renderTable, type MetricDef, type Results } from '../../bench/loadgen/report.js';

describe('latency histogram buckets', () => {
  test('values below 256 ns have a bucket of their own', () => {
    for (const v of [0, 1, 2, 127, 128, 255]) {
      assert.equal(bucketOf(v), v);
      assert.equal(bucketValue(bucketOf(v)), v);
    }
  });

  test('every value lands in a bucket whose range holds it, within 0.4 % of the reported value', () => {
    for (let v = 256; v < 2 ** 40; v = Math.floor(v * 1.37) + 1) {
      for (const x of [v, v + 1, 2 ** Math.floor(Math.log2(v)), 2 ** Math.ceil(Math.log2(v)) - 1]) {
        const i = bucketOf(x);
        assert.ok(bucketLow(i) <= x, `low(${i}) = ${bucketLow(i)} > ${x}`);
        assert.ok(bucketLow(i + 1) > x, `low(${i + 1}) = ${bucketLow(i + 1)} <= ${x}`);
        assert.ok(Math.abs(bucketValue(i) - x) / x < 0.004, `value ${bucketValue(i)} too far from ${x}`);
      }
    }
  });

  test('bucket indexes increase with the value and stay inside the array', () => {
    let prev = -1;
    for (let v = 0; v < 2 ** 46; v = v < 1000 ? v + 1 : Math.floor(v * 1.01)) {
      const i = bucketOf(v);
      assert.ok(i >= prev && i < HISTOGRAM_BUCKETS, `bucketOf(${v}) = ${i}`);
      prev = i;
    }
    assert.equal(bucketOf(Number.NaN), 0);
    assert.equal(bucketOf(-5), 0);
    assert.equal(bucketOf(2 ** 60), HISTOGRAM_BUCKETS - 1);
  });
});

describe('Histogram quantiles', () => {
  test('nearest-rank quantiles of 1..1000 µs', () => {
    const h = new Histogram();
    for (let i = 1; i <= 1000; i += 1) h.record(i * 1000);
    assert.equal(h.count, 1000);
    const near = (q: number, expected: number): void => {
      const got = h.quantile(q);
      assert.ok(Math.abs(got - expected) / expected < 0.004, `q${q}: ${got} vs ${expected}`);
    };
    near(0.5, 500_000);
    near(0.99, 990_000);
    assert.equal(h.quantile(1), 1_000_000);
    assert.equal(h.quantile(0), 1000);
    assert.equal(h.mean(), 500_500);
  });

  test('an empty histogram has no quantiles', () => {
    assert.ok(Number.isNaN(new Histogram().quantile(0.5)));
  });

  test('quantiles are clamped to the recorded min and max', () => {
    const h = new Histogram();
    h.record(1_000_001);
    assert.equal(h.quantile(0.5), 1_000_001);
  });

  test('merging snapshots is the same as recording everything in one', () => {
    const a = new Histogram();
    const b = new Histogram();
    const all = new Histogram();
    for (let i = 0; i < 5000; i += 1) {
      const v = (i * 7919) % 3_000_000;
      (i % 3 === 0 ? a : b).record(v);
      all.record(v);
    }
    const merged = new Histogram();
    merged.merge(a.snapshot());
    merged.merge(b.snapshot());
    assert.equal(merged.count, all.count);
    assert.equal(merged.min, all.min);
    assert.equal(merged.max, all.max);
    for (const q of [0.01, 0.5, 0.9, 0.99, 0.999]) assert.equal(merged.quantile(q), all.quantile(q));
  });
});

describe('report helpers', () => {
  test('tally keeps the most frequent messages first', () => {
    assert.deepEqual(tally(['b', 'a', 'b', 'c', 'b', 'a'], 2), [
      { message: 'b', count: 3 },
      { message: 'a', count: 2 },
    ]);
  });

  test('median of odd and even samples', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.ok(Number.isNaN(median([])));
  });

  test('ratio needs both sides and a non-zero denominator', () => {
    assert.equal(ratio(150, 100), 1.5);
    assert.equal(ratio(null, 100), null);
    assert.equal(ratio(1, 0), null);
  });

  test('values are formatted per unit', () => {
    assert.equal(formatValue(172345.4, 'rate'), '172,345');
    assert.equal(formatValue(0.8412, 'ms'), '0.84');
    assert.equal(formatValue(16.04, 'kb'), '16.0');
    assert.equal(formatValue(0.93, 'fraction'), '93%');
    assert.equal(formatValue(null, 'ms'), '—');
  });

  test('the table shows both columns, the ratio and whether a target was met', () => {
    const defs: MetricDef[] = [
      { key: 'rate', label: 'QoS 1 msgs', unit: 'rate', target: { kind: 'ratio-at-least', value: 1 } },
      { key: 'mem', label: 'RSS per device', unit: 'kb', target: { kind: 'at-most', value: 20 } },
      { key: 'absent', label: 'never measured', unit: 'ms' },
    ];
    const results: Results = new Map([
      ['Bridgehead', new Map([['rate', { value: 90_000 }], ['mem', { value: 18.5 }]])],
      ['Mosquitto', new Map([['rate', { value: 100_000 }], ['mem', { value: 16 }]])],
    ]);
    const lines = renderTable(defs, results).split('\n');
    assert.equal(lines.length, 4);
    assert.match(lines[2] ?? '', /^QoS 1 msgs \(\/s\)\s+\|\s+90,000 \|\s+100,000 \|\s+0\.90× \|\s+≥ 1\.0× MISSED$/);
    assert.match(lines[3] ?? '', /18\.5 \|\s+16\.0 \|\s+1\.16× \|\s+≤ 20 KB met$/);
  });

  test('a Node floor gets its own columns, and a target it misses too is marked so', () => {
    const defs: MetricDef[] = [
      { key: 'perCpu', label: 'connects per CPU-second', unit: 'count', target: { kind: 'ratio-at-least', value: 0.6 } },
      { key: 'other', label: 'msgs per CPU-second', unit: 'count', target: { kind: 'ratio-at-least', value: 0.8 } },
      { key: 'rate', label: 'connects', unit: 'rate' },
      { key: 'mem', label: 'RSS per device', unit: 'kb', target: { kind: 'at-most', value: 20 } },
    ];
    const results: Results = new Map([
      ['Bridgehead', new Map([['perCpu', { value: 500 }], ['other', { value: 700 }], ['rate', { value: 900 }], ['mem', { value: 25 }]])],
      ['Mosquitto', new Map([['perCpu', { value: 1000 }], ['other', { value: 1000 }], ['rate', { value: 800 }]])],
      ['Node floor', new Map([['perCpu', { value: 550 }], ['other', { value: 900 }], ['mem', { value: 21 }]])],
    ]);
    const lines = renderTable(defs, results).split('\n');
    assert.match(lines[0] ?? '', /\|\s+target \| Node floor \| floor\/MQ$/);
    assert.match(lines[2] ?? '', /0\.50× \|\s+≥ 0\.6× MISSED \(so does the Node floor\) \|\s+550 \|\s+0\.55×$/);
    assert.match(lines[3] ?? '', /0\.70× \|\s+≥ 0\.8× MISSED \|\s+900 \|\s+0\.90×$/);
    // No floor figure: the floor's columns stay empty.
    assert.match(lines[4] ?? '', /1\.13× \|\s+\|\s+\|$/);
    // An absolute bound the floor misses too.
    assert.match(lines[5] ?? '', /≤ 20 KB MISSED \(so does the Node floor\) \|\s+21\.0 \|$/);
  });
});

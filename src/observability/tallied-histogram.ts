import type { MetricObjectWithValues, MetricValueWithName, Registry } from 'prom-client';

/**
 * A label-less histogram whose observations carry a weight and are tallied in plain arrays: one
 * observation stands for every message of a commit (they all waited the same time), where
 * prom-client's Histogram would take one `observe` each. Exported in prom-client's histogram
 * format through `registry.registerMetric` (test/observability/tallied-histogram.test.ts checks
 * the text against a prom-client Histogram given the same observations one by one).
 */
export class TalliedHistogram {
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  /** Observations per bucket (not cumulative); the last is +Inf. */
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;
  /** After reset() nothing is exported until the next observation (as prom-client does). */
  private cleared = false;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly upperBounds: readonly number[],
    registry: Registry,
  ) {
    this.counts = new Float64Array(upperBounds.length + 1);
    // prom-client reads a registered metric through get(), name, help, type and aggregator only.
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** `weight` observations of `value`. */
  observe(value: number, weight = 1): void {
    if (!Number.isFinite(value) || !(weight > 0)) return;
    const bounds = this.upperBounds;
    let b = 0;
    while (b < bounds.length && value > bounds[b]!) b++;
    this.cleared = false;
    this.counts[b]! += weight;
    this.sum += value * weight;
    this.count += weight;
  }

  get(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    const values: MetricValueWithName<string>[] = [];
    let acc = 0;
    for (let b = 0; b <= this.upperBounds.length && !this.cleared; b++) {
      acc += this.counts[b]!;
      values.push({ labels: { le: b < this.upperBounds.length ? this.upperBounds[b]! : '+Inf' }, value: acc, metricName: `${this.name}_bucket` });
    }
    if (!this.cleared) values.push({ labels: {}, value: this.sum, metricName: `${this.name}_sum` }, { labels: {}, value: this.count, metricName: `${this.name}_count` });
    const metric = { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
    return Promise.resolve(metric as unknown as MetricObjectWithValues<MetricValueWithName<string>>);
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
    this.cleared = true;
  }
}

/**
 * A fixed-size log-linear latency histogram over whole nanoseconds (the HDR-histogram layout):
 * exact below 256 ns, then 128 sub-buckets per power of two, so any recorded value is reported
 * within 0.4 % (half a bucket) of what was recorded. Recording allocates nothing, the counts are
 * one Float64Array that crosses a worker boundary as a plain copy, and histograms from several
 * load-generator threads merge by adding counts.
 */

const SUB_BITS = 7;
const SUB = 1 << SUB_BITS;
/** Values up to 2^44 ns (~4.9 h) are kept apart; larger ones land in the last bucket. */
const MAX_EXP = 44 - SUB_BITS;
export const HISTOGRAM_BUCKETS = (MAX_EXP + 1) * SUB + SUB;

/** Bucket index of a value in nanoseconds (negative and NaN count as 0). */
export function bucketOf(ns: number): number {
  if (!(ns > 0)) return 0;
  const v = Math.floor(ns);
  if (v < 2 * SUB) return v;
  let exp = Math.floor(Math.log2(v)) - SUB_BITS;
  // log2 of a double can land one off next to a power of two; settle it on the integer side.
  if (Math.floor(v / 2 ** exp) >= 2 * SUB) exp += 1;
  else if (Math.floor(v / 2 ** exp) < SUB) exp -= 1;
  if (exp > MAX_EXP) return HISTOGRAM_BUCKETS - 1;
  return exp * SUB + Math.floor(v / 2 ** exp);
}

/** The lowest value a bucket holds. */
export function bucketLow(index: number): number {
  if (index < 2 * SUB) return index;
  const exp = Math.floor(index / SUB) - 1;
  return (index - exp * SUB) * 2 ** exp;
}

/** The value reported for a bucket: its midpoint (exact for the unit-wide buckets). */
export function bucketValue(index: number): number {
  if (index < 2 * SUB) return index;
  const exp = Math.floor(index / SUB) - 1;
  return bucketLow(index) + (2 ** exp - 1) / 2;
}

export class Histogram {
  readonly counts: Float64Array;
  count = 0;
  min = Number.POSITIVE_INFINITY;
  max = 0;
  sum = 0;

  constructor(counts?: Float64Array) {
    this.counts = new Float64Array(HISTOGRAM_BUCKETS);
    if (counts !== undefined) this.addCounts(counts);
  }

  /** Records one latency in nanoseconds. */
  record(ns: number): void {
    const i = bucketOf(ns);
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.count += 1;
    this.sum += ns;
    if (ns < this.min) this.min = ns;
    if (ns > this.max) this.max = ns;
  }

  merge(other: HistogramSnapshot): void {
    this.addCounts(other.counts, other.count === 0 ? undefined : other);
  }

  /** The value at quantile q (0..1): the bucket holding the nearest-rank sample (0 = min, 1 = max); NaN when empty. */
  quantile(q: number): number {
    if (this.count === 0) return Number.NaN;
    if (q <= 0) return this.min;
    if (q >= 1) return this.max;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i += 1) {
      seen += this.counts[i] ?? 0;
      if (seen >= rank) return Math.min(Math.max(bucketValue(i), this.min), this.max);
    }
    return this.max;
  }

  mean(): number {
    return this.count === 0 ? Number.NaN : this.sum / this.count;
  }

  snapshot(): HistogramSnapshot {
    return { counts: this.counts.slice(), count: this.count, min: this.min, max: this.max, sum: this.sum };
  }

  private addCounts(counts: Float64Array, stats?: { min: number; max: number; sum: number }): void {
    let added = 0;
    let lo = -1;
    let hi = -1;
    for (let i = 0; i < counts.length && i < this.counts.length; i += 1) {
      const c = counts[i] ?? 0;
      if (c === 0) continue;
      this.counts[i] = (this.counts[i] ?? 0) + c;
      added += c;
      if (lo < 0) lo = i;
      hi = i;
    }
    if (added === 0) return;
    this.count += added;
    this.sum += stats?.sum ?? 0;
    this.min = Math.min(this.min, stats?.min ?? bucketLow(lo));
    this.max = Math.max(this.max, stats?.max ?? bucketValue(hi));
  }
}

/** What a worker posts back: structured-clone friendly. */
export interface HistogramSnapshot {
  counts: Float64Array;
  count: number;
  min: number;
  max: number;
  sum: number;
}

import type { MetricTotals } from './metrics.js';

/** One point of the history: the state at `at`, and the rates over the interval that ended there. */
export interface MetricSample {
  /** Epoch ms. */
  at: number;
  /** Devices with a live session, cluster-wide as far as this node knows. */
  connectedDevices: number;
  messagesInPerSecond: number;
  messagesOutPerSecond: number;
  /** Errors counted in the interval (see MetricTotals.errors). */
  errors: number;
}

export interface MetricsHistoryOptions {
  totals: () => MetricTotals;
  connectedDevices: () => number;
  now: () => number;
  /** Default 10 s. */
  intervalMs?: number;
  /** Default one hour. */
  windowMs?: number;
}

/**
 * A ring of samples of the server's own metrics over the last hour (docs/compat.md
 * C-CONSOLE-HISTORY), so the console's overview has its charts the moment it opens instead of
 * only from then on. Fixed size: one sample per interval, the oldest dropped.
 */
export class MetricsHistory {
  readonly intervalMs: number;
  private readonly capacity: number;
  private readonly samples: MetricSample[] = [];
  private last: { at: number; totals: MetricTotals };
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: MetricsHistoryOptions) {
    this.intervalMs = opts.intervalMs ?? 10_000;
    this.capacity = Math.max(1, Math.ceil((opts.windowMs ?? 3_600_000) / this.intervalMs));
    this.last = { at: opts.now(), totals: opts.totals() };
  }

  start(): void {
    this.timer ??= setInterval(() => this.sample(), this.intervalMs);
    // Sampling alone must never keep the process up.
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  sample(): MetricSample {
    const at = this.opts.now();
    const totals = this.opts.totals();
    const seconds = Math.max(0.001, (at - this.last.at) / 1000);
    const rate = (now: number, before: number): number => Math.round(((now - before) / seconds) * 100) / 100;
    const s: MetricSample = {
      at,
      connectedDevices: this.opts.connectedDevices(),
      messagesInPerSecond: rate(totals.messagesIn, this.last.totals.messagesIn),
      messagesOutPerSecond: rate(totals.messagesOut, this.last.totals.messagesOut),
      errors: totals.errors - this.last.totals.errors,
    };
    this.last = { at, totals };
    this.samples.push(s);
    if (this.samples.length > this.capacity) this.samples.splice(0, this.samples.length - this.capacity);
    return s;
  }

  /** Oldest first. */
  list(): readonly MetricSample[] {
    return this.samples;
  }
}

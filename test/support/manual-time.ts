import type { Clock, Timers } from '../../src/services/ports.js';

/**
 * A Clock and Timers that move only when a test says so: `advance` runs every timer that falls
 * due, in time order, letting promises settle after each, so redelivery after 10 minutes of lease
 * takes no real time.
 */
export class ManualTime implements Clock, Timers {
  private current: number;
  private timers: { at: number; order: number; fn: () => void }[] = [];
  private order = 0;

  constructor(start = 1_700_000_000_000) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  schedule(delayMs: number, fn: () => void): () => void {
    const timer = { at: this.current + Math.max(0, delayMs), order: this.order++, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }

  /** Timers waiting to fire (for tests that check nothing is left behind). */
  get pending(): number {
    return this.timers.length;
  }

  async advance(ms: number): Promise<void> {
    const until = this.current + ms;
    await settle();
    for (;;) {
      const due = this.timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at || a.order - b.order)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.current = Math.max(this.current, due.at);
      due.fn();
      await settle();
    }
    this.current = until;
    await settle();
  }
}

/** Lets every promise chain that can run, run (a few macrotask turns: stores answer in microtasks). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

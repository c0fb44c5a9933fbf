import type { Clock, Timers } from '../../services/ports.js';

/** Wall-clock time and Node's timers, unref'd: a pending redelivery never holds the process open. */
export const systemClock: Clock = { now: () => Date.now() };

export const systemTimers: Timers = {
  schedule(delayMs, fn) {
    const t = setTimeout(fn, Math.max(0, delayMs));
    t.unref();
    return () => clearTimeout(t);
  },
};

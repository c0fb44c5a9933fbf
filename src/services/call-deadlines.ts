import { AsyncLocalStorage } from 'node:async_hooks';
import { ApiError } from '../domain/errors.js';
import type { Clock } from './ports.js';

/** What an edge knows of a call's life: when it must be over, and whether its caller has gone. */
export interface CallLimits {
  /** Epoch ms; Infinity when the caller set none. */
  deadline: number;
  cancelled(): boolean;
}

/**
 * Deadlines reach the writes without threading them through every service call: an edge runs a
 * call inside `run`, and the writes a service makes go through `guardWrites` wrappers that refuse
 * to start once the call is past its deadline or cancelled. A client that gave up never finds
 * that a change it was told had failed was made anyway, after its deadline. Calls made outside
 * `run` (REST, the bridges) are never refused.
 */
export class CallDeadlines {
  private readonly current = new AsyncLocalStorage<CallLimits>();

  constructor(private readonly clock: Clock) {}

  run<T>(limits: CallLimits, call: () => Promise<T>): Promise<T> {
    return this.current.run(limits, call);
  }

  /** DEADLINE_EXCEEDED if the current call may no longer write. */
  check(): void {
    const limits = this.current.getStore();
    if (limits === undefined) return;
    if (limits.cancelled() || this.clock.now() >= limits.deadline) {
      throw new ApiError('DEADLINE_EXCEEDED', 'The call was cancelled or its deadline passed before the change was made; nothing was changed.');
    }
  }

  /** `target` with `check()` run before each of `writes`, async methods that reject when it fails. */
  guardWrites<T extends object>(target: T, writes: readonly (keyof T & string)[]): T {
    const guarded = new Set<string | symbol>(writes);
    return new Proxy(target, {
      get: (t, prop) => {
        const value: unknown = Reflect.get(t, prop, t);
        if (typeof value !== 'function') return value;
        const fn = value as (...args: unknown[]) => unknown;
        if (!guarded.has(prop)) return fn.bind(t);
        return (...args: unknown[]) => {
          try {
            this.check();
          } catch (e) {
            return Promise.reject(e);
          }
          return fn.apply(t, args);
        };
      },
    });
  }
}

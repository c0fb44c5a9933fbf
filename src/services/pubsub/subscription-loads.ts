import type { ApiError } from '../../domain/errors.js';

/** What an engine keeps of one subscription in use; `ended` says why it was dropped (deleted, detached, shutting down). */
export interface LoadedSubscription {
  readonly ended: ApiError | undefined;
}

/**
 * The subscriptions a SubscriptionEngine serves, each loaded from the store once, on first use, and
 * shared by all its pulls and streams: concurrent first uses wait for the one load. A load that
 * failed is forgotten, so the next use loads afresh; one that ended answers with why.
 */
export class SubscriptionLoads<T extends LoadedSubscription> {
  private readonly loads = new Map<string, Promise<T>>();

  constructor(private readonly load: (name: string) => Promise<T>) {}

  get(name: string): Promise<T> {
    let loading = this.loads.get(name);
    if (!loading) {
      loading = this.load(name);
      this.loads.set(name, loading);
      const mine = loading;
      mine.catch(() => {
        if (this.loads.get(name) === mine) this.loads.delete(name);
      });
    }
    return loading.then((loaded) => {
      if (loaded.ended) throw loaded.ended;
      return loaded;
    });
  }

  /** The load of a subscription in use (maybe still in progress), without starting one: changes concern only those. */
  peek(name: string): Promise<T> | undefined {
    return this.loads.get(name);
  }

  names(): string[] {
    return [...this.loads.keys()];
  }

  /** Every subscription in use whose load succeeded. */
  async loaded(): Promise<T[]> {
    const out: T[] = [];
    for (const loading of [...this.loads.values()]) {
      const loaded = await loading.catch(() => undefined);
      if (loaded !== undefined) out.push(loaded);
    }
    return out;
  }

  /**
   * Forgets a subscription at once (the next use loads it afresh); resolves to what its load gave,
   * undefined if it was not in use or its load failed.
   */
  forget(name: string): Promise<T | undefined> {
    const loading = this.loads.get(name);
    if (!loading) return Promise.resolve(undefined);
    this.loads.delete(name);
    return loading.catch(() => undefined);
  }
}

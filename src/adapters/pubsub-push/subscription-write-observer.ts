import type { PsSubscription, PsSubscriptionVersion } from '../../domain/pubsub/pubsub-model.js';
import type { PubSubStore } from '../../services/pubsub/pubsub-ports.js';

/**
 * The store with its subscription writes observed: after a create, update (push config, detach,
 * ack deadline ...), delete or replacement commits, `changed(name)` runs. Handing this store to the
 * admin is how push delivery follows every change, whichever API call made it.
 */
export function observeSubscriptionWrites<S extends PubSubStore>(store: S, changed: (name: string) => void): S {
  const observed: Partial<PubSubStore> = {
    createSubscription: async (sub: Omit<PsSubscription, 'revision'>) => {
      const stored = await store.createSubscription(sub);
      changed(stored.name);
      return stored;
    },
    updateSubscription: async (sub: PsSubscription) => {
      const stored = await store.updateSubscription(sub);
      changed(stored.name);
      return stored;
    },
    deleteSubscription: async (name: string, revision?: number) => {
      await store.deleteSubscription(name, revision);
      changed(name);
    },
    replaceSubscription: async (current: PsSubscriptionVersion, replacement: Omit<PsSubscription, 'name' | 'revision'>) => {
      const stored = await store.replaceSubscription(current, replacement);
      changed(stored.name);
      return stored;
    },
  };
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (typeof prop === 'string' && Object.hasOwn(observed, prop)) return observed[prop as keyof PubSubStore];
      const value: unknown = Reflect.get(target, prop, receiver);
      // Methods run on the store itself, not on the proxy (private fields of class stores).
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

import type { Bus, BusEvent } from '../ports.js';
import type { SubscriptionEngine } from './pubsub-api.js';

/**
 * Subscription writes reach every node: the engine of each node holds its own runtimes (or
 * JetStream consumers) and push deliveries, so an update, detach or delete made through node B
 * must reach node A's. The admin calls the returned engine; its change notifications go to the
 * local engine at once and to the other nodes over the bus, where `follow` hands them to their
 * engines and to `onRemoteChange` (push delivery). On one node the bus is in-process and the
 * node's own events are ignored, so nothing is notified twice.
 */
export class SubscriptionChangeRelay {
  constructor(
    private readonly bus: Bus,
    private readonly nodeId: string,
    private readonly report: (err: unknown) => void,
  ) {}

  /** The engine as the admin should see it. */
  wrap(engine: SubscriptionEngine): SubscriptionEngine {
    const announce = (event: BusEvent): void => void this.bus.publish(event).catch(this.report);
    const nodeId = this.nodeId;
    return new Proxy(engine, {
      get(target, prop, receiver) {
        if (prop === 'subscriptionChanged') {
          return (name: string) => {
            target.subscriptionChanged(name);
            announce({ type: 'subscription-changed', name, nodeId });
          };
        }
        if (prop === 'subscriptionDeleted') {
          return (name: string) => {
            target.subscriptionDeleted(name);
            announce({ type: 'subscription-deleted', name, nodeId });
          };
        }
        const value: unknown = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  /**
   * Applies other nodes' subscription changes to this node's engine; returns a function that
   * stops. After a gap in the bus, changes may have been missed: every subscription the engine has
   * loaded reads its settings again, and `onGap` lets the push deliveries do the same.
   */
  follow(engine: SubscriptionEngine, onRemoteChange: (name: string) => void, onGap: () => void = () => {}): () => void {
    return this.bus.subscribe(
      (e) => {
        if ((e.type !== 'subscription-changed' && e.type !== 'subscription-deleted') || e.nodeId === this.nodeId) return;
        if (e.type === 'subscription-changed') engine.subscriptionChanged(e.name);
        else engine.subscriptionDeleted(e.name);
        onRemoteChange(e.name);
      },
      () => {
        for (const name of engine.loadedSubscriptions()) engine.subscriptionChanged(name);
        onGap();
      },
    );
  }
}

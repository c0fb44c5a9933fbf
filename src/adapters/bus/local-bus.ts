import type { Bus, BusEvent } from '../../services/ports.js';

/** The in-process bus: delivers on a later microtask so publishers never run handlers inline. */
export class LocalBus implements Bus {
  private readonly handlers = new Set<(e: BusEvent) => void>();

  async publish(event: BusEvent): Promise<void> {
    await Promise.resolve();
    for (const h of this.handlers) {
      try {
        h(event);
      } catch {
        // A handler's failure is its own; the others still get the event.
      }
    }
  }

  subscribe(handler: (e: BusEvent) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  async close(): Promise<void> {
    this.handlers.clear();
  }
}

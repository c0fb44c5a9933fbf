import { ApiError, isApiError } from '../../domain/errors.js';
import type { Bus, BusEvent, BusReply, BusRequest } from '../../services/ports.js';

/**
 * The in-process bus. Deliveries happen on a later microtask so publishers never run handlers
 * inline, and every payload is structured-cloned, as a networked bus would serialise it: code that
 * leans on a shared reference fails here first, not on a cluster.
 */
export class LocalBus implements Bus {
  private readonly handlers = new Set<(e: BusEvent) => void>();
  private readonly responders = new Map<string, (r: BusRequest) => Promise<BusReply>>();
  private closed = false;

  async publish(event: BusEvent): Promise<void> {
    if (this.closed) return;
    const frozen = structuredClone(event);
    await Promise.resolve();
    for (const h of this.handlers) {
      try {
        // Each subscriber its own copy, as each node decodes its own from the wire.
        h(structuredClone(frozen));
      } catch {
        // A handler's failure is its own; the others still get the event.
      }
    }
  }

  /** In one process nothing is ever missed: `onGap` is never called. */
  subscribe(handler: (e: BusEvent) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  async request(address: string, request: BusRequest, timeoutMs: number): Promise<BusReply> {
    const responder = this.closed ? undefined : this.responders.get(address);
    if (!responder) throw new ApiError('UNAVAILABLE', `Nothing answers at "${address}".`, { reason: 'BUS_NO_RESPONDER' });
    const copy = structuredClone(request);
    await Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ApiError('DEADLINE_EXCEEDED', `No reply from "${address}" within ${timeoutMs} ms.`, { reason: 'BUS_TIMEOUT' })), timeoutMs);
    });
    try {
      const reply = await Promise.race([responder(copy), timeout]);
      return structuredClone(reply);
    } catch (e) {
      // A responder's own failure crosses as the error vocabulary, as it would over the network.
      throw isApiError(e) ? new ApiError(e.kind, e.message, { field: e.field, reason: e.reason }) : new ApiError('INTERNAL', 'The responder failed.', { cause: e });
    } finally {
      clearTimeout(timer);
    }
  }

  respond(address: string, handler: (r: BusRequest) => Promise<BusReply>): () => void {
    if (this.responders.has(address)) throw new Error(`bus: "${address}" is already served`);
    this.responders.set(address, handler);
    return () => {
      if (this.responders.get(address) === handler) this.responders.delete(address);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.handlers.clear();
    this.responders.clear();
  }
}

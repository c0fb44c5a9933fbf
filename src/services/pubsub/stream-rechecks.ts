import { isApiError, type ApiError } from '../../domain/errors.js';
import type { Timers } from '../ports.js';

/** An open stream as the rechecks see it. */
export interface CheckedStream {
  /** What it reads, a subscription or (the event log's stream) a topic: for logs. */
  resource: string;
  /**
   * Its caller's authentication and authorization again: throws UNAUTHENTICATED or
   * PERMISSION_DENIED when the stream may no longer be served; any other error means it cannot
   * be told now.
   */
  recheck(): Promise<void>;
  /** Ends the stream with `error` (and closes its session); called at most once. */
  end(error: ApiError): void;
}

/**
 * A StreamingPull (or an event log stream) is authenticated and authorized when it opens, and may stay open for hours. So
 * that revoking access reaches it (docs/compat.md C-PS-STREAM-AUTH), every `intervalMs` each open
 * stream is checked again, one after the other, and one that fails with UNAUTHENTICATED or
 * PERMISSION_DENIED is ended with that error. A check that cannot be made (the store is down)
 * leaves the stream open until the next round: an outage must not disconnect every subscriber.
 * No timer runs while no stream is open.
 */
export class StreamRechecks {
  private readonly streams = new Set<CheckedStream>();
  private cancelTimer: (() => void) | undefined;
  private sweeping = false;

  constructor(
    private readonly timers: Timers,
    private readonly intervalMs: number,
    private readonly onError: (err: unknown, resource: string) => void,
  ) {}

  /** Follows `stream` until the returned function is called (when the stream ends for any reason). */
  add(stream: CheckedStream): () => void {
    this.streams.add(stream);
    this.arm();
    return () => {
      this.streams.delete(stream);
      if (this.streams.size === 0 && !this.sweeping) this.disarm();
    };
  }

  get size(): number {
    return this.streams.size;
  }

  private arm(): void {
    if (this.cancelTimer !== undefined || this.sweeping) return;
    this.cancelTimer = this.timers.schedule(this.intervalMs, () => {
      this.cancelTimer = undefined;
      void this.sweep();
    });
  }

  private disarm(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  /** One round over the streams open now; the next round is timed from its end, so rounds never overlap. */
  private async sweep(): Promise<void> {
    this.sweeping = true;
    try {
      for (const stream of [...this.streams]) {
        // Ended during the round (by the client, or by an earlier check): not checked again.
        if (!this.streams.has(stream)) continue;
        const lost = await this.check(stream);
        if (lost !== undefined && this.streams.delete(stream)) stream.end(lost);
      }
    } finally {
      this.sweeping = false;
      if (this.streams.size > 0) this.arm();
    }
  }

  /** Why `stream` may no longer be served, or undefined (also when that cannot be told now). */
  private async check(stream: CheckedStream): Promise<ApiError | undefined> {
    try {
      await stream.recheck();
      return undefined;
    } catch (err) {
      if (isApiError(err) && (err.kind === 'UNAUTHENTICATED' || err.kind === 'PERMISSION_DENIED')) return err;
      this.onError(err, stream.resource);
      return undefined;
    }
  }
}

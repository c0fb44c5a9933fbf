import type { AckState } from '../../domain/pubsub/pubsub-model.js';
import type { LeaseBook } from '../../domain/pubsub/lease-book.js';
import type { Timers } from '../ports.js';
import type { PubSubStore } from './pubsub-ports.js';

interface Deferred {
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** After a failed commit, how long before trying again. */
const RETRY_MS = 1000;

/**
 * Carries a subscription's acks from its LeaseBook to the store in batches (docs/compat.md
 * C-PS-ACK-COMMIT): one commit in flight at a time, each the acks made since the last one plus
 * the floor. Seek goes through the same line, so a batch of acks from before a seek never lands
 * after it. A failed batch goes back to the book and is tried again.
 */
export class AckCommitter {
  private chain: Promise<void> = Promise.resolve();
  private waiting: Deferred[] = [];
  private timer: (() => void) | undefined;
  private soon = false;
  private committedFloor: number;
  private stopped = false;

  constructor(
    private readonly subscription: string,
    private readonly book: LeaseBook,
    private readonly store: PubSubStore,
    private readonly timers: Timers,
    private readonly onError: (error: unknown) => void,
    floor: number,
  ) {
    this.committedFloor = floor;
  }

  /** Commits what was acked so far within `delayMs`; resolves once it is committed. */
  commit(delayMs: number): Promise<void> {
    const promise = new Promise<void>((resolve, reject) => this.waiting.push({ resolve, reject }));
    this.commitWithin(delayMs);
    return promise;
  }

  /** As `commit`, for acks nobody waits on (streams, dead letters): a failure is reported and retried. */
  commitWithin(delayMs: number): void {
    if (delayMs <= 0) {
      if (!this.soon) {
        this.soon = true;
        // Acknowledge calls of the same turn share one commit.
        queueMicrotask(() => this.start());
      }
    } else if (this.timer === undefined) {
      this.timer = this.timers.schedule(delayMs, () => this.start());
    }
  }

  /** Replaces the stored ack state behind every commit under way, then runs `after` (Seek). */
  async replace(state: AckState, after: () => void): Promise<void> {
    const run = this.chain.then(async () => {
      await this.store.replaceAckState(this.subscription, state);
      this.committedFloor = state.floor;
      after();
    });
    this.chain = run.catch(() => {});
    await run;
    // Acks made before the seek are moot: their waiters are answered, not failed.
    for (const d of this.waiting.splice(0)) d.resolve();
  }

  /** The last commit; no retries after it. */
  async finish(): Promise<void> {
    const last = this.commit(0);
    this.stopped = true;
    await last;
  }

  private start(): void {
    this.soon = false;
    this.timer?.();
    this.timer = undefined;
    const waiters = this.waiting.splice(0);
    this.chain = this.chain.then(() => this.commitOnce(waiters));
  }

  private async commitOnce(waiters: Deferred[]): Promise<void> {
    const { acked, floor } = this.book.drainCommit();
    try {
      if (acked.length > 0 || floor > this.committedFloor) {
        await this.store.recordAcks(this.subscription, acked, floor);
        this.committedFloor = Math.max(this.committedFloor, floor);
      }
      for (const w of waiters) w.resolve();
    } catch (error) {
      this.book.requeue(acked);
      for (const w of waiters) w.reject(error);
      if (waiters.length === 0) this.onError(error);
      if (!this.stopped) this.timers.schedule(RETRY_MS, () => this.commitWithin(0));
    }
  }
}

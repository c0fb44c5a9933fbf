import type { ErrorStatus } from '../domain/model.js';
import type { ActivityPatch, Store } from './ports.js';

/**
 * Coalesces device timestamps (spec §1.3: "written periodically; may lag") so that a message never
 * costs a store write: the bridges note times in memory and `flush` writes them all in one call.
 */
export class ActivityRecorder {
  private pending = new Map<string, ActivityPatch>();
  private flushing: Promise<void> | undefined;

  constructor(private readonly store: Store) {}

  private patch(numId: string): ActivityPatch {
    let p = this.pending.get(numId);
    if (!p) {
      p = {};
      this.pending.set(numId, p);
    }
    return p;
  }

  heartbeat(numId: string, at: number): void {
    this.patch(numId).lastHeartbeatTime = at;
  }
  event(numId: string, at: number): void {
    this.patch(numId).lastEventTime = at;
  }
  configSent(numId: string, at: number): void {
    this.patch(numId).lastConfigSendTime = at;
  }
  error(numId: string, at: number, status: ErrorStatus): void {
    const p = this.patch(numId);
    p.lastErrorTime = at;
    p.lastErrorStatus = status;
  }

  get size(): number {
    return this.pending.size;
  }

  /** Writes everything noted so far in one store call; concurrent calls share one write. */
  async flush(): Promise<void> {
    if (this.flushing) await this.flushing;
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    this.flushing = this.store
      .recordActivity(batch)
      .catch((err: unknown) => {
        // Keep what was not written for the next flush; newer notes win over the failed batch.
        for (const [numId, patch] of batch) this.pending.set(numId, { ...patch, ...this.pending.get(numId) });
        throw err;
      })
      .finally(() => {
        this.flushing = undefined;
      });
    await this.flushing;
  }
}

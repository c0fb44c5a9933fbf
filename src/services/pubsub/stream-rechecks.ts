import { AsyncResource } from 'node:async_hooks';
import { isApiError, type ApiError } from '../../domain/errors.js';
import type { Timers } from '../ports.js';

/** An open stream as the rechecks see it. */
export interface CheckedStream {
  /** What it reads, a subscription or (the event log's stream) a topic: for logs. */
  resource: string;
  /**
   * Streams with the same key share one check per round (the same caller, credential and
   * resource: a client library opens several streams per subscriber).
   */
  key: string;
  /**
   * Its caller's authentication and authorization again, and what it reads: throws
   * UNAUTHENTICATED, PERMISSION_DENIED, NOT_FOUND or FAILED_PRECONDITION when the stream may no
   * longer be served; any other error means it cannot be told now.
   */
  recheck(): Promise<void>;
  /** Ends the stream with `error` (and closes its session); called at most once. */
  end(error: ApiError): void;
}

/**
 * Refusals that end a stream: its credential or permission is gone, or what it reads is (deleted,
 * detached: normally the engine ends those streams itself; this catches a notice that never came).
 */
const ENDING: ReadonlySet<string> = new Set(['UNAUTHENTICATED', 'PERMISSION_DENIED', 'NOT_FOUND', 'FAILED_PRECONDITION']);

/** The verdict of one check: the refusal, 'open' (allowed), or 'unknown' (the check failed). */
type Verdict = ApiError | 'open' | 'unknown';

/**
 * A StreamingPull (or an event log stream) is authenticated and authorized when it opens, and
 * may stay open for hours. So that revoking access reaches it (docs/compat.md C-PS-STREAM-AUTH),
 * every `intervalMs` each open stream is checked again, one check at a time, and one that is
 * refused (see ENDING) is ended with that refusal. A check that cannot be
 * made (the store is down) leaves the stream open until the next round, and is reported once per
 * round: an outage must not disconnect every subscriber, nor log a line per stream. No timer runs
 * while no stream is open.
 */
export class StreamRechecks {
  private readonly streams = new Set<CheckedStream>();
  private cancelTimer: (() => void) | undefined;
  private sweeping = false;
  /**
   * Rounds run in the context this object was made in (the composition root), not in that of the
   * call whose stream happened to arm the timer: otherwise every round would carry that call's
   * deadline and cancellation, and keep it in memory.
   */
  private readonly startRound: () => void;

  constructor(
    private readonly timers: Timers,
    private readonly intervalMs: number,
    /** A check that could not be made (`failed` of this round's checks failed alike), or our bug while ending a stream. */
    private readonly onError: (err: unknown, resource: string, failed: number) => void,
  ) {
    this.startRound = AsyncResource.bind(() => {
      this.cancelTimer = undefined;
      this.sweep().catch((err: unknown) => this.report(err, '(all)', 1));
    });
  }

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
    this.cancelTimer = this.timers.schedule(this.intervalMs, this.startRound);
  }

  private disarm(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  /** One round over the streams open now; the next round is timed from its end, so rounds never overlap. */
  private async sweep(): Promise<void> {
    this.sweeping = true;
    const verdicts = new Map<string, Verdict>();
    let failed = 0;
    let firstFailure: { err: unknown; resource: string } | undefined;
    try {
      for (const stream of [...this.streams]) {
        // Ended during the round (by the client, or by an earlier check): not checked again.
        if (!this.streams.has(stream)) continue;
        let verdict = verdicts.get(stream.key);
        if (verdict === undefined) {
          verdict = await this.check(stream, (err) => {
            failed++;
            firstFailure ??= { err, resource: stream.resource };
          });
          verdicts.set(stream.key, verdict);
        }
        if (typeof verdict === 'object' && this.streams.delete(stream)) this.end(stream, verdict);
      }
    } finally {
      this.sweeping = false;
      if (firstFailure !== undefined) this.report(firstFailure.err, firstFailure.resource, failed);
      if (this.streams.size > 0) this.arm();
    }
  }

  private async check(stream: CheckedStream, failed: (err: unknown) => void): Promise<Verdict> {
    try {
      await stream.recheck();
      return 'open';
    } catch (err) {
      if (isApiError(err) && ENDING.has(err.kind)) return err;
      failed(err);
      return 'unknown';
    }
  }

  /** A stream's own failure to end stays its own: the round goes on. */
  private end(stream: CheckedStream, error: ApiError): void {
    try {
      stream.end(error);
    } catch (err) {
      this.report(err, stream.resource, 1);
    }
  }

  private report(err: unknown, resource: string, failed: number): void {
    try {
      this.onError(err, resource, failed);
    } catch {
      // The logger failed: nothing else to tell it with.
    }
  }
}

import type { AttachLookup, IoRequestKind, SessionInputs } from '../../../src/adapters/mqtt/session-types.js';
import type { Device, DeviceConfig } from '../../../src/domain/model.js';
import type { AuthOutcome } from '../../../src/services/device-auth.js';
import type { Sink, SinkMessage } from '../../../src/services/ports.js';

/**
 * Fakes for testing the I/O shell (session-io.ts) against the real services: a session stand-in
 * that records the answers fed to it, and a sink whose appends the test settles by hand. Both let
 * a test await the next thing that happens instead of polling for it.
 *
 * (`node --test dist/test/` runs this file too; it only declares things.)
 */

/** Resolves `next()` with each value pushed, in order, whether pushed before or after the call. */
class Arrivals<T> {
  private readonly queue: T[] = [];
  private readonly waiting: ((v: T) => void)[] = [];
  push(v: T): void {
    const w = this.waiting.shift();
    if (w) w(v);
    else this.queue.push(v);
  }
  next(): Promise<T> {
    const v = this.queue.shift();
    return v !== undefined ? Promise.resolve(v) : new Promise<T>((r) => this.waiting.push(r));
  }
}

export type Answer =
  | { input: 'authenticated'; clientId: string; outcome: AuthOutcome }
  | { input: 'configLoaded'; numId: string; config: DeviceConfig | undefined }
  | { input: 'rechecked'; numId: string; device: Device | undefined }
  | { input: 'attachLookedUp'; lookup: AttachLookup }
  | { input: 'errorDeviceFound'; deviceId: string; numId: string | undefined }
  | { input: 'ioFailed'; kind: IoRequestKind; key: string; error: unknown }
  | { input: 'answerCrashed'; error: unknown }
  | { input: 'stored'; token: number; error: unknown };

/** Stands in for a session: records every answer the shell feeds it. */
export class RecordingInputs implements SessionInputs {
  private readonly arrivals = new Arrivals<Answer>();
  /** An input that throws when fed, as a session with a bug would. */
  throwOn: Answer['input'] | undefined;

  /** The next answer fed in. */
  next(): Promise<Answer> {
    return this.arrivals.next();
  }

  private record(a: Answer): void {
    this.arrivals.push(a);
    if (this.throwOn === a.input) throw new Error(`bug in ${a.input}`);
  }
  authenticated(clientId: string, outcome: AuthOutcome): void {
    this.record({ input: 'authenticated', clientId, outcome });
  }
  configLoaded(numId: string, config: DeviceConfig | undefined): void {
    this.record({ input: 'configLoaded', numId, config });
  }
  rechecked(numId: string, device: Device | undefined): void {
    this.record({ input: 'rechecked', numId, device });
  }
  attachLookedUp(lookup: AttachLookup): void {
    this.record({ input: 'attachLookedUp', lookup });
  }
  errorDeviceFound(deviceId: string, numId: string | undefined): void {
    this.record({ input: 'errorDeviceFound', deviceId, numId });
  }
  ioFailed(kind: IoRequestKind, key: string, error: unknown): void {
    this.record({ input: 'ioFailed', kind, key, error });
  }
  answerCrashed(error: unknown): void {
    this.record({ input: 'answerCrashed', error });
  }
  stored(tokens: readonly number[], from: number, to: number, error: unknown): void {
    for (let i = from; i < to; i++) this.record({ input: 'stored', token: tokens[i]!, error });
  }
}

export interface PendingAppend {
  messages: readonly SinkMessage[];
  resolve(): void;
  reject(e: Error): void;
}

/** A sink whose appends stay pending until the test settles them. */
export class ManualSink implements Sink {
  isSaturated = false;
  readonly stored: SinkMessage[] = [];
  private readonly appends = new Arrivals<PendingAppend>();
  private readonly drainListeners: (() => void)[] = [];
  private nextId = 1;

  append(messages: readonly SinkMessage[]): Promise<string[]> {
    const ids = messages.map(() => String(this.nextId++));
    return new Promise<string[]>((resolve, reject) => {
      this.appends.push({
        messages,
        resolve: () => {
          this.stored.push(...messages);
          resolve(ids);
        },
        reject,
      });
    });
  }
  /** The next append made (one per batch). */
  nextAppend(): Promise<PendingAppend> {
    return this.appends.next();
  }
  saturated(): boolean {
    return this.isSaturated;
  }
  onDrain(listener: () => void): void {
    this.drainListeners.push(listener);
  }
  drain(): void {
    this.isSaturated = false;
    for (const l of this.drainListeners) l();
  }
  async close(): Promise<void> {}
}

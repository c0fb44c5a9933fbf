import { answer, lookUpAttach } from '../../../src/adapters/mqtt/session-io.js';
import type { AttachRequest, SessionInputs, SessionPorts } from '../../../src/adapters/mqtt/session-types.js';
import type { Registry, RegistryKey } from '../../../src/domain/model.js';
import type { DeviceAuthenticator } from '../../../src/services/device-auth.js';
import type { StoredTarget } from '../../../src/services/device-ingress.js';
import type { SinkMessage, Store } from '../../../src/services/ports.js';

/**
 * Session ports that only record: every request waits in `requests`, in the order made, until the
 * test answers it. `answer` computes the answer as the real shell would (the real store and
 * authenticator; attach facts through the shell's own `lookUpAttach`) and feeds it into the
 * session as the shell does (a bug while handling it ends in `answerCrashed`), which reacts before
 * `answer` returns. Telemetry and state submissions wait the same way
 * and are committed (or failed) by the test, as a sink would.
 *
 * (`node --test dist/test/` runs this file too; it only declares things.)
 */

export type IoRequest =
  | { kind: 'auth'; target: SessionInputs; clientId: string; password: string | undefined }
  | { kind: 'config'; target: SessionInputs; numId: string }
  | { kind: 'recheck'; target: SessionInputs; numId: string }
  | { kind: 'attach'; target: SessionInputs; request: AttachRequest }
  | { kind: 'error-device'; target: SessionInputs; registryKey: RegistryKey; deviceId: string }
  | { kind: 'config-ack'; target: SessionInputs; numId: string; version: number; at: number }
  | { kind: 'gateway-access'; target: SessionInputs; numId: string; gatewayId: string; at: number }
  | { kind: 'event'; target: StoredTarget; token: number; numId: string; message: SinkMessage }
  | { kind: 'state'; target: StoredTarget; token: number; numId: string; registry: Registry; message: Omit<SinkMessage, 'topic'> };

export type IoKind = IoRequest['kind'];
type RequestOf<K extends IoKind> = Extract<IoRequest, { kind: K }>;

const KEYS: Record<Exclude<IoKind, 'event' | 'state'>, (r: IoRequest) => string> = {
  auth: (r) => (r as RequestOf<'auth'>).clientId,
  config: (r) => (r as RequestOf<'config'>).numId,
  recheck: (r) => (r as RequestOf<'recheck'>).numId,
  attach: (r) => (r as RequestOf<'attach'>).request.deviceId,
  'error-device': (r) => (r as RequestOf<'error-device'>).deviceId,
  'config-ack': (r) => (r as RequestOf<'config-ack'>).numId,
  'gateway-access': (r) => (r as RequestOf<'gateway-access'>).numId,
};

export class ManualPorts implements SessionPorts {
  /** Requests not answered yet, oldest first. */
  readonly requests: IoRequest[] = [];
  /** Telemetry committed so far, in commit order (what a sink would hold). */
  readonly committed: SinkMessage[] = [];
  /** When set, `answerAll` also commits telemetry and state, like a sink that stores at once. */
  autoCommit = false;
  /** What `holdIfSaturated` answers; `drain()` ends it. */
  saturated = false;
  private readonly held = new Set<() => void>();
  /** Tests driving a real socket wait for a request with `next`. */
  private readonly waiters: { kind: IoKind; found: (r: IoRequest) => void }[] = [];

  constructor(
    private readonly store: Store,
    private readonly auth: DeviceAuthenticator,
  ) {}

  // ---- SessionPorts: record ----

  requestAuth(target: SessionInputs, clientId: string, password: string | undefined): void {
    this.record({ kind: 'auth', target, clientId, password });
  }
  requestConfig(target: SessionInputs, numId: string): void {
    this.record({ kind: 'config', target, numId });
  }
  requestRecheck(target: SessionInputs, numId: string): void {
    this.record({ kind: 'recheck', target, numId });
  }
  requestAttachLookup(target: SessionInputs, request: AttachRequest): void {
    this.record({ kind: 'attach', target, request });
  }
  requestErrorDevice(target: SessionInputs, registryKey: RegistryKey, deviceId: string): void {
    this.record({ kind: 'error-device', target, registryKey, deviceId });
  }
  submitEvent(numId: string, topic: string, attributes: Readonly<Record<string, string>>, data: Uint8Array, at: number, target: StoredTarget, token: number): void {
    this.record({ kind: 'event', target, token, numId, message: { topic, attributes, data, publishTime: at } });
  }
  submitState(numId: string, registry: Registry, attributes: Readonly<Record<string, string>>, data: Uint8Array, at: number, target: StoredTarget, token: number): void {
    this.record({ kind: 'state', target, token, numId, registry, message: { attributes, data, publishTime: at } });
  }
  recordConfigAck(target: SessionInputs, numId: string, version: number, at: number): void {
    this.record({ kind: 'config-ack', target, numId, version, at });
  }
  recordGatewayAccess(target: SessionInputs, numId: string, gatewayId: string, at: number): void {
    this.record({ kind: 'gateway-access', target, numId, gatewayId, at });
  }
  holdIfSaturated(resume: () => void): boolean {
    if (this.saturated) this.held.add(resume);
    return this.saturated;
  }
  forget(resume: () => void): void {
    this.held.delete(resume);
  }

  private record(r: IoRequest): void {
    const i = this.waiters.findIndex((w) => w.kind === r.kind);
    if (i === -1) this.requests.push(r);
    else this.waiters.splice(i, 1)[0]!.found(r);
  }

  // ---- the test's side ----

  /**
   * Removes and returns the oldest pending request of `kind`, or the next one made: for tests that
   * drive a session through a real socket, whose bytes reach it in a later turn.
   */
  next<K extends IoKind>(kind: K): Promise<RequestOf<K>> {
    if (this.requests.some((r) => r.kind === kind)) return Promise.resolve(this.take(kind));
    return new Promise((resolve) => this.waiters.push({ kind, found: (r) => resolve(r as RequestOf<K>) }));
  }

  /** The sink drained: every held session is told. */
  drain(): void {
    this.saturated = false;
    const held = [...this.held];
    this.held.clear();
    for (const resume of held) resume();
  }

  /** The pending requests of one kind (optionally of one session), oldest first. */
  pending<K extends IoKind>(kind: K, target?: StoredTarget): RequestOf<K>[] {
    return this.requests.filter((r): r is RequestOf<K> => r.kind === kind && (target === undefined || r.target === target));
  }

  /** Removes and returns the oldest pending request of `kind` (of `target`, if given). */
  take<K extends IoKind>(kind: K, target?: StoredTarget): RequestOf<K> {
    const i = this.requests.findIndex((r) => r.kind === kind && (target === undefined || r.target === target));
    if (i === -1) throw new Error(`no pending ${kind} request; pending: ${this.requests.map((r) => r.kind).join(', ') || 'none'}`);
    return this.requests.splice(i, 1)[0] as RequestOf<K>;
  }

  /** Answers a request taken with `take`, computing the answer with the real store and authenticator. */
  async answer(r: IoRequest): Promise<void> {
    let feed: () => void;
    try {
      feed = await this.compute(r);
    } catch (err) {
      return this.fail(r, err);
    }
    if (r.kind === 'event' || r.kind === 'state') return feed();
    answer(r.target, feed);
  }

  /** Feeds a failure for a request taken with `take`: the store or verifier was unavailable. */
  fail(r: IoRequest, error: unknown = new Error('unavailable')): void {
    if (r.kind === 'event' || r.kind === 'state') return r.target.stored([r.token], 0, 1, error);
    const { kind, target } = r;
    const key = KEYS[kind](r);
    answer(target, () => target.ioFailed(kind, key, error));
  }

  /** Answers pending requests oldest first, and those the answers lead to, until none is left (telemetry and state only with `autoCommit`). */
  async answerAll(): Promise<void> {
    for (;;) {
      const i = this.requests.findIndex((r) => this.autoCommit || (r.kind !== 'event' && r.kind !== 'state'));
      if (i === -1) return;
      await this.answer(this.requests.splice(i, 1)[0]!);
    }
  }

  /** The messages of the telemetry waiting for its commit, oldest first. */
  get uncommitted(): SinkMessage[] {
    return this.pending('event').map((r) => r.message);
  }

  /** Commits every pending telemetry message, oldest first, and returns them. */
  commitEvents(): SinkMessage[] {
    const out: SinkMessage[] = [];
    while (this.pending('event').length > 0) out.push(this.commitNextEvent());
    return out;
  }

  /** Commits the oldest pending telemetry message: its session is told it is stored. */
  commitNextEvent(): SinkMessage {
    const r = this.take('event');
    this.committed.push(r.message);
    r.target.stored([r.token], 0, 1, undefined);
    return r.message;
  }

  /** The oldest pending telemetry message could not be stored. */
  failNextEvent(): void {
    this.fail(this.take('event'), new Error('sink unavailable'));
  }

  /** Carries out a request against the real services; the returned function feeds the answer. */
  private async compute(r: IoRequest): Promise<() => void> {
    switch (r.kind) {
      case 'auth': {
        const outcome = await this.auth.authenticateClientId(r.clientId, r.password, 'mqtt');
        return () => r.target.authenticated(r.clientId, outcome);
      }
      case 'config': {
        const device = await this.store.getDeviceByNumId(r.numId);
        return () => r.target.configLoaded(r.numId, device?.config);
      }
      case 'recheck': {
        const device = await this.store.getDeviceByNumId(r.numId);
        return () => r.target.rechecked(r.numId, device);
      }
      case 'attach': {
        const lookup = await lookUpAttach({ store: this.store, auth: this.auth }, r.request);
        return () => r.target.attachLookedUp(lookup);
      }
      case 'error-device': {
        const device = await this.store.getDevice(r.registryKey, r.deviceId);
        return () => r.target.errorDeviceFound(r.deviceId, device?.numId);
      }
      case 'config-ack':
        await this.store.ackConfig(r.numId, r.version, r.at);
        return () => undefined;
      case 'gateway-access':
        await this.store.recordGatewayAccess(r.numId, r.gatewayId, r.at);
        return () => undefined;
      case 'event':
        return () => {
          this.committed.push(r.message);
          r.target.stored([r.token], 0, 1, undefined);
        };
      case 'state':
        await this.store.recordState(r.numId, { updateTime: r.message.publishTime, binaryData: r.message.data });
        return () => r.target.stored([r.token], 0, 1, undefined);
    }
  }
}

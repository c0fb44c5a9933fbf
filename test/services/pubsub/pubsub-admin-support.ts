import { MemoryMessageLog } from '../../../src/adapters/sinks/memory-log/memory-message-log.js';
import { MemoryPubSubStore } from '../../../src/adapters/store/memory/memory-pubsub-store.js';
import { ApiError } from '../../../src/domain/errors.js';
import type { Permission } from '../../../src/domain/permissions.js';
import type { AckState } from '../../../src/domain/pubsub/pubsub-model.js';
import type { Principal } from '../../../src/services/api-auth.js';
import type {
  ConsumerOptions,
  ReceivedMessage,
  StreamingPullSession,
  StreamingPullSink,
  SubscriptionEngine,
} from '../../../src/services/pubsub/pubsub-api.js';
import { PubSubAdmin } from '../../../src/services/pubsub/pubsub-admin.js';
import type { StreamingPullRequest } from '../../../src/services/pubsub/pubsub-requests.js';
import type { StreamRechecks } from '../../../src/services/pubsub/stream-rechecks.js';

/*
 * PubSubAdmin under test: the memory store and log, a clock the test moves, an authorizer that
 * records every check (and refuses the ones a test names), and a recording SubscriptionEngine
 * (delivery is another component's; these tests assert only what PubSubAdmin decides).
 */

export const ADMIN: Principal = { kind: 'admin' };
export const SA: Principal = { kind: 'service-account', email: 'robot-01@proj.iam.gserviceaccount.com', project: 'proj' };
export const T0 = Date.UTC(2026, 0, 1);

export type EngineCall =
  | ['open', string, ConsumerOptions]
  | ['pull', string, number, number]
  | ['acknowledge', string, string[]]
  | ['modifyAckDeadline', string, string[], number]
  | ['ackState', string]
  | ['seek', string, AckState]
  | ['subscriptionChanged', string]
  | ['subscriptionDeleted', string]
  | ['session.request', StreamingPullRequest];

export class RecordingEngine implements SubscriptionEngine {
  readonly calls: EngineCall[] = [];
  /** What ackState answers. */
  state: AckState = { floor: 0, acked: [] };
  /** What pull answers. */
  pulled: ReceivedMessage[] = [];

  async open(subscription: string, options: ConsumerOptions, _sink: StreamingPullSink): Promise<StreamingPullSession> {
    this.calls.push(['open', subscription, options]);
    return {
      request: (r) => void this.calls.push(['session.request', r]),
      resume: () => undefined,
      close: () => undefined,
    };
  }
  async pull(subscription: string, maxMessages: number, waitMs: number): Promise<ReceivedMessage[]> {
    this.calls.push(['pull', subscription, maxMessages, waitMs]);
    return this.pulled;
  }
  async acknowledge(subscription: string, ackIds: readonly string[]): Promise<void> {
    this.calls.push(['acknowledge', subscription, [...ackIds]]);
  }
  async modifyAckDeadline(subscription: string, ackIds: readonly string[], seconds: number): Promise<void> {
    this.calls.push(['modifyAckDeadline', subscription, [...ackIds], seconds]);
  }
  async ackState(subscription: string): Promise<AckState> {
    this.calls.push(['ackState', subscription]);
    return this.state;
  }
  async seek(subscription: string, state: AckState): Promise<void> {
    this.calls.push(['seek', subscription, state]);
  }
  subscriptionChanged(subscription: string): void {
    this.calls.push(['subscriptionChanged', subscription]);
  }
  subscriptionDeleted(subscription: string): void {
    this.calls.push(['subscriptionDeleted', subscription]);
  }
  loadedSubscriptions(): string[] {
    return [];
  }
  async backlog(): Promise<number> {
    return 0;
  }
  async close(): Promise<void> {}

  /** The calls of one kind, without the kind. */
  named<K extends EngineCall[0]>(kind: K): unknown[][] {
    return this.calls.filter((c) => c[0] === kind).map((c) => c.slice(1));
  }
}

/** Records `permission resource` for each check; refuses those in `denied`. */
export class RecordingAuth {
  readonly checks: string[] = [];
  readonly denied = new Set<string>();

  async allowed(_caller: Principal, permission: Permission, resource: string): Promise<boolean> {
    return !this.denied.has(`${permission} ${resource}`);
  }
  /** Credentials revoked: principals whose keyId is in here fail recheckCredential. */
  readonly revokedKeys = new Set<string>();

  async recheckCredential(caller: Principal): Promise<void> {
    if (caller.kind === 'service-account' && caller.keyId !== undefined && this.revokedKeys.has(caller.keyId)) {
      throw new ApiError('UNAUTHENTICATED', `Service-account key "${caller.keyId}" is disabled.`, { reason: 'JWT_KEY_DISABLED' });
    }
  }
  async authorize(caller: Principal, permission: Permission, resource: string): Promise<void> {
    this.checks.push(`${permission} ${resource}`);
    if (!(await this.allowed(caller, permission, resource))) {
      throw new ApiError('PERMISSION_DENIED', `Permission "${permission}" denied on resource "${resource}" (or it may not exist).`);
    }
  }
}

export function harness(opts: { streamRechecks?: StreamRechecks } = {}) {
  const store = new MemoryPubSubStore();
  const log = new MemoryMessageLog();
  const engine = new RecordingEngine();
  const auth = new RecordingAuth();
  let now = T0;
  const clock = { now: () => now };
  const admin = new PubSubAdmin({ store, sink: log, log, engine, auth, clock, streamRechecks: opts.streamRechecks });
  return {
    store,
    log,
    engine,
    auth,
    admin,
    advance: (ms: number) => {
      now += ms;
    },
    now: () => now,
  };
}

export const topicName = (id: string, project = 'proj'): string => `projects/${project}/topics/${id}`;
export const subName = (id: string, project = 'proj'): string => `projects/${project}/subscriptions/${id}`;
export const snapName = (id: string, project = 'proj'): string => `projects/${project}/snapshots/${id}`;
export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

import assert from 'node:assert/strict';
import { ApiError } from '../../src/domain/errors.js';
import type { ErrorReason } from '../../src/domain/error-reasons.js';
import type { IamPolicy } from '../../src/domain/model.js';
import type { Page } from '../../src/domain/paging.js';
import type { PsSnapshot, PsSubscription, PsTopic } from '../../src/domain/pubsub/pubsub-model.js';
import type { PubSubStore } from '../../src/services/pubsub/pubsub-ports.js';

/** What an implementation hands the contract; `reopen` (persistent stores) opens the same data again. */
export interface PubSubStoreUnderTest {
  store: PubSubStore;
  reopen?: () => Promise<PubSubStore>;
}

export interface PubSubContractContext {
  /** A new, empty store; closed automatically after the test. */
  fresh(): Promise<PubSubStore>;
  freshWithReopen(): Promise<PubSubStoreUnderTest>;
}

export const T0 = Date.UTC(2030, 0, 1);
const DAY_MS = 24 * 60 * 60 * 1000;

export const topicName = (id: string, project = 'proj'): string => `projects/${project}/topics/${id}`;
export const subName = (id: string, project = 'proj'): string => `projects/${project}/subscriptions/${id}`;
export const snapName = (id: string, project = 'proj'): string => `projects/${project}/snapshots/${id}`;

export const newTopic = (name: string, over: Partial<PsTopic> = {}): Omit<PsTopic, 'revision'> => ({
  name,
  labels: {},
  messageRetentionMs: undefined,
  createTime: T0,
  ...over,
});

export const newSub = (name: string, topic: string, over: Partial<PsSubscription> = {}): Omit<PsSubscription, 'revision'> => ({
  name,
  topic,
  ackDeadlineSeconds: 10,
  retainAckedMessages: false,
  messageRetentionMs: 7 * DAY_MS,
  labels: {},
  filter: '',
  enableMessageOrdering: false,
  deadLetterPolicy: undefined,
  retryPolicy: undefined,
  pushConfig: undefined,
  detached: false,
  startSeq: 0,
  createTime: T0,
  ...over,
});

/** A subscription with every optional part set, to prove each survives the store. */
export const fullSub = (name: string, topic: string, deadLetterTopic: string): Omit<PsSubscription, 'revision'> =>
  newSub(name, topic, {
    ackDeadlineSeconds: 42,
    retainAckedMessages: true,
    messageRetentionMs: 3_600_000,
    labels: { team: 'ops', 'env-name': 'prod' },
    filter: 'attributes.deviceId = "dev-1" AND hasPrefix(attributes.subFolder, "a/")',
    enableMessageOrdering: true,
    deadLetterPolicy: { deadLetterTopic, maxDeliveryAttempts: 7 },
    retryPolicy: { minimumBackoffMs: 1_500, maximumBackoffMs: 300_000 },
    pushConfig: {
      pushEndpoint: 'https://push.example.com/in?x=1',
      attributes: { 'x-goog-version': 'v1' },
      oidcToken: { serviceAccountEmail: 'pusher@proj.iam.gserviceaccount.com', audience: 'https://push.example.com' },
    },
    startSeq: 1234,
    createTime: T0 + 5,
  });

export const newSnapshot = (name: string, topic: string, over: Partial<PsSnapshot> = {}): PsSnapshot => ({
  name,
  topic,
  expireTime: T0 + DAY_MS,
  labels: {},
  ackState: { floor: 10, acked: [12, 15] },
  ...over,
});

export const viewerPolicy = (member = 'user:ops@example.com'): Omit<IamPolicy, 'etag'> => ({
  version: 1,
  bindings: [{ role: 'roles/pubsub.viewer', members: [member] }],
});

export async function rejectsWithReason(p: Promise<unknown>, reason: ErrorReason): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ApiError, `expected an ApiError, got ${String(e)}`);
    assert.equal(e.reason, reason, e.message);
    return true;
  });
}

/** Walks every page of a name-paged list, checking each `next` is its page's last name. */
export async function allPages<T>(
  list: (after: string | undefined) => Promise<Page<T>>,
  nameOf: (t: T) => string,
  limit: number,
): Promise<{ names: string[]; pages: number[] }> {
  const names: string[] = [];
  const pages: number[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await list(after);
    assert.ok(page.items.length <= limit, 'page larger than the limit');
    pages.push(page.items.length);
    names.push(...page.items.map(nameOf));
    if (page.next === undefined) break;
    assert.equal(page.next, nameOf(page.items[page.items.length - 1]!));
    after = page.next;
    assert.ok(pages.length < 1000, 'paging does not terminate');
  }
  return { names, pages };
}

export const bytesOf = (b: Uint8Array): number[] => [...b];

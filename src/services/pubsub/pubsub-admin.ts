import { echo, ECHO_MAX_PATH_CHARS } from '../../domain/echo.js';
import { retryOnConflict } from '../conflict-retry.js';
import { ApiError, invalidArgument, isApiError, notFound } from '../../domain/errors.js';
import { notificationTopics } from '../../domain/event-routing.js';
import type { IamPolicy } from '../../domain/model.js';
import { checkPageSize, decodePageToken, encodePageToken } from '../../domain/page-token.js';
import type { Page } from '../../domain/paging.js';
import { isPubSubPermission, type PubSubPermission } from '../../domain/permissions.js';
import {
  parseSnapshotUpdateMask,
  parseSubscriptionUpdateMask,
  parseTopicUpdateMask,
  labels,
  partialSubscriptionFields,
  PS_LIMITS,
  timestampMs,
  withStoredSiblings,
  type PartialField,
} from '../../domain/pubsub/pubsub-fields.js';
import {
  DELETED_TOPIC,
  subscriptionView,
  type PsSnapshot,
  type PsSubscription,
  type PsSubscriptionView,
  type PsTopic,
  type PushConfig,
} from '../../domain/pubsub/pubsub-model.js';
import { parseServiceAccountEmail } from '../../domain/service-accounts.js';
import {
  parseProjectName,
  parsePubSubName,
  parseSnapshotName,
  parseSubscriptionName,
  parseTopicName,
  pubSubCollection,
  type PsCollection,
} from '../../domain/pubsub/pubsub-names.js';
import { checkPublishMessages } from '../../domain/pubsub/publish-limits.js';
import { seekToTimeState } from '../../domain/pubsub/seek.js';
import { principalKey, type ApiAuth, type Principal } from '../api-auth.js';
import { policyFrom } from '../device-manager-inputs.js';
import type { Clock, Sink, Store } from '../ports.js';
import type {
  ListResult,
  PublisherApi,
  PubSubIamApi,
  ReceivedMessage,
  StreamingPullSession,
  StreamingPullSink,
  SubscriberApi,
  SubscriptionEngine,
} from './pubsub-api.js';
import {
  applySubscriptionFields,
  applyTopicFields,
  creationFields,
  modifyDeadlineSeconds,
  normalisedStreamRequest,
  policyMessage,
  pullMaxMessages,
  requiredAckIds,
  streamOptions,
  type SubscriptionSettings,
} from './pubsub-inputs.js';
import type { MessageLog, PubSubStore } from './pubsub-ports.js';
import type { StreamRechecks } from './stream-rechecks.js';
import type * as Req from './pubsub-requests.js';

export interface PubSubAdminDeps {
  store: PubSubStore;
  /** Where Publish appends: the telemetry sink, so API and device messages share one log and one commit. */
  sink: Pick<Sink, 'append'>;
  log: Pick<MessageLog, 'headSeq' | 'seqBefore'>;
  engine: SubscriptionEngine;
  auth: Pick<ApiAuth, 'authorize' | 'allowed' | 'recheckCredential'>;
  clock: Clock;
  /** How long a Pull without return_immediately waits for a first message (docs/compat.md C-PS-PULL-WAIT). */
  pullWaitMs?: number;
  /** Checks open StreamingPulls again, so that revoked access ends them (C-PS-STREAM-AUTH); none: never. */
  streamRechecks?: StreamRechecks;
}

const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;
const DEFAULT_PULL_WAIT_MS = 10_000;

/** The permission names of each collection's IAM methods. */
const IAM_PERMISSIONS: Record<PsCollection, { get: PubSubPermission; set: PubSubPermission }> = {
  topics: { get: 'pubsub.topics.getIamPolicy', set: 'pubsub.topics.setIamPolicy' },
  subscriptions: { get: 'pubsub.subscriptions.getIamPolicy', set: 'pubsub.subscriptions.setIamPolicy' },
  snapshots: { get: 'pubsub.snapshots.getIamPolicy', set: 'pubsub.snapshots.setIamPolicy' },
};

/**
 * google.pubsub.v1 Publisher, Subscriber and IAMPolicy for every edge: requests arrive decoded but
 * not validated; this service authorizes the caller with Pub/Sub's permission on the resource
 * Google checks it on, validates every field (naming it), and runs the use case over the store,
 * the sink (Publish) and the subscription engine (delivery). Edges only translate.
 */
export class PubSubAdmin implements PublisherApi, SubscriberApi, PubSubIamApi {
  private readonly store: PubSubStore;
  private readonly sink: Pick<Sink, 'append'>;
  private readonly log: Pick<MessageLog, 'headSeq' | 'seqBefore'>;
  private readonly engine: SubscriptionEngine;
  private readonly auth: Pick<ApiAuth, 'authorize' | 'allowed' | 'recheckCredential'>;
  private readonly clock: Clock;
  private readonly pullWaitMs: number;
  private readonly streamRechecks: StreamRechecks | undefined;

  constructor(deps: PubSubAdminDeps) {
    this.store = deps.store;
    this.sink = deps.sink;
    this.log = deps.log;
    this.engine = deps.engine;
    this.auth = deps.auth;
    this.clock = deps.clock;
    this.pullWaitMs = deps.pullWaitMs ?? DEFAULT_PULL_WAIT_MS;
    this.streamRechecks = deps.streamRechecks;
  }

  // ---- topics ----

  async createTopic(caller: Principal, req: Req.TopicMessage): Promise<PsTopic> {
    const name = parseTopicName(req.name, 'name');
    await this.auth.authorize(caller, 'pubsub.topics.create', projectOf(name.project));
    const topic = { name: name.name, labels: {}, messageRetentionMs: undefined as number | undefined };
    applyTopicFields(topic, req, undefined, '');
    return this.store.createTopic({ ...topic, createTime: this.clock.now() });
  }

  async getTopic(caller: Principal, req: { topic?: string }): Promise<PsTopic> {
    const name = parseTopicName(req.topic, 'topic').name;
    await this.auth.authorize(caller, 'pubsub.topics.get', name);
    return this.requireTopic(name);
  }

  async updateTopic(caller: Principal, req: Req.UpdateTopicRequest): Promise<PsTopic> {
    const name = parseTopicName(req.topic?.name, 'topic.name').name;
    await this.auth.authorize(caller, 'pubsub.topics.update', name);
    const mask = parseTopicUpdateMask(req.updateMask?.paths);
    const msg = req.topic ?? {};
    // Validated before the first read: a bad field is refused whether or not the topic exists.
    applyTopicFields({ labels: {}, messageRetentionMs: undefined }, msg, mask, 'topic.');
    return retryOnConflict(async () => {
      const topic = await this.requireTopic(name);
      applyTopicFields(topic, msg, mask, 'topic.');
      return this.store.updateTopic(topic);
    });
  }

  async listTopics(caller: Principal, req: Req.ListTopicsRequest): Promise<ListResult<PsTopic>> {
    const project = parseProjectName(req.project, 'project');
    await this.auth.authorize(caller, 'pubsub.topics.list', projectOf(project));
    const { after, limit } = paging(req);
    return listResult(await this.store.listTopics(project, after, limit));
  }

  async listTopicSubscriptions(caller: Principal, req: Req.ListTopicSubscriptionsRequest): Promise<ListResult<string>> {
    const name = parseTopicName(req.topic, 'topic').name;
    await this.auth.authorize(caller, 'pubsub.topics.get', name);
    const { after, limit } = paging(req);
    await this.requireTopic(name);
    return listResult(await this.store.listTopicSubscriptions(name, after, limit));
  }

  async listTopicSnapshots(caller: Principal, req: Req.ListTopicSubscriptionsRequest): Promise<ListResult<string>> {
    const name = parseTopicName(req.topic, 'topic').name;
    await this.auth.authorize(caller, 'pubsub.topics.get', name);
    const { after, limit } = paging(req);
    await this.requireTopic(name);
    return listResult(await this.store.listTopicSnapshots(name, after, limit, this.clock.now()));
  }

  async deleteTopic(caller: Principal, req: { topic?: string }): Promise<void> {
    const name = parseTopicName(req.topic, 'topic').name;
    await this.auth.authorize(caller, 'pubsub.topics.delete', name);
    const attached = await this.allTopicSubscriptions(name);
    await this.store.deleteTopic(name);
    // The store made them name DELETED_TOPIC; the engine stops feeding them new messages.
    for (const sub of attached) this.engine.subscriptionChanged(sub);
  }

  async publish(caller: Principal, req: Req.PublishRequest): Promise<string[]> {
    const name = parseTopicName(req.topic, 'topic').name;
    await this.auth.authorize(caller, 'pubsub.topics.publish', name);
    const messages = checkPublishMessages(req.messages, 'messages');
    await this.requireTopic(name);
    const publishTime = this.clock.now();
    return this.sink.append(
      messages.map((m) => ({
        topic: name,
        attributes: m.attributes,
        data: m.data,
        publishTime,
        ...(m.orderingKey === '' ? {} : { orderingKey: m.orderingKey }),
      })),
    );
  }

  async detachSubscription(caller: Principal, req: { subscription?: string }): Promise<void> {
    const name = parseSubscriptionName(req.subscription, 'subscription').name;
    // Callers who may not see the subscription learn nothing about whether it exists, nor its topic.
    await this.auth.authorize(caller, 'pubsub.subscriptions.get', name);
    const sub = await this.store.getSubscription(name);
    if (!sub) throw missing('subscriptions', name);
    // Google checks detachSubscription on the topic; a deleted topic leaves the project to decide.
    const topic = sub.topic === DELETED_TOPIC ? projectOf(parseSubscriptionName(name, 'subscription').project) : sub.topic;
    await this.auth.authorize(caller, 'pubsub.topics.detachSubscription', topic);
    if (sub.detached) return;
    await retryOnConflict(async () => {
      const current = await this.requireSubscription(name);
      return this.store.updateSubscription({ ...current, detached: true });
    });
    this.engine.subscriptionChanged(name);
  }

  // ---- subscriptions ----

  async createSubscription(caller: Principal, req: Req.SubscriptionMessage): Promise<PsSubscriptionView> {
    const name = parseSubscriptionName(req.name, 'name');
    const fixed = creationFields(req);
    await this.auth.authorize(caller, 'pubsub.subscriptions.create', projectOf(name.project));
    await this.auth.authorize(caller, 'pubsub.topics.attachSubscription', fixed.topic);
    const settings = defaultSettings();
    applySubscriptionFields(settings, req, undefined, '');
    await this.checkDeadLetterTopic(caller, settings, 'dead_letter_policy.dead_letter_topic');
    await this.checkPushIdentity(caller, settings.pushConfig, undefined);
    const created = await this.store.createSubscription({
      name: name.name,
      ...fixed,
      ...settings,
      detached: false,
      startSeq: await this.log.headSeq(fixed.topic),
      createTime: this.clock.now(),
    });
    return this.view(created);
  }

  async getSubscription(caller: Principal, req: { subscription?: string }): Promise<PsSubscriptionView> {
    const name = parseSubscriptionName(req.subscription, 'subscription').name;
    await this.auth.authorize(caller, 'pubsub.subscriptions.get', name);
    return this.view(await this.requireSubscription(name));
  }

  async updateSubscription(caller: Principal, req: Req.UpdateSubscriptionRequest): Promise<PsSubscriptionView> {
    const name = parseSubscriptionName(req.subscription?.name, 'subscription.name').name;
    await this.auth.authorize(caller, 'pubsub.subscriptions.update', name);
    const mask = parseSubscriptionUpdateMask(req.updateMask?.paths);
    const partial = partialSubscriptionFields(req.updateMask?.paths);
    const msg = req.subscription ?? {};
    // Validated before the first read: a bad field is refused whether or not the subscription
    // exists. A field named in part is checked with the stored rest of it, once that is read.
    const whole = new Set([...mask].filter((f) => !partial.has(f as PartialField)));
    const checked = defaultSettings();
    applySubscriptionFields(checked, msg, whole, 'subscription.');
    if (whole.has('deadLetterPolicy')) await this.checkDeadLetterTopic(caller, checked, 'subscription.dead_letter_policy.dead_letter_topic');
    const updated = await retryOnConflict(async () => {
      const sub = await this.requireSubscription(name);
      const pushBefore = sub.pushConfig;
      applySubscriptionFields(sub, withStoredSiblings(msg, sub, partial), mask, 'subscription.');
      if (partial.has('deadLetterPolicy')) await this.checkDeadLetterTopic(caller, sub, 'subscription.dead_letter_policy.dead_letter_topic');
      await this.checkPushIdentity(caller, sub.pushConfig, pushBefore);
      return this.store.updateSubscription(sub);
    });
    this.engine.subscriptionChanged(name);
    return this.view(updated);
  }

  async listSubscriptions(caller: Principal, req: Req.ListSubscriptionsRequest): Promise<ListResult<PsSubscriptionView>> {
    const project = parseProjectName(req.project, 'project');
    await this.auth.authorize(caller, 'pubsub.subscriptions.list', projectOf(project));
    const { after, limit } = paging(req);
    const page = await this.store.listSubscriptions(project, after, limit);
    const topics = await this.topicsOf(page.items);
    return listResult({ ...page, items: page.items.map((s) => subscriptionView(s, topics.get(s.topic))) });
  }

  async deleteSubscription(caller: Principal, req: { subscription?: string }): Promise<void> {
    const name = parseSubscriptionName(req.subscription, 'subscription').name;
    await this.auth.authorize(caller, 'pubsub.subscriptions.delete', name);
    await this.store.deleteSubscription(name);
    this.engine.subscriptionDeleted(name);
  }

  async modifyAckDeadline(caller: Principal, req: Req.ModifyAckDeadlineRequest): Promise<void> {
    const name = await this.consumable(caller, req.subscription);
    const seconds = modifyDeadlineSeconds(req.ackDeadlineSeconds, 'ack_deadline_seconds');
    const ackIds = requiredAckIds(req.ackIds);
    await this.requireSubscription(name);
    await this.engine.modifyAckDeadline(name, ackIds, seconds);
  }

  async acknowledge(caller: Principal, req: Req.AcknowledgeRequest): Promise<void> {
    const name = await this.consumable(caller, req.subscription);
    const ackIds = requiredAckIds(req.ackIds);
    await this.requireSubscription(name);
    await this.engine.acknowledge(name, ackIds);
  }

  async pull(caller: Principal, req: Req.PullRequest, signal: AbortSignal): Promise<ReceivedMessage[]> {
    const name = await this.consumable(caller, req.subscription);
    const max = pullMaxMessages(req.maxMessages);
    requireAttached(await this.requireSubscription(name));
    return this.engine.pull(name, max, req.returnImmediately ? 0 : this.pullWaitMs, signal);
  }

  async streamingPull(caller: Principal, req: Req.StreamingPullRequest, sink: StreamingPullSink): Promise<StreamingPullSession> {
    const name = await this.consumable(caller, req.subscription);
    const options = streamOptions(req);
    const first = normalisedStreamRequest(req);
    const session = await this.engine.open(name, options, sink);
    // The first request may already carry acks and deadline changes (a client resuming a stream).
    if (first.ackIds?.length || first.modifyDeadlineAckIds?.length) {
      session.request({ ackIds: first.ackIds ?? [], modifyDeadlineAckIds: first.modifyDeadlineAckIds ?? [], modifyDeadlineSeconds: first.modifyDeadlineSeconds ?? [] });
    }
    // Held to what opened it for as long as it is open: the credential, the permission, then the
    // subscription itself (deleted or detached while this node's engine missed the notice, a gap
    // in the bus: the stream ends as C-PS-STREAM-END says, if later).
    const untrack = this.streamRechecks?.add({
      resource: name,
      key: `${principalKey(caller)}\n${name}`,
      recheck: async () => {
        await this.auth.recheckCredential(caller);
        await this.consumable(caller, name);
        requireAttached(await this.requireSubscription(name));
      },
      end: (error) => sink.end(error),
    });
    return {
      messageOrderingEnabled: session.messageOrderingEnabled === true,
      request: (later) => session.request(normalisedStreamRequest(later)),
      resume: () => session.resume(),
      close: () => {
        untrack?.();
        session.close();
      },
    };
  }

  async modifyPushConfig(caller: Principal, req: Req.ModifyPushConfigRequest): Promise<void> {
    const name = parseSubscriptionName(req.subscription, 'subscription').name;
    await this.auth.authorize(caller, 'pubsub.subscriptions.update', name);
    const mask = new Set(['pushConfig'] as const);
    const checked = defaultSettings();
    applySubscriptionFields(checked, { pushConfig: req.pushConfig }, mask, '');
    await retryOnConflict(async () => {
      const sub = await this.requireSubscription(name);
      const pushBefore = sub.pushConfig;
      applySubscriptionFields(sub, { pushConfig: req.pushConfig }, mask, '');
      await this.checkPushIdentity(caller, sub.pushConfig, pushBefore);
      return this.store.updateSubscription(sub);
    });
    this.engine.subscriptionChanged(name);
  }

  // ---- snapshots and seek ----

  async getSnapshot(caller: Principal, req: { snapshot?: string }): Promise<PsSnapshot> {
    const name = parseSnapshotName(req.snapshot, 'snapshot').name;
    await this.auth.authorize(caller, 'pubsub.snapshots.get', name);
    return this.requireSnapshot(name);
  }

  async listSnapshots(caller: Principal, req: Req.ListSnapshotsRequest): Promise<ListResult<PsSnapshot>> {
    const project = parseProjectName(req.project, 'project');
    await this.auth.authorize(caller, 'pubsub.snapshots.list', projectOf(project));
    const { after, limit } = paging(req);
    return listResult(await this.store.listSnapshots(project, after, limit, this.clock.now()));
  }

  async createSnapshot(caller: Principal, req: Req.CreateSnapshotRequest): Promise<PsSnapshot> {
    const name = parseSnapshotName(req.name, 'name');
    const subName = parseSubscriptionName(req.subscription, 'subscription').name;
    await this.auth.authorize(caller, 'pubsub.snapshots.create', projectOf(name.project));
    await this.auth.authorize(caller, 'pubsub.subscriptions.consume', subName);
    const snapshotLabels = labels(req.labels, 'labels');
    const sub = await this.requireSubscription(subName);
    if (sub.topic === DELETED_TOPIC) {
      throw new ApiError('FAILED_PRECONDITION', `Subscription "${echo(subName, ECHO_MAX_PATH_CHARS)}" has no topic (it was deleted); a snapshot needs one.`);
    }
    // docs/compat.md C-PS-SNAPSHOT-LIFETIME: 7 days from creation.
    const now = this.clock.now();
    return this.store.createSnapshot(
      {
        name: name.name,
        topic: sub.topic,
        expireTime: now + PS_LIMITS.snapshotLifetimeMs,
        labels: snapshotLabels,
        ackState: await this.engine.ackState(subName),
      },
      // An expired snapshot no longer holds its name (docs/compat.md C-PS-SNAPSHOT-EXPIRY).
      now,
    );
  }

  async updateSnapshot(caller: Principal, req: Req.UpdateSnapshotRequest): Promise<PsSnapshot> {
    const name = parseSnapshotName(req.snapshot?.name, 'snapshot.name').name;
    await this.auth.authorize(caller, 'pubsub.snapshots.update', name);
    const mask = parseSnapshotUpdateMask(req.updateMask?.paths);
    const msg = req.snapshot ?? {};
    const newLabels = mask.has('labels') ? labels(msg.labels, 'snapshot.labels') : undefined;
    const now = this.clock.now();
    let expireTime: number | undefined;
    if (mask.has('expireTime')) {
      expireTime = timestampMs(msg.expireTime, 'snapshot.expire_time');
      if (expireTime === undefined || expireTime <= now || expireTime > now + PS_LIMITS.snapshotLifetimeMs) {
        throw invalidArgument('snapshot.expire_time', 'snapshot.expire_time must be in the future and at most 7 days from now.');
      }
    }
    const snapshot = await this.requireSnapshot(name);
    return this.store.updateSnapshot({ ...snapshot, labels: newLabels ?? snapshot.labels, expireTime: expireTime ?? snapshot.expireTime });
  }

  async deleteSnapshot(caller: Principal, req: { snapshot?: string }): Promise<void> {
    const name = parseSnapshotName(req.snapshot, 'snapshot').name;
    await this.auth.authorize(caller, 'pubsub.snapshots.delete', name);
    await this.requireSnapshot(name);
    await this.store.deleteSnapshot(name);
  }

  async seek(caller: Principal, req: Req.SeekRequest): Promise<void> {
    const name = await this.consumable(caller, req.subscription);
    const hasTime = req.time !== undefined && req.time !== null;
    const hasSnapshot = req.snapshot !== undefined && req.snapshot !== '';
    if (hasTime === hasSnapshot) throw invalidArgument('target', 'Exactly one of time and snapshot must be set.', 'REQUIRED_FIELD');
    if (hasSnapshot) {
      const snapName = parseSnapshotName(req.snapshot, 'snapshot').name;
      await this.auth.authorize(caller, 'pubsub.snapshots.seek', snapName);
      const sub = await this.requireSubscription(name);
      const snapshot = await this.requireSnapshot(snapName);
      if (snapshot.topic !== sub.topic) {
        throw new ApiError(
          'FAILED_PRECONDITION',
          `Snapshot "${echo(snapName, ECHO_MAX_PATH_CHARS)}" is of topic "${echo(snapshot.topic, ECHO_MAX_PATH_CHARS)}", not of the subscription's topic.`,
          { field: 'snapshot' },
        );
      }
      await this.engine.seek(name, snapshot.ackState);
      return;
    }
    const time = timestampMs(req.time, 'time')!;
    const sub = await this.requireSubscription(name);
    const topic = sub.topic === DELETED_TOPIC ? undefined : await this.store.getTopic(sub.topic);
    const seq = await this.log.seqBefore(sub.topic, time);
    const state = seekToTimeState(await this.engine.ackState(name), seq, {
      startSeq: sub.startSeq,
      retainAckedMessages: sub.retainAckedMessages,
      topicRetention: topic?.messageRetentionMs !== undefined,
    });
    await this.engine.seek(name, state);
  }

  // ---- IAM ----

  async getIamPolicy(caller: Principal, req: { resource?: string }): Promise<IamPolicy> {
    const { resource, collection } = iamResource(req.resource);
    await this.auth.authorize(caller, IAM_PERMISSIONS[collection].get, resource);
    return this.store.getIamPolicy(resource);
  }

  async setIamPolicy(caller: Principal, req: Req.SetIamPolicyRequest): Promise<IamPolicy> {
    const { resource, collection } = iamResource(req.resource);
    await this.auth.authorize(caller, IAM_PERMISSIONS[collection].set, resource);
    if (!req.policy) throw invalidArgument('policy', 'policy is required.', 'REQUIRED_FIELD');
    const { policy, etag } = policyFrom(policyMessage(req.policy));
    return this.store.setIamPolicy(resource, policy, etag);
  }

  async testIamPermissions(caller: Principal, req: Req.TestIamPermissionsRequest): Promise<string[]> {
    const { resource } = iamResource(req.resource);
    // NOT_FOUND for a resource that does not exist, as Pub/Sub answers.
    await this.store.getIamPolicy(resource);
    const granted: string[] = [];
    for (const p of req.permissions ?? []) {
      if (isPubSubPermission(p) && (await this.auth.allowed(caller, p, resource))) granted.push(p);
    }
    return granted;
  }

  // ---- IoT routing (docs/compat.md C-PS-AUTO-TOPICS) ----

  /**
   * Creates the topics that do not exist yet. Trusted: the caller (DeviceAdmin) has authorized
   * the registry change that names them. Concurrent creation of one topic is not an error.
   */
  async ensureTopics(names: readonly string[]): Promise<void> {
    for (const raw of new Set(names)) {
      const name = parseTopicName(raw, 'pubsub_topic_name').name;
      if (await this.store.getTopic(name)) continue;
      try {
        await this.store.createTopic({ name, labels: {}, messageRetentionMs: undefined, createTime: this.clock.now() });
      } catch (e) {
        if (!(isApiError(e) && e.kind === 'ALREADY_EXISTS')) throw e;
      }
    }
  }

  /**
   * At start: creates the topics existing registries name, so that an installation upgraded from
   * before Pub/Sub delivers to them. A name Pub/Sub refuses (registries accepted IDs starting with
   * "goog") is skipped, not fatal: it is reported for the operator's log.
   */
  async ensureExistingRegistryTopics(registries: Pick<Store, 'listAllRegistries'>): Promise<{ registries: number; skipped: string[] }> {
    let count = 0;
    const skipped: string[] = [];
    let after: string | undefined;
    do {
      const page = await registries.listAllRegistries(after, MAX_PAGE_SIZE);
      for (const registry of page.items) {
        const names = notificationTopics(registry);
        const valid = names.filter((n) => isTopicName(n));
        skipped.push(...names.filter((n) => !isTopicName(n)));
        await this.ensureTopics(valid);
        count++;
      }
      after = page.next;
    } while (after !== undefined);
    return { registries: count, skipped: [...new Set(skipped)] };
  }

  // ---- helpers ----

  /** Parses the subscription name and authorizes consuming from it. */
  private async consumable(caller: Principal, subscription: string | undefined): Promise<string> {
    const name = parseSubscriptionName(subscription, 'subscription').name;
    await this.auth.authorize(caller, 'pubsub.subscriptions.consume', name);
    return name;
  }

  /**
   * A dead-letter topic receives messages as if published there, so the caller must be allowed to
   * publish to it (docs/compat.md C-PS-DLQ-EMPTY): otherwise a subscription of its own would
   * route messages into any topic, of any project. Asked before whether it exists, which a caller
   * without the right learns nothing about.
   */
  private async checkDeadLetterTopic(caller: Principal, settings: SubscriptionSettings, field: string): Promise<void> {
    const topic = settings.deadLetterPolicy?.deadLetterTopic;
    if (topic === undefined) return;
    await this.auth.authorize(caller, 'pubsub.topics.publish', topic);
    // Pub/Sub: "The operation will fail if the topic does not exist."
    if (!(await this.store.getTopic(topic))) {
      throw new ApiError('NOT_FOUND', `Dead-letter topic not found (resource=${echo(topic.slice(topic.lastIndexOf('/') + 1))}).`, {
        field,
        reason: 'TOPIC_NOT_FOUND',
      });
    }
  }

  /**
   * Push requests carry a token Bridgehead signs as the account `oidcToken` names, which receivers
   * trust as that account: naming one takes `iam.serviceAccounts.actAs` on it, as on Google, which
   * only the admin token holds (docs/compat.md C-SA-ADMIN, C-PS-PUSH-TOKEN). Keeping the account
   * an admin set (changing other push fields) takes nothing more.
   */
  private async checkPushIdentity(caller: Principal, next: PushConfig | undefined, before: PushConfig | undefined): Promise<void> {
    const email = next?.oidcToken?.serviceAccountEmail;
    if (email === undefined || email === before?.oidcToken?.serviceAccountEmail) return;
    const project = parseServiceAccountEmail(email)?.project ?? '-';
    await this.auth.authorize(caller, 'iam.serviceAccounts.actAs', `projects/${project}/serviceAccounts/${email}`);
  }

  private async allTopicSubscriptions(topic: string): Promise<string[]> {
    const out: string[] = [];
    let after: string | undefined;
    do {
      const page = await this.store.listTopicSubscriptions(topic, after, MAX_PAGE_SIZE);
      out.push(...page.items);
      after = page.next;
    } while (after !== undefined);
    return out;
  }

  /** The subscription as the API returns it, with what it reports of its topic (read now). */
  private async view(sub: PsSubscription): Promise<PsSubscriptionView> {
    return subscriptionView(sub, (await this.topicsOf([sub])).get(sub.topic));
  }

  /** The topics the subscriptions name, each read once (a page often has many of one topic). */
  private async topicsOf(subs: readonly PsSubscription[]): Promise<Map<string, PsTopic>> {
    const names = [...new Set(subs.map((s) => s.topic))].filter((t) => t !== DELETED_TOPIC);
    const found = await Promise.all(names.map((t) => this.store.getTopic(t)));
    const topics = new Map<string, PsTopic>();
    for (const topic of found) if (topic) topics.set(topic.name, topic);
    return topics;
  }

  private async requireTopic(name: string): Promise<PsTopic> {
    const topic = await this.store.getTopic(name);
    if (!topic) throw missing('topics', name);
    return topic;
  }

  private async requireSubscription(name: string): Promise<PsSubscription> {
    const sub = await this.store.getSubscription(name);
    if (!sub) throw missing('subscriptions', name);
    return sub;
  }

  private async requireSnapshot(name: string): Promise<PsSnapshot> {
    const snapshot = await this.store.getSnapshot(name, this.clock.now());
    if (!snapshot) throw missing('snapshots', name);
    return snapshot;
  }
}

const isTopicName = (name: string): boolean => {
  try {
    parseTopicName(name, 'topic');
    return true;
  } catch {
    return false;
  }
};

const projectOf = (project: string): string => `projects/${project}`;

function defaultSettings(): SubscriptionSettings {
  return {
    ackDeadlineSeconds: PS_LIMITS.defaultAckDeadlineSeconds,
    retainAckedMessages: false,
    messageRetentionMs: PS_LIMITS.maxSubscriptionRetentionMs,
    labels: {},
    pushConfig: undefined,
    deadLetterPolicy: undefined,
    retryPolicy: undefined,
  };
}

function requireAttached(sub: PsSubscription): void {
  if (sub.detached) {
    throw new ApiError('FAILED_PRECONDITION', `Subscription "${echo(sub.name, ECHO_MAX_PATH_CHARS)}" is detached from its topic.`);
  }
}

const NOT_FOUND_REASON = { topics: 'TOPIC_NOT_FOUND', subscriptions: 'SUBSCRIPTION_NOT_FOUND', snapshots: 'SNAPSHOT_NOT_FOUND' } as const;

/** Pub/Sub's own text, as the stores answer (docs/compat.md C-PS-ERRORS). */
function missing(collection: PsCollection, name: string): ApiError {
  const id = name.slice(name.lastIndexOf('/') + 1);
  return notFound(`Resource not found (resource=${echo(id)}).`, NOT_FOUND_REASON[collection]);
}

function iamResource(resource: string | undefined): { resource: string; collection: PsCollection } {
  const collection = resource ? pubSubCollection(resource) : undefined;
  if (!resource || !collection) {
    if (!resource) throw invalidArgument('resource', 'resource is required: a topic, subscription or snapshot name.', 'REQUIRED_FIELD');
    throw invalidArgument('resource', `Invalid resource "${echo(resource, ECHO_MAX_PATH_CHARS)}": expected a topic, subscription or snapshot name.`);
  }
  return { resource: parsePubSubName(collection, resource, 'resource').name, collection };
}

function paging(req: Req.ListRequest): { after: string | undefined; limit: number } {
  const limit = checkPageSize(req.pageSize ?? 0, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE);
  return { after: decodePageToken(req.pageToken), limit };
}

function listResult<T>(page: Page<T>): ListResult<T> {
  return { items: page.items, nextPageToken: page.next === undefined ? '' : encodePageToken(page.next) };
}


import { EMPTY_POLICY, nextPolicy, withoutMember } from '../../../domain/iam-policy.js';
import type { IamPolicy } from '../../../domain/model.js';
import { pageOf, type Page } from '../../../domain/paging.js';
import { DELETED_TOPIC, type AckState, type PsSnapshot, type PsSubscription, type PsSubscriptionVersion, type PsTopic } from '../../../domain/pubsub/pubsub-model.js';
import type { PubSubStore } from '../../../services/pubsub/pubsub-ports.js';
import { copyIamPolicy } from './copies.js';
import { copySnapshot, copySubscription, copyTopic } from './pubsub-copies.js';
import * as err from '../pubsub-store-errors.js';

interface TopicEntry {
  topic: PsTopic;
  iam: IamPolicy | undefined;
}

interface SubscriptionEntry {
  subscription: PsSubscription;
  iam: IamPolicy | undefined;
  /** Every seq <= floor is acknowledged... */
  floor: number;
  /** ...and these, all > floor. */
  acked: Set<number>;
}

interface SnapshotEntry {
  snapshot: PsSnapshot;
  iam: IamPolicy | undefined;
}

const byName = <T extends { name: string }>(a: T, b: T): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** The items of `sorted` named under `prefix` (one project's resources of one kind) after `after`. */
function* inRange<T extends { name: string }>(sorted: readonly T[], prefix: string, after: string | undefined): Generator<T> {
  for (const item of sorted) {
    if (!item.name.startsWith(prefix)) continue;
    if (after !== undefined && item.name <= after) continue;
    yield item;
  }
}

const sortedAcks = (acked: Iterable<number>, floor: number): number[] =>
  [...new Set(acked)].filter((s) => s > floor).sort((a, b) => a - b);

/**
 * The PubSubStore port in process memory: for the services' unit tests and single-process trials;
 * nothing survives a restart. Every method checks before its first change and never awaits in
 * between, which is what makes each call atomic and leaves the store untouched when it throws.
 */
export class MemoryPubSubStore implements PubSubStore {
  private readonly topics = new Map<string, TopicEntry>();
  private readonly subscriptions = new Map<string, SubscriptionEntry>();
  private readonly snapshots = new Map<string, SnapshotEntry>();
  private closed = false;

  async createTopic(input: Omit<PsTopic, 'revision'>): Promise<PsTopic> {
    this.assertOpen();
    if (this.topics.has(input.name)) throw err.psExists('topic', input.name);
    const topic = copyTopic({ ...input, revision: 1 });
    this.topics.set(topic.name, { topic, iam: undefined });
    return copyTopic(topic);
  }

  async getTopic(name: string): Promise<PsTopic | undefined> {
    this.assertOpen();
    const e = this.topics.get(name);
    return e && copyTopic(e.topic);
  }

  async listTopics(project: string, after: string | undefined, limit: number): Promise<Page<PsTopic>> {
    this.assertOpen();
    const sorted = [...this.topics.values()].map((e) => e.topic).sort(byName);
    const page = pageOf(inRange(sorted, err.projectPrefix(project, 'topics'), after), limit, (t) => t.name);
    return { items: page.items.map(copyTopic), next: page.next };
  }

  async updateTopic(topic: PsTopic): Promise<PsTopic> {
    this.assertOpen();
    const e = this.topics.get(topic.name);
    if (!e) throw err.psNotFound('topic', topic.name);
    if (e.topic.revision !== topic.revision) throw err.psRevisionConflict('topic', topic.name);
    e.topic = copyTopic({ ...e.topic, labels: topic.labels, messageRetentionMs: topic.messageRetentionMs, revision: topic.revision + 1 });
    return copyTopic(e.topic);
  }

  async deleteTopic(name: string): Promise<void> {
    this.assertOpen();
    if (!this.topics.delete(name)) throw err.psNotFound('topic', name);
    for (const e of this.subscriptions.values()) {
      if (e.subscription.topic !== name) continue;
      e.subscription.topic = DELETED_TOPIC;
      e.subscription.revision++;
    }
  }

  async createSubscription(input: Omit<PsSubscription, 'revision'>): Promise<PsSubscription> {
    this.assertOpen();
    if (this.subscriptions.has(input.name)) throw err.psExists('subscription', input.name);
    if (!this.topics.has(input.topic)) throw err.psNotFound('topic', input.topic);
    const subscription = copySubscription({ ...input, revision: 1 });
    this.subscriptions.set(subscription.name, { subscription, iam: undefined, floor: subscription.startSeq, acked: new Set() });
    return copySubscription(subscription);
  }

  async getSubscription(name: string): Promise<PsSubscription | undefined> {
    this.assertOpen();
    const e = this.subscriptions.get(name);
    return e && copySubscription(e.subscription);
  }

  async listSubscriptions(project: string, after: string | undefined, limit: number): Promise<Page<PsSubscription>> {
    this.assertOpen();
    const sorted = [...this.subscriptions.values()].map((e) => e.subscription).sort(byName);
    const page = pageOf(inRange(sorted, err.projectPrefix(project, 'subscriptions'), after), limit, (s) => s.name);
    return { items: page.items.map(copySubscription), next: page.next };
  }

  async listAllSubscriptions(after: string | undefined, limit: number): Promise<Page<PsSubscription>> {
    this.assertOpen();
    const sorted = [...this.subscriptions.values()].map((e) => e.subscription).filter((s) => after === undefined || s.name > after).sort(byName);
    const page = pageOf(sorted, limit, (s) => s.name);
    return { items: page.items.map(copySubscription), next: page.next };
  }

  async listTopicSubscriptions(topic: string, after: string | undefined, limit: number): Promise<Page<string>> {
    this.assertOpen();
    const names = [...this.subscriptions.values()]
      .filter((e) => e.subscription.topic === topic && (after === undefined || e.subscription.name > after))
      .map((e) => e.subscription.name)
      .sort();
    return pageOf(names, limit, (n) => n);
  }

  async updateSubscription(subscription: PsSubscription): Promise<PsSubscription> {
    this.assertOpen();
    const e = this.subscriptions.get(subscription.name);
    if (!e) throw err.psNotFound('subscription', subscription.name);
    if (e.subscription.revision !== subscription.revision) throw err.psRevisionConflict('subscription', subscription.name);
    const kept = e.subscription;
    e.subscription = copySubscription({
      ...subscription,
      topic: kept.topic,
      filter: kept.filter,
      startSeq: kept.startSeq,
      createTime: kept.createTime,
      revision: kept.revision + 1,
    });
    return copySubscription(e.subscription);
  }

  async deleteSubscription(name: string, revision?: number): Promise<void> {
    this.assertOpen();
    const e = this.subscriptions.get(name);
    if (e && revision !== undefined && e.subscription.revision !== revision) throw err.psRevisionConflict('subscription', name);
    if (!this.subscriptions.delete(name)) throw err.psNotFound('subscription', name);
  }

  async replaceSubscription(current: PsSubscriptionVersion, replacement: Omit<PsSubscription, 'name' | 'revision'>): Promise<PsSubscription> {
    this.assertOpen();
    const e = this.subscriptions.get(current.name);
    if (!e) throw err.psNotFound('subscription', current.name);
    if (e.subscription.revision !== current.revision || e.subscription.createTime !== current.createTime) {
      throw err.psRevisionConflict('subscription', current.name);
    }
    if (!this.topics.has(replacement.topic)) throw err.psNotFound('topic', replacement.topic);
    const subscription = copySubscription({ ...replacement, name: current.name, revision: current.revision + 1 });
    this.subscriptions.set(subscription.name, { subscription, iam: undefined, floor: subscription.startSeq, acked: new Set() });
    return copySubscription(subscription);
  }

  async loadAckState(subscription: string): Promise<AckState> {
    this.assertOpen();
    const e = this.subscriptions.get(subscription);
    if (!e) throw err.psNotFound('subscription', subscription);
    return { floor: e.floor, acked: sortedAcks(e.acked, e.floor) };
  }

  async recordAcks(subscription: string, acked: readonly number[], floor: number): Promise<void> {
    this.assertOpen();
    const e = this.subscriptions.get(subscription);
    if (!e) return;
    if (floor > e.floor) {
      e.floor = floor;
      for (const seq of e.acked) if (seq <= floor) e.acked.delete(seq);
    }
    for (const seq of acked) if (seq > e.floor) e.acked.add(seq);
  }

  async replaceAckState(subscription: string, state: AckState): Promise<void> {
    this.assertOpen();
    const e = this.subscriptions.get(subscription);
    if (!e) throw err.psNotFound('subscription', subscription);
    e.floor = state.floor;
    e.acked = new Set(sortedAcks(state.acked, state.floor));
  }

  async createSnapshot(snapshot: PsSnapshot, now?: number): Promise<PsSnapshot> {
    this.assertOpen();
    const held = this.snapshots.get(snapshot.name);
    if (held && !expired(held.snapshot, now)) throw err.psExists('snapshot', snapshot.name);
    const { floor, acked } = snapshot.ackState;
    const stored = copySnapshot({ ...snapshot, ackState: { floor, acked: sortedAcks(acked, floor) } });
    this.snapshots.set(stored.name, { snapshot: stored, iam: undefined });
    return copySnapshot(stored);
  }

  async getSnapshot(name: string, now: number): Promise<PsSnapshot | undefined> {
    this.assertOpen();
    const e = this.snapshots.get(name);
    return e && !expired(e.snapshot, now) ? copySnapshot(e.snapshot) : undefined;
  }

  async listSnapshots(project: string, after: string | undefined, limit: number, now: number): Promise<Page<PsSnapshot>> {
    this.assertOpen();
    const sorted = [...this.snapshots.values()]
      .map((e) => e.snapshot)
      .filter((s) => !expired(s, now))
      .sort(byName);
    const page = pageOf(inRange(sorted, err.projectPrefix(project, 'snapshots'), after), limit, (s) => s.name);
    return { items: page.items.map(copySnapshot), next: page.next };
  }

  async listTopicSnapshots(topic: string, after: string | undefined, limit: number, now: number): Promise<Page<string>> {
    this.assertOpen();
    const names = [...this.snapshots.values()]
      .map((e) => e.snapshot)
      .filter((s) => s.topic === topic && !expired(s, now) && (after === undefined || s.name > after))
      .map((s) => s.name)
      .sort();
    return pageOf(names, limit, (n) => n);
  }

  async updateSnapshot(snapshot: PsSnapshot): Promise<PsSnapshot> {
    this.assertOpen();
    const e = this.snapshots.get(snapshot.name);
    if (!e) throw err.psNotFound('snapshot', snapshot.name);
    e.snapshot = copySnapshot({ ...e.snapshot, labels: snapshot.labels, expireTime: snapshot.expireTime });
    return copySnapshot(e.snapshot);
  }

  async deleteSnapshot(name: string): Promise<void> {
    this.assertOpen();
    if (!this.snapshots.delete(name)) throw err.psNotFound('snapshot', name);
  }

  async getIamPolicy(resource: string): Promise<IamPolicy> {
    this.assertOpen();
    return copyIamPolicy(this.holder(resource).iam ?? EMPTY_POLICY);
  }

  async setIamPolicy(resource: string, policy: Omit<IamPolicy, 'etag'>, expectedEtag: Uint8Array | undefined): Promise<IamPolicy> {
    this.assertOpen();
    const holder = this.holder(resource);
    holder.iam = copyIamPolicy(nextPolicy(holder.iam ?? EMPTY_POLICY, policy, expectedEtag));
    return copyIamPolicy(holder.iam);
  }

  async removeIamMember(member: string): Promise<void> {
    this.assertOpen();
    for (const holder of [...this.topics.values(), ...this.subscriptions.values(), ...this.snapshots.values()]) {
      const bindings = holder.iam && withoutMember(holder.iam.bindings, member);
      if (holder.iam && bindings) holder.iam = copyIamPolicy(nextPolicy(holder.iam, { version: holder.iam.version, bindings }, undefined));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** The entry that holds `resource`'s policy; the policy lives and dies with its resource. */
  private holder(resource: string): { iam: IamPolicy | undefined } {
    const kind = err.parsePsName(resource)?.kind;
    const e =
      kind === 'topic'
        ? this.topics.get(resource)
        : kind === 'subscription'
          ? this.subscriptions.get(resource)
          : kind === 'snapshot'
            ? this.snapshots.get(resource)
            : undefined;
    if (!e) throw err.psResourceNotFound(resource);
    return e;
  }

  private assertOpen(): void {
    if (this.closed) throw err.psStoreClosed();
  }
}

/**
 * Without a clock reading (createSnapshot called without `now`) a stored snapshot counts as live
 * (docs/compat.md C-PS-SNAPSHOT-EXPIRY).
 */
const expired = (s: PsSnapshot, now: number | undefined): boolean => now !== undefined && s.expireTime <= now;

import type { IamPolicy } from '../../domain/model.js';
import type { Page } from '../../domain/paging.js';
import type { AckState, PsMessage, PsSnapshot, PsSubscription, PsSubscriptionVersion, PsTopic } from '../../domain/pubsub/pubsub-model.js';

/**
 * Ports of the Pub/Sub services. Messages themselves are appended through the telemetry Sink
 * (src/services/ports.ts; a SinkMessage may carry an orderingKey), so a device's QoS 1 publish
 * and an API Publish share one durable log and one group commit; `MessageLog` is its read side.
 * Both ports are async: a networked implementation (PostgreSQL, JetStream) comes later.
 */

/**
 * Pub/Sub resources and each subscription's acknowledgement state. Like Store: each operation is
 * atomic and either happens whole or throws an ApiError (ALREADY_EXISTS, NOT_FOUND, ABORTED with
 * reason REVISION_CONFLICT / ETAG_MISMATCH for a stale conditional write) and changes nothing.
 * List calls page by full resource name: `after` is the `next` of the previous page.
 */
export interface PubSubStore {
  /** Stores revision 1. ALREADY_EXISTS on a taken name. */
  createTopic(topic: Omit<PsTopic, 'revision'>): Promise<PsTopic>;
  getTopic(name: string): Promise<PsTopic | undefined>;
  /** Topics of a project ordered by name, starting after `after`. */
  listTopics(project: string, after: string | undefined, limit: number): Promise<Page<PsTopic>>;
  /** Replaces labels and retention if `topic.revision` is the stored one; returns the next revision. */
  updateTopic(topic: PsTopic): Promise<PsTopic>;
  /**
   * Removes the topic and its IAM policy; its subscriptions stay, naming DELETED_TOPIC (each at its
   * next revision, so an update read before the deletion conflicts), and so do its snapshots until
   * they expire. NOT_FOUND if absent.
   */
  deleteTopic(name: string): Promise<void>;

  /**
   * Stores revision 1 with an empty ack state (floor = startSeq). NOT_FOUND (reason TOPIC_NOT_FOUND)
   * if `subscription.topic` does not exist at that moment; ALREADY_EXISTS on a taken name.
   */
  createSubscription(subscription: Omit<PsSubscription, 'revision'>): Promise<PsSubscription>;
  getSubscription(name: string): Promise<PsSubscription | undefined>;
  /** Subscriptions of a project ordered by name, starting after `after`. */
  listSubscriptions(project: string, after: string | undefined, limit: number): Promise<Page<PsSubscription>>;
  /** Every subscription of every project ordered by name, starting after `after` (push delivery finds its subscriptions at start). */
  listAllSubscriptions(after: string | undefined, limit: number): Promise<Page<PsSubscription>>;
  /** Names of the topic's subscriptions ordered by name, starting after `after`. */
  listTopicSubscriptions(topic: string, after: string | undefined, limit: number): Promise<Page<string>>;
  /** Replaces the mutable fields (everything but name, topic, filter, startSeq, createTime) if the revision is current. */
  updateSubscription(subscription: PsSubscription): Promise<PsSubscription>;
  /**
   * Removes the subscription, its ack state and IAM policy. NOT_FOUND if absent. With `revision`
   * only if that is the stored one, else ABORTED (REVISION_CONFLICT): a writer that decided on what
   * it read cannot delete a subscription created or changed since under the same name.
   */
  deleteSubscription(name: string, revision?: number): Promise<void>;
  /**
   * Puts `replacement` in place of the subscription `current` names, in one step: removes it as
   * deleteSubscription does (ack state, IAM policy) and stores the new one with an empty ack state
   * (floor = startSeq) at the next revision, so whoever reads the name finds one or the other, never
   * none, and a (name, revision) read before never matches the new one. Only if the stored one is
   * still `current` (revision and createTime), else ABORTED (REVISION_CONFLICT); NOT_FOUND if it is
   * absent, or (reason TOPIC_NOT_FOUND) if `replacement.topic` does not exist.
   */
  replaceSubscription(current: PsSubscriptionVersion, replacement: Omit<PsSubscription, 'name' | 'revision'>): Promise<PsSubscription>;

  /** NOT_FOUND if the subscription does not exist. */
  loadAckState(subscription: string): Promise<AckState>;
  /**
   * Adds `acked` (any order, duplicates and seqs <= floor ignored) and raises the floor to `floor`
   * (never lowers it); seqs <= the new floor are dropped from the set. Idempotent. A subscription
   * deleted meanwhile is not an error (the acks are dropped).
   */
  recordAcks(subscription: string, acked: readonly number[], floor: number): Promise<void>;
  /** Replaces the ack state (Seek). NOT_FOUND if the subscription does not exist. */
  replaceAckState(subscription: string, state: AckState): Promise<void>;

  /**
   * ALREADY_EXISTS on a taken name; a snapshot expired at `now` no longer holds its name (without
   * `now` every stored snapshot does). The ack state is stored normalized (ascending, > floor).
   */
  createSnapshot(snapshot: PsSnapshot, now?: number): Promise<PsSnapshot>;
  /** Undefined if absent or expired at `now`. */
  getSnapshot(name: string, now: number): Promise<PsSnapshot | undefined>;
  listSnapshots(project: string, after: string | undefined, limit: number, now: number): Promise<Page<PsSnapshot>>;
  listTopicSnapshots(topic: string, after: string | undefined, limit: number, now: number): Promise<Page<string>>;
  /** Replaces labels and expireTime. NOT_FOUND if absent (an expired one not yet removed counts as present). */
  updateSnapshot(snapshot: PsSnapshot): Promise<PsSnapshot>;
  /** NOT_FOUND if absent. */
  deleteSnapshot(name: string): Promise<void>;

  /** The policy of a topic, subscription or snapshot, or EMPTY_POLICY; NOT_FOUND if the resource does not exist. */
  getIamPolicy(resource: string): Promise<IamPolicy>;
  /** As Store.setIamPolicy: nextPolicy applied atomically, ABORTED (ETAG_MISMATCH) for a stale etag. */
  setIamPolicy(resource: string, policy: Omit<IamPolicy, 'etag'>, expectedEtag: Uint8Array | undefined): Promise<IamPolicy>;
  /**
   * Takes `member` out of every topic, subscription and snapshot policy that names it (a deleted
   * service account's grants go with it), each changed policy getting a new etag.
   */
  removeIamMember(member: string): Promise<void>;

  close(): Promise<void>;
}

/** The read side of the durable log, as Pub/Sub subscriptions consume it. */
export interface MessageLog {
  /** Messages of `topic` with seq > afterSeq, ascending, at most `limit` (>= 1). */
  read(topic: string, afterSeq: number, limit: number): Promise<PsMessage[]>;
  /**
   * The greatest seq of `topic` whose publishTime is before `time` (0 if none): seeking to `time`
   * makes everything up to it acknowledged and everything after it not.
   */
  seqBefore(topic: string, time: number): Promise<number>;
  /** How many messages of `topic` have seq > afterSeq: a backlog without reading it. */
  count(topic: string, afterSeq: number): Promise<number>;
  /**
   * The highest seq ever assigned among the seqs `topic` shares (0 for a new log): the whole log's
   * in the embedded log, the topic's project stream's in JetStream. A new subscription starts after it.
   */
  headSeq(topic: string): Promise<number>;
  /**
   * Calls `listener` after every commit that added messages to `topic` (they are readable by then);
   * `lastSeq` is the commit's highest seq, which may belong to another topic. Returns an unsubscribe function.
   */
  watch(topic: string, listener: (lastSeq: number) => void): () => void;
}

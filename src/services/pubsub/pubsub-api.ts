import type { ApiError } from '../../domain/errors.js';
import type { IamPolicy } from '../../domain/model.js';
import type { AckState, PsMessage, PsSnapshot, PsSubscriptionView, PsTopic } from '../../domain/pubsub/pubsub-model.js';
import type { Principal } from '../api-auth.js';
import type * as Req from './pubsub-requests.js';

/**
 * What the Pub/Sub edges (gRPC today; the CLI, console and a REST mapping later) call: one
 * service layer that authenticates nothing (the edge hands over a Principal), authorizes every
 * call with Pub/Sub's permission names, validates every field (INVALID_ARGUMENT naming it) and
 * answers in the error vocabulary (src/domain/errors.ts), which each edge maps through its own
 * table. Requests are google.pubsub.v1 messages (./pubsub-requests.ts); results are the domain
 * model, which each edge renders.
 */

export interface ListResult<T> {
  items: T[];
  /** '' when this is the last page. */
  nextPageToken: string;
}

export interface PublisherApi {
  createTopic(caller: Principal, request: Req.TopicMessage): Promise<PsTopic>;
  getTopic(caller: Principal, request: { topic?: string }): Promise<PsTopic>;
  updateTopic(caller: Principal, request: Req.UpdateTopicRequest): Promise<PsTopic>;
  listTopics(caller: Principal, request: Req.ListTopicsRequest): Promise<ListResult<PsTopic>>;
  listTopicSubscriptions(caller: Principal, request: Req.ListTopicSubscriptionsRequest): Promise<ListResult<string>>;
  listTopicSnapshots(caller: Principal, request: Req.ListTopicSubscriptionsRequest): Promise<ListResult<string>>;
  deleteTopic(caller: Principal, request: { topic?: string }): Promise<void>;
  /** Resolves to the message IDs, in order, once every message is durably stored. */
  publish(caller: Principal, request: Req.PublishRequest): Promise<string[]>;
  detachSubscription(caller: Principal, request: { subscription?: string }): Promise<void>;
}

/** A message handed to a subscriber. */
export interface ReceivedMessage {
  ackId: string;
  message: PsMessage;
  /** 0 when the subscription has no dead-letter policy (Pub/Sub then leaves the field unset). */
  deliveryAttempt: number;
}

/** Where a streaming pull's messages go: the edge's side of one stream. */
export interface StreamingPullSink {
  /**
   * Sends messages on the stream. Returns false when the edge's write buffer is full: the engine
   * then delivers nothing more on this stream until `StreamingPullSession.resume()`.
   */
  deliver(messages: ReceivedMessage[]): boolean;
  /** Ends the stream with this status (subscription deleted or detached: NOT_FOUND / FAILED_PRECONDITION; shutdown: UNAVAILABLE; access revoked: UNAUTHENTICATED / PERMISSION_DENIED). */
  end(error: ApiError): void;
}

/** The engine's side of one open stream. */
export interface StreamingPullSession {
  /**
   * The subscription's enableMessageOrdering, which StreamingPullResponse.subscription_properties
   * reports (some client libraries process ordered streams differently); absent = false.
   */
  readonly messageOrderingEnabled?: boolean;
  /**
   * A later request of the stream (acks, deadline changes, a new stream deadline or flow-control
   * limits). Throws INVALID_ARGUMENT for a malformed one (the edge ends the stream with it).
   * Ack IDs that are malformed, expired or of another subscription are ignored, as Pub/Sub does.
   */
  request(request: Req.StreamingPullRequest): void;
  /** The edge's write buffer drained. */
  resume(): void;
  /** The client went away or half-closed: nothing more is delivered; outstanding leases run out on their own. */
  close(): void;
}

export interface SubscriberApi {
  createSubscription(caller: Principal, request: Req.SubscriptionMessage): Promise<PsSubscriptionView>;
  getSubscription(caller: Principal, request: { subscription?: string }): Promise<PsSubscriptionView>;
  updateSubscription(caller: Principal, request: Req.UpdateSubscriptionRequest): Promise<PsSubscriptionView>;
  listSubscriptions(caller: Principal, request: Req.ListSubscriptionsRequest): Promise<ListResult<PsSubscriptionView>>;
  deleteSubscription(caller: Principal, request: { subscription?: string }): Promise<void>;
  modifyAckDeadline(caller: Principal, request: Req.ModifyAckDeadlineRequest): Promise<void>;
  /** Resolves once the acks are durably recorded. */
  acknowledge(caller: Principal, request: Req.AcknowledgeRequest): Promise<void>;
  /** Waits (bounded, or until `signal`) for at least one message unless `returnImmediately`. */
  pull(caller: Principal, request: Req.PullRequest, signal: AbortSignal): Promise<ReceivedMessage[]>;
  /** Validates and authorizes the stream's first request, then starts delivering to `sink`. */
  streamingPull(caller: Principal, request: Req.StreamingPullRequest, sink: StreamingPullSink): Promise<StreamingPullSession>;
  modifyPushConfig(caller: Principal, request: Req.ModifyPushConfigRequest): Promise<void>;
  getSnapshot(caller: Principal, request: { snapshot?: string }): Promise<PsSnapshot>;
  listSnapshots(caller: Principal, request: Req.ListSnapshotsRequest): Promise<ListResult<PsSnapshot>>;
  createSnapshot(caller: Principal, request: Req.CreateSnapshotRequest): Promise<PsSnapshot>;
  updateSnapshot(caller: Principal, request: Req.UpdateSnapshotRequest): Promise<PsSnapshot>;
  deleteSnapshot(caller: Principal, request: { snapshot?: string }): Promise<void>;
  seek(caller: Principal, request: Req.SeekRequest): Promise<void>;
}

/** google.iam.v1.IAMPolicy on topics, subscriptions and snapshots. */
export interface PubSubIamApi {
  getIamPolicy(caller: Principal, request: { resource?: string }): Promise<IamPolicy>;
  setIamPolicy(caller: Principal, request: Req.SetIamPolicyRequest): Promise<IamPolicy>;
  /** The subset of the requested permissions the caller holds on the resource. */
  testIamPermissions(caller: Principal, request: Req.TestIamPermissionsRequest): Promise<string[]>;
}

/** Flow control and lease length of one consumer. */
export interface ConsumerOptions {
  /** 10..600: how long a delivered message is leased before it is redelivered. */
  ackDeadlineSeconds: number;
  /** Unacked messages delivered to this consumer at most; 0 = no limit (Pub/Sub's default is 1,000 for the client libraries). */
  maxOutstandingMessages: number;
  /** Unacked bytes (data + attributes) delivered to this consumer at most; 0 = no limit. */
  maxOutstandingBytes: number;
}

/**
 * Delivery of subscriptions (leases, redelivery after the deadline with deliveryAttempt counted,
 * ordering keys, retry backoff, dead-lettering, seek). Trusted callers only: PubSubAdmin after
 * authorizing, and Bridgehead's own consumers (push delivery, the Google forwarder). Everything
 * is keyed by subscription name; the engine loads a subscription's state on first use.
 */
export interface SubscriptionEngine {
  /** NOT_FOUND / FAILED_PRECONDITION (detached) like Pull. */
  open(subscription: string, options: ConsumerOptions, sink: StreamingPullSink): Promise<StreamingPullSession>;
  /** Up to `maxMessages`; waits up to `waitMs` (0 = return at once) or until `signal` for the first. */
  pull(subscription: string, maxMessages: number, waitMs: number, signal?: AbortSignal): Promise<ReceivedMessage[]>;
  /** Resolves once durably recorded. Unknown, malformed and foreign ack IDs are ignored. */
  acknowledge(subscription: string, ackIds: readonly string[]): Promise<void>;
  /** 0 = nack (redeliver as soon as the retry policy allows); 10..600 otherwise. */
  modifyAckDeadline(subscription: string, ackIds: readonly string[], seconds: number): Promise<void>;
  /** The ack state a snapshot of the subscription captures now. */
  ackState(subscription: string): Promise<AckState>;
  /** Replaces the ack state (Seek); outstanding leases are dropped, so those messages are redelivered. */
  seek(subscription: string, state: AckState): Promise<void>;
  /** The subscription's settings changed (update, push config, detach): picked up from the store. */
  subscriptionChanged(subscription: string): void;
  /** The subscription is gone: open streams end with NOT_FOUND and its state is dropped. */
  subscriptionDeleted(subscription: string): void;
  /** The subscriptions this engine has loaded (the ones whose changes it must follow). */
  loadedSubscriptions(): string[];
  /** Unacked messages of the subscription (a metric; the forwarder's backlog). */
  backlog(subscription: string): Promise<number>;
  /** Ends every stream with UNAVAILABLE (clients reconnect) and flushes pending acks. */
  close(): Promise<void>;
}

/**
 * The Pub/Sub resources Bridgehead serves (google.pubsub.v1), as the services and stores hold
 * them. Times are epoch ms, durations ms; names are full resource names
 * (`projects/{p}/topics/{t}`, `projects/{p}/subscriptions/{s}`, `projects/{p}/snapshots/{s}`).
 */

export interface PsTopic {
  name: string;
  labels: Record<string, string>;
  /** Topic message retention (enables Seek to times before a subscription's acks); undefined = not set. */
  messageRetentionMs: number | undefined;
  createTime: number;
  /** Conditional writes, as registries and devices have (src/services/ports.ts Store). */
  revision: number;
}

export interface DeadLetterPolicy {
  /** A topic name; messages that reached maxDeliveryAttempts are published there and acked here. */
  deadLetterTopic: string;
  /** 5..100. */
  maxDeliveryAttempts: number;
}

export interface RetryPolicy {
  minimumBackoffMs: number;
  maximumBackoffMs: number;
}

export interface OidcToken {
  serviceAccountEmail: string;
  audience: string;
}

export interface PushConfig {
  pushEndpoint: string;
  attributes: Record<string, string>;
  oidcToken: OidcToken | undefined;
}

/** Subscriptions of a deleted topic keep existing and name this topic (as Pub/Sub does). */
export const DELETED_TOPIC = '_deleted-topic_';

export interface PsSubscription {
  name: string;
  /** A topic name, or DELETED_TOPIC. */
  topic: string;
  /** 10..600. */
  ackDeadlineSeconds: number;
  retainAckedMessages: boolean;
  /** How long unacked messages are kept (10 min .. 7 days; default 7 days). */
  messageRetentionMs: number;
  labels: Record<string, string>;
  /** Pub/Sub filter syntax on attributes; '' = every message. Immutable after creation. */
  filter: string;
  enableMessageOrdering: boolean;
  deadLetterPolicy: DeadLetterPolicy | undefined;
  retryPolicy: RetryPolicy | undefined;
  /** Undefined = a pull subscription. */
  pushConfig: PushConfig | undefined;
  /** Detached: no longer receives messages, Pull and StreamingPull fail with FAILED_PRECONDITION. */
  detached: boolean;
  /** The log's head seq when the subscription was created: its messages are those after it. */
  startSeq: number;
  createTime: number;
  revision: number;
}

/**
 * Which subscription of a name a writer decided on. The revision alone does not say: a subscription
 * deleted and created again under its name starts at revision 1 again; its createTime tells them apart.
 */
export type PsSubscriptionVersion = Pick<PsSubscription, 'name' | 'revision' | 'createTime'>;

/**
 * A subscription as the API returns it: with the output-only fields Pub/Sub derives from its topic.
 */
export interface PsSubscriptionView extends PsSubscription {
  /** The topic's message retention (topic_message_retention_duration); undefined = the topic sets none, or is gone. */
  topicMessageRetentionMs: number | undefined;
}

/**
 * The subscription with what it reports of `topic`, the topic read for it (undefined: not there).
 * Only the subscription's own topic counts: a deleted one's successor of the same name is not it.
 */
export function subscriptionView(sub: PsSubscription, topic: PsTopic | undefined): PsSubscriptionView {
  const own = topic !== undefined && sub.topic !== DELETED_TOPIC && topic.name === sub.topic;
  return { ...sub, topicMessageRetentionMs: own ? topic.messageRetentionMs : undefined };
}

/**
 * What has been acknowledged in a subscription: every seq <= floor, and the seqs of `acked`
 * (ascending, all > floor). A snapshot captures one; Seek replaces it.
 */
export interface AckState {
  floor: number;
  acked: readonly number[];
}

export interface PsSnapshot {
  name: string;
  topic: string;
  /** Epoch ms after which the snapshot is gone (Pub/Sub: at most 7 days after its oldest unacked message). */
  expireTime: number;
  labels: Record<string, string>;
  ackState: AckState;
}

/** A message of a topic as the log holds it. */
export interface PsMessage {
  /** Position in the log; increases with every append, never reused. */
  seq: number;
  /** `String(seq)`: what publishers got back from Publish and devices' PUBACK stands for. */
  messageId: string;
  publishTime: number;
  attributes: Record<string, string>;
  data: Uint8Array;
  /** '' when the publisher gave none. */
  orderingKey: string;
}

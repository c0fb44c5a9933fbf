import type { PsSnapshot, PsSubscription, PsTopic } from '../../../domain/pubsub/pubsub-model.js';

/*
 * Rows of the Pub/Sub store to the domain model and back. Decoding rebuilds every optional field
 * as an explicit `undefined` key, so a stored resource reads back deep-equal to what the memory
 * store returns.
 */

export interface TopicRow {
  name: string;
  labels: string;
  retention_ms: number | null;
  create_time: number;
  revision: number;
}

export const decodeTopic = (r: TopicRow): PsTopic => ({
  name: r.name,
  labels: JSON.parse(r.labels) as Record<string, string>,
  messageRetentionMs: r.retention_ms ?? undefined,
  createTime: r.create_time,
  revision: r.revision,
});

export interface SubscriptionRow {
  name: string;
  topic: string;
  filter: string;
  start_seq: number;
  create_time: number;
  doc: string;
  revision: number;
}

/** The mutable configuration of a subscription: what `doc` holds and an update replaces. */
type SubscriptionDoc = Pick<
  PsSubscription,
  | 'ackDeadlineSeconds'
  | 'retainAckedMessages'
  | 'messageRetentionMs'
  | 'labels'
  | 'enableMessageOrdering'
  | 'deadLetterPolicy'
  | 'retryPolicy'
  | 'pushConfig'
  | 'detached'
>;

/** JSON has no undefined: an absent optional is stored as null and decoded back to undefined. */
export const encodeSubscriptionDoc = (s: PsSubscription | Omit<PsSubscription, 'revision'>): string =>
  JSON.stringify({
    ackDeadlineSeconds: s.ackDeadlineSeconds,
    retainAckedMessages: s.retainAckedMessages,
    messageRetentionMs: s.messageRetentionMs,
    labels: s.labels,
    enableMessageOrdering: s.enableMessageOrdering,
    deadLetterPolicy: s.deadLetterPolicy
      ? { deadLetterTopic: s.deadLetterPolicy.deadLetterTopic, maxDeliveryAttempts: s.deadLetterPolicy.maxDeliveryAttempts }
      : null,
    retryPolicy: s.retryPolicy ? { minimumBackoffMs: s.retryPolicy.minimumBackoffMs, maximumBackoffMs: s.retryPolicy.maximumBackoffMs } : null,
    pushConfig: s.pushConfig
      ? {
          pushEndpoint: s.pushConfig.pushEndpoint,
          attributes: s.pushConfig.attributes,
          oidcToken: s.pushConfig.oidcToken
            ? { serviceAccountEmail: s.pushConfig.oidcToken.serviceAccountEmail, audience: s.pushConfig.oidcToken.audience }
            : null,
        }
      : null,
    detached: s.detached,
  });

interface StoredDoc {
  ackDeadlineSeconds: number;
  retainAckedMessages: boolean;
  messageRetentionMs: number;
  labels: Record<string, string>;
  enableMessageOrdering: boolean;
  deadLetterPolicy: { deadLetterTopic: string; maxDeliveryAttempts: number } | null;
  retryPolicy: { minimumBackoffMs: number; maximumBackoffMs: number } | null;
  pushConfig: {
    pushEndpoint: string;
    attributes: Record<string, string>;
    oidcToken: { serviceAccountEmail: string; audience: string } | null;
  } | null;
  detached: boolean;
}

function decodeDoc(text: string): SubscriptionDoc {
  const d = JSON.parse(text) as StoredDoc;
  return {
    ackDeadlineSeconds: d.ackDeadlineSeconds,
    retainAckedMessages: d.retainAckedMessages,
    messageRetentionMs: d.messageRetentionMs,
    labels: d.labels,
    enableMessageOrdering: d.enableMessageOrdering,
    deadLetterPolicy: d.deadLetterPolicy ?? undefined,
    retryPolicy: d.retryPolicy ?? undefined,
    pushConfig: d.pushConfig
      ? { pushEndpoint: d.pushConfig.pushEndpoint, attributes: d.pushConfig.attributes, oidcToken: d.pushConfig.oidcToken ?? undefined }
      : undefined,
    detached: d.detached,
  };
}

export const decodeSubscription = (r: SubscriptionRow): PsSubscription => {
  const doc = decodeDoc(r.doc);
  // Key order as the model declares it, so logs and snapshots of objects read alike.
  return {
    name: r.name,
    topic: r.topic,
    ackDeadlineSeconds: doc.ackDeadlineSeconds,
    retainAckedMessages: doc.retainAckedMessages,
    messageRetentionMs: doc.messageRetentionMs,
    labels: doc.labels,
    filter: r.filter,
    enableMessageOrdering: doc.enableMessageOrdering,
    deadLetterPolicy: doc.deadLetterPolicy,
    retryPolicy: doc.retryPolicy,
    pushConfig: doc.pushConfig,
    detached: doc.detached,
    startSeq: r.start_seq,
    createTime: r.create_time,
    revision: r.revision,
  };
};

export interface SnapshotRow {
  name: string;
  topic: string;
  expire_time: number;
  labels: string;
  ack_floor: number;
  acked: string;
}

export const decodeSnapshot = (r: SnapshotRow): PsSnapshot => ({
  name: r.name,
  topic: r.topic,
  expireTime: r.expire_time,
  labels: JSON.parse(r.labels) as Record<string, string>,
  ackState: { floor: r.ack_floor, acked: JSON.parse(r.acked) as number[] },
});

/** Ascending, distinct, above the floor: the one representation both stores hand out. */
export const normalizedAcks = (acked: readonly number[], floor: number): number[] =>
  [...new Set(acked)].filter((s) => s > floor).sort((a, b) => a - b);

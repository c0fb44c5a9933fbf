import type { PsMessage, PsSnapshot, PsSubscriptionView, PsTopic } from '../../domain/pubsub/pubsub-model.js';
import type { ListResult, ReceivedMessage } from '../../services/pubsub/pubsub-api.js';
import { clean, type Message } from '../wire/resource-messages.js';
import { timestamp, type Timestamp } from './resource-messages.js';

/*
 * The Pub/Sub domain model -> google.pubsub.v1 response messages as proto-loader encodes them
 * (camelCase, bytes as Buffers, Timestamps and Durations as {seconds, nanos}). Fields at their
 * default are left out: on the wire proto3 cannot tell them from absent anyway.
 */

/** google.protobuf.Duration of a millisecond count. */
export const duration = (ms: number): Timestamp => timestamp(ms);

const buffer = (data: Uint8Array): Buffer => Buffer.from(data.buffer, data.byteOffset, data.byteLength);

const labels = (l: Record<string, string>): Record<string, string> | undefined => (Object.keys(l).length ? l : undefined);

export function topicProto(t: PsTopic): Message {
  return clean({
    name: t.name,
    labels: labels(t.labels),
    messageRetentionDuration: t.messageRetentionMs === undefined ? undefined : duration(t.messageRetentionMs),
    // Topics are always ACTIVE here: no ingestion sources.
    state: 'ACTIVE',
  });
}

export function subscriptionProto(s: PsSubscriptionView): Message {
  const push = s.pushConfig;
  return clean({
    name: s.name,
    topic: s.topic,
    pushConfig: push
      ? clean({
          pushEndpoint: push.pushEndpoint,
          attributes: labels(push.attributes),
          oidcToken: push.oidcToken && { serviceAccountEmail: push.oidcToken.serviceAccountEmail, audience: push.oidcToken.audience },
        })
      : {},
    ackDeadlineSeconds: s.ackDeadlineSeconds,
    retainAckedMessages: s.retainAckedMessages || undefined,
    messageRetentionDuration: duration(s.messageRetentionMs),
    labels: labels(s.labels),
    enableMessageOrdering: s.enableMessageOrdering || undefined,
    filter: s.filter || undefined,
    deadLetterPolicy: s.deadLetterPolicy && { deadLetterTopic: s.deadLetterPolicy.deadLetterTopic, maxDeliveryAttempts: s.deadLetterPolicy.maxDeliveryAttempts },
    retryPolicy: s.retryPolicy && {
      minimumBackoff: duration(s.retryPolicy.minimumBackoffMs),
      maximumBackoff: duration(s.retryPolicy.maximumBackoffMs),
    },
    detached: s.detached || undefined,
    topicMessageRetentionDuration: s.topicMessageRetentionMs === undefined ? undefined : duration(s.topicMessageRetentionMs),
    state: 'ACTIVE',
  });
}

export function snapshotProto(s: PsSnapshot): Message {
  return clean({ name: s.name, topic: s.topic, expireTime: timestamp(s.expireTime), labels: labels(s.labels) });
}

export function pubsubMessageProto(m: PsMessage): Message {
  return clean({
    data: buffer(m.data),
    attributes: labels(m.attributes),
    messageId: m.messageId,
    publishTime: timestamp(m.publishTime),
    orderingKey: m.orderingKey || undefined,
  });
}

/** deliveryAttempt only when counted (a dead-letter policy is set), as Pub/Sub leaves it unset otherwise. */
export function receivedMessageProto(r: ReceivedMessage): Message {
  return clean({ ackId: r.ackId, message: pubsubMessageProto(r.message), deliveryAttempt: r.deliveryAttempt > 0 ? r.deliveryAttempt : undefined });
}

export function listProto<T>(field: string, list: ListResult<T>, render: (item: T) => unknown): Message {
  return clean({ [field]: list.items.length ? list.items.map(render) : undefined, nextPageToken: list.nextPageToken || undefined });
}

import type { AckState, PsSnapshot, PsSubscription, PsTopic } from '../../../domain/pubsub/pubsub-model.js';

/*
 * Deep copies for the memory Pub/Sub store: nothing crossing its boundary aliases stored state.
 * Field by field, like ./copies.ts, so the result has exactly the shape the SQLite store rebuilds
 * from rows (an absent optional is an `undefined` key, never a missing one).
 */

export const copyTopic = (t: PsTopic): PsTopic => ({
  name: t.name,
  labels: { ...t.labels },
  messageRetentionMs: t.messageRetentionMs ?? undefined,
  createTime: t.createTime,
  revision: t.revision,
});

export const copySubscription = (s: PsSubscription): PsSubscription => ({
  name: s.name,
  topic: s.topic,
  ackDeadlineSeconds: s.ackDeadlineSeconds,
  retainAckedMessages: s.retainAckedMessages,
  messageRetentionMs: s.messageRetentionMs,
  labels: { ...s.labels },
  filter: s.filter,
  enableMessageOrdering: s.enableMessageOrdering,
  deadLetterPolicy: s.deadLetterPolicy
    ? { deadLetterTopic: s.deadLetterPolicy.deadLetterTopic, maxDeliveryAttempts: s.deadLetterPolicy.maxDeliveryAttempts }
    : undefined,
  retryPolicy: s.retryPolicy
    ? { minimumBackoffMs: s.retryPolicy.minimumBackoffMs, maximumBackoffMs: s.retryPolicy.maximumBackoffMs }
    : undefined,
  pushConfig: s.pushConfig
    ? {
        pushEndpoint: s.pushConfig.pushEndpoint,
        attributes: { ...s.pushConfig.attributes },
        oidcToken: s.pushConfig.oidcToken
          ? { serviceAccountEmail: s.pushConfig.oidcToken.serviceAccountEmail, audience: s.pushConfig.oidcToken.audience }
          : undefined,
      }
    : undefined,
  detached: s.detached,
  startSeq: s.startSeq,
  createTime: s.createTime,
  revision: s.revision,
});

export const copyAckState = (a: AckState): AckState => ({ floor: a.floor, acked: [...a.acked] });

export const copySnapshot = (s: PsSnapshot): PsSnapshot => ({
  name: s.name,
  topic: s.topic,
  expireTime: s.expireTime,
  labels: { ...s.labels },
  ackState: copyAckState(s.ackState),
});

import { invalidArgument } from '../../domain/errors.js';
import { compileFilter } from '../../domain/pubsub/filter.js';
import {
  ackDeadlineSeconds,
  checkDeadline,
  deadLetterPolicy,
  labels,
  pushConfig,
  retryPolicy,
  subscriptionRetentionMs,
  topicRetentionMs,
  type SubscriptionMutable,
  type TopicMutable,
} from '../../domain/pubsub/pubsub-fields.js';
import type { PsSubscription, PsTopic } from '../../domain/pubsub/pubsub-model.js';
import { parseTopicName } from '../../domain/pubsub/pubsub-names.js';
import type { IamBinding } from '../../domain/model.js';
import type { PolicyMessage } from '../device-manager-requests.js';
import type { ConsumerOptions } from './pubsub-api.js';
import type * as Req from './pubsub-requests.js';

/*
 * google.pubsub.v1 request messages -> domain values: defaults, every field rule, and the proto
 * path of anything refused. Shared by every edge through PubSubAdmin.
 */

/** Set in a request as proto-loader decodes it (absent, or an empty string / message we treat as unset). */
const isSet = (v: unknown): boolean => v !== undefined && v !== null && v !== '' && !(typeof v === 'object' && Object.keys(v).length === 0);

/**
 * Features Bridgehead does not serve: refused rather than ignored, because a client that sets them
 * relies on them (docs/compat.md C-PS-UNSUPPORTED).
 */
function refuseUnsupported(fields: [string, unknown][], prefix: string): void {
  for (const [name, value] of fields) {
    if (isSet(value) && value !== false) {
      throw invalidArgument(`${prefix}${name}`, `${prefix}${name} is not supported by Bridgehead; leave it unset.`);
    }
  }
}

/** Topic fields of a CreateTopic (all) or UpdateTopic (those of the mask) applied onto `topic`. */
export function applyTopicFields(
  topic: Pick<PsTopic, 'labels' | 'messageRetentionMs'>,
  msg: Req.TopicMessage,
  mask: ReadonlySet<TopicMutable> | undefined,
  prefix: string,
): void {
  refuseUnsupported(
    [
      ['kms_key_name', msg.kmsKeyName],
      ['schema_settings', msg.schemaSettings],
      ['ingestion_data_source_settings', msg.ingestionDataSourceSettings],
    ],
    prefix,
  );
  const take = (f: TopicMutable): boolean => (mask ? mask.has(f) : true);
  if (take('labels')) topic.labels = labels(msg.labels, `${prefix}labels`);
  if (take('messageRetentionDuration')) topic.messageRetentionMs = topicRetentionMs(msg.messageRetentionDuration, `${prefix}message_retention_duration`);
}

/** The mutable fields of a Subscription. */
export type SubscriptionSettings = Pick<
  PsSubscription,
  'ackDeadlineSeconds' | 'retainAckedMessages' | 'messageRetentionMs' | 'labels' | 'pushConfig' | 'deadLetterPolicy' | 'retryPolicy'
>;

/** Subscription fields of a CreateSubscription (all) or UpdateSubscription (those of the mask) applied onto `sub`. */
export function applySubscriptionFields(
  sub: SubscriptionSettings,
  msg: Req.SubscriptionMessage,
  mask: ReadonlySet<SubscriptionMutable> | undefined,
  prefix: string,
): void {
  refuseUnsupported(
    [
      ['bigquery_config', msg.bigqueryConfig],
      ['cloud_storage_config', msg.cloudStorageConfig],
      ['enable_exactly_once_delivery', msg.enableExactlyOnceDelivery],
    ],
    prefix,
  );
  const take = (f: SubscriptionMutable): boolean => (mask ? mask.has(f) : true);
  if (take('ackDeadlineSeconds')) sub.ackDeadlineSeconds = ackDeadlineSeconds(msg.ackDeadlineSeconds, `${prefix}ack_deadline_seconds`);
  if (take('retainAckedMessages')) sub.retainAckedMessages = msg.retainAckedMessages ?? false;
  if (take('messageRetentionDuration')) {
    sub.messageRetentionMs = subscriptionRetentionMs(msg.messageRetentionDuration, `${prefix}message_retention_duration`);
  }
  if (take('labels')) sub.labels = labels(msg.labels, `${prefix}labels`);
  if (take('pushConfig')) sub.pushConfig = pushConfig(msg.pushConfig, `${prefix}push_config`);
  if (take('deadLetterPolicy')) sub.deadLetterPolicy = deadLetterPolicy(msg.deadLetterPolicy, `${prefix}dead_letter_policy`);
  if (take('retryPolicy')) sub.retryPolicy = retryPolicy(msg.retryPolicy, `${prefix}retry_policy`);
}

/** The fields of a new subscription fixed at creation: its topic and filter (validated). */
export function creationFields(msg: Req.SubscriptionMessage): { topic: string; filter: string; enableMessageOrdering: boolean } {
  const topic = parseTopicName(msg.topic, 'topic').name;
  const filter = msg.filter ?? '';
  compileFilter(filter, 'filter');
  return { topic, filter, enableMessageOrdering: msg.enableMessageOrdering ?? false };
}

/** Pub/Sub's Pull answers at most this many messages, whatever max_messages asks. */
export const MAX_PULL_MESSAGES = 1000;

export function pullMaxMessages(n: number | undefined): number {
  const v = n ?? 0;
  if (!Number.isInteger(v) || v <= 0) throw invalidArgument('max_messages', 'max_messages must be a positive integer.', v === 0 ? 'REQUIRED_FIELD' : 'INVALID_FIELD');
  return Math.min(v, MAX_PULL_MESSAGES);
}

export function requiredAckIds(ackIds: readonly string[] | undefined, field = 'ack_ids'): string[] {
  const ids = ackIds ?? [];
  if (ids.length === 0) throw invalidArgument(field, `${field} must contain at least one ack ID.`, 'REQUIRED_FIELD');
  for (const id of ids) if (typeof id !== 'string') throw invalidArgument(field, `${field} must be strings.`);
  return [...ids];
}

/**
 * ModifyAckDeadline's deadline: 0 (nack) .. 600 s. Pub/Sub accepts 1..9 too; the engine leases
 * for at least 10 s, so those become 10 (docs/compat.md C-PS-MODACK-MIN).
 */
export function modifyDeadlineSeconds(n: number | undefined, field: string): number {
  const v = n ?? 0;
  if (!Number.isInteger(v) || v < 0 || v > 600) throw invalidArgument(field, `Invalid ${field} (${String(v)}): it must be 0..600 seconds.`);
  return v === 0 ? 0 : Math.max(v, 10);
}

/** Flow-control limits of a stream: int64 as decimal strings; <= 0 means no limit. */
function flowLimit(v: string | number | undefined, field: string): number {
  if (v === undefined || v === null) return 0;
  const n = typeof v === 'string' ? (/^-?\d{1,16}$/.test(v) ? Number(v) : NaN) : v;
  if (!Number.isSafeInteger(n)) throw invalidArgument(field, `${field} must be an integer.`);
  return Math.max(0, n);
}

/** The consumer options of a StreamingPull's first request. */
export function streamOptions(req: Req.StreamingPullRequest): ConsumerOptions {
  const seconds = req.streamAckDeadlineSeconds ?? 0;
  if (seconds === 0) throw invalidArgument('stream_ack_deadline_seconds', 'stream_ack_deadline_seconds is required in the first request of a stream.', 'REQUIRED_FIELD');
  checkDeadline(seconds, 'stream_ack_deadline_seconds');
  return {
    ackDeadlineSeconds: seconds,
    maxOutstandingMessages: flowLimit(req.maxOutstandingMessages, 'max_outstanding_messages'),
    maxOutstandingBytes: flowLimit(req.maxOutstandingBytes, 'max_outstanding_bytes'),
  };
}

/** Checks the ack and deadline parts of any StreamingPull request (first or later). */
export function checkStreamAcks(req: Req.StreamingPullRequest): void {
  const seconds = req.modifyDeadlineSeconds ?? [];
  const ids = req.modifyDeadlineAckIds ?? [];
  if (seconds.length !== ids.length) {
    throw invalidArgument('modify_deadline_seconds', 'modify_deadline_seconds and modify_deadline_ack_ids must have the same length.');
  }
  seconds.forEach((s, i) => modifyDeadlineSeconds(s, `modify_deadline_seconds[${i}]`));
  if (req.streamAckDeadlineSeconds !== undefined && req.streamAckDeadlineSeconds !== 0) checkDeadline(req.streamAckDeadlineSeconds, 'stream_ack_deadline_seconds');
}

/** A later StreamingPull request with deadlines as the engine takes them (1..9 raised to 10). */
export function normalisedStreamRequest(req: Req.StreamingPullRequest): Req.StreamingPullRequest {
  checkStreamAcks(req);
  if (!req.modifyDeadlineSeconds?.length) return req;
  return { ...req, modifyDeadlineSeconds: req.modifyDeadlineSeconds.map((s, i) => modifyDeadlineSeconds(s, `modify_deadline_seconds[${i}]`)) };
}

/** google.iam.v1.Policy of a SetIamPolicy, with each binding's condition checked for shape (it is stored, never evaluated). */
export function policyMessage(policy: NonNullable<Req.SetIamPolicyRequest['policy']>): PolicyMessage {
  return {
    ...(policy.version === undefined ? {} : { version: policy.version }),
    ...(policy.etag === undefined ? {} : { etag: policy.etag }),
    bindings: (policy.bindings ?? []).map((b, i) => {
      const { condition, ...rest } = b;
      if (condition === undefined || condition === null) return rest;
      const c = condition as Record<string, unknown>;
      if (typeof c !== 'object' || typeof c.expression !== 'string') {
        throw invalidArgument(`policy.bindings[${i}].condition.expression`, `policy.bindings[${i}].condition.expression is required.`, 'REQUIRED_FIELD');
      }
      const text = (k: string): string | undefined => (typeof c[k] === 'string' && c[k] !== '' ? (c[k] as string) : undefined);
      const out: NonNullable<IamBinding['condition']> = { expression: c.expression };
      for (const k of ['title', 'description', 'location'] as const) {
        const v = text(k);
        if (v !== undefined) out[k] = v;
      }
      return { ...rest, condition: out };
    }),
  };
}

import { echo, ECHO_MAX_PATH_CHARS } from '../echo.js';
import { invalidArgument } from '../errors.js';
import { parseMask, parseUpdateMask } from '../field-mask.js';
import { utf8Length } from '../ids.js';
import type { DeadLetterPolicy, PushConfig, RetryPolicy } from './pubsub-model.js';
import { parseTopicName } from './pubsub-names.js';

/**
 * Field rules of google.pubsub.v1 Topic, Subscription and Snapshot, with their defaults: each
 * function takes the field as the wire decoded it and the proto path to name when refusing it.
 * Inputs are shaped structurally (proto-loader: int64 as decimal strings, absent = undefined).
 */

/** google.protobuf.Duration / Timestamp as decoded. */
export interface SecondsNanos {
  seconds?: string | number;
  nanos?: number;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const DAY = 24 * 60 * MINUTE;

export const PS_LIMITS = {
  defaultAckDeadlineSeconds: 10,
  minAckDeadlineSeconds: 10,
  maxAckDeadlineSeconds: 600,
  minRetentionMs: 10 * MINUTE,
  /** Subscriptions keep unacked messages at most this long, and by default. */
  maxSubscriptionRetentionMs: 7 * DAY,
  /** Topics may retain messages longer than subscriptions (Topic.message_retention_duration). */
  maxTopicRetentionMs: 31 * DAY,
  defaultMinBackoffMs: 10 * SECOND,
  defaultMaxBackoffMs: 600 * SECOND,
  maxBackoffMs: 600 * SECOND,
  defaultMaxDeliveryAttempts: 5,
  minDeliveryAttempts: 5,
  maxDeliveryAttempts: 100,
  maxLabels: 64,
  maxLabelChars: 63,
  maxFilterBytes: 256,
  /** Pub/Sub: a snapshot lives at most 7 days (from its oldest unacked message). */
  snapshotLifetimeMs: 7 * DAY,
} as const;

/** Milliseconds of a Duration; undefined when absent. Negative or malformed: INVALID_ARGUMENT. */
export function durationMs(d: SecondsNanos | undefined, field: string): number | undefined {
  if (d === undefined || d === null) return undefined;
  const seconds = toInteger(d.seconds ?? 0, field);
  const nanos = d.nanos ?? 0;
  if (!Number.isInteger(nanos) || nanos < 0 || nanos > 999_999_999) {
    throw invalidArgument(field, `Invalid ${field}: nanos must be an integer 0..999999999.`);
  }
  if (seconds < 0) throw invalidArgument(field, `Invalid ${field}: a duration must not be negative.`);
  return seconds * SECOND + Math.floor(nanos / 1e6);
}

/** Epoch milliseconds of a Timestamp; undefined when absent. */
export function timestampMs(t: SecondsNanos | undefined, field: string): number | undefined {
  // Same encoding; times before 1970 mean nothing to a message log and are refused like negative durations.
  return durationMs(t, field);
}

function toInteger(v: string | number, field: string): number {
  const n = typeof v === 'string' ? (/^-?\d{1,16}$/.test(v) ? Number(v) : NaN) : v;
  if (!Number.isSafeInteger(n)) throw invalidArgument(field, `Invalid ${field}: seconds must be an integer.`);
  return n;
}

/** Subscription.ack_deadline_seconds: 0 or absent = 10 s; otherwise 10..600. */
export function ackDeadlineSeconds(v: number | undefined, field: string): number {
  const n = v ?? 0;
  if (n === 0) return PS_LIMITS.defaultAckDeadlineSeconds;
  checkDeadline(n, field);
  return n;
}

/** An ack deadline (a subscription's, or a stream's lease): 10..600 seconds. */
export function checkDeadline(n: number, field: string): void {
  if (!Number.isInteger(n) || n < PS_LIMITS.minAckDeadlineSeconds || n > PS_LIMITS.maxAckDeadlineSeconds) {
    throw invalidArgument(
      field,
      `Invalid ${field} (${String(n)}): an ack deadline must be ${PS_LIMITS.minAckDeadlineSeconds}..${PS_LIMITS.maxAckDeadlineSeconds} seconds.`,
    );
  }
}

/** Subscription.message_retention_duration: 10 minutes .. 7 days, 7 days when absent. */
export function subscriptionRetentionMs(d: SecondsNanos | undefined, field: string): number {
  const ms = durationMs(d, field);
  if (ms === undefined) return PS_LIMITS.maxSubscriptionRetentionMs;
  checkRetention(ms, PS_LIMITS.maxSubscriptionRetentionMs, '7 days', field);
  return ms;
}

/** Topic.message_retention_duration: 10 minutes .. 31 days; undefined (not retained) when absent. */
export function topicRetentionMs(d: SecondsNanos | undefined, field: string): number | undefined {
  const ms = durationMs(d, field);
  if (ms === undefined) return undefined;
  checkRetention(ms, PS_LIMITS.maxTopicRetentionMs, '31 days', field);
  return ms;
}

function checkRetention(ms: number, max: number, maxText: string, field: string): void {
  if (ms < PS_LIMITS.minRetentionMs || ms > max) {
    throw invalidArgument(field, `Invalid ${field}: message retention must be between 10 minutes and ${maxText}.`);
  }
}

export interface RetryPolicyInput {
  minimumBackoff?: SecondsNanos;
  maximumBackoff?: SecondsNanos;
}

/** Subscription.retry_policy: absent = redeliver at once; each backoff 0..600 s (defaults 10 s / 600 s), min <= max. */
export function retryPolicy(msg: RetryPolicyInput | undefined, field: string): RetryPolicy | undefined {
  if (msg === undefined || msg === null) return undefined;
  const minimumBackoffMs = backoff(msg.minimumBackoff, PS_LIMITS.defaultMinBackoffMs, `${field}.minimum_backoff`);
  const maximumBackoffMs = backoff(msg.maximumBackoff, PS_LIMITS.defaultMaxBackoffMs, `${field}.maximum_backoff`);
  if (minimumBackoffMs > maximumBackoffMs) {
    throw invalidArgument(`${field}.minimum_backoff`, `Invalid ${field}: minimum_backoff must not exceed maximum_backoff.`);
  }
  return { minimumBackoffMs, maximumBackoffMs };
}

function backoff(d: SecondsNanos | undefined, dflt: number, field: string): number {
  const ms = durationMs(d, field);
  if (ms === undefined) return dflt;
  if (ms > PS_LIMITS.maxBackoffMs) throw invalidArgument(field, `Invalid ${field}: a backoff must be 0..600 seconds.`);
  return ms;
}

export interface DeadLetterPolicyInput {
  deadLetterTopic?: string;
  maxDeliveryAttempts?: number;
}

/**
 * Subscription.dead_letter_policy: a topic name and 5..100 attempts (0 or absent = 5). A policy
 * without a topic is no policy: that is how clients clear it (docs/compat.md C-PS-DLQ-EMPTY).
 */
export function deadLetterPolicy(msg: DeadLetterPolicyInput | undefined, field: string): DeadLetterPolicy | undefined {
  if (msg === undefined || msg === null || !msg.deadLetterTopic) return undefined;
  const deadLetterTopic = parseTopicName(msg.deadLetterTopic, `${field}.dead_letter_topic`).name;
  const n = msg.maxDeliveryAttempts ?? 0;
  if (n === 0) return { deadLetterTopic, maxDeliveryAttempts: PS_LIMITS.defaultMaxDeliveryAttempts };
  if (!Number.isInteger(n) || n < PS_LIMITS.minDeliveryAttempts || n > PS_LIMITS.maxDeliveryAttempts) {
    throw invalidArgument(`${field}.max_delivery_attempts`, `Invalid ${field}.max_delivery_attempts (${String(n)}): it must be 5..100.`);
  }
  return { deadLetterTopic, maxDeliveryAttempts: n };
}

export interface PushConfigInput {
  pushEndpoint?: string;
  attributes?: Record<string, string>;
  oidcToken?: { serviceAccountEmail?: string; audience?: string };
}

/** Subscription.push_config: an absolute http(s) endpoint; an empty endpoint means a pull subscription. */
export function pushConfig(msg: PushConfigInput | undefined, field: string): PushConfig | undefined {
  if (msg === undefined || msg === null || !msg.pushEndpoint) return undefined;
  const endpoint = msg.pushEndpoint;
  if (!isHttpUrl(endpoint)) {
    throw invalidArgument(`${field}.push_endpoint`, `Invalid ${field}.push_endpoint "${echo(endpoint, ECHO_MAX_PATH_CHARS)}": it must be an absolute http or https URL.`);
  }
  const attributes = { ...(msg.attributes ?? {}) };
  for (const [k, v] of Object.entries(attributes)) {
    if (typeof v !== 'string') throw invalidArgument(`${field}.attributes`, `Invalid ${field}.attributes: the value of "${echo(k)}" must be a string.`);
  }
  let oidcToken: PushConfig['oidcToken'];
  if (msg.oidcToken) {
    const email = msg.oidcToken.serviceAccountEmail ?? '';
    if (!/^[^@\s]+@[^@\s]+$/.test(email)) {
      throw invalidArgument(`${field}.oidc_token.service_account_email`, `${field}.oidc_token.service_account_email must be a service account email.`);
    }
    // Pub/Sub's default audience is the push endpoint.
    oidcToken = { serviceAccountEmail: email, audience: msg.oidcToken.audience || endpoint };
  }
  return { pushEndpoint: endpoint, attributes, oidcToken };
}

function isHttpUrl(s: string): boolean {
  if (!/^https?:\/\//i.test(s)) return false;
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

const LABEL_KEY = /^[a-z][a-z0-9_-]{0,62}$/;
const LABEL_VALUE = /^[a-z0-9_-]{0,63}$/;

/** Labels as Google Cloud defines them: <= 64; keys start with a lower-case letter; keys and values lower-case letters, digits, - and _, <= 63 characters. */
export function labels(value: Record<string, string> | undefined, field: string): Record<string, string> {
  const out: Record<string, string> = {};
  const entries = Object.entries(value ?? {});
  if (entries.length > PS_LIMITS.maxLabels) throw invalidArgument(field, `Too many ${field} (${entries.length}); at most ${PS_LIMITS.maxLabels} are allowed.`);
  for (const [k, v] of entries) {
    if (!LABEL_KEY.test(k)) {
      throw invalidArgument(
        field,
        `Invalid label key "${echo(k)}" (${field}): 1-63 characters, starting with a lower-case letter, lower-case letters, digits, - and _ only.`,
      );
    }
    if (typeof v !== 'string' || !LABEL_VALUE.test(v)) {
      throw invalidArgument(field, `Invalid value of label "${echo(k)}" (${field}): at most 63 lower-case letters, digits, - and _.`);
    }
    out[k] = v;
  }
  return out;
}

/** Subscription.filter: at most 256 bytes (the syntax is checked by ./filter.ts). */
export function checkFilterSize(filter: string, field: string): void {
  if (utf8Length(filter) > PS_LIMITS.maxFilterBytes) {
    throw invalidArgument(field, `Invalid ${field}: a filter is at most ${PS_LIMITS.maxFilterBytes} bytes, got ${utf8Length(filter)}.`);
  }
}

/**
 * Fields UpdateTopic may name: those it changes, and message_storage_policy, accepted and ignored
 * as on create (docs/compat.md C-PS-UNSUPPORTED).
 */
export const TOPIC_MUTABLE = ['labels', 'messageRetentionDuration', 'messageStoragePolicy'] as const;
export type TopicMutable = (typeof TOPIC_MUTABLE)[number];

/**
 * Fields UpdateSubscription may name; topic, filter and enable_message_ordering are fixed at
 * creation. expiration_policy is accepted and ignored, as on create (docs/compat.md C-PS-UNSUPPORTED).
 */
export const SUBSCRIPTION_MUTABLE = [
  'ackDeadlineSeconds',
  'retainAckedMessages',
  'messageRetentionDuration',
  'labels',
  'pushConfig',
  'deadLetterPolicy',
  'retryPolicy',
  'expirationPolicy',
] as const;
export type SubscriptionMutable = (typeof SUBSCRIPTION_MUTABLE)[number];

export const SNAPSHOT_MUTABLE = ['labels', 'expireTime'] as const;
export type SnapshotMutable = (typeof SNAPSHOT_MUTABLE)[number];

/** The message fields an update mask may name one field of (`retry_policy.maximum_backoff`). */
export type PartialField = 'pushConfig' | 'deadLetterPolicy' | 'retryPolicy';

const SUB_PATHS: Record<string, PartialField> = {
  'pushConfig.pushEndpoint': 'pushConfig',
  'pushConfig.attributes': 'pushConfig',
  'pushConfig.oidcToken': 'pushConfig',
  'deadLetterPolicy.deadLetterTopic': 'deadLetterPolicy',
  'deadLetterPolicy.maxDeliveryAttempts': 'deadLetterPolicy',
  'retryPolicy.minimumBackoff': 'retryPolicy',
  'retryPolicy.maximumBackoff': 'retryPolicy',
};

const SUBSCRIPTION_ALIASES: Record<string, SubscriptionMutable> = { ...SUB_PATHS, 'expirationPolicy.ttl': 'expirationPolicy' };

export const parseTopicUpdateMask = (paths: readonly string[] | undefined): Set<TopicMutable> =>
  parseUpdateMask(paths, TOPIC_MUTABLE, { 'messageStoragePolicy.allowedPersistenceRegions': 'messageStoragePolicy' }, 'topic');

/**
 * The fields an UpdateSubscription mask names only in part, each with the sub-fields it names: a
 * FieldMask path `f.g` changes g and leaves f's other fields as they are. A field also named whole
 * is replaced whole, and is not listed. Call after parseSubscriptionUpdateMask accepted the paths.
 */
export function partialSubscriptionFields(paths: readonly string[] | undefined): Map<PartialField, string[]> {
  const all = parseMask(paths);
  const out = new Map<PartialField, string[]>();
  for (const p of all) {
    const field = SUB_PATHS[p];
    if (field === undefined || all.includes(field)) continue;
    out.set(field, [...(out.get(field) ?? []), p.slice(field.length + 1)]);
  }
  return out;
}

/** The stored values of the fields a mask may name in part, as the domain keeps them. */
export interface PartialFieldValues {
  pushConfig: PushConfig | undefined;
  deadLetterPolicy: DeadLetterPolicy | undefined;
  retryPolicy: RetryPolicy | undefined;
}

/** The fields of an update message that a mask may name in part, as the wire decoded them. */
export interface PartialFieldInputs {
  pushConfig?: PushConfigInput;
  deadLetterPolicy?: DeadLetterPolicyInput;
  retryPolicy?: RetryPolicyInput;
}

/**
 * `msg` with each field of `partial` rebuilt from its stored value, with only the sub-fields the
 * mask named taken from `msg` (absent there: cleared, as a FieldMask update does). The result is
 * then validated like any update: a stored value passed validation once, and the named sub-field
 * is checked together with the rest (a maximum backoff under the kept minimum is refused).
 */
export function withStoredSiblings<M extends PartialFieldInputs>(msg: M, stored: PartialFieldValues, partial: ReadonlyMap<PartialField, readonly string[]>): M {
  if (partial.size === 0) return msg;
  const out: M = { ...msg };
  for (const [field, subFields] of partial) {
    const merged: Record<string, unknown> = { ...storedInput(field, stored) };
    const given = (msg[field] ?? {}) as Record<string, unknown>;
    for (const sub of subFields) merged[sub] = given[sub];
    (out as PartialFieldInputs)[field] = merged;
  }
  return out;
}

function storedInput(field: PartialField, stored: PartialFieldValues): Record<string, unknown> {
  switch (field) {
    case 'pushConfig': {
      const p = stored.pushConfig;
      return p === undefined ? {} : { pushEndpoint: p.pushEndpoint, attributes: p.attributes, oidcToken: p.oidcToken };
    }
    case 'deadLetterPolicy': {
      const d = stored.deadLetterPolicy;
      return d === undefined ? {} : { deadLetterTopic: d.deadLetterTopic, maxDeliveryAttempts: d.maxDeliveryAttempts };
    }
    case 'retryPolicy': {
      const r = stored.retryPolicy;
      return r === undefined ? {} : { minimumBackoff: durationOf(r.minimumBackoffMs), maximumBackoff: durationOf(r.maximumBackoffMs) };
    }
  }
}

const durationOf = (ms: number): SecondsNanos => ({ seconds: Math.floor(ms / SECOND), nanos: (ms % SECOND) * 1e6 });

export const parseSubscriptionUpdateMask = (paths: readonly string[] | undefined): Set<SubscriptionMutable> =>
  parseUpdateMask(paths, SUBSCRIPTION_MUTABLE, SUBSCRIPTION_ALIASES, 'subscription');

export const parseSnapshotUpdateMask = (paths: readonly string[] | undefined): Set<SnapshotMutable> =>
  parseUpdateMask(paths, SNAPSHOT_MUTABLE, {}, 'snapshot');

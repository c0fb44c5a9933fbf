import { utf8Length } from '../ids.js';
import type { AttributePredicate } from './filter.js';
import type { PsMessage, PsSubscription, RetryPolicy } from './pubsub-model.js';

/** A subscription's settings as delivery applies them (the LeaseBook's rules). */
export interface DeliveryRules {
  /** enableMessageOrdering: one outstanding message per non-empty ordering key, in seq order. */
  ordering: boolean;
  retryPolicy: RetryPolicy | undefined;
  /** deadLetterPolicy.maxDeliveryAttempts; undefined without a dead-letter policy. */
  maxDeliveryAttempts: number | undefined;
  /** Messages older than this at delivery time are dropped (subscription messageRetentionDuration). */
  retentionMs: number;
  matches: AttributePredicate;
}

export function deliveryRules(sub: PsSubscription, matches: AttributePredicate): DeliveryRules {
  return {
    ordering: sub.enableMessageOrdering,
    retryPolicy: sub.retryPolicy,
    maxDeliveryAttempts: sub.deadLetterPolicy?.maxDeliveryAttempts,
    retentionMs: sub.messageRetentionMs,
    matches,
  };
}

/** Pub/Sub's retry policy: min(maximum, minimum * 2^(attempt-1)); without a policy, at once (C-PS-RETRY). */
export function retryBackoffMs(policy: RetryPolicy | undefined, attempt: number): number {
  if (policy === undefined) return 0;
  const doubled = policy.minimumBackoffMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30);
  return Math.min(policy.maximumBackoffMs, doubled);
}

/** What flow control counts for a message: data plus attribute keys and values, in bytes. */
export function messageBytes(message: PsMessage): number {
  let n = message.data.length;
  for (const [k, v] of Object.entries(message.attributes)) n += utf8Length(k) + utf8Length(v);
  return n;
}

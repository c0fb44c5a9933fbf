import { DELETED_TOPIC, type PsSubscription } from './pubsub-model.js';

/**
 * What a forwarder does with the internal subscription it reads a forwarded topic through
 * (docs/compat.md C-PS-FORWARD), given what the store holds now:
 * - use: attached to the topic; read it.
 * - create: there is none; create it from the log head.
 * - replace: it can no longer receive the topic's messages (its topic was deleted, it was detached,
 *   or it names another topic) while the topic exists: delete it at `revision` and create it again.
 *   After a deletion the topic is a new one, so the new subscription starts where that topic
 *   began, not at the head: what was published to it before the replacement is forwarded too.
 * - wait: nothing to do now (the topic is gone, or a missing subscription is left to whoever
 *   deleted it to create again).
 */
export type ForwardSubscriptionStep =
  | { action: 'use' }
  | { action: 'create'; start: 'head' }
  | { action: 'replace'; revision: number; start: 'head' | 'topic-creation' }
  | { action: 'wait' };

export interface ForwardSubscriptionState {
  /** The forwarded topic's name. */
  topic: string;
  subscription: PsSubscription | undefined;
  topicExists: boolean;
  /**
   * Whether a missing subscription is created now. Another node replacing it leaves it missing
   * for a moment and creates it from the topic's beginning; one created from the head meanwhile
   * would miss what was published in between. So a periodic look creates it only once it was
   * seen missing before too; a forwarder starting (or whose stream ended on a deletion) at once.
   */
  createMissing: boolean;
}

export function forwardSubscriptionStep(s: ForwardSubscriptionState): ForwardSubscriptionStep {
  const sub = s.subscription;
  if (sub && sub.topic === s.topic && !sub.detached) return { action: 'use' };
  if (!s.topicExists) return { action: 'wait' };
  if (!sub) return s.createMissing ? { action: 'create', start: 'head' } : { action: 'wait' };
  return { action: 'replace', revision: sub.revision, start: sub.topic === DELETED_TOPIC ? 'topic-creation' : 'head' };
}

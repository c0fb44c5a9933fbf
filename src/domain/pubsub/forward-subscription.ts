import { DELETED_TOPIC, type PsSubscription, type PsSubscriptionVersion } from './pubsub-model.js';

/**
 * What a forwarder does with the internal subscription it reads a forwarded topic through
 * (docs/compat.md C-PS-FORWARD), given what the store holds now:
 * - use: attached to the topic; read it.
 * - create: there is none; create it from the log head.
 * - replace: it can no longer receive the topic's messages (its topic was deleted, it was detached,
 *   or it names another topic) while the topic exists: put a new one in place of the one read
 *   (`replaced`), in one step, so that nobody finds the name missing meanwhile.
 *   After a deletion the topic is a new one, so the new subscription starts where that topic
 *   began, not at the head: what was published to it before the replacement is forwarded too.
 * - wait: nothing to do now (the topic is gone, or a missing subscription is left for now: see
 *   createMissing).
 */
export type ForwardSubscriptionStep =
  | { action: 'use' }
  | { action: 'create'; start: 'head' }
  | { action: 'replace'; replaced: PsSubscriptionVersion; start: 'head' | 'topic-creation' }
  | { action: 'wait' };

export interface ForwardSubscriptionState {
  /** The forwarded topic's name. */
  topic: string;
  subscription: PsSubscription | undefined;
  topicExists: boolean;
  /**
   * Whether a missing subscription is created now. Missing, it was deleted (a replacement never
   * leaves it missing): the deletion's announcement ends every node's stream, and the forwarder
   * reopening creates it at once. A periodic look creates it only once it was seen missing before
   * too: it is for a deletion whose announcement was lost (a gap in the bus, a node that stopped
   * between deleting and announcing), and a node of an older version replaces by deleting and
   * then creating from the topic's beginning, which a creation from the head must not race.
   */
  createMissing: boolean;
}

export function forwardSubscriptionStep(s: ForwardSubscriptionState): ForwardSubscriptionStep {
  const sub = s.subscription;
  if (sub && sub.topic === s.topic && !sub.detached) return { action: 'use' };
  if (!s.topicExists) return { action: 'wait' };
  if (!sub) return s.createMissing ? { action: 'create', start: 'head' } : { action: 'wait' };
  return {
    action: 'replace',
    replaced: { name: sub.name, revision: sub.revision, createTime: sub.createTime },
    start: sub.topic === DELETED_TOPIC ? 'topic-creation' : 'head',
  };
}

import type { AckState } from './pubsub-model.js';

/** What a subscription keeps that a Seek to a time can bring back. */
export interface SeekRetention {
  /** The subscription's startSeq: before it, only a topic's retention holds messages for it. */
  startSeq: number;
  /** Subscription.retain_acked_messages. */
  retainAckedMessages: boolean;
  /** The topic has a message_retention_duration. */
  topicRetention: boolean;
}

/**
 * The ack state after Seek to a time whose last message is `seq` (Pub/Sub: messages published
 * before the time become acknowledged, those after it unacknowledged, among the messages the
 * subscription retains; docs/compat.md C-PS-SEEK-RETAINED). Acked messages are retained only with retain_acked_messages or topic
 * retention; otherwise they stay acknowledged whatever the time, so seeking back redelivers only
 * what was never acked. Before startSeq nothing is retained unless the topic retains it.
 */
export function seekToTimeState(current: AckState, seq: number, retention: SeekRetention): AckState {
  if (retention.retainAckedMessages || retention.topicRetention) {
    const floor = Math.max(seq, retention.topicRetention ? 0 : retention.startSeq);
    return { floor, acked: [] };
  }
  const floor = Math.max(seq, current.floor);
  return { floor, acked: current.acked.filter((s) => s > floor) };
}

/**
 * Ack IDs (docs/compat.md C-PS-ACK-ID): opaque to clients, they name the subscription (a short hash of its name), the
 * message's seq and the lease generation that delivered it. The generation makes an ack ID
 * stale once its lease ended (expired, nacked, redelivered): only the latest delivery's ID acks.
 * Decoding never throws: clients send anything, and Pub/Sub ignores what it cannot use.
 */

export interface AckRef {
  /** subscriptionTag() of the subscription that issued it. */
  tag: string;
  seq: number;
  generation: number;
}

/** Longest ack ID we issue (two 7-char hashes, two 11-char base-36 numbers, separators). */
const MAX_ACK_ID_LENGTH = 64;
const ACK_ID = /^([0-9a-z]{14})-([0-9a-z]{1,11})-([0-9a-z]{1,11})$/;

/** FNV-1a over UTF-16 code units: a stable, dependency-free hash (this is not a security boundary). */
function fnv1a(text: string, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** 64 bits of hash over the subscription name: two subscriptions sharing a tag is as likely as a UUID clash. */
export function subscriptionTag(subscription: string): string {
  const a = fnv1a(subscription, 0x811c9dc5).toString(36).padStart(7, '0');
  const b = fnv1a(subscription, 0x050c5d1f).toString(36).padStart(7, '0');
  return a + b;
}

export function encodeAckId(tag: string, seq: number, generation: number): string {
  return `${tag}-${seq.toString(36)}-${generation.toString(36)}`;
}

/** The parts of an ack ID we issued, or undefined for anything else (never throws). */
export function decodeAckId(ackId: unknown): AckRef | undefined {
  if (typeof ackId !== 'string' || ackId.length > MAX_ACK_ID_LENGTH) return undefined;
  const m = ACK_ID.exec(ackId);
  if (!m) return undefined;
  const seq = parseInt(m[2]!, 36);
  const generation = parseInt(m[3]!, 36);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(generation) || seq < 1) return undefined;
  return { tag: m[1]!, seq, generation };
}

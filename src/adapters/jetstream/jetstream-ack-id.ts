/**
 * Ack IDs of the JetStream subscription engine are the JetStream reply subject of the delivery
 * (`$JS.ACK.<stream>.<consumer>.<delivered>.<streamSeq>.<consumerSeq>.<timestamp>.<pending>`, or
 * the longer form with domain and account hash that newer servers send): any node can ack,
 * nack or extend a message by publishing to it, with no shared lease table. Clients send anything
 * back, and publishing to a subject they made up must never reach another consumer or a wildcard,
 * so an ID is used only after it parsed strictly and names the subscription's own consumer.
 */

export interface JetStreamAckRef {
  stream: string;
  consumer: string;
  /** JetStream's delivery count: 1 on the first delivery. */
  deliveryCount: number;
  streamSeq: number;
  /** Messages of the consumer still undelivered after this one (when it was sent). */
  pending: number;
}

/** Stream and consumer names we create: [A-Za-z0-9_-] (JetStreamNames). */
const NAME = /^[A-Za-z0-9_-]{1,255}$/;
const NUMBER = /^\d{1,19}$/;
const MAX_LENGTH = 1024;

export function parseJetStreamAckId(ackId: unknown): JetStreamAckRef | undefined {
  if (typeof ackId !== 'string' || ackId.length > MAX_LENGTH || !ackId.startsWith('$JS.ACK.')) return undefined;
  const t = ackId.split('.');
  // v1: $JS ACK stream consumer delivered sseq cseq ts pending; v2 adds domain + account hash before
  // the stream and a random token at the end.
  const base = t.length === 9 ? 2 : t.length >= 11 && t.length <= 12 ? 4 : -1;
  if (base < 0) return undefined;
  const stream = t[base]!;
  const consumer = t[base + 1]!;
  const numbers = t.slice(base + 2, base + 7);
  if (!NAME.test(stream) || !NAME.test(consumer) || numbers.length !== 5 || !numbers.every((n) => NUMBER.test(n))) return undefined;
  if (base === 4 && t.slice(2, 4).some((x) => !/^[A-Za-z0-9_-]+$/.test(x))) return undefined;
  if (t.length === 12 && !/^[A-Za-z0-9_-]+$/.test(t[11]!)) return undefined;
  const [delivered, sseq, , , pending] = numbers.map(Number) as [number, number, number, number, number];
  if (!Number.isSafeInteger(sseq) || sseq < 1 || delivered < 1) return undefined;
  return { stream, consumer, deliveryCount: delivered, streamSeq: sseq, pending };
}

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { retryBackoffMs, type DeliveryRules } from '../../../src/domain/pubsub/delivery-rules.js';
import { LeaseBook } from '../../../src/domain/pubsub/lease-book.js';
import type { PsMessage } from '../../../src/domain/pubsub/pubsub-model.js';

const DAY = 86_400_000;
const rules = (over: Partial<DeliveryRules> = {}): DeliveryRules => ({
  ordering: false,
  retryPolicy: undefined,
  maxDeliveryAttempts: undefined,
  retentionMs: 7 * DAY,
  matches: () => true,
  ...over,
});
const msg = (seq: number, over: Partial<PsMessage> = {}): PsMessage => ({
  seq,
  messageId: String(seq),
  publishTime: 1000,
  attributes: {},
  data: new Uint8Array(10),
  orderingKey: '',
  ...over,
});
const seqs = (leases: readonly { seq: number }[]): number[] => leases.map((l) => l.seq);
const LEASE = { ackDeadlineMs: 10_000, maxMessages: 0, maxBytes: 0 };

describe('retryBackoffMs', () => {
  test('min * 2^(attempt-1), capped at max; no policy = at once', () => {
    const p = { minimumBackoffMs: 1000, maximumBackoffMs: 5000 };
    assert.deepEqual([1, 2, 3, 4, 100].map((a) => retryBackoffMs(p, a)), [1000, 2000, 4000, 5000, 5000]);
    assert.equal(retryBackoffMs(undefined, 3), 0);
  });
});

describe('LeaseBook', () => {
  test('a lease not acked by its deadline is redelivered with the attempt counted; the old generation no longer acks', () => {
    const book = new LeaseBook({ floor: 0, acked: [] }, rules(), 1);
    book.ingest([msg(1), msg(2)], 1000);
    const first = book.take(undefined, 10, 1000, 10_000);
    assert.deepEqual(seqs(first), [1, 2]);
    assert.deepEqual(first.map((l) => l.attempt), [1, 1]);
    assert.equal(book.nextWake(), 11_000);
    book.advance(10_999);
    assert.deepEqual(book.take(undefined, 10, 10_999, 10_000), []);
    book.advance(11_000);
    const second = book.take(undefined, 10, 11_000, 10_000);
    assert.deepEqual(seqs(second), [1, 2]);
    assert.deepEqual(second.map((l) => l.attempt), [2, 2]);
    assert.equal(book.ack(1, first[0]!.generation), false, 'stale generation');
    assert.equal(book.ack(1, second[0]!.generation), true);
    assert.equal(book.ack(1, second[0]!.generation), false, 'already acked');
  });

  test('the floor rises over contiguous acks; acks above a gap are kept as a set', () => {
    const book = new LeaseBook({ floor: 0, acked: [] }, rules(), 1);
    book.ingest([msg(2), msg(4), msg(7)], 1000);
    const l = book.take(undefined, 10, 1000, 10_000);
    book.ack(4, l[1]!.generation);
    book.ack(7, l[2]!.generation);
    assert.deepEqual(book.drainCommit(), { acked: [4, 7], floor: 1 });
    assert.deepEqual(book.state(), { floor: 1, acked: [4, 7] });
    book.ack(2, l[0]!.generation);
    assert.deepEqual(book.drainCommit(), { acked: [], floor: 7 });
    assert.deepEqual(book.state(), { floor: 7, acked: [] });
  });

  test('acked seqs of a loaded state are skipped; the rest are delivered', () => {
    const book = new LeaseBook({ floor: 3, acked: [5, 6] }, rules(), 1);
    book.ingest([4, 5, 6, 7].map((s) => msg(s)), 1000);
    assert.deepEqual(seqs(book.take(undefined, 10, 1000, 10_000)), [4, 7]);
  });

  test('nack (modify 0) redelivers at once without a retry policy, after the backoff with one', () => {
    const book = new LeaseBook({ floor: 0, acked: [] }, rules({ retryPolicy: { minimumBackoffMs: 1000, maximumBackoffMs: 3000 } }), 1);
    book.ingest([msg(1)], 0);
    let [l] = book.take(undefined, 1, 0, 10_000);
    assert.ok(book.modify(1, l!.generation, 0, 0));
    assert.deepEqual(book.take(undefined, 1, 999, 10_000), []);
    assert.equal(book.nextWake(), 1000);
    book.advance(1000);
    [l] = book.take(undefined, 1, 1000, 10_000);
    assert.equal(l!.attempt, 2);
    book.modify(1, l!.generation, 0, 1000);
    assert.equal(book.nextWake(), 3000, 'second backoff doubles');

    const plain = new LeaseBook({ floor: 0, acked: [] }, rules(), 1);
    plain.ingest([msg(1)], 0);
    const [p] = plain.take(undefined, 1, 0, 10_000);
    plain.modify(1, p!.generation, 0, 0);
    assert.equal(plain.take(undefined, 1, 0, 10_000)[0]?.attempt, 2);
  });

  test('modify extends the deadline from now', () => {
    const book = new LeaseBook({ floor: 0, acked: [] }, rules(), 1);
    book.ingest([msg(1)], 0);
    const [l] = book.take(undefined, 1, 0, 10_000);
    book.modify(1, l!.generation, 60_000, 5000);
    book.advance(10_000);
    assert.deepEqual(book.take(undefined, 1, 10_000, 10_000), []);
    assert.equal(book.nextWake(), 65_000);
    book.advance(65_000);
    assert.equal(book.take(undefined, 1, 65_000, 10_000).length, 1);
  });

  test('flow control: never more messages or bytes outstanding than a consumer allows; one oversized message still goes', () => {
    const book = new LeaseBook({ floor: 0, acked: [] }, rules(), 1);
    const c = book.addConsumer({ ackDeadlineMs: 10_000, maxMessages: 3, maxBytes: 25 });
    book.ingest([1, 2, 3, 4, 5].map((s) => msg(s)), 0);
    const got = book.take(c, 100, 0, 0);
    assert.deepEqual(seqs(got), [1, 2], 'bytes: 10 + 10 fits 25, a third would not');
    assert.deepEqual(book.take(c, 100, 0, 0), []);
    book.ack(1, got[0]!.generation);
    assert.deepEqual(seqs(book.take(c, 100, 0, 0)), [3]);
    assert.deepEqual(book.outstanding(c), { messages: 2, bytes: 20 });

    const big = new LeaseBook({ floor: 0, acked: [] }, rules(), 1);
    const d = big.addConsumer({ ackDeadlineMs: 10_000, maxMessages: 0, maxBytes: 5 });
    big.ingest([msg(1), msg(2)], 0);
    assert.deepEqual(seqs(big.take(d, 100, 0, 0)), [1]);
  });

  test('ordering: one outstanding message per key, in seq order, also after a nack with backoff', () => {
    const book = new LeaseBook({ floor: 0, acked: [] }, rules({ ordering: true, retryPolicy: { minimumBackoffMs: 100, maximumBackoffMs: 100 } }), 1);
    book.ingest([msg(1, { orderingKey: 'a' }), msg(2, { orderingKey: 'a' }), msg(3, { orderingKey: 'b' }), msg(4)], 0);
    const first = book.take(undefined, 10, 0, 10_000);
    assert.deepEqual(seqs(first), [1, 3, 4]);
    book.modify(1, first[0]!.generation, 0, 0);
    assert.deepEqual(seqs(book.take(undefined, 10, 50, 10_000)), [], 'a:2 waits for a:1 to be acked, through the backoff');
    book.advance(100);
    const again = book.take(undefined, 10, 100, 10_000);
    assert.deepEqual(seqs(again), [1]);
    book.ack(1, again[0]!.generation);
    assert.deepEqual(seqs(book.take(undefined, 10, 100, 10_000)), [2]);
  });

  test('dead-letter after maxDeliveryAttempts: handed out once, acked once published, retried if publishing fails', () => {
    const book = new LeaseBook({ floor: 0, acked: [] }, rules({ maxDeliveryAttempts: 2 }), 1);
    book.ingest([msg(1)], 0);
    let [l] = book.take(undefined, 1, 0, 10_000);
    book.modify(1, l!.generation, 0, 0);
    [l] = book.take(undefined, 1, 0, 10_000);
    assert.equal(l!.attempt, 2);
    book.advance(10_000);
    assert.deepEqual(book.take(undefined, 1, 10_000, 10_000), [], 'not redelivered');
    assert.deepEqual(book.takeDeadLetters().map((m) => m.seq), [1]);
    assert.deepEqual(book.takeDeadLetters(), []);
    book.deadLetterFailed(1, 10_000);
    book.advance(11_000);
    assert.deepEqual(book.takeDeadLetters().map((m) => m.seq), [1]);
    book.deadLettered(1);
    assert.deepEqual(book.drainCommit(), { acked: [], floor: 1 });
  });

  test('a dead letter whose policy was removed meanwhile is delivered again', () => {
    const book = new LeaseBook({ floor: 0, acked: [] }, rules({ ordering: true, maxDeliveryAttempts: 1 }), 1);
    book.ingest([msg(1, { orderingKey: 'k' }), msg(2, { orderingKey: 'k' })], 0);
    const [l] = book.take(undefined, 10, 0, 10_000);
    book.modify(1, l!.generation, 0, 0);
    assert.deepEqual(book.takeDeadLetters().map((m) => m.seq), [1]);
    book.setRules(rules({ ordering: true }));
    book.returnDeadLetter(1);
    const again = book.take(undefined, 10, 0, 10_000);
    assert.deepEqual(seqs(again), [1], 'its key is still held for message 2');
    assert.equal(again[0]!.attempt, 2);
  });

  test('filter and retention: rejected and too old messages are skipped but passed by the floor', () => {
    const book = new LeaseBook({ floor: 0, acked: [] }, rules({ matches: (a) => a.k === 'yes', retentionMs: 1000 }), 1);
    book.ingest([msg(1, { attributes: { k: 'no' } }), msg(2, { attributes: { k: 'yes' }, publishTime: 0 }), msg(3, { attributes: { k: 'yes' }, publishTime: 2500 })], 2000);
    assert.deepEqual(seqs(book.take(undefined, 10, 2000, 10_000)), [3]);
    assert.equal(book.drainCommit().floor, 2);
    book.ingest([msg(4, { attributes: { k: 'yes' }, publishTime: 2500 })], 2500);
    assert.deepEqual(book.take(undefined, 10, 4000, 10_000), [], 'too old by the time it would be delivered');
  });

  test('reset (seek) drops leases and rewinds; stale ack IDs stay stale', () => {
    const book = new LeaseBook({ floor: 0, acked: [] }, rules(), 1);
    const c = book.addConsumer(LEASE);
    book.ingest([msg(1), msg(2)], 0);
    const l = book.take(c, 10, 0, 0);
    book.ack(1, l[0]!.generation);
    book.reset({ floor: 0, acked: [] });
    assert.equal(book.cursor, 0);
    assert.deepEqual(book.outstanding(c), { messages: 0, bytes: 0 });
    assert.equal(book.ack(2, l[1]!.generation), false);
    book.ingest([msg(1), msg(2)], 0);
    const again = book.take(c, 10, 0, 0);
    assert.deepEqual(seqs(again), [1, 2]);
    assert.ok(again[1]!.generation !== l[1]!.generation);
  });

  test('many extensions keep the heap bounded', () => {
    const book = new LeaseBook({ floor: 0, acked: [] }, rules(), 1);
    book.ingest([msg(1)], 0);
    const [l] = book.take(undefined, 1, 0, 10_000);
    for (let t = 1; t <= 20_000; t++) book.modify(1, l!.generation, 10_000, t);
    assert.equal(book.nextWake(), 30_000);
    book.advance(29_999);
    assert.deepEqual(book.take(undefined, 1, 29_999, 10_000), []);
  });
});

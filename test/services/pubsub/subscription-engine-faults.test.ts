import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApiError } from '../../../src/domain/errors.js';
import { settle } from '../../support/manual-time.js';
import { harness, ids, RecordingSink, STREAM, SUB, texts } from './engine-harness.js';

const unavailable = (): ApiError => new ApiError('UNAVAILABLE', 'store busy');

describe('SubscriptionEngine: faults of the store and the log', () => {
  test('a failed ack commit fails Acknowledge, and the acks are committed by a later attempt', async () => {
    const h = await harness();
    await h.publish(['a', 'b']);
    const got = await h.engine.pull(SUB, 10, 0);
    const record = h.store.recordAcks.bind(h.store);
    let fail = true;
    h.store.recordAcks = async (...args) => {
      if (fail) throw unavailable();
      return record(...args);
    };
    await assert.rejects(h.engine.acknowledge(SUB, ids(got)), { kind: 'UNAVAILABLE' });
    fail = false;
    await h.time.advance(1000);
    assert.deepEqual(await h.store.loadAckState(SUB), { floor: 2, acked: [] });
    await h.time.advance(10_000);
    assert.deepEqual(await h.engine.pull(SUB, 10, 0), [], 'acked in memory: not redelivered meanwhile');
  });

  test('failed stream ack commits are reported and retried', async () => {
    const h = await harness();
    const sink = new RecordingSink();
    const session = await h.engine.open(SUB, STREAM, sink);
    await h.publish(['a']);
    const record = h.store.recordAcks.bind(h.store);
    let failures = 2;
    h.store.recordAcks = async (...args) => {
      if (failures-- > 0) throw unavailable();
      return record(...args);
    };
    session.request({ ackIds: ids(sink.received) });
    await h.time.advance(50);
    assert.equal(h.errors.length, 1);
    await h.time.advance(2000);
    assert.deepEqual(await h.store.loadAckState(SUB), { floor: 1, acked: [] });
  });

  test('a failed log read is reported and retried; the waiting stream then gets its messages', async () => {
    const h = await harness();
    const read = h.log.read.bind(h.log);
    let fail = true;
    h.log.read = async (...args) => {
      if (fail) throw unavailable();
      return read(...args);
    };
    const sink = new RecordingSink();
    await h.engine.open(SUB, STREAM, sink);
    await h.publish(['a']);
    assert.equal(h.errors.length > 0, true);
    assert.deepEqual(sink.received, []);
    fail = false;
    await h.time.advance(1000);
    assert.deepEqual(sink.texts(), ['a']);
  });

  test('a stream edge that throws in deliver loses the stream, not the messages', async () => {
    const h = await harness();
    const bad = new RecordingSink();
    bad.deliver = () => {
      throw new Error('edge bug');
    };
    await h.engine.open(SUB, STREAM, bad);
    await h.publish(['a']);
    assert.equal(h.errors.length, 1);
    const good = new RecordingSink();
    await h.engine.open(SUB, STREAM, good);
    await h.time.advance(10_000);
    assert.deepEqual(good.texts(), ['a']);
  });

  test('a log read in flight when a seek lands is dropped: nothing between the new floor and the old cursor is skipped', async () => {
    const h = await harness({}, { pageSize: 2 });
    await h.publish(['a', 'b', 'c', 'd']);
    const read = h.log.read.bind(h.log);
    let gate: (() => void) | undefined;
    let calls = 0;
    h.log.read = async (...args) => {
      if (++calls === 2) await new Promise<void>((r) => (gate = r));
      return read(...args);
    };
    const sink = new RecordingSink();
    await h.engine.open(SUB, STREAM, sink);
    await settle();
    assert.deepEqual(sink.texts(), ['a', 'b']);
    assert.ok(gate, 'the second read waits');
    await h.engine.seek(SUB, { floor: 0, acked: [] });
    gate();
    await settle();
    assert.deepEqual(sink.texts(), ['a', 'b', 'a', 'b', 'c', 'd']);
  });

  test('a commit in flight when a seek lands is not undone by it, nor does it undo the seek', async () => {
    const h = await harness();
    await h.publish(['a', 'b']);
    const got = await h.engine.pull(SUB, 10, 0);
    const record = h.store.recordAcks.bind(h.store);
    let gate: (() => void) | undefined;
    h.store.recordAcks = async (...args) => {
      await new Promise<void>((r) => (gate = r));
      return record(...args);
    };
    const acking = h.engine.acknowledge(SUB, ids(got));
    await settle();
    const seeking = h.engine.seek(SUB, { floor: 0, acked: [2] });
    await settle();
    gate!();
    await acking;
    await seeking;
    assert.deepEqual(await h.store.loadAckState(SUB), { floor: 0, acked: [2] });
    assert.deepEqual(texts(await h.engine.pull(SUB, 10, 0)), ['a']);
  });

  test('concurrent first uses load the subscription once', async () => {
    const h = await harness();
    let loads = 0;
    const load = h.store.loadAckState.bind(h.store);
    h.store.loadAckState = async (name) => {
      loads++;
      return load(name);
    };
    await h.publish(['a', 'b', 'c']);
    const results = await Promise.all([h.engine.pull(SUB, 1, 0), h.engine.pull(SUB, 1, 0), h.engine.pull(SUB, 1, 0)]);
    assert.equal(loads, 1);
    assert.deepEqual(results.flatMap(texts).sort(), ['a', 'b', 'c']);
    await settle();
  });
});

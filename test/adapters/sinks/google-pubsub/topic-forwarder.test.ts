import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import type { ForwardedMessage, ForwardTarget } from '../../../../src/adapters/sinks/google-pubsub/forward-target.js';
import { forwardOrderingKey, TopicForwarder } from '../../../../src/adapters/sinks/google-pubsub/topic-forwarder.js';
import type { PsMessage } from '../../../../src/domain/pubsub/pubsub-model.js';
import { FakeSubscriptionEngine } from '../../../support/fake-subscription-engine.js';

const SUB = 'projects/p/subscriptions/bridgehead-forward-telemetry';
const log = pino({ level: 'silent' });
const text = (m: ForwardedMessage): string => new TextDecoder().decode(m.data);

/**
 * A target that behaves as @google-cloud/pubsub with messageOrdering does: after a failed publish
 * of key K, every publish of K fails until resume(K). `down` makes every publish fail.
 */
class FakeTarget implements ForwardTarget {
  readonly accepted: ForwardedMessage[] = [];
  readonly resumed: string[] = [];
  down = false;
  /** When set, publishes wait for the test to release them. */
  gate: Promise<void> | undefined;
  private readonly paused = new Set<string>();

  async publish(m: ForwardedMessage): Promise<string> {
    if (m.orderingKey !== '' && this.paused.has(m.orderingKey)) throw new Error(`ordering key ${m.orderingKey} paused`);
    await this.gate;
    if (m.orderingKey !== '' && this.paused.has(m.orderingKey)) throw new Error(`ordering key ${m.orderingKey} paused`);
    if (this.down) {
      if (m.orderingKey !== '') this.paused.add(m.orderingKey);
      throw new Error('UNAVAILABLE');
    }
    this.accepted.push(m);
    return String(this.accepted.length);
  }

  resume(key: string): void {
    this.resumed.push(key);
    this.paused.delete(key);
  }

  async close(): Promise<void> {}
}

function forwarder(engine: FakeSubscriptionEngine, target: FakeTarget, now = () => 0): TopicForwarder {
  return new TopicForwarder(SUB, {
    engine,
    target,
    consumer: { ackDeadlineSeconds: 60, maxOutstandingMessages: 100, maxOutstandingBytes: 0 },
    log,
    now,
    holdMs: 600_000,
    onEnded: () => {},
  });
}

test('forwardOrderingKey: the message\'s own key, else the device\'s numeric ID, else none', () => {
  const m = (orderingKey: string, attributes: Record<string, string>): PsMessage => ({ seq: 1, messageId: '1', publishTime: 0, data: new Uint8Array(), attributes, orderingKey });
  assert.equal(forwardOrderingKey(m('k', { deviceNumId: '77' })), 'k');
  assert.equal(forwardOrderingKey(m('', { deviceNumId: '77' })), '77');
  assert.equal(forwardOrderingKey(m('', {})), '');
});

describe('TopicForwarder', () => {
  test('acks locally only once the target acked; data, attributes and the key go over', async () => {
    const engine = new FakeSubscriptionEngine();
    const target = new FakeTarget();
    let release!: () => void;
    target.gate = new Promise((resolve) => (release = resolve));
    const f = forwarder(engine, target);
    await f.start();
    engine.publish(SUB, 'hello', { deviceId: 'dev-1', deviceNumId: '2001' });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(engine.acked.length, 0, 'nothing acked while the target has not answered');
    release();
    await engine.next('ack');
    assert.deepEqual(target.accepted.map((m) => [text(m), m.attributes, m.orderingKey]), [['hello', { deviceId: 'dev-1', deviceNumId: '2001' }, '2001']]);
    f.close();
  });

  test('target down: messages are nacked and wait; target back: all delivered, in order per device', async () => {
    const engine = new FakeSubscriptionEngine();
    const target = new FakeTarget();
    target.down = true;
    const f = forwarder(engine, target);
    await f.start();
    // Three devices, interleaved; one unkeyed message.
    const sent: PsMessage[] = [];
    for (let i = 0; i < 12; i++) sent.push(engine.publish(SUB, `d${i % 3}-${Math.floor(i / 3)}`, { deviceNumId: String(100 + (i % 3)) }));
    sent.push(engine.publish(SUB, 'unkeyed', {}));
    await engine.next('nack', 13);
    assert.equal(target.accepted.length, 0);
    assert.ok(f.held > 0);
    assert.ok(target.resumed.includes('100'), 'a failed key is resumed for later attempts');
    target.down = false;
    // The fake engine redelivers nacked messages at once and at the back of its queue, out of seq
    // order: the forwarder must still hand each device's messages over in order.
    while (engine.acked.length < sent.length) await engine.next('ack');
    assert.equal(target.accepted.length, sent.length);
    for (const device of ['100', '101', '102']) {
      const got = target.accepted.filter((m) => m.orderingKey === device).map(text);
      const d = Number(device) - 100;
      assert.deepEqual(got, [0, 1, 2, 3].map((k) => `d${d}-${k}`), `order of device ${device}`);
    }
    assert.equal(f.held, 0);
    f.close();
  });

  test('after a failure, later messages of the key wait for the failed one, whatever order they come back in', async () => {
    const engine = new FakeSubscriptionEngine();
    engine.backoff = true;
    const target = new FakeTarget();
    const f = forwarder(engine, target);
    await f.start();
    target.down = true;
    const first = engine.publish(SUB, 'first', { deviceNumId: '9' });
    await engine.next('nack');
    target.down = false;
    const second = engine.publish(SUB, 'second', { deviceNumId: '9' });
    const other = engine.publish(SUB, 'other device', { deviceNumId: '10' });
    assert.deepEqual((await engine.next('nack'))[0]!.seq, second.seq, 'refused while the first one waits');
    assert.equal((await engine.next('ack'))[0]!.seq, other.seq, 'another device is not held up');
    engine.redeliver(second.seq);
    assert.equal((await engine.next('nack'))[0]!.seq, second.seq, 'refused again: the first one has not gone through');
    engine.redeliver(first.seq);
    assert.equal((await engine.next('ack'))[0]!.seq, first.seq);
    engine.redeliver(second.seq);
    assert.equal((await engine.next('ack'))[0]!.seq, second.seq);
    assert.deepEqual(target.accepted.map(text), ['other device', 'first', 'second']);
    f.close();
  });

  test('a failed message holds its key back only for holdMs (after that it is taken as gone: dropped by a seek, expired)', async () => {
    const engine = new FakeSubscriptionEngine();
    engine.backoff = true;
    const target = new FakeTarget();
    let now = 0;
    const f = forwarder(engine, target, () => now);
    await f.start();
    target.down = true;
    engine.publish(SUB, 'lost', { deviceNumId: '9' });
    await engine.next('nack');
    target.down = false;
    const next = engine.publish(SUB, 'next', { deviceNumId: '9' });
    await engine.next('nack');
    now = 600_001;
    engine.redeliver(next.seq);
    assert.equal((await engine.next('ack'))[0]!.seq, next.seq);
    assert.deepEqual(target.accepted.map(text), ['next']);
    assert.equal(f.held, 0);
    f.close();
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { ForwardingRule } from '../../../../src/config/pubsub-forwarding.js';
import type { ForwardedMessage, ForwardTarget } from '../../../../src/adapters/sinks/google-pubsub/forward-target.js';
import { forwardSubscriptionName, GoogleForwarding } from '../../../../src/adapters/sinks/google-pubsub/google-forwarding.js';
import { ApiError } from '../../../../src/domain/errors.js';
import type { PsSubscription, PsSubscriptionVersion, PsTopic } from '../../../../src/domain/pubsub/pubsub-model.js';
import { FakeSubscriptionEngine } from '../../../support/fake-subscription-engine.js';

class Store {
  readonly topics = new Map<string, PsTopic>();
  readonly subs = new Map<string, PsSubscription>();
  async getTopic(name: string) {
    return this.topics.get(name);
  }
  async createTopic(t: Omit<PsTopic, 'revision'>) {
    if (this.topics.has(t.name)) throw new ApiError('ALREADY_EXISTS', 'taken');
    const topic = { ...t, revision: 1 };
    this.topics.set(t.name, topic);
    return topic;
  }
  async getSubscription(name: string) {
    return this.subs.get(name);
  }
  async createSubscription(s: Omit<PsSubscription, 'revision'>) {
    if (this.subs.has(s.name)) throw new ApiError('ALREADY_EXISTS', 'taken');
    const sub = { ...s, revision: 1 };
    this.subs.set(s.name, sub);
    return sub;
  }
  async replaceSubscription(current: PsSubscriptionVersion, r: Omit<PsSubscription, 'name' | 'revision'>) {
    const sub = this.subs.get(current.name);
    if (!sub) throw new ApiError('NOT_FOUND', 'absent');
    if (sub.revision !== current.revision || sub.createTime !== current.createTime) throw new ApiError('ABORTED', 'stale');
    const replaced = { ...r, name: current.name, revision: sub.revision + 1 };
    this.subs.set(current.name, replaced);
    return replaced;
  }
}

class Target implements ForwardTarget {
  readonly accepted: ForwardedMessage[] = [];
  /** Publishes never answered (the target hangs). */
  hang = false;
  async publish(m: ForwardedMessage): Promise<string> {
    if (this.hang) return new Promise(() => {});
    this.accepted.push(m);
    return String(this.accepted.length);
  }
  resume(): void {}
  async close(): Promise<void> {}
}

const RULE: ForwardingRule = { topic: 'projects/p/topics/telemetry', target: 'projects/gcp-project/topics/telemetry', apiEndpoint: undefined, emulator: false };

test('forwardSubscriptionName: bridgehead-forward-<topic ID> in the topic\'s project', () => {
  assert.equal(forwardSubscriptionName('projects/my-proj/topics/events.v1'), 'projects/my-proj/subscriptions/bridgehead-forward-events.v1');
});

test('GoogleForwarding creates the missing topic and internal subscription (from the log head), forwards, and exports the backlog', async () => {
  const store = new Store();
  const engine = new FakeSubscriptionEngine();
  const target = new Target();
  const registry = new Registry();
  const forwarding = new GoogleForwarding({
    rules: [RULE],
    store,
    log: { headSeq: async () => 41, seqBefore: async () => 0 },
    engine,
    target: (rule) => {
      assert.equal(rule, RULE);
      return target;
    },
    logger: pino({ level: 'silent' }),
    now: () => 1_000,
    registry,
  });
  await forwarding.start();
  const name = 'projects/p/subscriptions/bridgehead-forward-telemetry';
  assert.deepEqual(forwarding.subscriptions, [name]);
  assert.ok(store.topics.has(RULE.topic));
  const sub = store.subs.get(name)!;
  assert.deepEqual(
    [sub.topic, sub.startSeq, sub.filter, sub.pushConfig, sub.deadLetterPolicy, sub.detached, sub.labels],
    [RULE.topic, 41, '', undefined, undefined, false, { bridgehead: 'forwarder' }],
  );
  assert.ok(sub.retryPolicy);

  engine.publish(name, 'one', { deviceNumId: '5' });
  await engine.next('ack');
  assert.deepEqual(target.accepted.map((m) => m.orderingKey), ['5']);

  // Backlog: what the engine reports for the internal subscription (here: two messages the target has not acked).
  target.hang = true;
  engine.publish(name, 'two', { deviceNumId: '5' });
  engine.publish(name, 'three', { deviceNumId: '6' });
  const backlog = await registry.getSingleMetricAsString('bridgehead_pubsub_forward_backlog_messages');
  assert.match(backlog, /bridgehead_pubsub_forward_backlog_messages\{topic="projects\/p\/topics\/telemetry",target="projects\/gcp-project\/topics\/telemetry"\} 2/);
  const counted = await registry.getSingleMetricAsString('bridgehead_pubsub_forward_publishes_total');
  assert.match(counted, /result="ok"\} 1/);
  await forwarding.close();
});

test('an existing subscription is used as it is; a restart does not create another', async () => {
  const store = new Store();
  const engine = new FakeSubscriptionEngine();
  const opts = { rules: [RULE], store, log: { headSeq: async () => 7, seqBefore: async () => 0 }, engine, target: () => new Target(), logger: pino({ level: 'silent' }), now: () => 0 };
  const a = new GoogleForwarding(opts);
  await a.start();
  await a.close();
  const created = store.subs.get(forwardSubscriptionName(RULE.topic));
  const b = new GoogleForwarding({ ...opts, log: { headSeq: async () => 99, seqBefore: async () => 0 } });
  await b.start();
  assert.equal(store.subs.get(forwardSubscriptionName(RULE.topic)), created);
  assert.equal(created!.startSeq, 7);
  await b.close();
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LocalBus } from '../../../src/adapters/bus/local-bus.js';
import type { SubscriptionEngine } from '../../../src/services/pubsub/pubsub-api.js';
import { SubscriptionChangeRelay } from '../../../src/services/pubsub/subscription-change-relay.js';

/** Records the change notifications an engine gets; nothing else is called in these tests. */
function recordingEngine(): { engine: SubscriptionEngine; calls: string[] } {
  const calls: string[] = [];
  const engine = {
    subscriptionChanged: (n: string) => calls.push(`changed ${n}`),
    subscriptionDeleted: (n: string) => calls.push(`deleted ${n}`),
    backlog: async () => 7,
    loadedSubscriptions: () => ['projects/p/subscriptions/loaded-1', 'projects/p/subscriptions/loaded-2'],
  } as unknown as SubscriptionEngine;
  return { engine, calls };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('SubscriptionChangeRelay', () => {
  test('a change through node A reaches A once (directly) and B once (over the bus), with B’s push follower', async () => {
    const bus = new LocalBus();
    const a = recordingEngine();
    const b = recordingEngine();
    const relayA = new SubscriptionChangeRelay(bus, 'node-a', (e) => assert.fail(String(e)));
    const relayB = new SubscriptionChangeRelay(bus, 'node-b', (e) => assert.fail(String(e)));
    const remoteA: string[] = [];
    const remoteB: string[] = [];
    relayA.follow(a.engine, (n) => remoteA.push(n));
    const stopB = relayB.follow(b.engine, (n) => remoteB.push(n));
    const adminEngineA = relayA.wrap(a.engine);
    adminEngineA.subscriptionChanged('projects/p/subscriptions/s');
    adminEngineA.subscriptionDeleted('projects/p/subscriptions/t');
    await turn();
    assert.deepEqual(a.calls, ['changed projects/p/subscriptions/s', 'deleted projects/p/subscriptions/t']);
    assert.deepEqual(b.calls, ['changed projects/p/subscriptions/s', 'deleted projects/p/subscriptions/t']);
    assert.deepEqual(remoteA, [], 'a node ignores its own announcements');
    assert.deepEqual(remoteB, ['projects/p/subscriptions/s', 'projects/p/subscriptions/t']);
    // Everything else is the engine's own.
    assert.equal(await adminEngineA.backlog('x'), 7);
    stopB();
    adminEngineA.subscriptionChanged('projects/p/subscriptions/u');
    await turn();
    assert.equal(b.calls.length, 2, 'a stopped follower hears nothing more');
    await bus.close();
  });

  test('after a gap in the bus every loaded subscription reads its settings again, and the push follower is told', () => {
    const gaps: (() => void)[] = [];
    const bus = { subscribe: (_h: unknown, onGap?: () => void) => (onGap && gaps.push(onGap), () => {}) } as unknown as LocalBus;
    const a = recordingEngine();
    let resyncs = 0;
    new SubscriptionChangeRelay(bus, 'node-a', (e) => assert.fail(String(e))).follow(a.engine, () => {}, () => resyncs++);
    assert.equal(gaps.length, 1);
    gaps[0]!();
    assert.deepEqual(a.calls, ['changed projects/p/subscriptions/loaded-1', 'changed projects/p/subscriptions/loaded-2']);
    assert.equal(resyncs, 1);
  });
});

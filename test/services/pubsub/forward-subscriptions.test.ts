import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryMessageLog } from '../../../src/adapters/sinks/memory-log/memory-message-log.js';
import { MemoryPubSubStore } from '../../../src/adapters/store/memory/memory-pubsub-store.js';
import { DELETED_TOPIC, type PsSubscription } from '../../../src/domain/pubsub/pubsub-model.js';
import { ForwardSubscriptions, type Ensured, type ForwardSubscriptionSettings } from '../../../src/services/pubsub/forward-subscriptions.js';

const TOPIC = 'projects/p/topics/telemetry';
const SUB = 'projects/p/subscriptions/bridgehead-forward-telemetry';

const SETTINGS: ForwardSubscriptionSettings = {
  name: SUB,
  topic: TOPIC,
  ackDeadlineSeconds: 60,
  retainAckedMessages: false,
  messageRetentionMs: 7 * 86_400_000,
  labels: { bridgehead: 'forwarder' },
  filter: '',
  enableMessageOrdering: false,
  deadLetterPolicy: undefined,
  retryPolicy: undefined,
  pushConfig: undefined,
};

/** One node's view: the shared store and log, its own engine (whose notifications are recorded). */
function node(store: MemoryPubSubStore, log: MemoryMessageLog, now: number) {
  const deleted: string[] = [];
  const keeper = new ForwardSubscriptions({ store, log, engine: { subscriptionDeleted: (name) => void deleted.push(name) }, now: () => now });
  return { keeper, deleted };
}

const publish = (log: MemoryMessageLog, data: string, publishTime: number) =>
  log.append([{ topic: TOPIC, attributes: {}, data: new TextEncoder().encode(data), publishTime }]);

async function texts(log: MemoryMessageLog, sub: PsSubscription): Promise<string[]> {
  return (await log.read(sub.topic, sub.startSeq, 100)).map((m) => new TextDecoder().decode(m.data));
}

/** Node A (its clock at 3,000) replaced the subscription, alone and announced once; B left it to A. */
async function assertAWon(store: MemoryPubSubStore, log: MemoryMessageLog, [ra, rb]: Ensured[], deleted: string[][], read: string[]): Promise<void> {
  const stored = await store.getSubscription(SUB);
  assert.equal(stored?.createTime, 3_000, "A's subscription stands");
  assert.deepEqual(ra?.subscription, stored);
  assert.equal(rb?.subscription, undefined, 'B leaves it to A');
  assert.deepEqual(deleted, [[SUB], []], 'one replacement, announced once');
  assert.deepEqual(await texts(log, stored!), read, 'what the new topic got is read');
}

/**
 * `target` with some methods wrapped: each hook gets the original (bound to the target) and
 * returns what callers get instead. Lets a test stop one node at a chosen step of its work.
 */
function hooked<T extends object>(target: T, hooks: Record<string, (original: (...args: never[]) => Promise<unknown>) => unknown>): T {
  return new Proxy(target, {
    get(t, prop) {
      const value: unknown = Reflect.get(t, prop);
      if (typeof value !== 'function') return value;
      const bound = (value as (...args: unknown[]) => unknown).bind(t);
      return typeof prop === 'string' && hooks[prop] ? hooks[prop](bound as (...args: never[]) => Promise<unknown>) : bound;
    },
  });
}

/** A forwarded topic that was deleted and created again, with messages before and after. */
async function recreatedTopic() {
  const store = new MemoryPubSubStore();
  const log = new MemoryMessageLog();
  const first = node(store, log, 1_000);
  await first.keeper.ensure(SETTINGS, { mode: 'open' });
  await publish(log, 'old-1', 1_100);
  await publish(log, 'old-2', 1_200);
  await store.deleteTopic(TOPIC);
  assert.equal((await store.getSubscription(SUB))!.topic, DELETED_TOPIC);
  await store.createTopic({ name: TOPIC, labels: {}, messageRetentionMs: undefined, createTime: 2_000 });
  // Published after the topic came back and before any forwarder noticed.
  await publish(log, 'new-1', 2_100);
  return { store, log };
}

describe('ForwardSubscriptions (C-PS-FORWARD)', () => {
  test('a subscription left on _deleted-topic_ is replaced once the topic exists again: it reads what the new topic got, not the old one', async () => {
    const { store, log } = await recreatedTopic();
    const a = node(store, log, 3_000);
    const { subscription } = await a.keeper.ensure(SETTINGS, { mode: 'check', missingBefore: false });
    assert.equal(subscription?.topic, TOPIC);
    assert.deepEqual(await texts(log, subscription!), ['new-1']);
    assert.deepEqual(await store.getSubscription(SUB), subscription);
    assert.deepEqual(a.deleted, [SUB], 'the nodes are told: their streams on the old one end');
  });

  test('a check leaves the topic deleted: the subscription stays as it is while there is no topic', async () => {
    const store = new MemoryPubSubStore();
    const log = new MemoryMessageLog();
    const a = node(store, log, 1_000);
    await a.keeper.ensure(SETTINGS, { mode: 'open' });
    await store.deleteTopic(TOPIC);
    assert.deepEqual(await a.keeper.ensure(SETTINGS, { mode: 'check', missingBefore: false }), { subscription: undefined, missing: false });
    assert.equal(await store.getTopic(TOPIC), undefined);
    assert.equal((await store.getSubscription(SUB))!.topic, DELETED_TOPIC);
    assert.deepEqual(a.deleted, []);
  });

  test('a detached subscription is replaced from the head', async () => {
    const store = new MemoryPubSubStore();
    const log = new MemoryMessageLog();
    const a = node(store, log, 1_000);
    const { subscription } = await a.keeper.ensure(SETTINGS, { mode: 'open' });
    await publish(log, 'before', 1_100);
    await store.updateSubscription({ ...subscription!, detached: true });
    const replaced = await a.keeper.ensure(SETTINGS, { mode: 'open' });
    assert.equal(replaced.subscription?.detached, false);
    assert.deepEqual(await texts(log, replaced.subscription!), []);
  });

  test('two nodes replacing at once: the one that lost does not delete the winner\'s new subscription', async () => {
    const { store, log } = await recreatedTopic();
    const a = node(store, log, 3_000);
    const b = node(store, log, 4_000);
    // Both read the stale subscription; B's delete comes only after A deleted and created again.
    let reads = 0;
    let bothRead!: () => void;
    const read = new Promise<void>((r) => (bothRead = r));
    let aCreated!: () => void;
    const created = new Promise<void>((r) => (aCreated = r));
    const sharedStore = (who: 'a' | 'b') =>
      new Proxy(store, {
        get(target, prop) {
          if (prop === 'getSubscription')
            return async (name: string) => {
              const s = await target.getSubscription(name);
              if (++reads === 2) bothRead();
              await read;
              return s;
            };
          // Whichever way a node replaces (deleting then creating, or in one write).
          if ((prop === 'deleteSubscription' || prop === 'replaceSubscription') && who === 'b')
            return async (...args: unknown[]) => {
              await created;
              return (target[prop] as (...a: unknown[]) => Promise<unknown>).apply(target, args);
            };
          if ((prop === 'createSubscription' || prop === 'replaceSubscription') && who === 'a')
            return async (...args: unknown[]) => {
              const made = await (target[prop] as (...a: unknown[]) => Promise<unknown>).apply(target, args);
              aCreated();
              return made;
            };
          const value: unknown = Reflect.get(target, prop);
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
        },
      });
    const keeperA = new ForwardSubscriptions({ store: sharedStore('a'), log, engine: { subscriptionDeleted: (n) => void a.deleted.push(n) }, now: () => 3_000 });
    const keeperB = new ForwardSubscriptions({ store: sharedStore('b'), log, engine: { subscriptionDeleted: (n) => void b.deleted.push(n) }, now: () => 4_000 });
    const [ra, rb] = await Promise.all([
      keeperA.ensure(SETTINGS, { mode: 'check', missingBefore: false }),
      keeperB.ensure(SETTINGS, { mode: 'check', missingBefore: false }),
    ]);
    await assertAWon(store, log, [ra, rb], [a.deleted, b.deleted], ['new-1']);
  });

  test('two nodes replacing at once, after a create that restarted the revisions: the one that lost does not replace the winner\'s subscription', async () => {
    // An operator took the name on another topic: revision 1, as the replacement was before the fix.
    const store = new MemoryPubSubStore();
    const log = new MemoryMessageLog();
    await store.createTopic({ name: TOPIC, labels: {}, messageRetentionMs: undefined, createTime: 500 });
    const other = 'projects/p/topics/other';
    await store.createTopic({ name: other, labels: {}, messageRetentionMs: undefined, createTime: 500 });
    await store.createSubscription({ ...SETTINGS, topic: other, detached: false, startSeq: 0, createTime: 600 });
    const a = node(store, log, 3_000);
    const b = node(store, log, 4_000);
    // Both read revision 1; B writes only once A's new subscription exists and got a message.
    let reads = 0;
    let bothRead!: () => void;
    const read = new Promise<void>((r) => (bothRead = r));
    let aWrote!: () => void;
    const wrote = new Promise<void>((r) => (aWrote = r));
    const reading = (original: (...args: never[]) => Promise<unknown>) => async (name: string) => {
      const got = await (original as (n: string) => Promise<unknown>)(name);
      if (++reads === 2) bothRead();
      await read;
      return got;
    };
    const aWrites = (original: (...args: never[]) => Promise<unknown>) => async (...args: unknown[]) => {
      const done = await (original as (...a: unknown[]) => Promise<unknown>)(...args);
      await publish(log, 'after-a', 3_100);
      aWrote();
      return done;
    };
    const bWaits = (original: (...args: never[]) => Promise<unknown>) => async (...args: unknown[]) => {
      await wrote;
      return (original as (...a: unknown[]) => Promise<unknown>)(...args);
    };
    const keeperA = new ForwardSubscriptions({
      store: hooked(store, { getSubscription: reading, createSubscription: aWrites, replaceSubscription: aWrites }),
      log,
      engine: { subscriptionDeleted: (n) => void a.deleted.push(n) },
      now: () => 3_000,
    });
    const keeperB = new ForwardSubscriptions({
      store: hooked(store, { getSubscription: reading, deleteSubscription: bWaits, replaceSubscription: bWaits }),
      log,
      engine: { subscriptionDeleted: (n) => void b.deleted.push(n) },
      now: () => 4_000,
    });
    const [ra, rb] = await Promise.all([
      keeperA.ensure(SETTINGS, { mode: 'check', missingBefore: false }),
      keeperB.ensure(SETTINGS, { mode: 'check', missingBefore: false }),
    ]);
    await assertAWon(store, log, [ra, rb], [a.deleted, b.deleted], ['after-a']);
  });

  test('another node opening while a replacement is under way never finds the name missing: what the new topic got before is still forwarded', async () => {
    const { store, log } = await recreatedTopic();
    const b = node(store, log, 4_000);
    let bDone: Promise<unknown> = Promise.resolve();
    // While A works out where the new topic began, B's forwarder opens (it starts, or its stream ended).
    const aLog = hooked(log, {
      seqBefore: (original) => async (...args: unknown[]) => {
        bDone = b.keeper.ensure(SETTINGS, { mode: 'open' });
        await bDone;
        return (original as (...a: unknown[]) => Promise<unknown>)(...args);
      },
    });
    const aDeleted: string[] = [];
    const keeperA = new ForwardSubscriptions({ store, log: aLog, engine: { subscriptionDeleted: (n) => void aDeleted.push(n) }, now: () => 3_000 });
    const ra = await keeperA.ensure(SETTINGS, { mode: 'check', missingBefore: false });
    await bDone;
    const stored = await store.getSubscription(SUB);
    assert.equal(stored?.topic, TOPIC);
    assert.deepEqual(await texts(log, stored!), ['new-1'], 'read from where the new topic began, whichever node replaced it');
    assert.equal(aDeleted.length + b.deleted.length, 1, 'one replacement, announced once');
    if (ra.subscription) assert.deepEqual(ra.subscription, stored);
  });

  test('a check that finds another node created the missing subscription first announces nothing: that node reads it', async () => {
    const store = new MemoryPubSubStore();
    const log = new MemoryMessageLog();
    await store.createTopic({ name: TOPIC, labels: {}, messageRetentionMs: undefined, createTime: 500 });
    const b = node(store, log, 4_000);
    const aLog = hooked(log, {
      headSeq: (original) => async (...args: unknown[]) => {
        await b.keeper.ensure(SETTINGS, { mode: 'open' });
        return (original as (...a: unknown[]) => Promise<unknown>)(...args);
      },
    });
    const aDeleted: string[] = [];
    const keeperA = new ForwardSubscriptions({ store, log: aLog, engine: { subscriptionDeleted: (n) => void aDeleted.push(n) }, now: () => 3_000 });
    const { subscription } = await keeperA.ensure(SETTINGS, { mode: 'check', missingBefore: true });
    const stored = await store.getSubscription(SUB);
    assert.equal(stored?.createTime, 4_000, "B's subscription stands");
    assert.deepEqual(subscription, stored);
    assert.deepEqual([aDeleted, b.deleted], [[], []], "nobody is told to drop B's subscription");
  });

  test('missing at a check: created only when it was missing at the previous check too (a replacement under way is not raced)', async () => {
    const store = new MemoryPubSubStore();
    const log = new MemoryMessageLog();
    await store.createTopic({ name: TOPIC, labels: {}, messageRetentionMs: undefined, createTime: 500 });
    const a = node(store, log, 1_000);
    assert.deepEqual(await a.keeper.ensure(SETTINGS, { mode: 'check', missingBefore: false }), { subscription: undefined, missing: true });
    assert.equal(await store.getSubscription(SUB), undefined);
    const { subscription } = await a.keeper.ensure(SETTINGS, { mode: 'check', missingBefore: true });
    assert.equal(subscription?.topic, TOPIC);
    assert.deepEqual(a.deleted, [SUB], 'nobody told the nodes it was gone: told now');
  });
});

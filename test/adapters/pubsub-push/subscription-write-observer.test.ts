import assert from 'node:assert/strict';
import { test } from 'node:test';
import { observeSubscriptionWrites } from '../../../src/adapters/pubsub-push/subscription-write-observer.js';
import { ApiError } from '../../../src/domain/errors.js';
import type { PsSubscription, PsSubscriptionVersion } from '../../../src/domain/pubsub/pubsub-model.js';
import type { PubSubStore } from '../../../src/services/pubsub/pubsub-ports.js';

/** Only what the test calls; a class with a private field, as the real stores are. */
class TinyStore {
  readonly #subs = new Map<string, PsSubscription>();
  async createSubscription(s: Omit<PsSubscription, 'revision'>): Promise<PsSubscription> {
    if (this.#subs.has(s.name)) throw new ApiError('ALREADY_EXISTS', 'taken');
    const sub = { ...s, revision: 1 };
    this.#subs.set(s.name, sub);
    return sub;
  }
  async updateSubscription(s: PsSubscription): Promise<PsSubscription> {
    const sub = { ...s, revision: s.revision + 1 };
    this.#subs.set(s.name, sub);
    return sub;
  }
  async deleteSubscription(name: string): Promise<void> {
    if (!this.#subs.delete(name)) throw new ApiError('NOT_FOUND', 'absent');
  }
  async replaceSubscription(current: PsSubscriptionVersion, r: Omit<PsSubscription, 'name' | 'revision'>): Promise<PsSubscription> {
    if (this.#subs.get(current.name)?.revision !== current.revision) throw new ApiError('ABORTED', 'stale');
    const sub = { ...r, name: current.name, revision: current.revision + 1 };
    this.#subs.set(current.name, sub);
    return sub;
  }
  async getSubscription(name: string): Promise<PsSubscription | undefined> {
    return this.#subs.get(name);
  }
}

test('observeSubscriptionWrites: committed creates, updates, replacements and deletes are reported; failed writes and reads are not', async () => {
  const changed: string[] = [];
  const store = observeSubscriptionWrites(new TinyStore() as unknown as PubSubStore, (n) => changed.push(n));
  const sub = { name: 'projects/p/subscriptions/s1' } as Omit<PsSubscription, 'revision'>;
  const created = await store.createSubscription(sub);
  await assert.rejects(store.createSubscription(sub), /taken/);
  await store.updateSubscription(created);
  const updated = (await store.getSubscription(sub.name))!;
  assert.equal(updated.revision, 2);
  const { name: _name, ...replacement } = updated;
  await store.replaceSubscription(updated, replacement);
  await assert.rejects(store.replaceSubscription(updated, replacement), /stale/);
  assert.equal((await store.getSubscription(sub.name))?.revision, 3);
  await store.deleteSubscription(sub.name);
  await assert.rejects(store.deleteSubscription(sub.name), /absent/);
  assert.deepEqual(changed, [sub.name, sub.name, sub.name, sub.name]);
});

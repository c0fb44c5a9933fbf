import { isApiError } from '../../domain/errors.js';
import { forwardSubscriptionStep } from '../../domain/pubsub/forward-subscription.js';
import type { PsSubscription } from '../../domain/pubsub/pubsub-model.js';
import type { SubscriptionEngine } from './pubsub-api.js';
import type { MessageLog, PubSubStore } from './pubsub-ports.js';

export interface ForwardSubscriptionsDeps {
  store: Pick<PubSubStore, 'getTopic' | 'createTopic' | 'getSubscription' | 'createSubscription' | 'replaceSubscription'>;
  log: Pick<MessageLog, 'headSeq' | 'seqBefore'>;
  /**
   * Told when a subscription was replaced. On a cluster this is the engine whose notifications
   * reach every node (SubscriptionChangeRelay): each node's engine drops what it holds of the old
   * subscription and its streams end with NOT_FOUND, so its forwarder opens the new one.
   */
  engine: Pick<SubscriptionEngine, 'subscriptionDeleted'>;
  now: () => number;
}

/** The settings of an internal subscription, without what the store and the log decide. */
export type ForwardSubscriptionSettings = Omit<PsSubscription, 'revision' | 'startSeq' | 'createTime' | 'detached'>;

/**
 * `open`: the forwarder is about to read (it starts, or its stream ended): a missing topic is
 * created (forwarding is configuration) and so is a missing subscription. `check`: a periodic
 * look while it reads; a topic deleted is left deleted, and a subscription missing is created
 * only if it was missing at the previous look too (`missingBefore`; see createMissing in
 * src/domain/pubsub/forward-subscription.ts). The nodes were not told of that deletion, so a
 * creation then is announced as a replacement (by the node that created it, not one that found
 * it created: the announcement would end the streams that already read the new one).
 */
export type EnsureOptions = { mode: 'open' } | { mode: 'check'; missingBefore: boolean };

export interface Ensured {
  /** The subscription to read; undefined: none can be read now. */
  subscription: PsSubscription | undefined;
  /** It was missing and left so (the next look may create it). */
  missing: boolean;
}

/**
 * Keeps a forwarder's internal subscription readable (docs/compat.md C-PS-FORWARD). Every node of
 * a cluster runs this for every rule, so each write is conditional on what was read: a replacement
 * is one store write that happens only to the subscription judged (its revision and createTime: a
 * subscription created meanwhile under the name can have the same revision), never leaving the
 * name missing for another node to create from the head; and creating one that another node
 * created first is not an error. Losers leave it to the winner, whose notification ends their
 * streams.
 */
export class ForwardSubscriptions {
  constructor(private readonly deps: ForwardSubscriptionsDeps) {}

  async ensure(settings: ForwardSubscriptionSettings, opts: EnsureOptions): Promise<Ensured> {
    const { store } = this.deps;
    let topic = await store.getTopic(settings.topic);
    if (!topic && opts.mode === 'open') {
      await ignoreExists(store.createTopic({ name: settings.topic, labels: {}, messageRetentionMs: undefined, createTime: this.deps.now() }));
      topic = await store.getTopic(settings.topic);
    }
    const current = await store.getSubscription(settings.name);
    const createMissing = opts.mode === 'open' || opts.missingBefore;
    const step = forwardSubscriptionStep({ topic: settings.topic, subscription: current, topicExists: topic !== undefined, createMissing });
    switch (step.action) {
      case 'use':
        return { subscription: current, missing: false };
      case 'wait':
        return { subscription: undefined, missing: current === undefined };
      case 'create': {
        const { subscription, created } = await this.create(settings, await this.deps.log.headSeq(settings.topic));
        if (opts.mode === 'check' && created) this.deps.engine.subscriptionDeleted(settings.name);
        return { subscription, missing: false };
      }
      case 'replace': {
        // Worked out before the replacement, which must be one write: the search may take a while.
        const start =
          step.start === 'head' || !topic ? await this.deps.log.headSeq(settings.topic) : await this.deps.log.seqBefore(settings.topic, topic.createTime);
        const { name, ...replacement } = settings;
        let replaced: PsSubscription;
        try {
          replaced = await store.replaceSubscription(step.replaced, { ...replacement, detached: false, startSeq: start, createTime: this.deps.now() });
        } catch (e) {
          // Replaced by another node (or deleted) since it was read, or the topic deleted: that outcome stands.
          if (isApiError(e) && (e.kind === 'ABORTED' || e.kind === 'NOT_FOUND')) return { subscription: undefined, missing: false };
          throw e;
        }
        this.deps.engine.subscriptionDeleted(name);
        return { subscription: replaced, missing: false };
      }
    }
  }

  /** `created`: by this call, not found created by another node. */
  private async create(settings: ForwardSubscriptionSettings, startSeq: number): Promise<{ subscription: PsSubscription | undefined; created: boolean }> {
    try {
      return { subscription: await this.deps.store.createSubscription({ ...settings, detached: false, startSeq, createTime: this.deps.now() }), created: true };
    } catch (e) {
      if (!isApiError(e)) throw e;
      // Another node created it first: theirs is as good. The topic deleted meanwhile: nothing to read.
      if (e.kind === 'ALREADY_EXISTS') return { subscription: await this.deps.store.getSubscription(settings.name), created: false };
      if (e.kind === 'NOT_FOUND') return { subscription: undefined, created: false };
      throw e;
    }
  }
}

async function ignoreExists(write: Promise<unknown>): Promise<void> {
  try {
    await write;
  } catch (e) {
    if (!(isApiError(e) && e.kind === 'ALREADY_EXISTS')) throw e;
  }
}

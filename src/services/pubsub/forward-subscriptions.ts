import { isApiError } from '../../domain/errors.js';
import { forwardSubscriptionStep } from '../../domain/pubsub/forward-subscription.js';
import type { PsSubscription } from '../../domain/pubsub/pubsub-model.js';
import type { SubscriptionEngine } from './pubsub-api.js';
import type { MessageLog, PubSubStore } from './pubsub-ports.js';

export interface ForwardSubscriptionsDeps {
  store: Pick<PubSubStore, 'getTopic' | 'createTopic' | 'getSubscription' | 'createSubscription' | 'deleteSubscription'>;
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
 * src/domain/pubsub/forward-subscription.ts). Nobody told the nodes of that gap (a node stopped
 * between deleting and creating), so a creation then is announced as a replacement.
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
 * a cluster runs this for every rule, so each write is conditional on what was read: the
 * replacement deletes only the revision it judged (a subscription recreated meanwhile by another
 * node has another revision, and is left alone), and creating one that another node created
 * first is not an error. Losers leave it to the winner, whose notification ends their streams.
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
        const created = await this.create(settings, await this.deps.log.headSeq(settings.topic));
        if (opts.mode === 'check' && created) this.deps.engine.subscriptionDeleted(settings.name);
        return { subscription: created, missing: false };
      }
      case 'replace': {
        try {
          await store.deleteSubscription(settings.name, step.revision);
        } catch (e) {
          // Replaced (or being replaced) by another node since it was read: its outcome stands.
          if (isApiError(e) && (e.kind === 'ABORTED' || e.kind === 'NOT_FOUND')) return { subscription: undefined, missing: false };
          throw e;
        }
        const start =
          step.start === 'head' || !topic ? await this.deps.log.headSeq(settings.topic) : await this.deps.log.seqBefore(settings.topic, topic.createTime);
        const created = await this.create(settings, start);
        // Only now: a node whose stream ends on it and opens again finds the new one, not a gap.
        this.deps.engine.subscriptionDeleted(settings.name);
        return { subscription: created, missing: false };
      }
    }
  }

  private async create(settings: ForwardSubscriptionSettings, startSeq: number): Promise<PsSubscription | undefined> {
    try {
      return await this.deps.store.createSubscription({ ...settings, detached: false, startSeq, createTime: this.deps.now() });
    } catch (e) {
      if (!isApiError(e)) throw e;
      // Another node created it first: theirs is as good. The topic deleted meanwhile: nothing to read.
      if (e.kind === 'ALREADY_EXISTS') return this.deps.store.getSubscription(settings.name);
      if (e.kind === 'NOT_FOUND') return undefined;
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

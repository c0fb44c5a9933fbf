import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { startPubSubServer, type PubSubServer } from '../support/pubsub.js';

/** UpdateTopic and DetachSubscription as @google-cloud/pubsub calls them. */

describe('Pub/Sub UpdateTopic and DetachSubscription with the real client', () => {
  let ps: PubSubServer;
  before(async () => {
    ps = await startPubSubServer();
  });
  after(async () => ps.cleanup());

  it('topic.setMetadata updates the labels (and only what the mask names)', async () => {
    const [topic] = await ps.pubsub.createTopic({ name: 'upd-topic', labels: { a: '1' } });
    await topic.setMetadata({ labels: { env: 'prod' } });
    const [meta] = await topic.getMetadata();
    assert.deepEqual(meta.labels, { env: 'prod' });
  });

  it('a detached subscription says so, and pulling from it is FAILED_PRECONDITION', async () => {
    const [topic] = await ps.pubsub.createTopic('det-topic');
    const [sub] = await topic.createSubscription('det-sub');
    await ps.pubsub.detachSubscription(sub.name);
    const [meta] = await sub.getMetadata();
    assert.equal(meta.detached, true);
    await assert.rejects(
      ps.subscriberClient().pull({ subscription: sub.name, maxMessages: 1 }),
      (e: { code?: number }) => e.code === status.FAILED_PRECONDITION,
    );
  });
});

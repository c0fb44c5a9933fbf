import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { startPubSubServer, type PubSubServer } from '../support/pubsub.js';

/** UpdateTopic, UpdateSubscription and DetachSubscription as @google-cloud/pubsub calls them. */

describe('Pub/Sub UpdateTopic, UpdateSubscription and DetachSubscription with the real client', () => {
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

  it('an update mask path inside a policy changes that field only; the rest of the policy stays', async () => {
    const [topic] = await ps.pubsub.createTopic('upd-sub-topic');
    const [dlq] = await ps.pubsub.createTopic('upd-sub-dlq');
    const [sub] = await topic.createSubscription('upd-sub', {
      deadLetterPolicy: { deadLetterTopic: dlq.name, maxDeliveryAttempts: 5 },
      retryPolicy: { minimumBackoff: { seconds: 5 }, maximumBackoff: { seconds: 60 } },
    });
    const client = ps.subscriberClient();
    await client.updateSubscription({
      subscription: { name: sub.name, deadLetterPolicy: { maxDeliveryAttempts: 10 }, retryPolicy: { maximumBackoff: { seconds: 120 } } },
      updateMask: { paths: ['dead_letter_policy.max_delivery_attempts', 'retry_policy.maximum_backoff'] },
    });
    const [meta] = await sub.getMetadata();
    assert.equal(meta.deadLetterPolicy?.deadLetterTopic, dlq.name);
    assert.equal(meta.deadLetterPolicy?.maxDeliveryAttempts, 10);
    assert.equal(Number(meta.retryPolicy?.minimumBackoff?.seconds), 5);
    assert.equal(Number(meta.retryPolicy?.maximumBackoff?.seconds), 120);
  });

  it('setMetadata with an expiration policy (accepted and ignored) updates the other fields it names', async () => {
    const [topic] = await ps.pubsub.createTopic('upd-exp-topic');
    const [sub] = await topic.createSubscription('upd-exp-sub');
    await sub.setMetadata({ expirationPolicy: { ttl: { seconds: 86_400 } }, labels: { env: 'prod' } });
    const [meta] = await sub.getMetadata();
    assert.deepEqual(meta.labels, { env: 'prod' });
    await topic.setMetadata({ messageStoragePolicy: { allowedPersistenceRegions: ['europe-west1'] }, labels: { env: 'prod' } });
    assert.deepEqual((await topic.getMetadata())[0].labels, { env: 'prod' });
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

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Message } from '@google-cloud/pubsub';
import { Collector, PS_PROJECT, startPubSubServer, type PubSubServer } from '../support/pubsub.js';

/**
 * At-least-once delivery as @google-cloud/pubsub sees it: nack and ack-deadline expiry bring a
 * message back, dead-lettering after the last attempt with deliveryAttempt counted, and Seek to a
 * time and to a snapshot.
 */

type Pulled = { ackId: string; id: string; data: string; deliveryAttempt: number };

describe('Pub/Sub delivery with @google-cloud/pubsub', () => {
  let ps: PubSubServer;
  const subName = (s: string): string => `projects/${PS_PROJECT}/subscriptions/${s}`;

  /** Unary Pull until `n` messages came (each Pull waits for a first message, C-PS-PULL-WAIT). */
  async function pull(subscription: string, n: number): Promise<Pulled[]> {
    const client = ps.subscriberClient();
    const out: Pulled[] = [];
    while (out.length < n) {
      const [response] = await client.pull({ subscription: subName(subscription), maxMessages: n - out.length });
      for (const r of response.receivedMessages ?? []) {
        out.push({ ackId: r.ackId!, id: r.message!.messageId!, data: Buffer.from(r.message!.data as Uint8Array).toString(), deliveryAttempt: r.deliveryAttempt ?? 0 });
      }
    }
    return out;
  }

  async function ack(subscription: string, pulled: Pulled[]): Promise<void> {
    await ps.subscriberClient().acknowledge({ subscription: subName(subscription), ackIds: pulled.map((p) => p.ackId) });
  }

  async function nothingLeft(subscription: string): Promise<boolean> {
    const [response] = await ps.subscriberClient().pull({ subscription: subName(subscription), maxMessages: 10, returnImmediately: true });
    return (response.receivedMessages ?? []).length === 0;
  }

  before(async () => {
    ps = await startPubSubServer();
  });
  after(() => ps.cleanup());

  test('a nacked message is redelivered; an acked one is not', async () => {
    const [topic] = await ps.pubsub.createTopic('nacks');
    const [sub] = await topic.createSubscription('nacks-sub');
    const seen = new Map<string, number>();
    const collector = new Collector(ps.pubsub.subscription(sub.name), (m: Message) => {
      const times = (seen.get(m.id) ?? 0) + 1;
      seen.set(m.id, times);
      if (times === 1) m.nack();
      else m.ack();
    });
    const ids = await Promise.all(['a', 'b', 'c'].map((d) => topic.publishMessage({ data: Buffer.from(d) })));
    await collector.next(6);
    await collector.close();
    assert.deepEqual(
      ids.map((id) => seen.get(id)),
      [2, 2, 2],
    );
    assert.ok(await nothingLeft('nacks-sub'));
  });

  test('dead-lettering: after maxDeliveryAttempts the message goes to the dead-letter topic, deliveryAttempt counting 1..max', async () => {
    const { pubsub } = ps;
    const [dead] = await pubsub.createTopic('poison-dead');
    const [deadSub] = await dead.createSubscription('poison-dead-sub');
    const [topic] = await pubsub.createTopic('poison');
    const [sub] = await topic.createSubscription('poison-sub', { deadLetterPolicy: { deadLetterTopic: dead.name, maxDeliveryAttempts: 5 } });
    const nacker = new Collector(pubsub.subscription(sub.name), (m) => m.nack());
    await topic.publishMessage({ data: Buffer.from('poison'), attributes: { kind: 'bad' }, orderingKey: '' });
    const deadLettered = new Collector(pubsub.subscription(deadSub.name));
    const [letter] = await deadLettered.next(1);
    await Promise.all([nacker.close(), deadLettered.close()]);
    assert.deepEqual(
      nacker.messages.map((m) => m.deliveryAttempt),
      [1, 2, 3, 4, 5],
    );
    assert.equal(letter!.data.toString(), 'poison');
    assert.deepEqual(letter!.attributes, { kind: 'bad' });
    assert.ok(await nothingLeft('poison-sub'), 'acked in the source once dead-lettered');
  });

  test('Seek to a snapshot brings back what was unacked when it was taken; Seek to a time, what came after it', async () => {
    const { pubsub } = ps;
    const [topic] = await pubsub.createTopic('replay');
    const [sub] = await topic.createSubscription('replay-sub', { retainAckedMessages: true });
    await topic.publishMessage({ data: Buffer.from('early') });
    const [early] = await pull('replay-sub', 1);
    await ack('replay-sub', [early!]);

    const [snapshot] = await sub.createSnapshot('replay-snap');
    const later = await Promise.all(['s1', 's2'].map((d) => topic.publishMessage({ data: Buffer.from(d) })));
    const pulled = await pull('replay-sub', 2);
    await ack('replay-sub', pulled);
    assert.ok(await nothingLeft('replay-sub'));

    await sub.seek(snapshot.name);
    const replayed = await pull('replay-sub', 2);
    assert.deepEqual(replayed.map((p) => p.id).sort(), [...later].sort(), 'what the snapshot had not seen acked');
    await ack('replay-sub', replayed);
    assert.ok(await nothingLeft('replay-sub'));

    // Everything since the subscription began, acked messages included (retain_acked_messages, C-PS-SEEK-RETAINED).
    await sub.seek(new Date(0));
    const all = await pull('replay-sub', 3);
    assert.deepEqual(all.map((p) => p.data).sort(), ['early', 's1', 's2']);
    await ack('replay-sub', all);
    await sub.seek(new Date(Date.now() + 60_000));
    assert.ok(await nothingLeft('replay-sub'), 'a seek to the future acknowledges everything');
  });

  test('a message not acked within the ack deadline is redelivered with the next deliveryAttempt; its old ack ID is ignored', async () => {
    const { pubsub } = ps;
    const [dead] = await pubsub.createTopic('slow-dead');
    const [topic] = await pubsub.createTopic('slow');
    await topic.createSubscription('slow-sub', { ackDeadlineSeconds: 10, deadLetterPolicy: { deadLetterTopic: dead.name, maxDeliveryAttempts: 5 } });
    await topic.publishMessage({ data: Buffer.from('late') });
    const [first] = await pull('slow-sub', 1);
    const leased = Date.now();
    assert.equal(first!.deliveryAttempt, 1);
    const [second] = await pull('slow-sub', 1);
    assert.ok(Date.now() - leased >= 9_000, `redelivered after ${Date.now() - leased} ms`);
    assert.equal(second!.id, first!.id);
    assert.equal(second!.deliveryAttempt, 2);
    assert.notEqual(second!.ackId, first!.ackId);
    await ack('slow-sub', [first!]);
    await ack('slow-sub', [second!]);
    assert.ok(await nothingLeft('slow-sub'));
  });
});

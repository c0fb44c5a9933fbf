import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { PubSub } from '@google-cloud/pubsub';
import { Collector, freePort, PS_PROJECT, startPubSubServer, type PubSubServer } from '../support/pubsub.js';

/**
 * A server stopped under a streaming-pull subscriber: its streams end at once with a status the
 * client retries (no error reaches the application), the server exits without waiting out its
 * grace period, and the same subscriber reconnects once the server is back on its address.
 *
 * What becomes of the messages it held but had not acked depends on where leases live:
 * - embedded and postgres: in the server's memory, so the restart ends them and the subscriber
 *   gets its unacked backlog again (under new ack IDs), and nothing it had acked;
 * - cluster: in the JetStream consumer, which outlives the node (docs/compat.md C-CLUSTER-PUBSUB,
 *   as in Pub/Sub, where a lease ends only by ack, nack or its deadline): the client keeps extending
 *   the leases it holds, so nothing is redelivered to it, and its acks made after the restart, with
 *   the ack IDs of before, are honoured.
 */

const LEASES_SURVIVE_RESTART = process.env.BRIDGEHEAD_TEST_BACKEND === 'cluster';

describe('Pub/Sub across a server restart', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'bridgehead-ps-restart-'));
  let ps: PubSubServer | undefined;
  let pubsub: PubSub | undefined;
  after(async () => {
    await pubsub?.close();
    await ps?.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('shutdown ends streams gracefully; after the restart the subscriber resumes with its unacked messages (redelivered, or still leased in cluster mode)', async () => {
    const port = await freePort();
    ps = await startPubSubServer({ port, dataDir });
    pubsub = new PubSub({ projectId: PS_PROJECT, apiEndpoint: ps.endpoint, emulatorMode: true });
    const [topic] = await pubsub.createTopic('durable');
    const [sub] = await topic.createSubscription('durable-sub');

    const acked = await Promise.all([1, 2, 3].map((i) => topic.publishMessage({ data: Buffer.from(`acked-${i}`) })));
    const first = new Collector(pubsub.subscription(sub.name));
    await first.next(3);
    await first.close(); // flushes its acks

    const pending = await Promise.all([1, 2, 3, 4].map((i) => topic.publishMessage({ data: Buffer.from(`pending-${i}`) })));
    let restarted = false;
    const second = new Collector(pubsub.subscription(sub.name), (m) => {
      if (restarted) m.ack();
    });
    const beforeStop = await second.next(4);
    assert.deepEqual(beforeStop.map((m) => m.id).sort(), [...pending].sort());

    const stopping = Date.now();
    assert.equal(await ps.server.stop(), 0);
    assert.ok(Date.now() - stopping < 4000, `stopped in ${Date.now() - stopping} ms: streams ended, not waited out`);

    ps = await startPubSubServer({ port, dataDir });
    restarted = true;
    if (!LEASES_SURVIVE_RESTART) {
      const afterRestart = (await second.next(8)).slice(4);
      await second.close();
      assert.deepEqual(afterRestart.map((m) => m.id).sort(), [...pending].sort(), 'the unacked backlog, again');
      assert.ok(!second.messages.some((m) => acked.includes(m.id)), 'nothing acked is redelivered');
      assert.deepEqual(second.errors, [], 'the stream ending at shutdown is retried, not an error');
      return;
    }

    // The consumer delivers in stream order: a lease lost at the restart would bring its message back before this one.
    const marker = await topic.publishMessage({ data: Buffer.from('after-restart') });
    const afterRestart = (await second.next(5)).slice(4);
    assert.deepEqual(
      afterRestart.map((m) => m.data.toString()),
      ['after-restart'],
      'the leases held across the restart are still the subscriber\'s: only the new message arrives',
    );
    assert.equal(afterRestart[0]!.id, marker);
    for (const m of beforeStop) m.ack();
    await second.close(); // flushes the acks, made with the ack IDs of before the restart
    assert.deepEqual(second.errors, [], 'the stream ending at shutdown is retried, not an error');
    assert.ok(!second.messages.slice(4).some((m) => [...acked, ...pending].includes(m.id)), 'nothing held or acked was redelivered');

    // Honoured acks leave nothing unacked below the subscription's ack floor: a seek to a snapshot
    // taken now redelivers nothing, where an ignored ack would bring its message back first.
    const [snapshot] = await sub.createSnapshot('after-acks');
    await sub.seek(snapshot.name);
    const sentinel = await topic.publishMessage({ data: Buffer.from('sentinel') });
    const third = new Collector(pubsub.subscription(sub.name));
    const [first3] = await third.next(1);
    await third.close();
    assert.equal(first3!.data.toString(), 'sentinel', `first after the seek: ${first3!.data.toString()} (an ack after the restart was lost)`);
    assert.equal(first3!.id, sentinel);
    assert.deepEqual(third.errors, []);
  });
});

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
 * grace period, and the same subscriber, once the server is back on its address, gets the
 * messages it had not acked, and none it had.
 */

describe('Pub/Sub across a server restart', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'bridgehead-ps-restart-'));
  let ps: PubSubServer | undefined;
  let pubsub: PubSub | undefined;
  after(async () => {
    await pubsub?.close();
    await ps?.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('shutdown ends streams gracefully; after the restart the subscriber gets its unacked backlog', async () => {
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
    const afterRestart = (await second.next(8)).slice(4);
    await second.close();
    assert.deepEqual(afterRestart.map((m) => m.id).sort(), [...pending].sort(), 'the unacked backlog, again');
    assert.ok(!second.messages.some((m) => acked.includes(m.id)), 'nothing acked is redelivered');
    assert.deepEqual(second.errors, [], 'the stream ending at shutdown is retried, not an error');
  });
});

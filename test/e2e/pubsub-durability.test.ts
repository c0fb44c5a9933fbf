import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { PubSub, v1, type ClientConfig, type Message } from '@google-cloud/pubsub';
import { startServer, type StartedServer } from '../support/server.js';

/**
 * Ack state survives a crash: a backlog is published, a subscriber is half-way through it (some
 * messages pulled and acked with a confirmed Acknowledge, some pulled and not acked, an
 * Acknowledge in flight, the rest never pulled) when the server is SIGKILLed. After a restart on
 * the same data dir, a streaming-pull subscriber drains the subscription: every message not
 * confirmed as acked arrives (nothing lost), and none whose Acknowledge had completed does.
 */

const PROJECT = 'durable-project';
const N = 2_000;
const PULL_BATCH = 100;
/** Pulled messages before the crash: the subscriber is half-way through the backlog. */
const KILL_AFTER_PULLED = N / 2;
const GRPC = ['--grpc-listen', '127.0.0.1:0', '--grpc-anonymous'];
const WAIT_MS = 15_000;

/** @google-cloud/pubsub pointed at the server's plaintext gRPC listener, as a migrating backend would be. */
function pubsubClient(server: StartedServer): PubSub {
  const url = new URL(String(server.info.grpc));
  return new PubSub({ projectId: PROJECT, apiEndpoint: `${url.hostname}:${url.port}`, emulatorMode: true });
}

/** The generated clients under the library: unary Publish, Pull and Acknowledge whose answers say "committed". */
async function rawClients(client: PubSub): Promise<{ publisher: v1.PublisherClient; subscriber: v1.SubscriberClient }> {
  // The library computes a numeric port; its ClientConfig type also allows a string.
  const config = (await client.getClientConfig()) as ClientConfig & ConstructorParameters<typeof v1.SubscriberClient>[0];
  return { publisher: new v1.PublisherClient(config), subscriber: new v1.SubscriberClient(config) };
}

describe('Pub/Sub durability across kill -9', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'bridgehead-pubsub-durable-'));
  let server: StartedServer | undefined;
  const closers: Array<() => Promise<unknown>> = [];

  after(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('after a crash, confirmed acks stay acked and every other message is delivered', { timeout: 60_000 }, async () => {
    server = await startServer({ dataDir, args: GRPC });
    const before = pubsubClient(server);
    closers.push(() => before.close());
    const raw = await rawClients(before);
    closers.push(() => raw.publisher.close(), () => raw.subscriber.close());

    const [topic] = await before.createTopic('durable-topic');
    // A long deadline: nothing pulled before the crash comes back on its own before it.
    const [subscription] = await topic.createSubscription('durable-sub', { ackDeadlineSeconds: 600 });

    const published: string[] = [];
    for (let first = 0; first < N; first += 1_000) {
      const messages = Array.from({ length: Math.min(1_000, N - first) }, (_, k) => ({ data: Buffer.from(`m-${first + k}`) }));
      const [res] = await raw.publisher.publish({ topic: topic.name, messages });
      published.push(...(res.messageIds ?? []));
    }
    assert.equal(new Set(published).size, N, 'every message has its own ID');

    // Half-way through the backlog: ack every other pulled message, one confirmed Acknowledge per pull.
    const confirmed = new Set<string>();
    const pulled = new Set<string>();
    const ackOf = async (messages: Array<{ ackId: string; id: string }>): Promise<void> => {
      await raw.subscriber.acknowledge({ subscription: subscription.name, ackIds: messages.map((m) => m.ackId) });
      for (const m of messages) confirmed.add(m.id);
    };
    const pullBatch = async (): Promise<Array<{ ackId: string; id: string }>> => {
      const [res] = await raw.subscriber.pull({ subscription: subscription.name, maxMessages: PULL_BATCH });
      const batch = (res.receivedMessages ?? []).map((r) => ({ ackId: r.ackId ?? '', id: r.message?.messageId ?? '' }));
      for (const m of batch) pulled.add(m.id);
      return batch;
    };
    while (pulled.size < KILL_AFTER_PULLED) {
      const batch = await pullBatch();
      await ackOf(batch.filter((_, k) => k % 2 === 0));
    }
    // The crash lands while this Acknowledge is on its way: its acks may or may not have been committed.
    const inFlight = (await pullBatch()).filter((_, k) => k % 2 === 0);
    const pending = ackOf(inFlight).then(
      () => 'committed',
      () => 'failed',
    );
    await server.kill();
    const inFlightOutcome = await pending;
    assert.ok(confirmed.size >= KILL_AFTER_PULLED / 2, `${confirmed.size} confirmed acks before the crash`);
    const undetermined = new Set(inFlightOutcome === 'committed' ? [] : inFlight.map((m) => m.id));
    const mustArrive = published.filter((id) => !confirmed.has(id) && !undetermined.has(id));
    assert.ok(mustArrive.some((id) => !pulled.has(id)) && mustArrive.some((id) => pulled.has(id)), 'the crash left both pulled-unacked and never-pulled messages');

    server = await startServer({ dataDir, args: GRPC });
    const afterCrash = pubsubClient(server);
    closers.push(() => afterCrash.close());
    const drained = new Map<string, number>();
    let sentinelSeen = false;
    let resolveDone: () => void = () => undefined;
    const done = new Promise<void>((resolve) => {
      resolveDone = resolve;
    });
    const missing = new Set(mustArrive);
    const drainer = afterCrash.subscription('durable-sub');
    let streamError: Error | undefined;
    drainer.on('error', (e: Error) => {
      streamError = e;
      resolveDone();
    });
    drainer.on('message', (m: Message) => {
      drained.set(m.id, (drained.get(m.id) ?? 0) + 1);
      missing.delete(m.id);
      if (m.data.toString() === 'sentinel') sentinelSeen = true;
      m.ack();
      // A message published after the restart comes after the older backlog: once it and every
      // expected message are here, a redelivered acked message would have shown up too.
      if (missing.size === 0 && sentinelSeen) resolveDone();
    });
    const sentinelId = await afterCrash.topic('durable-topic').publishMessage({ data: Buffer.from('sentinel') });
    const timer = setTimeout(resolveDone, WAIT_MS);
    await done;
    clearTimeout(timer);
    await drainer.close();
    assert.equal(streamError, undefined, `the subscriber failed: ${streamError?.message ?? ''}`);

    assert.deepEqual([...missing].slice(0, 10), [], `${missing.size} unacked messages were lost (first IDs shown)`);
    assert.ok(sentinelSeen && drained.has(sentinelId), 'the message published after the restart arrived');
    const redelivered = [...confirmed].filter((id) => drained.has(id));
    assert.deepEqual(redelivered.slice(0, 10), [], `${redelivered.length} messages acked before the crash were redelivered (first IDs shown)`);
    const known = new Set([...published, sentinelId]);
    assert.deepEqual([...drained.keys()].filter((id) => !known.has(id)), [], 'only messages of the topic were delivered');

    // Everything is acked now: the subscription holds nothing more to pull.
    const check = await rawClients(afterCrash);
    closers.push(() => check.subscriber.close(), () => check.publisher.close());
    const [rest] = await check.subscriber.pull({ subscription: subscription.name, maxMessages: 10, returnImmediately: true });
    assert.deepEqual(rest.receivedMessages ?? [], [], 'nothing left to deliver after the drain');
  });
});

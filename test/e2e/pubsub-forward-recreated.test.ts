import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PubSub } from '@google-cloud/pubsub';
import { startCluster, type TestCluster } from '../support/cluster.js';
import { Collector, PS_PROJECT, startPubSubServer, type PubSubServer } from '../support/pubsub.js';
import type { StartedServer } from '../support/server.js';

/**
 * A forwarded topic deleted and created again (docs/compat.md C-PS-FORWARD): its forwarding
 * subscription, left on _deleted-topic_, is replaced, and what is published to the new topic
 * reaches the target, on one node (running, and after a restart) and on two nodes that both run
 * the forwarder. A second Bridgehead stands in for Google; the real @google-cloud/pubsub client
 * runs on both ends.
 */

const LOCAL_ID = 'fwd-telemetry';
const LOCAL = `projects/${PS_PROJECT}/topics/${LOCAL_ID}`;
const TARGET = `projects/${PS_PROJECT}/topics/fwd-in-google`;
const FORWARD_SUB = `projects/${PS_PROJECT}/subscriptions/bridgehead-forward-${LOCAL_ID}`;
/** The forwarder looks every 5 s and reopens 5 s after its stream ended: well inside this. */
const WAIT_MS = 40_000;

async function standIn(): Promise<{ google: PubSubServer; backend: Collector; forwardArg: string[] }> {
  const google = await startPubSubServer();
  await google.pubsub.createTopic('fwd-in-google');
  await google.pubsub.topic('fwd-in-google').createSubscription('backend');
  const backend = new Collector(google.pubsub.subscription('backend'));
  return { google, backend, forwardArg: ['--pubsub-forward', `${LOCAL}=${TARGET}@http://${google.endpoint}`] };
}

/** Resolves once every payload in `want` reached the target (at least once: duplicates allowed). */
async function arrived(backend: Collector, want: string[]): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const got = new Set(backend.messages.map((m) => m.data.toString()));
    const missing = want.filter((w) => !got.has(w));
    if (missing.length === 0) return;
    if (Date.now() > deadline) throw new Error(`never forwarded: ${missing.join(', ')}; forwarded: ${[...got].join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const publish = async (pubsub: PubSub, ...payloads: string[]): Promise<void> => {
  for (const p of payloads) await pubsub.topic(LOCAL_ID).publishMessage({ data: Buffer.from(p) });
};

async function forwardSubscriptions(pubsub: PubSub): Promise<{ name: string; topic: string }[]> {
  const [subs] = await pubsub.getSubscriptions();
  return subs.filter((s) => s.name === FORWARD_SUB).map((s) => ({ name: s.name, topic: String(s.metadata?.topic) }));
}

describe('a forwarded topic deleted and created again, on one node', { timeout: 180_000 }, () => {
  let google: PubSubServer;
  let backend: Collector;
  let forwardArg: string[];
  let local: PubSubServer;
  const dataDir = mkdtempSync(join(tmpdir(), 'bridgehead-fwd-'));

  before(async () => {
    ({ google, backend, forwardArg } = await standIn());
    local = await startPubSubServer({ dataDir, args: forwardArg });
  });
  after(async () => {
    await backend?.close();
    await local?.cleanup();
    await google?.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('forwarded again while running, including what was published before the forwarder noticed', async () => {
    await publish(local.pubsub, 'before');
    await arrived(backend, ['before']);
    await local.pubsub.topic(LOCAL_ID).delete();
    await local.pubsub.createTopic(LOCAL_ID);
    await publish(local.pubsub, 'after-1', 'after-2');
    await arrived(backend, ['after-1', 'after-2']);
    assert.deepEqual(await forwardSubscriptions(local.pubsub), [{ name: FORWARD_SUB, topic: LOCAL }]);
  });

  test('deleted, then the server restarted: forwarded again (the topic is created at start, as configured)', async () => {
    await local.pubsub.topic(LOCAL_ID).delete();
    await local.pubsub.close();
    await local.server.stop();
    local = await startPubSubServer({ dataDir, args: forwardArg });
    assert.deepEqual(await forwardSubscriptions(local.pubsub), [{ name: FORWARD_SUB, topic: LOCAL }]);
    await publish(local.pubsub, 'after-restart');
    await arrived(backend, ['after-restart']);
  });
});

describe('a forwarded topic deleted and created again, on two nodes that both forward', { timeout: 240_000 }, () => {
  let google: PubSubServer;
  let backend: Collector;
  let cluster: TestCluster;
  const clients: PubSub[] = [];

  const client = (node: StartedServer): PubSub => {
    const c = new PubSub({ projectId: PS_PROJECT, apiEndpoint: String(node.info.grpc).replace(/^grpc:\/\//, ''), emulatorMode: true });
    clients.push(c);
    return c;
  };

  before(async () => {
    let forwardArg: string[];
    ({ google, backend, forwardArg } = await standIn());
    cluster = await startCluster({ nodes: 2, args: forwardArg, fastPostgres: true });
  });
  after(async () => {
    await backend?.close();
    await Promise.all(clients.map((c) => c.close()));
    await cluster?.cleanup();
    await google?.cleanup();
  });

  test('both nodes replace the subscription at once: one replacement stands, and what is published through either node is forwarded', async () => {
    const [A, B] = cluster.nodes as [StartedServer, StartedServer];
    const a = client(A);
    const b = client(B);
    await publish(a, 'c-before');
    await arrived(backend, ['c-before']);
    for (const round of [1, 2]) {
      await a.topic(LOCAL_ID).delete();
      await b.createTopic(LOCAL_ID);
      await publish(b, `c${round}-after-b1`);
      await publish(a, `c${round}-after-a1`);
      await arrived(backend, [`c${round}-after-b1`, `c${round}-after-a1`]);
      // Once both nodes moved on to the new subscription (their streams on the old one ended), what
      // either node receives is still forwarded.
      await new Promise((r) => setTimeout(r, 12_000));
      const later = Array.from({ length: 10 }, (_, i) => `c${round}-later-${i}`);
      for (const [i, p] of later.entries()) await publish(i % 2 ? a : b, p);
      await arrived(backend, later);
      assert.deepEqual(await forwardSubscriptions(b), [{ name: FORWARD_SUB, topic: LOCAL }]);
    }
  });
});

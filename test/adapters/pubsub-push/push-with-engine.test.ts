import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { pino } from 'pino';
import { PushDelivery } from '../../../src/adapters/pubsub-push/push-delivery.js';
import type { PushEnvelope } from '../../../src/adapters/pubsub-push/push-envelope.js';
import { HttpPushPoster } from '../../../src/adapters/pubsub-push/push-http.js';
import { observeSubscriptionWrites } from '../../../src/adapters/pubsub-push/subscription-write-observer.js';
import { MemoryMessageLog } from '../../../src/adapters/sinks/memory-log/memory-message-log.js';
import { MemoryPubSubStore } from '../../../src/adapters/store/memory/memory-pubsub-store.js';
import { systemClock, systemTimers } from '../../../src/adapters/timers/system-timers.js';
import type { PsSubscription } from '../../../src/domain/pubsub/pubsub-model.js';
import { LogSubscriptionEngine } from '../../../src/services/pubsub/subscription-engine.js';

/*
 * Push delivery over the real SubscriptionEngine (memory store and log, real timers): the retry
 * policy's backoff between failed pushes and dead-lettering after max attempts are the engine's,
 * and these tests check that push delivery drives them as a pull consumer would.
 */

const TOPIC = 'projects/p/topics/telemetry';
const DLQ = 'projects/p/topics/dead-letters';
const SUB = 'projects/p/subscriptions/pushed';

interface Hit {
  at: number;
  envelope: PushEnvelope;
  /** Requests the endpoint still had open when this one arrived. */
  alongside: number;
  res: ServerResponse;
}

class Receiver {
  readonly hits: Hit[] = [];
  /** Per request in turn: a status, or undefined to leave the request unanswered. */
  statuses: (number | undefined)[] = [];
  fallback: number | undefined = 204;
  open = 0;
  maxOpen = 0;
  private readonly server: Server;
  private waiters: (() => void)[] = [];

  constructor() {
    this.server = createServer((req, res: ServerResponse) => {
      // Counted from the headers on, until the connection is gone: the strictest view of overlap.
      const alongside = this.open++;
      this.maxOpen = Math.max(this.maxOpen, this.open);
      res.on('close', () => this.open--);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.hits.push({ at: Date.now(), envelope: JSON.parse(Buffer.concat(chunks).toString('utf8')) as PushEnvelope, alongside, res });
        const status = this.statuses.length > 0 ? this.statuses.shift() : this.fallback;
        if (status !== undefined) res.writeHead(status).end();
        for (const w of this.waiters.splice(0)) w();
      });
    });
  }

  async listen(): Promise<string> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/push`;
  }

  async count(n: number): Promise<void> {
    while (this.hits.length < n) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}

let receiver: Receiver;
let endpoint: string;
let store: MemoryPubSubStore;
let log: MemoryMessageLog;
let engine: LogSubscriptionEngine;
let delivery: PushDelivery;
let admin: MemoryPubSubStore;
let commits: EventEmitter;

const publish = (text: string, attributes: Record<string, string> = {}, orderingKey?: string): Promise<string[]> =>
  log.append([{ topic: TOPIC, attributes, data: new TextEncoder().encode(text), publishTime: Date.now(), ...(orderingKey === undefined ? {} : { orderingKey }) }]);

async function createSub(over: Partial<PsSubscription>): Promise<void> {
  await admin.createSubscription({
    name: SUB,
    topic: TOPIC,
    ackDeadlineSeconds: 10,
    retainAckedMessages: false,
    messageRetentionMs: 86_400_000,
    labels: {},
    filter: '',
    enableMessageOrdering: false,
    deadLetterPolicy: undefined,
    retryPolicy: { minimumBackoffMs: 100, maximumBackoffMs: 400 },
    pushConfig: { pushEndpoint: endpoint, attributes: {}, oidcToken: undefined },
    detached: false,
    startSeq: await log.headSeq(TOPIC),
    createTime: Date.now(),
    ...over,
  });
  await delivery.pushConfigChanged(SUB);
}

beforeEach(async () => {
  receiver = new Receiver();
  endpoint = await receiver.listen();
  store = new MemoryPubSubStore();
  log = new MemoryMessageLog();
  for (const name of [TOPIC, DLQ]) await store.createTopic({ name, labels: {}, messageRetentionMs: undefined, createTime: Date.now() });
  // Ack commits reach the store through this wrapper, so tests can wait for them.
  commits = new EventEmitter();
  const observed = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'recordAcks') {
        return async (subscription: string, acked: readonly number[], floor: number) => {
          await target.recordAcks(subscription, acked, floor);
          commits.emit('acks', floor);
        };
      }
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  engine = new LogSubscriptionEngine({ store: observed, log, sink: log, clock: systemClock, timers: systemTimers });
  delivery = new PushDelivery({ source: store, engine, poster: new HttpPushPoster(10), tokens: undefined, maxOutstandingPerSubscription: 5, log: pino({ level: 'silent' }) });
  // What the admin writes through in the server: subscription writes reach push delivery.
  admin = observeSubscriptionWrites(store, (name) => void delivery.pushConfigChanged(name));
  await delivery.start();
});

afterEach(async () => {
  await delivery.close();
  await engine.close();
  await receiver.close();
});

describe('push delivery over the SubscriptionEngine', () => {
  test('2xx acks: the message is not pushed again and the backlog is empty', async () => {
    await createSub({});
    const [id] = await publish('hello', { deviceId: 'dev-1' });
    await receiver.count(1);
    assert.equal(Buffer.from(receiver.hits[0]!.envelope.message.data, 'base64').toString(), 'hello');
    assert.deepEqual(receiver.hits[0]!.envelope.message.attributes, { deviceId: 'dev-1' });
    // Acks of a stream are committed in the background, within ~50 ms.
    while ((await store.loadAckState(SUB)).floor < Number(id)) await once(commits, 'acks');
    assert.equal(await engine.backlog(SUB), 0);
    assert.equal(receiver.hits.length, 1);
  });

  test('500, 503, then 200: redelivered after the retry policy\'s growing backoff, then acked', async () => {
    await createSub({});
    receiver.statuses = [500, 503, 200];
    await publish('flaky');
    await receiver.count(3);
    const [a, b, c] = receiver.hits.map((h) => h.at);
    assert.ok(b! - a! >= 90, `first backoff ${b! - a!} ms, the policy's minimum is 100 ms`);
    assert.ok(c! - b! >= 190, `second backoff ${c! - b!} ms, should have doubled`);
    assert.deepEqual(new Set(receiver.hits.map((h) => h.envelope.message.messageId)).size, 1);
  });

  test('dead-lettered after maxDeliveryAttempts failed pushes, with deliveryAttempt counted in the envelope', async () => {
    await createSub({ deadLetterPolicy: { deadLetterTopic: DLQ, maxDeliveryAttempts: 5 } });
    receiver.fallback = 500;
    const deadLettered = new Promise<void>((resolve) => {
      const stop = log.watch(DLQ, () => {
        stop();
        resolve();
      });
    });
    const [id] = await publish('poison');
    await receiver.count(5);
    assert.deepEqual(receiver.hits.map((h) => h.envelope.deliveryAttempt), [1, 2, 3, 4, 5]);
    await deadLettered;
    const dead = await log.read(DLQ, 0, 10);
    assert.equal(dead.length, 1);
    assert.equal(new TextDecoder().decode(dead[0]!.data), 'poison');
    assert.equal(receiver.hits.every((h) => h.envelope.message.messageId === id), true);
  });

  test('ordering: a key\'s redelivery after a timed-out push starts only once that request is closed', async () => {
    // A fractional deadline keeps the test short; real ones are 10..600 s. No retry policy: the
    // redelivery follows the nack at once, as close as it can get to the abandoned request.
    await createSub({ ackDeadlineSeconds: 0.2, enableMessageOrdering: true, retryPolicy: undefined });
    receiver.statuses = [undefined, undefined, undefined, undefined, undefined, undefined];
    receiver.fallback = 200;
    const [id] = await publish('in order', {}, 'device-1');
    await receiver.count(7);
    assert.equal(receiver.hits.every((h) => h.envelope.message.messageId === id), true);
    assert.deepEqual(
      receiver.hits.map((h) => h.alongside),
      [0, 0, 0, 0, 0, 0, 0],
      'a redelivery of the key arrived while the endpoint still held an earlier request of it',
    );
  });

  /**
   * Publishes `messages` to a new push subscription whose endpoint holds every request open, and
   * waits until the bound (5) is in flight; returns the message IDs and the ack state before them.
   */
  async function holdBound(messages: number): Promise<{ ids: string[]; start: Awaited<ReturnType<typeof engine.ackState>> }> {
    await createSub({});
    const start = await engine.ackState(SUB);
    receiver.fallback = undefined;
    const ids: string[] = [];
    for (let k = 0; k < messages; k++) ids.push(...(await publish(`m${k}`)));
    await receiver.count(5);
    return { ids, start };
  }

  /** With 5 requests held: two end and exactly two take their place; then every request is answered. */
  async function twoEndThenAll(): Promise<void> {
    for (const h of receiver.hits.slice(0, 2)) h.res.writeHead(204).end();
    await receiver.count(7);
    // Room for a consumer that overshoots to show it.
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(receiver.hits.length, 7);
    receiver.fallback = 204;
    for (const h of receiver.hits.slice(2)) h.res.writeHead(204).end();
  }

  /** holdBound, then a Seek back to before every message; returns the message IDs. */
  async function seekWhileHeld(messages: number): Promise<string[]> {
    const { ids, start } = await holdBound(messages);
    await engine.seek(SUB, start);
    // Room for a consumer that overshoots to show it (the engine reads the log again first).
    await new Promise((resolve) => setTimeout(resolve, 100));
    return ids;
  }

  test('a new ack deadline reopens the consumer: the requests the old one still has out count against the bound until they end', async () => {
    const { ids } = await holdBound(20);
    for (let seconds = 11; seconds <= 15; seconds++) {
      const sub = (await store.getSubscription(SUB))!;
      await admin.updateSubscription({ ...sub, ackDeadlineSeconds: seconds });
      await delivery.pushConfigChanged(SUB);
      // Room for a consumer that overshoots to show it.
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(receiver.hits.length, 5, `after the deadline became ${seconds} s`);
    }
    assert.deepEqual(delivery.active, [], 'no room left for a consumer yet');
    // The first consumer's requests end now; the next consumer takes their room as they do.
    receiver.fallback = 200;
    for (const h of receiver.hits.slice(0, 5)) h.res.writeHead(200).end();
    await receiver.count(20);
    while ((await store.loadAckState(SUB)).floor < Number(ids.at(-1))) await once(commits, 'acks');
    assert.equal(receiver.maxOpen, 5);
    assert.deepEqual(receiver.hits.map((h) => h.envelope.message.messageId).sort(), [...ids].sort(), 'each message pushed once');
    assert.equal(await engine.backlog(SUB), 0);
  });

  test('back to pull and to push again while requests are out: the new consumer waits for their room', async () => {
    const { ids } = await holdBound(10);
    const { pushConfig } = (await store.getSubscription(SUB))!;
    await admin.updateSubscription({ ...(await store.getSubscription(SUB))!, pushConfig: undefined });
    await delivery.pushConfigChanged(SUB);
    await admin.updateSubscription({ ...(await store.getSubscription(SUB))!, pushConfig });
    await delivery.pushConfigChanged(SUB);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(receiver.hits.length, 5);
    await twoEndThenAll();
    await receiver.count(10);
    while ((await store.loadAckState(SUB)).floor < Number(ids.at(-1))) await once(commits, 'acks');
    assert.equal(receiver.maxOpen, 5);
    assert.deepEqual(receiver.hits.map((h) => h.envelope.message.messageId).sort(), [...ids].sort(), 'each message pushed once');
  });

  test('a Seek while requests are out: they count against the bound until they end, and what it redelivers waits for their room', async () => {
    const ids = await seekWhileHeld(8);
    assert.equal(receiver.hits.length, 5, 'the requests from before the seek still take the whole bound');
    await twoEndThenAll();
    // Acks made before the seek were of leases it dropped: every message is acked again after it.
    while ((await store.loadAckState(SUB)).floor < Number(ids.at(-1))) await once(commits, 'acks');
    assert.equal(receiver.maxOpen, 5);
    assert.equal(await engine.backlog(SUB), 0);
    assert.deepEqual(receiver.hits.slice(5).map((h) => h.envelope.message.messageId).sort(), [...ids].sort(), 'each message pushed once after the seek');
  });

  test('what a Seek redelivered while the bound was taken goes back to the engine, unsent, when the consumer closes', async () => {
    const ids = await seekWhileHeld(5);
    await admin.updateSubscription({ ...(await store.getSubscription(SUB))!, pushConfig: undefined });
    await delivery.pushConfigChanged(SUB);
    // Left to their leases they would come back only after the ack deadline (10 s).
    const pulled: string[] = [];
    const until = Date.now() + 3000;
    while (pulled.length < ids.length && Date.now() < until) {
      for (const r of await engine.pull(SUB, 10, 500)) pulled.push(r.message.messageId);
    }
    assert.deepEqual(pulled.sort(), [...ids].sort());
    assert.equal(receiver.hits.length, 5, 'nothing was pushed after the seek');
  });

  test('a subscription created, switched to pull and deleted through the store is followed', async () => {
    await createSub({});
    assert.deepEqual(delivery.active, [SUB]);
    const sub = (await store.getSubscription(SUB))!;
    await admin.updateSubscription({ ...sub, pushConfig: undefined });
    await delivery.pushConfigChanged(SUB);
    assert.deepEqual(delivery.active, []);
    await admin.deleteSubscription(SUB);
  });
});

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { pino } from 'pino';
import { PushDelivery, type PushSubscriptionSource } from '../../../src/adapters/pubsub-push/push-delivery.js';
import type { PushEnvelope } from '../../../src/adapters/pubsub-push/push-envelope.js';
import { PUSH_LEASE_MARGIN_MS } from '../../../src/adapters/pubsub-push/push-consumer.js';
import { HttpPushPoster } from '../../../src/adapters/pubsub-push/push-http.js';
import { PushTokenSigner } from '../../../src/adapters/pubsub-push/push-token-signer.js';
import { ApiError } from '../../../src/domain/errors.js';
import type { PsSubscription, PushConfig } from '../../../src/domain/pubsub/pubsub-model.js';
import { FakeSubscriptionEngine } from '../../support/fake-subscription-engine.js';

const SUB = 'projects/p/subscriptions/pushed';
const dir = mkdtempSync(join(tmpdir(), 'bridgehead-push-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Received {
  envelope: PushEnvelope;
  headers: IncomingMessage['headers'];
  res: ServerResponse;
}

/** A push endpoint on a free port; each request is handed to the test, which answers it. */
class Receiver {
  readonly server: Server;
  readonly requests: Received[] = [];
  private waiters: (() => void)[] = [];
  inFlight = 0;
  maxInFlight = 0;
  answer: ((r: Received) => number | undefined) | undefined = () => 204;

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.inFlight++;
        this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
        res.on('close', () => this.inFlight--);
        const r: Received = { envelope: JSON.parse(Buffer.concat(chunks).toString('utf8')) as PushEnvelope, headers: req.headers, res };
        this.requests.push(r);
        const status = this.answer?.(r);
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

  async requestCount(n: number): Promise<Received[]> {
    while (this.requests.length < n) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.requests.slice(0, n);
  }

  async close(): Promise<void> {
    // Stop accepting first: a POST connecting between the two calls would otherwise be accepted
    // after closeAllConnections and hold 'close' (and the test) open for ever.
    const closed = once(this.server, 'close');
    this.server.close();
    this.server.closeAllConnections();
    await closed;
  }
}

/** Bounded waits: a step that never ends fails the test, saying which and what had arrived. */
async function within<T>(p: Promise<T>, what: string, ms = 8000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: not done after ${ms} ms (requests received: ${receiver.requests.length}, consumers: ${JSON.stringify(delivery?.active)})`)),
      ms,
    );
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

class Source implements PushSubscriptionSource {
  readonly subs = new Map<string, PsSubscription>();
  async getSubscription(name: string): Promise<PsSubscription | undefined> {
    return this.subs.get(name);
  }
  async listAllSubscriptions(after: string | undefined, limit: number) {
    const items = [...this.subs.values()].filter((s) => after === undefined || s.name > after).sort((a, b) => (a.name < b.name ? -1 : 1));
    const page = items.slice(0, limit);
    return { items: page, next: items.length > limit ? page.at(-1)!.name : undefined };
  }
}

function subscription(name: string, pushConfig: PushConfig | undefined, ackDeadlineSeconds = 10): PsSubscription {
  return {
    name,
    topic: 'projects/p/topics/t1',
    ackDeadlineSeconds,
    retainAckedMessages: false,
    messageRetentionMs: 7 * 86_400_000,
    labels: {},
    filter: '',
    enableMessageOrdering: false,
    deadLetterPolicy: undefined,
    retryPolicy: undefined,
    pushConfig,
    detached: false,
    startSeq: 0,
    createTime: 0,
    revision: 1,
  };
}

const log = pino({ level: 'silent' });

let receiver: Receiver;
let endpoint: string;
let engine: FakeSubscriptionEngine;
let source: Source;
let delivery: PushDelivery;

function startDelivery(opts: { maxOutstanding?: number; signer?: PushTokenSigner; maxSockets?: number; reopenDelayMs?: number } = {}): PushDelivery {
  delivery = new PushDelivery({
    source,
    engine,
    poster: new HttpPushPoster(opts.maxSockets ?? 50),
    tokens: opts.signer && ((aud, email) => opts.signer!.token(aud, email, Date.now())),
    maxOutstandingPerSubscription: opts.maxOutstanding ?? 10,
    log,
    reopenDelayMs: opts.reopenDelayMs,
  });
  return delivery;
}

beforeEach(async () => {
  receiver = new Receiver();
  endpoint = await receiver.listen();
  engine = new FakeSubscriptionEngine();
  source = new Source();
});

afterEach(async () => {
  await within(delivery?.close() ?? Promise.resolve(), 'closing the delivery');
  await within(receiver.close(), 'closing the receiver');
});

describe('PushDelivery', () => {
  test('POSTs each message in the push envelope and acks on 2xx', async () => {
    source.subs.set(SUB, subscription(SUB, { pushEndpoint: endpoint, attributes: {}, oidcToken: undefined }));
    source.subs.set('projects/p/subscriptions/pulled', subscription('projects/p/subscriptions/pulled', undefined));
    await startDelivery().start();
    assert.deepEqual(delivery.active, [SUB]);
    const statuses = [200, 201, 202, 204];
    let i = 0;
    receiver.answer = () => statuses[i++];
    const published = statuses.map((_, k) => engine.publish(SUB, `m${k}`, { deviceId: 'dev-1' }));
    const acked = await engine.next('ack', 4);
    assert.deepEqual(acked.map((m) => m.seq).sort(), published.map((m) => m.seq));
    const first = receiver.requests.find((r) => r.envelope.message.messageId === published[0]!.messageId)!;
    assert.deepEqual(first.envelope, {
      message: {
        data: Buffer.from('m0').toString('base64'),
        attributes: { deviceId: 'dev-1' },
        messageId: published[0]!.messageId,
        message_id: published[0]!.messageId,
        publishTime: new Date(published[0]!.publishTime).toISOString(),
        publish_time: new Date(published[0]!.publishTime).toISOString(),
      },
      subscription: SUB,
      deliveryAttempt: 1,
    });
    assert.equal(first.headers['content-type'], 'application/json');
    assert.equal(first.headers.authorization, undefined);
    assert.equal(engine.nacked.length, 0);
  });

  test('102 Processing acks without waiting for a final answer', async () => {
    source.subs.set(SUB, subscription(SUB, { pushEndpoint: endpoint, attributes: {}, oidcToken: undefined }));
    await startDelivery().start();
    receiver.answer = (r) => {
      r.res.writeProcessing();
      return undefined;
    };
    const m = engine.publish(SUB, 'processing');
    const [acked] = await engine.next('ack');
    assert.equal(acked!.seq, m.seq);
  });

  test('a 500 nacks; the redelivery that gets a 200 is acked', async () => {
    source.subs.set(SUB, subscription(SUB, { pushEndpoint: endpoint, attributes: {}, oidcToken: undefined }));
    await startDelivery().start();
    let calls = 0;
    receiver.answer = () => (++calls === 1 ? 500 : 200);
    const m = engine.publish(SUB, 'retry me');
    const [nacked] = await engine.next('nack');
    assert.equal(nacked!.seq, m.seq);
    const [acked] = await engine.next('ack');
    assert.equal(acked!.seq, m.seq);
    assert.deepEqual(
      receiver.requests.map((r) => r.envelope.deliveryAttempt),
      [1, 2],
    );
  });

  test('an endpoint that never answers: the request is abandoned at the ack deadline and the message nacked', async () => {
    // A fractional deadline keeps the test short; real ones are 10..600 s.
    source.subs.set(SUB, subscription(SUB, { pushEndpoint: endpoint, attributes: {}, oidcToken: undefined }, 0.2));
    await startDelivery().start();
    receiver.answer = () => undefined;
    const m = engine.publish(SUB, 'silence');
    const [nacked] = await engine.next('nack');
    assert.equal(nacked!.seq, m.seq);
    assert.equal(engine.acked.length, 0);
  });

  test('connection refused nacks', async () => {
    await receiver.close();
    receiver = new Receiver();
    const deadEndpoint = endpoint;
    endpoint = await receiver.listen();
    source.subs.set(SUB, subscription(SUB, { pushEndpoint: deadEndpoint, attributes: {}, oidcToken: undefined }));
    await startDelivery().start();
    engine.publish(SUB, 'nobody home');
    await engine.next('nack');
  });

  test('at most maxOutstanding POSTs in flight per subscription', async () => {
    source.subs.set(SUB, subscription(SUB, { pushEndpoint: endpoint, attributes: {}, oidcToken: undefined }));
    await startDelivery({ maxOutstanding: 3 }).start();
    receiver.answer = () => undefined;
    for (let k = 0; k < 10; k++) engine.publish(SUB, `m${k}`);
    const held = await receiver.requestCount(3);
    // Give the consumer every chance to overshoot: more requests would have arrived by now.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(receiver.requests.length, 3);
    receiver.answer = () => 200;
    for (const r of held) r.res.writeHead(200).end();
    await engine.next('ack', 10);
    assert.equal(receiver.maxInFlight, 3);
    assert.equal(engine.maxOutstandingSeen, 3);
  });

  test('a stream the engine ended is reopened with the room its requests still out leave, and more as they end', async () => {
    source.subs.set(SUB, subscription(SUB, { pushEndpoint: endpoint, attributes: {}, oidcToken: undefined }));
    await startDelivery({ maxOutstanding: 3, reopenDelayMs: 10 }).start();
    receiver.answer = () => undefined;
    for (let k = 0; k < 6; k++) engine.publish(SUB, `m${k}`);
    const held = await within(receiver.requestCount(3), 'the first three');
    engine.end(SUB, new ApiError('UNAVAILABLE', 'a blip'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(receiver.requests.length, 3);
    assert.equal(engine.openConsumers(SUB), 0, 'no room: the consumer waits');
    held[0]!.res.writeHead(200).end();
    await within(receiver.requestCount(4), 'one request in its place');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(receiver.requests.length, 4);
    held[1]!.res.writeHead(200).end();
    await within(receiver.requestCount(5), 'another one in its place');
    receiver.answer = () => 200;
    for (const r of receiver.requests.slice(2)) r.res.writeHead(200).end();
    const acked = await within(engine.next('ack', 6), 'all acked');
    assert.equal(new Set(acked.map((m) => m.seq)).size, 6);
    assert.equal(receiver.requests.length, 6, 'each message pushed once');
    assert.equal(receiver.maxInFlight, 3);
    assert.equal(engine.nacked.length, 0);
  });

  for (const when of ['while open runs', 'a microtask after open resolves'] as const) {
    test(`a stream the engine ends ${when} is reopened after the delay, not kept dead`, async () => {
      source.subs.set(SUB, subscription(SUB, { pushEndpoint: endpoint, attributes: {}, oidcToken: undefined }));
      let opens = 0;
      engine.onOpen = (name) => {
        if (++opens > 1) return;
        const end = (): void => engine.end(name, new ApiError('UNAVAILABLE', 'a blip while opening'));
        if (when === 'while open runs') end();
        else queueMicrotask(end);
      };
      await startDelivery({ reopenDelayMs: 10 }).start();
      assert.deepEqual(delivery.active, [], 'its dead stream is not taken for a consumer');
      const m = engine.publish(SUB, 'after the blip');
      const [acked] = await within(engine.next('ack'), 'pushed by the reopened consumer');
      assert.equal(acked!.seq, m.seq);
      assert.equal(opens, 2);
      assert.deepEqual(delivery.active, [SUB]);
    });
  }

  test('a stream the engine ends NOT_FOUND while it opens is dropped, not reopened', async () => {
    source.subs.set(SUB, subscription(SUB, { pushEndpoint: endpoint, attributes: {}, oidcToken: undefined }));
    let opens = 0;
    engine.onOpen = (name) => {
      opens++;
      engine.end(name, new ApiError('NOT_FOUND', 'deleted while opening'));
    };
    await startDelivery({ reopenDelayMs: 10 }).start();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(delivery.active, []);
    assert.equal(opens, 1);
  });

  /** A push subscription bounded to 3 in flight, and three messages whose requests the endpoint holds. */
  async function threeHeld(): Promise<{ published: ReturnType<typeof engine.publish>[]; held: Awaited<ReturnType<typeof receiver.requestCount>> }> {
    source.subs.set(SUB, subscription(SUB, { pushEndpoint: endpoint, attributes: {}, oidcToken: undefined }));
    await startDelivery({ maxOutstanding: 3 }).start();
    receiver.answer = () => undefined;
    const published = [0, 1, 2].map((k) => engine.publish(SUB, `m${k}`));
    const held = await within(receiver.requestCount(3), 'the first three');
    return { published, held };
  }

  test('a Seek while the bound is taken: what it redelivers waits for a request to end, then is sent with a whole lease', async () => {
    const { published, held } = await threeHeld();
    engine.seek(SUB);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(receiver.requests.length, 3, 'the requests from before the seek still take the bound');
    assert.equal(engine.extended.length, 0);
    held[0]!.res.writeHead(200).end();
    const fourth = (await within(receiver.requestCount(4), 'one in its place'))[3]!;
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(receiver.requests.length, 4);
    assert.equal(fourth.envelope.message.messageId, published[0]!.messageId);
    // Leased when the seek handed it out, it waited: its lease starts again with its request.
    assert.equal(engine.extended.length, 1);
    assert.ok(engine.extended[0]!.ackId.startsWith(`${published[0]!.seq}-`));
    assert.equal(engine.extended[0]!.seconds, 10 + PUSH_LEASE_MARGIN_MS / 1000);
    receiver.answer = () => 200;
    for (const r of receiver.requests.slice(1)) r.res.writeHead(200).end();
    const acked = await within(engine.next('ack', 3), 'the redeliveries acked');
    assert.deepEqual(acked.map((m) => m.seq).sort(), published.map((m) => m.seq));
    assert.equal(receiver.maxInFlight, 3);
  });

  test('two Seeks while the bound is taken: each message waits once, with its newest lease, and is pushed once more', async () => {
    const { published, held } = await threeHeld();
    engine.seek(SUB);
    await new Promise((resolve) => setTimeout(resolve, 20));
    engine.seek(SUB);
    await new Promise((resolve) => setTimeout(resolve, 20));
    receiver.answer = () => 200;
    for (const r of held) r.res.writeHead(200).end();
    const acked = await within(engine.next('ack', 3), 'the redeliveries acked');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(acked.map((m) => m.seq).sort(), published.map((m) => m.seq));
    const pushed = receiver.requests.slice(3).map((r) => r.envelope.message.messageId);
    assert.deepEqual(pushed.sort(), published.map((m) => m.messageId).sort(), 'after the held three, each message once: no stale lease pushed');
    assert.equal(engine.acked.length, 3, 'every push after the Seeks was acked (none carried a stale ack ID)');
  });

  test('sockets to all endpoints together are bounded by maxSockets', async () => {
    const other = 'projects/p/subscriptions/also-pushed';
    source.subs.set(SUB, subscription(SUB, { pushEndpoint: endpoint, attributes: {}, oidcToken: undefined }));
    source.subs.set(other, subscription(other, { pushEndpoint: endpoint, attributes: {}, oidcToken: undefined }));
    await startDelivery({ maxOutstanding: 10, maxSockets: 2 }).start();
    receiver.answer = () => undefined;
    for (let k = 0; k < 5; k++) {
      engine.publish(SUB, `a${k}`);
      engine.publish(other, `b${k}`);
    }
    const held = await receiver.requestCount(2);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(receiver.requests.length, 2);
    receiver.answer = () => 200;
    for (const r of held) r.res.writeHead(200).end();
    await engine.next('ack', 10);
    assert.equal(receiver.maxInFlight, 2);
  });

  test('oidcToken: a bearer token the JWKS verifies, audience as configured or else the endpoint', async () => {
    const signer = await within(PushTokenSigner.open(dir, 'https://accounts.google.com'), 'the signer');
    const other = 'projects/p/subscriptions/default-audience';
    source.subs.set(SUB, subscription(SUB, { pushEndpoint: endpoint, attributes: {}, oidcToken: { serviceAccountEmail: 'pusher@p.iam.gserviceaccount.com', audience: 'my-receiver' } }));
    source.subs.set(other, subscription(other, { pushEndpoint: endpoint, attributes: {}, oidcToken: { serviceAccountEmail: 'pusher@p.iam.gserviceaccount.com', audience: '' } }));
    await within(startDelivery({ signer }).start(), 'start');
    engine.publish(SUB, 'a');
    engine.publish(other, 'b');
    const requests = await within(receiver.requestCount(2), 'two requests');
    const jwks = createLocalJWKSet(signer.jwks());
    for (const r of requests) {
      const auth = r.headers.authorization ?? '';
      assert.match(auth, /^Bearer /);
      const expected = r.envelope.subscription === SUB ? 'my-receiver' : endpoint;
      const { payload } = await jwtVerify(auth.slice(7), jwks, { audience: expected, issuer: 'https://accounts.google.com' });
      assert.equal(payload.email, 'pusher@p.iam.gserviceaccount.com');
    }
  });

  test('pushConfigChanged follows the store: a new endpoint, then back to pull, then deleted', async () => {
    source.subs.set(SUB, subscription(SUB, { pushEndpoint: endpoint, attributes: {}, oidcToken: undefined }));
    await startDelivery().start();
    const second = new Receiver();
    const secondEndpoint = await second.listen();
    try {
      source.subs.set(SUB, subscription(SUB, { pushEndpoint: secondEndpoint, attributes: { 'x-goog-version': 'v1beta1' }, oidcToken: undefined }));
      await delivery.pushConfigChanged(SUB);
      assert.equal(engine.openConsumers(SUB), 1, 'the consumer is kept: only the endpoint changed');
      engine.publish(SUB, 'to the second');
      const [r] = await second.requestCount(1);
      assert.equal(r!.envelope.message.messageId, undefined, 'v1beta1 envelope');
      await engine.next('ack');
      assert.equal(receiver.requests.length, 0);

      source.subs.set(SUB, subscription(SUB, { pushEndpoint: secondEndpoint, attributes: {}, oidcToken: undefined }, 30));
      await delivery.pushConfigChanged(SUB);
      assert.equal(engine.openConsumers(SUB), 1, 'a new deadline reopens the consumer');

      source.subs.set(SUB, subscription(SUB, undefined));
      await delivery.pushConfigChanged(SUB);
      assert.deepEqual(delivery.active, []);
      assert.equal(engine.openConsumers(SUB), 0);

      source.subs.set(SUB, subscription(SUB, { pushEndpoint: endpoint, attributes: {}, oidcToken: undefined }));
      await delivery.pushConfigChanged(SUB);
      assert.deepEqual(delivery.active, [SUB]);
      source.subs.delete(SUB);
      engine.end(SUB, new ApiError('NOT_FOUND', 'gone'));
      await delivery.pushConfigChanged(SUB);
      assert.deepEqual(delivery.active, []);
    } finally {
      await second.close();
    }
  });

  test('a subscription the engine does not know is skipped without failing the others', async () => {
    const ghost = 'projects/p/subscriptions/ghost';
    source.subs.set(ghost, subscription(ghost, { pushEndpoint: endpoint, attributes: {}, oidcToken: undefined }));
    source.subs.set(SUB, subscription(SUB, { pushEndpoint: endpoint, attributes: {}, oidcToken: undefined }));
    engine.missing.add(ghost);
    await startDelivery().start();
    assert.deepEqual(delivery.active, [SUB]);
  });
});

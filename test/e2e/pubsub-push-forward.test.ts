import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { PushEnvelope } from '../../src/adapters/pubsub-push/push-envelope.js';
import { Collector, freePort, PS_PROJECT, startPubSubServer, type PubSubServer } from '../support/pubsub.js';

/**
 * Push subscriptions and forwarding to Google Pub/Sub on started servers, driven by the real
 * @google-cloud/pubsub client: a local HTTP receiver gets the push requests; a second Bridgehead
 * stands in for Google as the forwarding target, so the real client runs on both ends.
 */

interface Push {
  envelope: PushEnvelope;
  headers: IncomingMessage['headers'];
}

class Receiver {
  readonly pushes: Push[] = [];
  statuses: number[] = [];
  private readonly server: Server;
  private waiters: (() => void)[] = [];

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.pushes.push({ envelope: JSON.parse(Buffer.concat(chunks).toString('utf8')) as PushEnvelope, headers: req.headers });
        res.writeHead(this.statuses.shift() ?? 204).end();
        for (const w of this.waiters.splice(0)) w();
      });
    });
  }

  async listen(): Promise<string> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/push`;
  }

  async count(n: number): Promise<Push[]> {
    while (this.pushes.length < n) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.pushes.slice(0, n);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}

const text = (e: PushEnvelope): string => Buffer.from(e.message.data, 'base64').toString();

describe('push subscriptions on a started server', () => {
  let ps: PubSubServer;
  let receiver: Receiver;
  let endpoint: string;
  before(async () => {
    ps = await startPubSubServer();
    receiver = new Receiver();
    endpoint = await receiver.listen();
  });
  after(async () => {
    await ps.cleanup();
    await receiver.close();
  });

  test('POSTed in the push envelope with a verifiable token; a 500 is retried; back to pull stops the pushes', async () => {
    const [topic] = await ps.pubsub.createTopic('pushed-telemetry');
    const [sub] = await topic.createSubscription('to-webhook', {
      pushConfig: { pushEndpoint: endpoint, oidcToken: { serviceAccountEmail: 'pusher@ps-proj.iam.gserviceaccount.com', audience: 'https://receiver.example' } },
    });
    receiver.statuses = [500];
    const ids = await Promise.all(['one', 'two'].map((t) => topic.publishMessage({ data: Buffer.from(t), attributes: { deviceId: 'dev-1' } })));
    const pushes = await receiver.count(3);
    // 'one' or 'two' got the 500 and came back: both were acked in the end, one twice delivered.
    assert.deepEqual(new Set(pushes.map((p) => text(p.envelope))), new Set(['one', 'two']));
    assert.deepEqual(new Set(pushes.map((p) => p.envelope.message.messageId)), new Set(ids));
    for (const p of pushes) {
      assert.equal(p.envelope.subscription, sub.name);
      assert.deepEqual(p.envelope.message.attributes, { deviceId: 'dev-1' });
      assert.equal(p.envelope.message.message_id, p.envelope.message.messageId);
    }
    const jwks = createRemoteJWKSet(new URL(`${ps.server.api}/oauth2/v3/certs`));
    const { payload } = await jwtVerify(String(pushes[0]!.headers.authorization).replace(/^Bearer /, ''), jwks, {
      audience: 'https://receiver.example',
      issuer: 'https://accounts.google.com',
    });
    assert.equal(payload.email, 'pusher@ps-proj.iam.gserviceaccount.com');

    await sub.modifyPushConfig({});
    const pulled = new Collector(sub);
    await topic.publishMessage({ data: Buffer.from('three') });
    const [m] = await pulled.next(1);
    assert.equal(m!.data.toString(), 'three');
    await pulled.close();
    assert.equal(receiver.pushes.filter((p) => text(p.envelope) === 'three').length, 0, 'a pull subscription is not pushed');
  });
});

describe('forwarding to Google Pub/Sub (a second Bridgehead as the stand-in)', () => {
  let google: PubSubServer;
  let local: PubSubServer;
  let googlePort: number;
  let googleDir: string;
  const TARGET = `projects/${PS_PROJECT}/topics/telemetry-in-google`;

  before(async () => {
    googlePort = await freePort();
    google = await startPubSubServer({ port: googlePort });
    googleDir = google.server.dataDir;
    await google.pubsub.createTopic('telemetry-in-google');
    // As on Google, a subscriber sees the ordering keys' order only on a subscription with ordering enabled.
    await google.pubsub.topic('telemetry-in-google').createSubscription('backend', { enableMessageOrdering: true });
    local = await startPubSubServer({ args: ['--pubsub-forward', `projects/${PS_PROJECT}/topics/telemetry=${TARGET}@http://127.0.0.1:${googlePort}`] });
  });
  after(async () => {
    await local?.cleanup();
    await google?.cleanup();
  });

  async function publishRound(round: number): Promise<void> {
    const publisher = local.pubsub.topic('telemetry', { batching: { maxMessages: 1 } });
    for (let n = 0; n < 10; n++) {
      for (const device of ['3001', '3002', '3003']) {
        await publisher.publishMessage({ data: Buffer.from(`${round}:${device}:${n}`), attributes: { deviceNumId: device, deviceId: `dev-${device}` } });
      }
    }
  }

  function assertInOrder(got: { data: Buffer; attributes: Record<string, string> }[], round: number): void {
    for (const device of ['3001', '3002', '3003']) {
      const own = got.filter((m) => m.attributes.deviceNumId === device).map((m) => m.data.toString()).filter((d) => d.startsWith(`${round}:`));
      const firsts = own.filter((v, i) => own.indexOf(v) === i);
      assert.deepEqual(firsts, [...Array(10).keys()].map((n) => `${round}:${device}:${n}`), `device ${device} in order`);
    }
  }

  test('the topic (created by the forwarder) is republished with its attributes, in order per device', async () => {
    const backend = new Collector(google.pubsub.subscription('backend'));
    let got: Awaited<ReturnType<typeof backend.next>>;
    try {
      await publishRound(1);
      got = await backend.next(30);
    } finally {
      await backend.close();
    }
    assertInOrder(got, 1);
    assert.ok(got.every((m) => m.orderingKey === m.attributes.deviceNumId && m.attributes.deviceId === `dev-${m.attributes.deviceNumId}`));
  });

  test('target down: messages wait in the log (backlog metric); target back: all delivered, in order per device', { timeout: 150_000 }, async () => {
    await google.server.stop();
    await publishRound(2);
    const metrics = await (await fetch(`${local.server.api}/metrics`)).text();
    const backlog = /bridgehead_pubsub_forward_backlog_messages\{[^}]*\} (\d+)/.exec(metrics);
    assert.ok(backlog && Number(backlog[1]) > 0, `backlog while the target is down: ${backlog?.[1]}`);

    google = await startPubSubServer({ port: googlePort, dataDir: googleDir });
    const backend = new Collector(google.pubsub.subscription('backend'));
    // At least once: a message the target took just before it stopped may come again; wait for 30 distinct.
    // A key whose publish failed while the target was down is retried after its backoff, which
    // doubles up to 60 s (the forwarder's retry policy, like Google's publisher): it may take that long.
    const RETRY_WAIT_MS = 90_000;
    let got: Awaited<ReturnType<typeof backend.next>>;
    try {
      got = await backend.next(30, RETRY_WAIT_MS);
      while (new Set(got.map((m) => m.data.toString())).size < 30) got = await backend.next(got.length + 1, RETRY_WAIT_MS);
    } finally {
      // An open subscriber stream would keep this file's process alive after a failure.
      await backend.close();
    }
    assertInOrder(got, 2);
  });
});


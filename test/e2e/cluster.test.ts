import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PubSub, type Message, type Subscription } from '@google-cloud/pubsub';
import type { MqttClient } from 'mqtt';
import { connectTo } from '../support/device-load.js';
import { createDevice, createRegistry, PROJECT, REGION } from '../support/fleet.js';
import { iotClient, iotGrpcClient, rejectsWith } from '../support/iot-client.js';
import { firstEvent, pollFor } from '../support/mqtt-clients.js';
import { api, type StartedServer } from '../support/server.js';
import { startCluster, type TestCluster } from '../support/cluster.js';

/**
 * Issue 12's demonstration: three Bridgehead processes on one real PostgreSQL and one real
 * `nats-server -js`. Devices connect to node A, the Device Manager API (REST and gRPC) is called
 * on node B, a @google-cloud/pubsub subscriber reads through node C, and everything behaves as on
 * one node; then node A is killed with -9 under QoS 1 load and its device carries on through B.
 */

const REGISTRY = 'cluster-reg';
const TOPIC = `projects/${PROJECT}/topics/telemetry-${REGISTRY}`;
const registryPath = `projects/${PROJECT}/locations/${REGION}/registries/${REGISTRY}`;

function subscribeQos1(client: MqttClient, topic: string): Promise<void> {
  return new Promise((resolve, reject) => client.subscribe(topic, { qos: 1 }, (err) => (err ? reject(err) : resolve())));
}

function publishQos1(client: MqttClient, topic: string, payload: string): Promise<void> {
  return new Promise((resolve, reject) => client.publish(topic, payload, { qos: 1 }, (err) => (err ? reject(err) : resolve())));
}

/** Waits for the next message on `topic` (exact) at the device, with `payload` if given. */
function nextMessage(client: MqttClient, topic: string | RegExp, timeoutMs = 10_000, payload?: string): Promise<{ topic: string; payload: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('message', onMessage);
      reject(new Error(`no message on ${String(topic)} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (t: string, body: Buffer): void => {
      if (typeof topic === 'string' ? t !== topic : !topic.test(t)) return;
      if (payload !== undefined && body.toString() !== payload) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve({ topic: t, payload: body.toString() });
    };
    client.on('message', onMessage);
  });
}

/** Collects a subscription's messages through node `node` with the real Pub/Sub client, acking each. */
class Subscriber {
  readonly received = new Map<string, Message>();
  private readonly pubsub: PubSub;
  private readonly waiters: (() => void)[] = [];
  private readonly sub: Subscription;
  constructor(node: StartedServer, subscription: string) {
    this.pubsub = new PubSub({ projectId: PROJECT, apiEndpoint: String(node.info.grpc).replace(/^grpc:\/\//, ''), emulatorMode: true });
    const sub = this.pubsub.subscription(subscription, { flowControl: { maxMessages: 500 } });
    this.sub = sub;
    sub.on('message', (m: Message) => {
      this.received.set(m.data.toString(), m);
      m.ack();
      for (const w of this.waiters.splice(0)) w();
    });
    sub.on('error', () => undefined);
  }
  /** Resolves when every payload in `want` has arrived; rejects with what is missing after `timeoutMs`. */
  async waitFor(want: Iterable<string>, timeoutMs = 20_000): Promise<void> {
    const wanted = [...want];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const missing = wanted.filter((p) => !this.received.has(p));
      if (missing.length === 0) return;
      if (Date.now() > deadline) throw new Error(`${missing.length} of ${wanted.length} never arrived, e.g. ${missing.slice(0, 5).join(', ')}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }
  async close(): Promise<void> {
    // The subscription's streams first: the client alone would keep them (and this process) alive.
    await this.sub.close();
    await this.pubsub.close();
  }
}

describe('cluster: three nodes on PostgreSQL and NATS JetStream (issue 12)', { timeout: 240_000 }, () => {
  let cluster: TestCluster;
  let A: StartedServer;
  let B: StartedServer;
  let C: StartedServer;
  let subscriber: Subscriber;

  before(async () => {
    cluster = await startCluster({ nodes: 3 });
    [A, B, C] = cluster.nodes as [StartedServer, StartedServer, StartedServer];
    await createRegistry(B, REGISTRY);
    // The subscription is made through node C with the real client.
    const pubsub = new PubSub({ projectId: PROJECT, apiEndpoint: String(C.info.grpc).replace(/^grpc:\/\//, ''), emulatorMode: true });
    await pubsub.topic(TOPIC).createSubscription('cluster-sub');
    await pubsub.close();
    subscriber = new Subscriber(C, 'cluster-sub');
  });

  after(async () => {
    await subscriber?.close();
    await cluster?.cleanup();
  });

  it('every node is ready and names its dependencies', async () => {
    for (const node of cluster.nodes) {
      const r = await fetch(`${node.api}/readyz`);
      assert.equal(r.status, 200);
      const body = (await r.json()) as { checks: Record<string, { ok: boolean; detail: string }> };
      assert.deepEqual(Object.keys(body.checks).sort(), ['bus', 'log', 'store']);
    }
  });

  it('a device on A; config and commands through B (REST and gRPC); state read on B; telemetry read on C', async () => {
    const dev = await createDevice(B, REGISTRY, 'dev-a1');
    const client = await connectTo(A, dev);
    try {
      await subscribeQos1(client, `/devices/${dev.id}/config`);
      await subscribeQos1(client, `/devices/${dev.id}/commands/#`);
      const rest = iotClient(B);
      const grpc = iotGrpcClient(B);
      const name = `${registryPath}/devices/${dev.id}`;

      // The device gets version 1 on subscribe and then the new one, in either order with our listener: match the payload.
      const config = nextMessage(client, `/devices/${dev.id}/config`, 10_000, 'cfg-from-B');
      await rest.modifyCloudToDeviceConfig({ name, binaryData: Buffer.from('cfg-from-B') });
      assert.equal((await config).payload, 'cfg-from-B');

      const command = nextMessage(client, `/devices/${dev.id}/commands/valves`);
      await grpc.sendCommandToDevice({ name, binaryData: Buffer.from('open'), subfolder: 'valves' });
      assert.equal((await command).payload, 'open');

      await publishQos1(client, `/devices/${dev.id}/state`, 'state-on-A');
      const [states] = await rest.listDeviceStates({ name });
      assert.equal(Buffer.from(states.deviceStates![0]!.binaryData as Uint8Array).toString(), 'state-on-A');

      const payloads = Array.from({ length: 50 }, (_, i) => `a1-${i}`);
      for (const p of payloads) await publishQos1(client, `/devices/${dev.id}/events`, p);
      await subscriber.waitFor(payloads);
      const m = subscriber.received.get('a1-0')!;
      assert.equal(m.attributes.deviceId, dev.id);
      assert.equal(m.attributes.deviceRegistryId, REGISTRY);
      await grpc.close();
      await rest.close();
    } finally {
      client.end(true);
    }
  });

  it('a command through C for a device that is not subscribed, or not connected anywhere, is FAILED_PRECONDITION', async () => {
    const dev = await createDevice(B, REGISTRY, 'dev-a2');
    const grpc = iotGrpcClient(C);
    const name = `${registryPath}/devices/${dev.id}`;
    try {
      await rejectsWith(grpc.sendCommandToDevice({ name, binaryData: Buffer.from('x') }), 'FAILED_PRECONDITION', /not connected/);
      const client = await connectTo(A, dev);
      try {
        await rejectsWith(grpc.sendCommandToDevice({ name, binaryData: Buffer.from('x') }), 'FAILED_PRECONDITION', /not subscribed/);
      } finally {
        client.end(true);
      }
    } finally {
      await grpc.close();
    }
  });

  it('takeover across nodes: the device connecting to B closes its older session on A', async () => {
    const dev = await createDevice(B, REGISTRY, 'dev-takeover');
    const onA = await connectTo(A, dev);
    const closed = firstEvent(onA as never, ['close'], 10_000);
    const onB = await connectTo(B, dev);
    try {
      await closed;
      // The device is B's now: a command through C reaches the session on B.
      await subscribeQos1(onB, `/devices/${dev.id}/commands/#`);
      const command = nextMessage(onB, `/devices/${dev.id}/commands`);
      const grpc = iotGrpcClient(C);
      await grpc.sendCommandToDevice({ name: `${registryPath}/devices/${dev.id}`, binaryData: Buffer.from('to-B') });
      assert.equal((await command).payload, 'to-B');
      await grpc.close();
    } finally {
      onA.end(true);
      onB.end(true);
    }
  });

  it('a gateway on A attaches a bound device; a command for it through B arrives on the gateway', async () => {
    const gw = await createDevice(B, REGISTRY, 'gw-1', { body: { gatewayConfig: { gatewayType: 'GATEWAY', gatewayAuthMethod: 'ASSOCIATION_ONLY' } } });
    const child = await createDevice(B, REGISTRY, 'gw-child-1');
    const bind = await api(B, 'POST', `/v1/${registryPath}:bindDeviceToGateway`, { gatewayId: gw.id, deviceId: child.id });
    assert.equal(bind.status, 200, JSON.stringify(bind.json));
    const client = await connectTo(A, gw);
    try {
      await publishQos1(client, `/devices/${child.id}/attach`, '{"authorization":""}');
      await subscribeQos1(client, `/devices/${child.id}/commands/#`);
      const command = nextMessage(client, `/devices/${child.id}/commands`);
      const rest = iotClient(B);
      await rest.sendCommandToDevice({ name: `${registryPath}/devices/${child.id}`, binaryData: Buffer.from('for-child') });
      assert.equal((await command).payload, 'for-child');
      // The relayed telemetry reaches the subscriber on C as the child's.
      await publishQos1(client, `/devices/${child.id}/events`, 'child-event');
      await subscriber.waitFor(['child-event']);
      assert.equal(subscriber.received.get('child-event')!.attributes.deviceId, child.id);
      await rest.close();
    } finally {
      client.end(true);
    }
  });

  it(':gatewayErrors through B for a gateway on A: while it is connected, and after it disconnected (also through C)', async () => {
    const gw = await createDevice(B, REGISTRY, 'gw-errors', { body: { gatewayConfig: { gatewayType: 'GATEWAY', gatewayAuthMethod: 'ASSOCIATION_ONLY' } } });
    const child = await createDevice(B, REGISTRY, 'gw-errors-child');
    assert.equal((await api(B, 'POST', `/v1/${registryPath}:bindDeviceToGateway`, { gatewayId: gw.id, deviceId: child.id })).status, 200);
    const path = `/v1/${registryPath}/devices/${gw.id}:gatewayErrors`;
    type Listed = { deviceId: string; errorType: string; description: string; delivered: boolean };
    const listed = async (node: StartedServer): Promise<Listed[]> => {
      const r = await api(node, 'GET', path);
      assert.equal(r.status, 200, JSON.stringify(r.json));
      return (r.json.errors as Listed[]).map(({ deviceId, errorType, description, delivered }) => ({ deviceId, errorType, description, delivered }));
    };
    assert.deepEqual(await listed(B), []);
    const client = await connectTo(A, gw);
    const sent: { device_id: string; error_type: string; description: string }[] = [];
    try {
      await client.subscribeAsync(`/devices/${gw.id}/errors`, { qos: 0 });
      client.on('message', (topic, payload) => {
        if (topic === `/devices/${gw.id}/errors`) sent.push(JSON.parse(payload.toString()) as (typeof sent)[number]);
      });
      // Not attached: a bound device's event and an unknown device's state, both GATEWAY_DEVICE_NOT_FOUND.
      await client.publishAsync(`/devices/${child.id}/events`, 'e', { qos: 0 });
      await client.publishAsync('/devices/gw-errors-ghost/state', 's', { qos: 0 });
      await pollFor('two errors-topic messages', async () => (sent.length >= 2 ? true : undefined));
      const expected = sent
        .map((m) => ({ deviceId: m.device_id, errorType: m.error_type, description: m.description, delivered: true }))
        .reverse();
      assert.deepEqual(
        expected.map((e) => [e.deviceId, e.errorType]),
        [
          ['gw-errors-ghost', 'GATEWAY_DEVICE_NOT_FOUND'],
          [child.id, 'GATEWAY_DEVICE_NOT_FOUND'],
        ],
      );
      assert.deepEqual(await listed(B), expected, 'B asks A, which holds the session: what the gateway was sent, newest first');

      client.end(true);
      // B no longer knows where the gateway is: it asks every live node, and A kept the errors.
      await pollFor('the gateway disconnected, as B sees it', async () => ((await api(B, 'GET', `/v1/${registryPath}/devices/${gw.id}:connection`)).json.connected ? undefined : true));
      assert.deepEqual(await listed(B), expected, 'through B after the disconnect');
      assert.deepEqual(await listed(C), expected, 'through C, which never held the session');
    } finally {
      client.end(true);
    }
  });

  it('two nodes updating one device at once: config versions decide, and no field update is lost', async () => {
    const dev = await createDevice(B, REGISTRY, 'dev-race');
    const name = `${registryPath}/devices/${dev.id}`;
    const onA = iotClient(A);
    const onB = iotClient(B);
    try {
      const results = await Promise.allSettled([
        onA.modifyCloudToDeviceConfig({ name, versionToUpdate: 1, binaryData: Buffer.from('from-A') }),
        onB.modifyCloudToDeviceConfig({ name, versionToUpdate: 1, binaryData: Buffer.from('from-B') }),
      ]);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, 'exactly one conditional update wins');
      const [device] = await onA.getDevice({ name });
      assert.equal(Number(device.config!.version), 2);
      await Promise.all([
        onA.updateDevice({ device: { name, metadata: { site: 'north' } }, updateMask: { paths: ['metadata'] } }),
        onB.updateDevice({ device: { name, blocked: true }, updateMask: { paths: ['blocked'] } }),
      ]);
      const [after] = await onB.getDevice({ name });
      assert.equal(after.blocked, true);
      assert.deepEqual(after.metadata, { site: 'north' });
    } finally {
      await onA.close();
      await onB.close();
    }
  });

  it('kill -9 of node A under QoS 1 load: the device reconnects to B and every PUBACKed message reaches the subscriber on C', async () => {
    const dev = await createDevice(B, REGISTRY, 'dev-kill');
    const acked: string[] = [];
    let client = await connectTo(A, dev);
    let n = 0;
    let stop = false;
    const load = (async () => {
      while (!stop) {
        const payload = `kill-${n++}`;
        try {
          await publishQos1(client, `/devices/${dev.id}/events`, payload);
          acked.push(payload);
        } catch {
          // Not acknowledged (the node died under it): it may or may not be stored; the device would resend.
          return;
        }
      }
    })();
    // Let some messages through A, then kill it mid-stream.
    const deadline = Date.now() + 10_000;
    while (acked.length < 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await A.kill();
    await Promise.race([load, new Promise((r) => setTimeout(r, 5_000))]);
    stop = true;
    client.end(true);
    const beforeKill = acked.length;
    assert.ok(beforeKill >= 50, `only ${beforeKill} messages were PUBACKed before the kill`);
    // The device reconnects to another node (a load balancer would send it to B) and carries on.
    client = await connectTo(B, dev);
    for (let i = 0; i < 50; i++) {
      const payload = `kill-after-${i}`;
      await publishQos1(client, `/devices/${dev.id}/events`, payload);
      acked.push(payload);
    }
    client.end(true);
    await subscriber.waitFor(acked, 30_000);
  });

  it('a node started after the device connected reaches it with a command', async () => {
    const dev = await createDevice(B, REGISTRY, 'dev-late');
    const client = await connectTo(B, dev);
    try {
      await subscribeQos1(client, `/devices/${dev.id}/commands/#`);
      const D = await cluster.startNode('node-d');
      const command = nextMessage(client, `/devices/${dev.id}/commands`);
      const grpc = iotGrpcClient(D);
      await grpc.sendCommandToDevice({ name: `${registryPath}/devices/${dev.id}`, binaryData: Buffer.from('from-D') });
      assert.equal((await command).payload, 'from-D');
      await grpc.close();
    } finally {
      client.end(true);
    }
  });
});

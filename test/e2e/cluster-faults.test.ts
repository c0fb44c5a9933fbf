import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PubSub } from '@google-cloud/pubsub';
import type { MqttClient } from 'mqtt';
import { createDevice, createRegistry, devicePath, PROJECT, REGION, type TestDevice } from '../support/fleet.js';
import { allLogMessages, connectTo, DeviceLoad, publishAcked } from '../support/device-load.js';
import { iotGrpcClient } from '../support/iot-client.js';
import { Collector } from '../support/pubsub.js';
import { api, type StartedServer } from '../support/server.js';
import { startCluster, type TestCluster } from '../support/cluster.js';

/**
 * Issue 12's dependency faults: PostgreSQL, then nats-server, restarted under QoS 1 load on a
 * two-node cluster. No node exits, nothing PUBACKed is lost, the nodes answer UNAVAILABLE (never
 * hang) while a dependency is away, and recover without a restart within a bound.
 */

const REGISTRY = 'faults-reg';
const TOPIC = `telemetry-${REGISTRY}`;
const registryPath = `projects/${PROJECT}/locations/${REGION}/registries/${REGISTRY}`;
/** How long a node may take to be ready again once its dependency is back. */
const RECOVERY_MS = 15_000;

async function readyStatus(node: StartedServer): Promise<number> {
  const r = await fetch(`${node.api}/readyz`, { signal: AbortSignal.timeout(5000) });
  await r.arrayBuffer();
  return r.status;
}

/** Polls /readyz until it answers `status`; returns how long that took. */
async function readyBecomes(node: StartedServer, status: number, timeoutMs: number): Promise<number> {
  const start = Date.now();
  for (;;) {
    if ((await readyStatus(node)) === status) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`${node.api}/readyz not ${status} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Every payload PUBACKed to a load is in the log, once per device at least, attributed to its device. */
async function assertAllLogged(node: StartedServer, loads: DeviceLoad[]): Promise<void> {
  const logged = await allLogMessages(node, TOPIC);
  const byPayload = new Map(logged.map((m) => [m.data, m.attributes.deviceId]));
  for (const load of loads) {
    const missing = load.acked.filter((a) => !byPayload.has(a.payload)).map((a) => a.payload);
    assert.deepEqual(missing.slice(0, 10), [], `${load.dev.id}: ${missing.length} of ${load.acked.length} PUBACKed messages missing from the log`);
    for (const a of load.acked) assert.equal(byPayload.get(a.payload), load.dev.id);
  }
}

function assertAlive(cluster: TestCluster): void {
  for (const node of cluster.nodes) assert.equal(node.process.exitCode, null, `${node.api} exited:\n${node.stderr()}`);
}

/** A device's connection attempt's outcome: connected, or the CONNACK refusal code; with how long it took. */
async function tryConnect(node: StartedServer, dev: TestDevice): Promise<{ ms: number; client?: MqttClient; code?: number; error?: string }> {
  const start = Date.now();
  try {
    const client = await connectTo(node, dev, 10_000);
    return { ms: Date.now() - start, client };
  } catch (e) {
    return { ms: Date.now() - start, code: (e as { code?: number }).code, error: (e as Error).message };
  }
}

function subscribe(client: MqttClient, topic: string): Promise<void> {
  return new Promise((resolve, reject) => client.subscribe(topic, { qos: 1 }, (err) => (err ? reject(err) : resolve())));
}

function ackedBetween(loads: DeviceLoad[], from: number, to: number): number {
  return loads.reduce((n, l) => n + l.acked.filter((a) => a.at >= from && a.at <= to).length, 0);
}

function firstAckAfter(loads: DeviceLoad[], t: number): number | undefined {
  const times = loads.flatMap((l) => l.acked.filter((a) => a.at >= t).map((a) => a.at));
  return times.length ? Math.min(...times) : undefined;
}

interface ReadyBody {
  checks: Record<string, { ok: boolean; detail: string }>;
}
/** /readyz as node A answered it during the NATS outage (for the check that follows the NATS test). */
let natsOutageReadyz: { ms: number; body: ReadyBody } | undefined;

describe('cluster faults: PostgreSQL and NATS restarts under QoS 1 load (issue 12)', { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let A: StartedServer;
  let B: StartedServer;

  before(async () => {
    cluster = await startCluster({ nodes: 2 });
    [A, B] = cluster.nodes as [StartedServer, StartedServer];
    await createRegistry(A, REGISTRY);
  });

  after(async () => {
    await cluster?.cleanup();
  });

  it('PostgreSQL restart (kill -9): connected devices keep publishing, new CONNECTs get CONNACK 3, the API answers 503 UNAVAILABLE, all recovers', async () => {
    const devs = await Promise.all(['pg-a', 'pg-b'].map((id) => createDevice(A, REGISTRY, id)));
    const late = await createDevice(A, REGISTRY, 'pg-late');
    // Connected before the outage, reporting state during it: state is stored in PostgreSQL.
    const stateDev = await createDevice(A, REGISTRY, 'pg-state');
    const stateClient = await connectTo(B, stateDev);
    let stateClosedAt: number | undefined;
    stateClient.on('close', () => (stateClosedAt ??= Date.now()));
    const loads = [new DeviceLoad(A, devs[0]!), new DeviceLoad(B, devs[1]!)];
    let pgDown = false;
    for (const l of loads) l.start();
    try {
      await Promise.all(loads.map((l) => l.more(50, 10_000)));

      await cluster.pg.stop('kill');
      pgDown = true;
      const down = Date.now();
      // Readiness follows the store at once (a load balancer stops sending new devices here).
      for (const node of cluster.nodes) await readyBecomes(node, 503, 5000);

      // Devices already connected keep publishing: telemetry goes to JetStream, their session needs no store.
      await Promise.all(loads.map((l) => l.more(50, 10_000)));

      // A new device cannot be authenticated without the registry: CONNACK 3 (server unavailable), promptly.
      const refused = await tryConnect(A, late);
      refused.client?.end(true);
      assert.equal(refused.code, 3, `a CONNECT while PostgreSQL is down: ${refused.error ?? 'accepted'}`);
      assert.ok(refused.ms < 8000, `CONNACK 3 took ${refused.ms} ms`);

      // A state report cannot be stored: no PUBACK (the device resends later), and the answer is bounded: PUBACK or close.
      const s0 = Date.now();
      const stateOutcome = await Promise.race([
        publishAcked(stateClient, `/devices/${stateDev.id}/state`, 'state-during-pg', 10_000).then(
          () => 'PUBACK',
          (e: Error) => e.message,
        ),
        new Promise<string>((r) => stateClient.once('close', () => r('connection closed'))),
      ]);
      const stateMs = Date.now() - s0;
      assert.ok(stateMs < 10_000, `a state report during the outage: ${stateOutcome} after ${stateMs} ms`);
      console.log(`# state report during PostgreSQL outage: ${stateOutcome} in ${stateMs} ms`);

      // The Device Manager API answers UNAVAILABLE (503) within a bound, never hangs.
      const t0 = Date.now();
      const r = await api(B, 'GET', devicePath(REGISTRY, devs[0]!.id));
      const apiMs = Date.now() - t0;
      assert.equal(r.status, 503, JSON.stringify(r.json));
      assert.equal((r.json.error as { status?: string } | undefined)?.status, 'UNAVAILABLE', JSON.stringify(r.json));
      assert.ok(apiMs < 8000, `getDevice during the outage took ${apiMs} ms`);

      // An outage of a few seconds, whatever the checks above took: long enough for pool connections to be tried and fail again.
      const held = 3000 - (Date.now() - down);
      if (held > 0) await new Promise((r) => setTimeout(r, held));
      await cluster.pg.start();
      pgDown = false;
      const up = Date.now();
      const readyMs = Math.max(...(await Promise.all(cluster.nodes.map((n) => readyBecomes(n, 200, RECOVERY_MS)))));

      const after = await api(B, 'GET', devicePath(REGISTRY, devs[0]!.id));
      assert.equal(after.status, 200, JSON.stringify(after.json));
      const joined = await tryConnect(A, late);
      assert.ok(joined.client, `a CONNECT after PostgreSQL is back: ${joined.error}`);
      joined.client.end(true);
      await Promise.all(loads.map((l) => l.more(20, 10_000)));
      assertAlive(cluster);
      for (const l of loads) assert.equal(l.connects, 1, `${l.dev.id} had to reconnect ${l.connects - 1} times`);
      const first = firstAckAfter(loads, up);
      console.log(
        `# PostgreSQL outage ${up - down} ms: ${ackedBetween(loads, down, up)} PUBACKs during it; CONNACK 3 in ${refused.ms} ms; ` +
          `REST 503 in ${apiMs} ms; ready again ${readyMs} ms after restart; first PUBACK ${first === undefined ? '-' : first - up} ms after restart`,
      );
    } finally {
      await Promise.all(loads.map((l) => l.stop()));
      stateClient.end(true);
      // A failure above must not leave the next test without its database.
      if (pgDown) await cluster.pg.start();
    }
    await assertAllLogged(A, loads);
  });

  it('NATS restart (kill -9): no PUBACK is lost, a new CONNECT and the Device Manager answer promptly, devices publish again within a bound, readiness follows, commands cross nodes again, a gateway unbind missed on the bus still detaches, a streaming pull gets every PUBACKed message', async () => {
    const devs = await Promise.all(['nats-a', 'nats-b'].map((id) => createDevice(A, REGISTRY, id)));
    const loads = [new DeviceLoad(A, devs[0]!, { ackTimeoutMs: 2000 }), new DeviceLoad(B, devs[1]!, { ackTimeoutMs: 2000 })];
    let natsDown = false;
    const lateDev = await createDevice(A, REGISTRY, 'nats-late');
    // A device on A waiting for its config, which is changed through B while NATS is down.
    const cfgDev = await createDevice(A, REGISTRY, 'nats-cfg');
    const cfgClient = await connectTo(A, cfgDev);
    const configs: string[] = [];
    cfgClient.on('message', (_t, p) => configs.push(p.toString()));
    await subscribe(cfgClient, `/devices/${cfgDev.id}/config`);
    // A gateway on A with a bound device attached; the binding is removed through B while NATS is down.
    const gw = await createDevice(A, REGISTRY, 'nats-gw', { body: { gatewayConfig: { gatewayType: 'GATEWAY', gatewayAuthMethod: 'ASSOCIATION_ONLY' } } });
    const gwChild = await createDevice(A, REGISTRY, 'nats-gw-child');
    assert.equal((await api(A, 'POST', `/v1/${registryPath}:bindDeviceToGateway`, { gatewayId: gw.id, deviceId: gwChild.id })).status, 200);
    const gwClient = await connectTo(A, gw);
    const gwErrors: { device_id?: string; error_type?: string }[] = [];
    gwClient.on('message', (t, p) => {
      if (t === `/devices/${gw.id}/errors`) gwErrors.push(JSON.parse(p.toString()) as { device_id?: string; error_type?: string });
    });
    await subscribe(gwClient, `/devices/${gw.id}/errors`);
    await publishAcked(gwClient, `/devices/${gwChild.id}/attach`, '', 5000);
    await publishAcked(gwClient, `/devices/${gwChild.id}/events`, 'attached before the outage', 5000);
    // A backend's streaming pull through B, open across the outage: it must get every PUBACKed message.
    const pubsub = new PubSub({ projectId: PROJECT, apiEndpoint: String(B.info.grpc).replace(/^grpc:\/\//, ''), emulatorMode: true });
    const [subscription] = await pubsub.topic(TOPIC).createSubscription('faults-nats-sub');
    const subscriber = new Collector(pubsub.subscription(subscription.name, { flowControl: { maxMessages: 500 } }));
    for (const l of loads) l.start();
    try {
      await Promise.all(loads.map((l) => l.more(50, 10_000)));

      // SIGKILL: what JetStream acknowledged must survive the harshest stop (its store dir is kept, test/support/nats.ts).
      await cluster.nats.stop('kill');
      natsDown = true;
      const down = Date.now();
      for (const node of cluster.nodes) await readyBecomes(node, 503, 5000);
      const probeStart = Date.now();
      const probe = await fetch(`${A.api}/readyz`);
      natsOutageReadyz = { ms: Date.now() - probeStart, body: (await probe.json()) as ReadyBody };

      // A new device while NATS is down: CONNACK 3 (server unavailable) at once; it retries once NATS is back.
      // Let in, its telemetry could not be stored and its session not announced (docs/compat.md C-CLUSTER-FAULTS).
      const newcomer = await tryConnect(B, lateDev);
      newcomer.client?.end(true);
      // The registry is in PostgreSQL: reading it works; a config update is stored (its bus event may wait).
      const t0 = Date.now();
      const read = await api(B, 'GET', devicePath(REGISTRY, devs[0]!.id));
      const readMs = Date.now() - t0;
      const t1 = Date.now();
      const write = await api(B, 'POST', `${devicePath(REGISTRY, cfgDev.id)}:modifyCloudToDeviceConfig`, { binaryData: Buffer.from('during-nats').toString('base64') });
      const writeMs = Date.now() - t1;
      assert.equal(newcomer.client, undefined, 'a CONNECT while NATS is down was accepted');
      assert.equal(newcomer.code, 3, `a CONNECT while NATS is down: ${newcomer.error}`);
      assert.ok(newcomer.ms < 2000, `a CONNECT while NATS is down took ${newcomer.ms} ms`);
      assert.equal(read.status, 200, JSON.stringify(read.json));
      assert.ok(readMs < 5000 && writeMs < 5000, `Device Manager calls took ${readMs} / ${writeMs} ms`);
      console.log(`# during NATS outage: new CONNECT ${newcomer.client ? 'accepted' : `refused ${newcomer.error}`} in ${newcomer.ms} ms; getDevice ${read.status} in ${readMs} ms; modifyCloudToDeviceConfig ${write.status} ${JSON.stringify(write.json).slice(0, 200)} in ${writeMs} ms`);
      const unbind = await api(B, 'POST', `/v1/${registryPath}:unbindDeviceFromGateway`, { gatewayId: gw.id, deviceId: gwChild.id });
      assert.equal(unbind.status, 200, JSON.stringify(unbind.json));
      // Let the devices run into the outage for a while: whatever they get PUBACKed now must still be in the log afterwards.
      // Longer than a node's membership timeout (3 heartbeats, 6 s): every node forgets the others and misses bus events.
      await new Promise((r) => setTimeout(r, 8000));
      assertAlive(cluster);

      await cluster.nats.start();
      natsDown = false;
      const up = Date.now();
      await Promise.all(loads.map((l) => l.more(20, RECOVERY_MS)));
      const readyMs = Math.max(...(await Promise.all(cluster.nodes.map((n) => readyBecomes(n, 200, RECOVERY_MS)))));

      // The config changed through B during the outage reaches the device on A once the bus is back.
      const cfgDeadline = Date.now() + 10_000;
      while (!configs.includes('during-nats') && Date.now() < cfgDeadline) await new Promise((r) => setTimeout(r, 50));
      assert.ok(configs.includes('during-nats'), `the device on A got configs ${JSON.stringify(configs)}`);
      // The unbind through B, whose bus event was lost, still detaches the device from the gateway on A.
      const detachDeadline = Date.now() + 10_000;
      const detached = (): boolean => gwErrors.some((e) => e.device_id === gwChild.id && e.error_type === 'GATEWAY_DETACHMENT_DEVICE_ERROR');
      while (!detached() && Date.now() < detachDeadline) await new Promise((r) => setTimeout(r, 50));
      assert.ok(detached(), `the gateway on A got errors ${JSON.stringify(gwErrors)}`);

      // A command through B reaches a device on A (the session directory and the bus are back).
      const dev = await createDevice(A, REGISTRY, 'nats-cmd');
      const client = await connectTo(A, dev);
      try {
        await subscribe(client, `/devices/${dev.id}/commands/#`);
        const got = new Promise<string>((resolve) => client.on('message', (_t, p) => resolve(p.toString())));
        const grpc = iotGrpcClient(B);
        try {
          // B may not have heard A's claim for the new session yet: bounded retries.
          const deadline = Date.now() + 10_000;
          for (;;) {
            try {
              await grpc.sendCommandToDevice({ name: `${registryPath}/devices/${dev.id}`, binaryData: Buffer.from('after-nats') });
              break;
            } catch (e) {
              if (Date.now() > deadline) throw e;
              await new Promise((r) => setTimeout(r, 200));
            }
          }
        } finally {
          await grpc.close();
        }
        assert.equal(await got, 'after-nats');
      } finally {
        client.end(true);
      }
      assertAlive(cluster);
      const first = firstAckAfter(loads, up);
      console.log(
        `# NATS outage ${up - down} ms: ${ackedBetween(loads, down, up)} PUBACKs during it; ready again ${readyMs} ms after restart; ` +
          `first PUBACK ${first === undefined ? '-' : first - up} ms after restart; reconnects ${loads.map((l) => l.connects - 1).join('/')}`,
      );
    } finally {
      await Promise.all(loads.map((l) => l.stop()));
      cfgClient.end(true);
      gwClient.end(true);
      if (natsDown) await cluster.nats.start();
    }
    await assertAllLogged(A, loads);
    try {
      // Pub/Sub delivery is at least once: every PUBACKed message arrives, duplicates are allowed.
      const want = new Set(loads.flatMap((l) => l.acked.map((a) => a.payload)));
      const got = (): Set<string> => new Set(subscriber.messages.map((m) => m.data.toString()));
      const deadline = Date.now() + 30_000;
      while ([...want].some((p) => !got().has(p)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      const missing = [...want].filter((p) => !got().has(p));
      assert.deepEqual(missing.slice(0, 20), [], `${missing.length} of ${want.size} PUBACKed messages never reached the streaming pull through B`);
      const copies = new Map<string, number>();
      for (const m of subscriber.messages) copies.set(m.data.toString(), (copies.get(m.data.toString()) ?? 0) + 1);
      const most = Math.max(...copies.values());
      console.log(
        `# streaming pull through B across the NATS outage: ${want.size} PUBACKed, ${copies.size} distinct messages delivered ${subscriber.messages.length} times ` +
          `(at most ${most} times: ${[...copies].filter(([, n]) => n === most).slice(0, 3).map(([p]) => p).join(', ')}), stream errors ${subscriber.errors.length}`,
      );
    } finally {
      await subscriber.close();
      await pubsub.close();
    }
  });

  it(
    'during the NATS outage /readyz answers at once and names bus and log as down (store still up)',
    () => {
      assert.ok(natsOutageReadyz, 'the NATS test did not get as far as /readyz');
      assert.ok(natsOutageReadyz.ms < 1000, `/readyz took ${natsOutageReadyz.ms} ms`);
      const { checks } = natsOutageReadyz.body;
      assert.deepEqual(Object.keys(checks).sort(), ['bus', 'log', 'store'], JSON.stringify(checks));
      assert.equal(checks.store!.ok, true);
      assert.equal(checks.bus!.ok, false);
      assert.equal(checks.log!.ok, false);
    },
  );
});

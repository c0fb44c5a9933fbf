/**
 * Pub/Sub benchmark: devices publish QoS 1 over MQTT into the registry's telemetry topic and a
 * backend reads it with the real @google-cloud/pubsub StreamingPull subscriber, which acks every
 * message; then a backlog published through the Publish API is drained; then the server's
 * memory with many open streaming pulls. Each part runs against a fresh server of its own on
 * loopback, is bounded in count and time, and stops by itself. Client (load generator,
 * subscriber) and server share the machine's cores, which the output says.
 *
 * Settings (environment):
 *   BENCH_PUBSUB_DEVICES      device counts of the end-to-end rows (default 0,100,1000; 0 = the latency probe alone)
 *   BENCH_PUBSUB_WINDOW       QoS 1 PUBLISHes in flight per device (default 8)
 *   BENCH_PUBSUB_DURATION_MS  measured time per end-to-end row (default 5000, after 1000 of warm-up)
 *   BENCH_PUBSUB_BACKLOG      messages in the backlog to drain (default 1000000, the issue's figure)
 *   BENCH_PUBSUB_STREAMS      open streaming pulls for the memory row (default 1000)
 */
import { PubSub, v1, type ClientConfig, type Message, type Subscription } from '@google-cloud/pubsub';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StartedServer } from '../test/support/server.js';
import { fmtCount, fmtMs, fmtRate, percentile, pool, table, type BenchContext, type BenchSection } from './lib.js';
import { provision } from './loadgen/bridgehead.js';
import { LoadConnection, type DialSpec } from './loadgen/connection.js';
import { BENCH_LOCATION, BENCH_PROJECT, BenchFleet, deviceId } from './loadgen/devices.js';
import { withOwnServer } from './loadgen/own-server.js';
import { LoadGenerator } from './loadgen/pool.js';
import { CpuMeter, machineFacts, rssBytes, settledValue, type CpuShares } from './loadgen/proc.js';

const SERVER_ARGS = ['--grpc-listen', '127.0.0.1:0', '--grpc-anonymous', '--mqtt-max-msgs-per-sec', '0'];
const TELEMETRY_TOPIC = `projects/${BENCH_PROJECT}/topics/telemetry`;
const REGISTRY_PATH = `/v1/projects/${BENCH_PROJECT}/locations/${BENCH_LOCATION}/registries`;
const PAYLOAD_BYTES = 64;
const WARMUP_MS = 1_000;
/** One probe PUBLISH (timestamped by its PUBACK) every this many ms, beside the load. */
const PROBE_INTERVAL_MS = 10;
/** How long the subscriber may take, after the devices stop, to deliver what they were PUBACKed. */
const CATCH_UP_MS = 60_000;
/** Publish requests of the backlog: Pub/Sub's maximum of messages per request, a few in flight. */
const PUBLISH_BATCH = 1_000;
const PUBLISH_CONCURRENCY = 4;
/**
 * Unacked messages a subscriber holds. The library's default of 1,000, with acks sent in batches
 * every 100 ms, caps one subscriber near 7,000 msgs/s whatever the server does; a backend that
 * wants throughput raises it, and so does the bench.
 */
const SUBSCRIBER_OUTSTANDING = 10_000;
const DRAIN_TIMEOUT_MS = 240_000;
/**
 * The issue's figure. Publishing and draining it takes about 40 s on the 2-core bench machine;
 * BENCH_PUBSUB_BACKLOG runs a smaller one (the output says what was run).
 */
const DEFAULT_BACKLOG = 1_000_000;
/** The gRPC listener takes 100 concurrent streams per connection; each client object keeps to 50. */
const STREAMS_PER_CLIENT = 50;
const STREAMS_OPEN_MS = 60_000;

interface PubSubSettings {
  deviceCounts: number[];
  window: number;
  durationMs: number;
  backlog: number;
  streams: number;
}

function envInt(name: string, fallback: number, max: number): number {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? Number.NaN : Number(raw);
  return Number.isSafeInteger(n) && n > 0 ? Math.min(n, max) : fallback;
}

export function pubsubSettings(): PubSubSettings {
  const counts = (process.env.BENCH_PUBSUB_DEVICES ?? '0,100,1000')
    .split(',')
    .map(Number)
    .filter((n) => Number.isSafeInteger(n) && n >= 0 && n <= 10_000);
  return {
    deviceCounts: counts.length > 0 ? counts : [0, 100, 1_000],
    window: envInt('BENCH_PUBSUB_WINDOW', 8, 1_000),
    durationMs: envInt('BENCH_PUBSUB_DURATION_MS', 5_000, 120_000),
    backlog: envInt('BENCH_PUBSUB_BACKLOG', DEFAULT_BACKLOG, 5_000_000),
    streams: envInt('BENCH_PUBSUB_STREAMS', 1_000, 10_000),
  };
}

/**
 * The client a backend builds with only the endpoint changed. With `ownConnection`, the client
 * gets an HTTP/2 connection of its own instead of sharing grpc-js's process-wide one, so that
 * many streams spread over several connections as they would over several backend processes.
 */
function pubsubClient(server: StartedServer, ownConnection = false): PubSub {
  const url = new URL(String(server.info.grpc));
  const config: ClientConfig & Record<string, unknown> = {
    projectId: BENCH_PROJECT,
    apiEndpoint: `${url.hostname}:${url.port}`,
    emulatorMode: true,
    ...(ownConnection ? { 'grpc.use_local_subchannel_pool': 1 } : {}),
  };
  return new PubSub(config);
}

/** A count that can be awaited: resolves once it reaches a target, or rejects at a deadline. */
class Counter {
  value = 0;
  private waiter: { target: number; resolve: () => void } | null = null;

  add(n = 1): void {
    this.value += n;
    if (this.waiter !== null && this.value >= this.waiter.target) {
      this.waiter.resolve();
      this.waiter = null;
    }
  }

  async reach(target: number, timeoutMs: number, what: string, signal: AbortSignal): Promise<void> {
    if (this.value >= target) return;
    const reached = new Promise<void>((resolve) => {
      this.waiter = { target, resolve };
    });
    const timeout = sleep(timeoutMs, undefined, { signal }).then(() => {
      throw new Error(`${what}: ${fmtCount(this.value)} of ${fmtCount(target)} after ${fmtMs(timeoutMs)}`);
    });
    try {
      await Promise.race([reached, timeout]);
    } finally {
      this.waiter = null;
    }
  }
}

/**
 * A StreamingPull subscriber that acks everything and counts distinct messages (by message ID;
 * redeliveries are counted apart). Stream errors the library gives up on are kept and rethrown
 * by `check()`, so that no figure is computed over a broken subscriber.
 */
class AckingSubscriber {
  readonly distinct = new Counter();
  redeliveries = 0;
  private readonly seen = new Set<string>();
  private failure: Error | null = null;

  constructor(
    readonly subscription: Subscription,
    private readonly onFirst: (message: Message, at: number) => void = () => undefined,
  ) {
    subscription.on('message', (m: Message) => this.onMessage(m));
    subscription.on('error', (e: Error) => {
      this.failure ??= e;
    });
  }

  private onMessage(m: Message): void {
    const at = performance.now();
    m.ack();
    if (this.seen.has(m.id)) {
      this.redeliveries += 1;
      return;
    }
    this.seen.add(m.id);
    this.onFirst(m, at);
    this.distinct.add();
  }

  check(): void {
    if (this.failure !== null) throw new Error(`subscriber ${this.subscription.name}: ${this.failure.message}`);
  }

  /** Stops the streams; the library flushes the acks it still holds first. */
  async close(): Promise<void> {
    this.subscription.removeAllListeners('message');
    await this.subscription.close();
  }
}

/**
 * One device beside the load, publishing a numbered payload every PROBE_INTERVAL_MS over its own
 * TLS connection: each message's send and PUBACK times, matched later with its delivery time.
 */
class LatencyProbe {
  readonly sentAt = new Map<number, number>();
  readonly pubackAt = new Map<number, number>();
  readonly deliveredAt = new Map<number, number>();
  private readonly byPacketId = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;
  private next = 0;

  private allAcked: (() => void) | null = null;

  private constructor(private readonly conn: LoadConnection) {
    conn.onControlAck = (packetId, at) => {
      const n = this.byPacketId.get(packetId);
      if (n === undefined) return;
      this.byPacketId.delete(packetId);
      this.pubackAt.set(n, at);
      if (this.byPacketId.size === 0) this.allAcked?.();
    };
  }

  static async start(dial: DialSpec, fleet: BenchFleet, id: string): Promise<LatencyProbe> {
    const conn = new LoadConnection(await fleet.loginFor(id, 'ES256'));
    await conn.connect(dial, 300, 15_000);
    const probe = new LatencyProbe(conn);
    const topic = `/devices/${id}/events`;
    probe.timer = setInterval(() => {
      probe.next += 1;
      const n = probe.next;
      probe.sentAt.set(n, performance.now());
      probe.byPacketId.set(probe.conn.publishOnce(topic, Buffer.from(`probe:${n}`), 1), n);
    }, PROBE_INTERVAL_MS);
    return probe;
  }

  /** Called by the subscriber for each distinct message; true if it was a probe's. */
  delivered(m: Message, at: number): boolean {
    const text = m.data.length < 16 ? m.data.toString() : '';
    if (!text.startsWith('probe:')) return false;
    this.deliveredAt.set(Number(text.slice(6)), at);
    return true;
  }

  /** Probe messages sent inside [from, to): PUBACK → delivery and PUBLISH → delivery, in ms. */
  latencies(from: number, to: number): { fromPuback: number[]; fromPublish: number[]; missing: number } {
    const fromPuback: number[] = [];
    const fromPublish: number[] = [];
    let missing = 0;
    for (const [n, sent] of this.sentAt) {
      if (sent < from || sent >= to) continue;
      const puback = this.pubackAt.get(n);
      const delivered = this.deliveredAt.get(n);
      if (puback === undefined || delivered === undefined) {
        missing += 1;
        continue;
      }
      fromPuback.push(delivered - puback);
      fromPublish.push(delivered - sent);
    }
    return { fromPuback, fromPublish, missing };
  }

  get acked(): number {
    return this.pubackAt.size;
  }

  /** Stops publishing, waits (bounded) for the PUBACKs still on their way, and disconnects. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    if (this.byPacketId.size > 0) {
      const acked = new Promise<void>((resolve) => {
        this.allAcked = resolve;
      });
      await Promise.race([acked, sleep(5_000)]);
      this.allAcked = null;
    }
    await this.conn.close(3_000);
  }
}

function tlsDial(server: StartedServer): DialSpec {
  const url = new URL(String(server.info.mqtt[0]));
  return { transport: 'tls', host: url.hostname, port: Number(url.port), caPem: readFileSync(server.info.caFile, 'utf8'), servername: 'localhost' };
}

const mib = (bytes: number | null): string => (bytes === null ? '-' : `${(bytes / 2 ** 20).toFixed(0)} MiB`);
const cores = (c: number | null): string => (c === null ? '-' : c.toFixed(2));
/** Signed: a probe can be delivered before its own PUBACK has reached the device. */
const fmtSigned = (ms: number): string => (ms < 0 ? `-${fmtMs(-ms)}` : fmtMs(ms));

/** Creates a topic unless it exists (IoT routing may have created it from the registry already). */
async function ensureTopic(client: PubSub, name: string): Promise<void> {
  try {
    await client.createTopic(name);
  } catch (e) {
    if ((e as { code?: number }).code !== 6) throw e; // ALREADY_EXISTS
  }
}

interface E2eRow {
  devices: number;
  pubackRate: number;
  deliveredRate: number;
  fromPuback: number[];
  fromPublish: number[];
  probeMissing: number;
  catchUpMs: number;
  redeliveries: number;
  serverCpu: number | null;
  clientCpu: number | null;
  /** Other processes on the machine (other developers' builds and tests share it). */
  otherCpu: number | null;
}

/** Devices over MQTT → telemetry topic → one StreamingPull subscriber that acks, for each device count. */
async function endToEnd(ctx: BenchContext, s: PubSubSettings): Promise<E2eRow[]> {
  const rows: E2eRow[] = [];
  await withOwnServer(SERVER_ARGS, async (server) => {
    const client = pubsubClient(server);
    const fleet = await BenchFleet.create();
    const maxDevices = Math.max(...s.deviceCounts);
    const probeId = deviceId(maxDevices + 1);
    const loadgen = LoadGenerator.start(1);
    try {
      await ensureTopic(client, TELEMETRY_TOPIC);
      await provision(server, REGISTRY_PATH, fleet, maxDevices + 1);
      const dial = tlsDial(server);
      const pid = server.process.pid ?? 0;
      for (const devices of s.deviceCounts) {
        ctx.signal.throwIfAborted();
        const group = `pubsub-${devices}`;
        const connected = await loadgen.connect({
          group,
          dial,
          logins: await fleet.logins('ES256', devices),
          concurrency: 50,
          keepaliveSeconds: 300,
          connectTimeoutMs: 15_000,
          deadlineMs: 60_000,
          subscribeConfig: false,
        });
        if (connected.ok < devices) throw new Error(`${connected.ok}/${devices} devices connected: ${connected.errors.map((e) => `${e.count}× ${e.message}`).join('; ')}`);

        const [created] = await client.topic(TELEMETRY_TOPIC).createSubscription(`e2e-${devices}`, { ackDeadlineSeconds: 60 });
        const subscription = client.subscription(created.name, { flowControl: { maxMessages: SUBSCRIBER_OUTSTANDING, allowExcessMessages: false } });
        const probe = await LatencyProbe.start(dial, fleet, probeId);
        const telemetry = new Counter();
        const probes = new Counter();
        let inWindow = 0;
        let windowStart = Number.POSITIVE_INFINITY;
        let windowEnd = Number.POSITIVE_INFINITY;
        const sub = new AckingSubscriber(subscription, (m, at) => {
          if (probe.delivered(m, at)) {
            probes.add();
            return;
          }
          telemetry.add();
          if (at >= windowStart && at < windowEnd) inWindow += 1;
        });
        let meter: CpuMeter | undefined;
        let cpu: CpuShares = { server: null, loadgen: null, other: null };
        try {
          const result = await loadgen.telemetry(
            { group, window: s.window, payloadBytes: PAYLOAD_BYTES, warmupMs: WARMUP_MS, durationMs: s.durationMs, maxMessages: 50_000_000, drainMs: 10_000 },
            (mark) => {
              if (mark === 'measure-start') {
                windowStart = performance.now();
                meter = new CpuMeter(pid);
              } else {
                windowEnd = performance.now();
                cpu = meter?.read() ?? cpu;
              }
            },
          );
          await probe.stop();
          if (result.unacked > 0 || result.lostConnections > 0) {
            throw new Error(`${devices} devices: ${result.unacked} PUBLISHes without PUBACK, ${result.lostConnections} connections lost (${result.lostReasons.map((r) => r.message).join('; ')})`);
          }
          // Everything PUBACKed must reach the subscriber: the figures are only worth printing then.
          const stoppedAt = performance.now();
          await telemetry.reach(result.totalAcks, CATCH_UP_MS, `${devices} devices: PUBACKed telemetry delivered`, ctx.signal);
          await probes.reach(probe.acked, CATCH_UP_MS, `${devices} devices: PUBACKed probes delivered`, ctx.signal);
          sub.check();
          const windowMs = windowEnd - windowStart;
          const lat = probe.latencies(windowStart, windowEnd);
          rows.push({
            devices,
            pubackRate: (result.measuredAcks / result.measuredMs) * 1000,
            deliveredRate: (inWindow / windowMs) * 1000,
            fromPuback: lat.fromPuback,
            fromPublish: lat.fromPublish,
            probeMissing: lat.missing,
            catchUpMs: performance.now() - stoppedAt,
            redeliveries: sub.redeliveries,
            serverCpu: cpu.server,
            clientCpu: cpu.loadgen,
            otherCpu: cpu.other,
          });
          ctx.print(`  ${devices === 0 ? 'probe only' : `${fmtCount(devices)} devices`}: ${fmtCount(result.totalAcks)} PUBACKed, ${fmtCount(telemetry.value)} delivered (+ ${probes.value} probes)`);
        } finally {
          await probe.stop();
          await sub.close();
          await loadgen.close(group);
          await subscription.delete();
        }
      }
    } finally {
      await loadgen.terminate();
      await client.close();
    }
  });
  return rows;
}

interface BacklogRow {
  messages: number;
  publishRate: number;
  drainRate: number;
  drainMs: number;
  redeliveries: number;
}

/**
 * A backlog published through the Publish API (1,000 messages a request) while the subscription
 * exists but nobody reads it, then drained by one StreamingPull subscriber that acks.
 */
async function backlogDrain(ctx: BenchContext, s: PubSubSettings): Promise<BacklogRow> {
  return withOwnServer(SERVER_ARGS, async (server) => {
    const client = pubsubClient(server);
    // The generated client under the library, for requests of exactly 1,000 messages (the library's
    // Topic batches on its own timer). The port the library computed is a number at run time.
    const publisher = new v1.PublisherClient((await client.getClientConfig()) as ConstructorParameters<typeof v1.PublisherClient>[0]);
    try {
      const topic = `projects/${BENCH_PROJECT}/topics/backlog`;
      await client.createTopic(topic);
      const [subscription] = await client.topic(topic).createSubscription('backlog-drain', { ackDeadlineSeconds: 60 });
      const data = Buffer.alloc(PAYLOAD_BYTES, 'bench-backlog-0123456789abcdef-');
      const requests = Math.ceil(s.backlog / PUBLISH_BATCH);
      const t0 = performance.now();
      await pool(requests, PUBLISH_CONCURRENCY, async (i) => {
        ctx.signal.throwIfAborted();
        const count = Math.min(PUBLISH_BATCH, s.backlog - i * PUBLISH_BATCH);
        const [res] = await publisher.publish({ topic, messages: Array.from({ length: count }, () => ({ data })) });
        if (res.messageIds?.length !== count) throw new Error(`Publish returned ${res.messageIds?.length ?? 0} message IDs for ${count} messages`);
      });
      const publishMs = performance.now() - t0;
      ctx.print(`  backlog: ${fmtCount(s.backlog)} messages published in ${fmtMs(publishMs)}`);

      const sub = new AckingSubscriber(
        client.subscription(subscription.name, { flowControl: { maxMessages: SUBSCRIBER_OUTSTANDING, allowExcessMessages: false } }),
      );
      const d0 = performance.now();
      try {
        await sub.distinct.reach(s.backlog, DRAIN_TIMEOUT_MS, 'backlog drained', ctx.signal);
        sub.check();
      } finally {
        await sub.close();
      }
      const drainMs = performance.now() - d0;
      return { messages: s.backlog, publishRate: (s.backlog / publishMs) * 1000, drainRate: (s.backlog / drainMs) * 1000, drainMs, redeliveries: sub.redeliveries };
    } finally {
      await publisher.close();
      await client.close();
    }
  });
}

interface StreamsRow {
  streams: number;
  clients: number;
  baselineRss: number;
  openRss: number;
}

/**
 * Server memory with `streams` open streaming pulls: as many subscriptions on one topic, each
 * opened with one stream, over client objects of STREAMS_PER_CLIENT streams (an HTTP/2
 * connection each). One message published to the topic must reach every subscription: that is
 * how the bench knows every stream is open and served before it reads the memory.
 */
async function openStreams(ctx: BenchContext, s: PubSubSettings): Promise<StreamsRow> {
  return withOwnServer(SERVER_ARGS, async (server) => {
    const pid = server.process.pid ?? 0;
    const admin = pubsubClient(server);
    const clientCount = Math.ceil(s.streams / STREAMS_PER_CLIENT);
    const clients = Array.from({ length: clientCount }, () => pubsubClient(server, true));
    const subscribers: AckingSubscriber[] = [];
    try {
      const topic = admin.topic(`projects/${BENCH_PROJECT}/topics/fanout`);
      await topic.create();
      const names = Array.from({ length: s.streams }, (_, i) => `fanout-${String(i).padStart(5, '0')}`);
      await pool(names.length, 16, async (i) => {
        ctx.signal.throwIfAborted();
        await topic.createSubscription(names[i]!, { ackDeadlineSeconds: 60 });
      });
      const sample = async (): Promise<number> => rssBytes(pid) ?? Number.NaN;
      const baseline = await settledValue(sample, { maxWaitMs: 5_000 });

      const reached = new Counter();
      for (const [i, name] of names.entries()) {
        const subscription = clients[Math.floor(i / STREAMS_PER_CLIENT)]!.subscription(name, { streamingOptions: { maxStreams: 1 }, flowControl: { maxMessages: 10 } });
        subscribers.push(new AckingSubscriber(subscription, () => reached.add()));
      }
      await topic.publishMessage({ data: Buffer.from('fan-out') });
      await reached.reach(s.streams, STREAMS_OPEN_MS, 'subscriptions served over their stream', ctx.signal);
      for (const sub of subscribers) sub.check();
      const open = await settledValue(sample, { maxWaitMs: 8_000 });
      return { streams: s.streams, clients: clientCount, baselineRss: baseline.value, openRss: open.value };
    } finally {
      await Promise.all(subscribers.map((sub) => sub.close().catch(() => undefined)));
      await Promise.all([admin, ...clients].map((c) => c.close().catch(() => undefined)));
    }
  });
}

async function run(ctx: BenchContext): Promise<void> {
  const s = pubsubSettings();
  const facts = machineFacts();
  const pkg = JSON.parse(readFileSync(new URL(import.meta.resolve('@google-cloud/pubsub/package.json')), 'utf8')) as { version: string };
  ctx.print(`== Pub/Sub: devices → MQTT QoS 1 → log → StreamingPull (@google-cloud/pubsub ${pkg.version}) ==`);
  ctx.print(
    `note: client and server share this machine's ${facts.cpuCount} cores (${facts.cpuModel}): the MQTT load generator (a worker thread), ` +
      'the subscribers and the probe run in this process beside the server, so every figure is a floor for a server with cores of its own.',
  );
  ctx.print(
    `load: TLS+JWT devices publishing QoS 1, ${PAYLOAD_BYTES}-byte payloads, ${s.window} in flight each, ${fmtMs(WARMUP_MS)} warm-up + ${fmtMs(s.durationMs)} measured; ` +
      `one StreamingPull subscriber (5 streams, ${fmtCount(SUBSCRIBER_OUTSTANDING)} outstanding) acking each message; ` +
      `latency probe: one more device, a message every ${PROBE_INTERVAL_MS} ms`,
  );

  const e2e = await endToEnd(ctx, s);
  ctx.print();
  for (const line of table(
    ['devices', 'PUBACKed', 'delivered+acked', 'PUBACK→delivery p50', 'p99', 'PUBLISH→delivery p50', 'p99', 'caught up', 'server CPU', 'client CPU', 'others CPU'],
    e2e.map((r) => [
      r.devices === 0 ? 'probe only' : fmtCount(r.devices),
      r.devices === 0 ? '-' : fmtRate(r.pubackRate),
      r.devices === 0 ? '-' : fmtRate(r.deliveredRate),
      fmtSigned(percentile(r.fromPuback, 50)),
      fmtSigned(percentile(r.fromPuback, 99)),
      fmtMs(percentile(r.fromPublish, 50)),
      fmtMs(percentile(r.fromPublish, 99)),
      fmtMs(r.catchUpMs),
      cores(r.serverCpu),
      cores(r.clientCpu),
      cores(r.otherCpu),
    ]),
  )) {
    ctx.print(`  ${line}`);
  }
  for (const r of e2e) {
    ctx.print(`  ${r.devices === 0 ? 'probe only' : `${fmtCount(r.devices)} devices`}: ${r.fromPuback.length} latency probes${r.probeMissing > 0 ? ` (${r.probeMissing} without PUBACK or delivery)` : ''}, ${r.redeliveries} redeliveries`);
  }
  ctx.print('  probe only: no load, the probe device alone (its 100 msgs/s are not in the rates): the pipeline\'s own latency. Under load the subscriber');
  ctx.print('  falls behind the devices, so latency there is mostly the queue that builds up in the measured seconds.');
  ctx.print('  caught up: after the devices stopped, until every PUBACKed message had been delivered (all were). CPU in cores over the measured window.');

  ctx.print();
  ctx.signal.throwIfAborted();
  const b = await backlogDrain(ctx, s);
  const note = b.messages === 1_000_000 ? '' : ` (the issue's figure is 1,000,000: BENCH_PUBSUB_BACKLOG=1000000)`;
  ctx.print(`  backlog of ${fmtCount(b.messages)} messages${note}: published ${fmtRate(b.publishRate)} (Publish, ${PUBLISH_BATCH} per request, ${PUBLISH_CONCURRENCY} in flight)`);
  ctx.print(`  drained by one StreamingPull subscriber (${fmtCount(SUBSCRIBER_OUTSTANDING)} outstanding) in ${fmtMs(b.drainMs)}: ${fmtRate(b.drainRate)}, ${b.redeliveries} redeliveries`);

  ctx.print();
  ctx.signal.throwIfAborted();
  const m = await openStreams(ctx, s);
  const perStream = (m.openRss - m.baselineRss) / m.streams;
  ctx.print(
    `  ${fmtCount(m.streams)} open streaming pulls (one per subscription, over ${m.clients} client objects / HTTP/2 connections): ` +
      `server RSS ${mib(m.openRss)} (${mib(m.baselineRss)} with the subscriptions and no stream), ${(perStream / 1024).toFixed(1)} KiB per stream`,
  );
}

export const pubsubBench: BenchSection = {
  name: 'pubsub',
  summary: 'Pub/Sub: MQTT device → StreamingPull msgs/s + PUBACK→delivery p50/p99 (100, 1,000 devices), backlog drain, RSS with 1,000 streams',
  ownServers: true,
  run,
};

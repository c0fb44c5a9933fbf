import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { PgStore } from '../src/adapters/store/postgres/pg-store.js';
import { SqliteStore } from '../src/adapters/store/sqlite/sqlite-store.js';
import type { Store } from '../src/services/ports.js';
import { makeDevice, makeRegistry, regKey } from '../test/contracts/store-fixtures.js';
import { startCluster, type TestCluster } from '../test/support/cluster.js';
import { startPostgres } from '../test/support/postgres.js';
import { startServer, type StartedServer } from '../test/support/server.js';
import { fmtMs, fmtRate, summarize, table, type BenchSection } from './lib.js';
import { provision } from './loadgen/bridgehead.js';
import type { DialSpec } from './loadgen/connection.js';
import { BENCH_LOCATION, BENCH_PROJECT, BENCH_REGISTRY, BenchFleet } from './loadgen/devices.js';
import { Histogram } from './loadgen/histogram.js';
import { LoadGenerator } from './loadgen/pool.js';
import { cpuMs, machineBusyMs } from './loadgen/proc.js';

/**
 * Scale-out on this machine: the same load generator (one worker thread) against the embedded
 * single node and against clusters of 1, 2 and 3 nodes on one PostgreSQL and one nats-server -js,
 * devices spread over the nodes in turn:
 * - TLS + JWT connects/s,
 * - QoS 1 telemetry msgs/s (plain TCP, PUBACK after the durable append: SQLite log or JetStream),
 *   with the CPU the nodes and the whole machine spent on it,
 * - config-update-to-device latency with the device on the first node and the REST call on the
 *   last (across nodes from 2 up: the update travels over NATS),
 * and, in-process, the PostgreSQL store's latency beside SQLite's for getDevice, listDevices and
 * createDevice (both durable: fsync on).
 * On 2 cores every process shares the same two CPUs: more nodes add work (NATS hops, JetStream) and
 * no CPU, so the figures show the cost of the cluster path, not its capacity.
 */

const env = (name: string, fallback: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
};
const CONNECT_DEVICES = env('BENCH_CLUSTER_CONNECTS', 300);
const TELEMETRY_DEVICES = env('BENCH_CLUSTER_DEVICES', 100);
const WINDOW = 10;
const MEASURE_MS = env('BENCH_CLUSTER_SECONDS', 8) * 1000;
const CONFIG_DEVICES = 40;
const CONFIG_SAMPLES = env('BENCH_CLUSTER_CONFIG_SAMPLES', 160);
const STORE_DEVICES = env('BENCH_CLUSTER_STORE_DEVICES', 500);

const MQTT_ARGS = ['--mqtt-listen', '127.0.0.1:0', '--mqtt-plain-listen', '127.0.0.1:0', '--mqtt-max-msgs-per-sec', '0'];
const REGISTRIES = `/v1/projects/${BENCH_PROJECT}/locations/${BENCH_LOCATION}/registries`;

interface Row {
  setup: string;
  connects: string;
  connectP99: string;
  msgs: string;
  pubackP50: string;
  pubackP99: string;
  nodeCpu: string;
  machine: string;
  configP50: string;
  configP99: string;
}

const ms = (ns: number): string => fmtMs(ns / 1e6);

function dials(nodes: readonly StartedServer[], transport: 'tls' | 'plain'): DialSpec[] {
  return nodes.map((n) => {
    const url = new URL(transport === 'tls' ? (n.info.mqtt[0] ?? '') : (n.info.mqttPlain[0] ?? ''));
    return transport === 'tls'
      ? { transport, host: url.hostname, port: Number(url.port), caPem: readFileSync(n.info.caFile, 'utf8'), servername: 'localhost' }
      : { transport, host: url.hostname, port: Number(url.port) };
  });
}

/** One setup measured: its nodes are up, nothing provisioned yet. */
async function measure(setup: string, nodes: readonly StartedServer[], fleet: BenchFleet, print: (l: string) => void): Promise<Row> {
  const first = nodes[0]!;
  const last = nodes[nodes.length - 1]!;
  await provision(first, REGISTRIES, fleet, CONNECT_DEVICES + TELEMETRY_DEVICES + CONFIG_DEVICES);
  const gen = LoadGenerator.start(1);
  try {
    // TLS + JWT connects, spread over the nodes.
    const connect = await gen.connect({
      group: 'connects',
      dial: dials(nodes, 'tls'),
      logins: await fleet.logins('ES256', CONNECT_DEVICES),
      concurrency: 16,
      keepaliveSeconds: 60,
      connectTimeoutMs: 15_000,
      deadlineMs: 60_000,
      subscribeConfig: false,
    });
    if (connect.failed > 0) print(`  ${setup}: ${connect.failed} connects failed: ${connect.errors.map((e) => `${e.message} ×${e.count}`).join('; ')}`);
    await gen.close('connects');
    const connectLatency = new Histogram(connect.latency.counts);

    // QoS 1 telemetry on plain TCP, window 10 per device.
    await gen.connect({
      group: 'telemetry',
      dial: dials(nodes, 'plain'),
      logins: await fleet.logins('ES256', TELEMETRY_DEVICES, CONNECT_DEVICES + 1),
      concurrency: 16,
      keepaliveSeconds: 60,
      connectTimeoutMs: 15_000,
      deadlineMs: 60_000,
      subscribeConfig: false,
    });
    const pids = nodes.map((n) => n.process.pid ?? 0);
    let cpu0 = 0;
    let machine0 = 0;
    let t0 = 0;
    let nodeCores = Number.NaN;
    let machineCores = Number.NaN;
    const telemetry = await gen.telemetry({ group: 'telemetry', window: WINDOW, payloadBytes: 100, warmupMs: 2_000, durationMs: MEASURE_MS, maxMessages: Number.MAX_SAFE_INTEGER, drainMs: 10_000 }, (mark) => {
      const cpu = pids.reduce((s, p) => s + (cpuMs(p) ?? Number.NaN), 0);
      const machine = machineBusyMs() ?? Number.NaN;
      if (mark === 'measure-start') {
        [cpu0, machine0, t0] = [cpu, machine, performance.now()];
      } else {
        const wall = performance.now() - t0;
        nodeCores = (cpu - cpu0) / wall;
        machineCores = (machine - machine0) / wall;
      }
    });
    if (telemetry.lostConnections > 0 || telemetry.unacked > 0) {
      print(`  ${setup}: ${telemetry.lostConnections} connections lost, ${telemetry.unacked} PUBLISHes unacked after the drain`);
    }
    await gen.close('telemetry');
    const rate = telemetry.measuredAcks / (telemetry.measuredMs / 1000);
    const puback = new Histogram(telemetry.latency.counts);

    // Config latency: devices on the first node, the update through the last node's REST API.
    await gen.connect({
      group: 'config',
      dial: dials([first], 'plain'),
      logins: await fleet.logins('ES256', CONFIG_DEVICES, CONNECT_DEVICES + TELEMETRY_DEVICES + 1),
      concurrency: 8,
      keepaliveSeconds: 60,
      connectTimeoutMs: 15_000,
      deadlineMs: 60_000,
      subscribeConfig: true,
    });
    const config = await gen.config({
      group: 'config',
      trigger: { kind: 'rest', devicesUrl: `${last.api}${REGISTRIES}/${BENCH_REGISTRY}/devices/`, token: last.token },
      samples: CONFIG_SAMPLES,
      concurrency: 4,
      minIntervalPerDeviceMs: 1_200,
      sampleTimeoutMs: 10_000,
      deadlineMs: 60_000,
    });
    if (config.timeouts > 0 || config.httpErrors.length > 0) {
      print(`  ${setup}: config ${config.timeouts} timeouts, HTTP errors ${config.httpErrors.map((e) => `${e.message} ×${e.count}`).join('; ')}`);
    }
    await gen.close('config');
    const cfg = new Histogram(config.latency.counts);
    return {
      setup,
      connects: fmtRate(connect.ok / (connect.elapsedMs / 1000)),
      connectP99: ms(connectLatency.quantile(0.99)),
      msgs: fmtRate(rate),
      pubackP50: ms(puback.quantile(0.5)),
      pubackP99: ms(puback.quantile(0.99)),
      nodeCpu: Number.isFinite(nodeCores) ? `${nodeCores.toFixed(2)} (${Math.round(rate / nodeCores)}/CPU-s)` : '-',
      machine: Number.isFinite(machineCores) ? machineCores.toFixed(2) : '-',
      configP50: ms(cfg.quantile(0.5)),
      configP99: ms(cfg.quantile(0.99)),
    };
  } finally {
    await gen.terminate();
  }
}

/** Sequential calls, one at a time: the latency an API request sees from its store. */
async function storeLatency(store: Store): Promise<Record<'create' | 'get' | 'list', number[]>> {
  const k = regKey('bench-store');
  await store.createRegistry(makeRegistry(k));
  const create: number[] = [];
  for (let i = 0; i < STORE_DEVICES; i++) {
    const t = performance.now();
    await store.createDevice(makeDevice(k, `d-${String(i).padStart(6, '0')}`));
    create.push(performance.now() - t);
  }
  const get: number[] = [];
  for (let i = 0; i < STORE_DEVICES * 4; i++) {
    const id = `d-${String((i * 7919) % STORE_DEVICES).padStart(6, '0')}`;
    const t = performance.now();
    if ((await store.getDevice(k, id)) === undefined) throw new Error(`getDevice ${id}: not found`);
    get.push(performance.now() - t);
  }
  const list: number[] = [];
  for (let i = 0; i < 200; i++) {
    // Pages of 100 from varying starting points, as an operator pages through a registry.
    const after = `d-${String((i * 37) % (STORE_DEVICES - 100)).padStart(6, '0')}`;
    const t = performance.now();
    const page = await store.listDevices(k, {}, after, 100);
    list.push(performance.now() - t);
    if (page.items.length !== 100) throw new Error(`listDevices after ${after}: ${page.items.length} devices`);
  }
  return { create, get, list };
}

async function storeBench(print: (l: string) => void): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bh-bench-store-'));
  const pg = await startPostgres({ fast: false });
  let sqlite: SqliteStore | undefined;
  let pgStore: PgStore | undefined;
  try {
    sqlite = SqliteStore.open(join(dir, 'registry.db'));
    pgStore = await PgStore.open(await pg.createDatabase('bench'));
    const results = [
      ['SQLite', await storeLatency(sqlite)],
      ['PostgreSQL', await storeLatency(pgStore)],
    ] as const;
    const rows: string[][] = [];
    for (const op of ['get', 'list', 'create'] as const) {
      for (const [name, r] of results) {
        const s = summarize(r[op]);
        rows.push([{ get: 'getDevice', list: 'listDevices (page of 100)', create: 'createDevice' }[op], name, String(r[op].length), fmtMs(s.p50), fmtMs(s.p99)]);
      }
    }
    print(`store latency, in process, one call at a time (${STORE_DEVICES} devices; both durable, fsync on):`);
    for (const line of table(['operation', 'store', 'calls', 'p50', 'p99'], rows)) print(`  ${line}`);
  } finally {
    await pgStore?.close();
    await sqlite?.close();
    await pg.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function run(print: (l: string) => void): Promise<void> {
  const fleet = await BenchFleet.create();
  const rows: Row[] = [];
  const embedded = await startServer({ args: MQTT_ARGS });
  try {
    rows.push(await measure('embedded, 1 node (SQLite + embedded log)', [embedded], fleet, print));
  } finally {
    await embedded.cleanup();
  }
  for (const n of [1, 2, 3]) {
    let cluster: TestCluster | undefined;
    try {
      cluster = await startCluster({ nodes: n, args: MQTT_ARGS });
      rows.push(await measure(`cluster, ${n} node${n > 1 ? 's' : ''} (PostgreSQL + JetStream)`, cluster.nodes, fleet, print));
    } finally {
      await cluster?.cleanup();
    }
  }
  print(`${CONNECT_DEVICES} TLS + JWT connects (16 at a time); QoS 1 telemetry: ${TELEMETRY_DEVICES} devices × window ${WINDOW}, 100 B, ${MEASURE_MS / 1000} s; config: ${CONFIG_DEVICES} devices on the first node, update via the last node's REST API`);
  const cells = rows.map((r) => [r.setup, r.connects, r.connectP99, r.msgs, r.pubackP50, r.pubackP99, r.nodeCpu, r.machine, r.configP50, r.configP99]);
  for (const line of table(['setup', 'connects/s', 'connect p99', 'QoS 1 msgs/s', 'PUBACK p50', 'p99', 'node CPUs', 'machine CPUs', 'config p50', 'config p99'], cells)) print(`  ${line}`);
  print('  node CPUs: cores the Bridgehead processes used during the telemetry window (msgs per CPU-second); machine CPUs: every process, PostgreSQL, nats-server and the load generator included (2 cores here).');
  await storeBench(print);
}

export const clusterBench: BenchSection = {
  name: 'cluster',
  summary: 'scale-out: embedded vs 1/2/3 nodes on PostgreSQL + NATS JetStream (connects/s, QoS 1 msgs/s, cross-node config latency), PG vs SQLite store latency',
  ownServers: true,
  run: (ctx) => run(ctx.print),
};

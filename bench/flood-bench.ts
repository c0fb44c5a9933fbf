/**
 * Flood of sockets that never authenticate, and a slow reader (docs/compat.md C-MQTT-TIMEOUTS,
 * C-MQTT-MAXCONN, C-MQTT-BACKLOG), against a server of its own over loopback: thousands of silent
 * TCP sockets, TLS sockets that send nothing, half a ClientHello, a ClientHello trickled a byte at
 * a time, or finish the handshake and never send CONNECT; plus a device with a 64 KiB config that
 * stops reading and sends 20,000 config SUBSCRIBEs. Bounded in count and time. Prints when the
 * server closed each kind against the documented timeout, the slow reader's fate, the server's
 * RSS before / during / after (and up to 60 s after the last round), and a healthy device's
 * PUBACK latency idle vs during the flood (target: p99 during ≤ 2× idle), overall and by second.
 * Three rounds: the sockets as fast as the flood opens them, paced over 10 s, then as fast
 * again; the later rounds show whether the memory the first took is reused or grows. The
 * attackers run in a child process of their own; the healthy device here.
 *
 * BENCH_FLOOD_PER_KIND (default 1,200 sockets of each of the 5 kinds) changes the size.
 * BENCH_FLOOD_SERVER_ARGS (space-separated) adds server flags, to compare settings.
 * BENCH_HEAP_DIR=dir: the server writes a heap snapshot there when idle and after the last
 * round's later readings, and what the second holds more than the first is printed. Writing a
 * snapshot stalls the server and leaves its RSS far higher (128 -> 309 MiB in one run): the
 * latency and RSS figures of such a run are not comparable with others.
 */
import { fork } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setIdlePolicy } from '../src/main/helper-threads.js';
import { api, type StartedServer } from '../test/support/server.js';
import { caOf, createDevice, createRegistry, devicePath, mqttsUrl, mqttUrl, type TestDevice } from '../test/support/fleet.js';
import { assertDevicePublishes, disconnects, metricsText } from '../test/support/mqtt-health.js';
import { clientHello, STALL_KINDS, type StallKind } from '../test/support/stalled-sockets.js';
import { fmtCount, fmtMs, now, percentile, table, type BenchSection } from './lib.js';
import type { FloodJob, FloodMessage } from './loadgen/flood-child.js';
import { alive, containedBugs, withOwnServer } from './loadgen/own-server.js';
import { censusDiff } from './loadgen/heap-snapshot.js';
import { heapSnapshotArgs, heapSnapshotOf } from './loadgen/heap-snapshot-signal.js';
import { cpuMs, rssBytes } from './loadgen/proc.js';
import { PubackProbe } from './loadgen/puback-probe.js';

const REG = 'reg-flood';
const IDLE_MS = 15_000;
const PROBE_INTERVAL_MS = 20;
/** The flood is given up on after this long (the documented limits are 10 s, 20 s for TLS). */
const FLOOD_DEADLINE_MS = 40_000;
const SLOW_SUBSCRIBES = 20_000;
/** When (s after the last round's sockets are gone) the server's RSS is read again. */
const RSS_LATER_S = [5, 15, 30, 60];
/** The slow reader starts this long into each flood, so that the figures by second tell its cost apart. */
const SLOW_READER_AFTER_MS = 5_000;
/** The second round's pace: the same sockets over 10 s. */
const PACED_PER_SECOND = 600;

/** The documented limit per kind (docs/compat.md C-MQTT-TIMEOUTS), and what it is. */
const DOCUMENTED: Record<StallKind, { ms: number; what: string }> = {
  'tcp-silent': { ms: 10_000, what: 'CONNECT within 10 s of admission' },
  'tls-silent': { ms: 10_000, what: 'TLS handshake within 10 s of admission' },
  'tls-partial-hello': { ms: 10_000, what: 'TLS handshake within 10 s of admission' },
  'tls-trickled-hello': { ms: 10_000, what: 'TLS handshake within 10 s of admission' },
  'tls-no-connect': { ms: 10_000, what: 'CONNECT within 10 s of the handshake' },
};

export interface FloodBenchOptions {
  signal?: AbortSignal;
  print?: (line?: string) => void;
}

export async function runFloodBench(opts: FloodBenchOptions = {}): Promise<void> {
  const print = opts.print ?? ((line = ''): void => console.log(line));
  const perKind = Number(process.env.BENCH_FLOOD_PER_KIND ?? 1200);
  // Extra server flags, space-separated, to compare settings (say, --mqtt-max-conn-rate 300).
  const extraArgs = (process.env.BENCH_FLOOD_SERVER_ARGS ?? '').split(' ').filter(Boolean);
  print('== MQTT flood: sockets that never authenticate, and a slow reader ==');
  print(
    `${fmtCount(perKind * STALL_KINDS.length)} sockets (${fmtCount(perKind)} of each: ${STALL_KINDS.join(', ')}), opened from a child process at SCHED_IDLE priority (100 at a time; round 2 paced at ${PACED_PER_SECOND}/s); ` +
      `a device with a 64 KiB config that stops reading and sends ${fmtCount(SLOW_SUBSCRIBES)} config SUBSCRIBEs over TLS ${SLOW_READER_AFTER_MS / 1000} s into each round; a healthy device publishing QoS 1 every ${PROBE_INTERVAL_MS} ms over TLS; ` +
      `server --mqtt-max-msgs-per-sec 0 (so that the slow reader meets the unread-bytes bound, not the rate limit)${extraArgs.length ? ` ${extraArgs.join(' ')}` : ''}`,
  );
  const heapDir = process.env.BENCH_HEAP_DIR ?? '';
  if (heapDir !== '') process.env.BRIDGEHEAD_SERVER_NODE_ARGS = [process.env.BRIDGEHEAD_SERVER_NODE_ARGS ?? '', ...heapSnapshotArgs(heapDir)].join(' ').trim();
  await withOwnServer(['--mqtt-max-msgs-per-sec', '0', ...extraArgs], async (server) => {
    await createRegistry(server, REG);
    const healthy = await createDevice(server, REG, 'healthy-dev');
    const slow = await createDevice(server, REG, 'slow-reader');
    const set = await api(server, 'POST', `${devicePath(REG, slow.id)}:modifyCloudToDeviceConfig`, { binaryData: Buffer.alloc(64 * 1024, 0x5a).toString('base64') });
    if (set.status !== 200) throw new Error(`config: ${JSON.stringify(set.json)}`);
    const pid = server.process.pid ?? -1;
    const rss: { at: number; bytes: number }[] = [];
    const sampler = setInterval(() => rss.push({ at: now(), bytes: rssBytes(pid) ?? 0 }), 250);
    const probe = await PubackProbe.start(server, healthy, PROBE_INTERVAL_MS);
    try {
      await sleep(2_000);
      const idleFrom = now();
      const commitsAtIdle = await commitBuckets(server);
      await sleep(IDLE_MS);
      const rssIdle = rssBytes(pid) ?? 0;
      const idleCommits = commitShare(commitsAtIdle, await commitBuckets(server));
      const idleTo = now();
      const heapIdle = await v8Heap(server);
      // After the idle window: the snapshot's full GC stalls the server.
      const censusIdle = heapDir === '' ? null : await heapSnapshotOf(pid, heapDir);
      const rows: string[][] = [['idle', ...latency(probe.between(idleFrom, idleTo))]];
      const idleP99 = percentile(probe.between(idleFrom, idleTo), 99);
      // As fast as the flood can open sockets, paced, then as fast again: the later rounds show
      // whether the memory the first one took is reused or keeps growing.
      for (const [round, perSecond] of [
        [1, undefined],
        [2, PACED_PER_SECOND],
        [3, undefined],
      ] as const) {
        if (opts.signal?.aborted === true) break;
        print();
        print(`-- flood, round ${round}: ${perSecond === undefined ? 'as fast as the worker opens them' : `${perSecond} new sockets per second`}`);
        const rssBefore = rssBytes(pid) ?? 0;
        const cpuBefore = cpuMs(pid) ?? 0;
        const commitsBefore = await commitBuckets(server);
        const flood = await runFlood(server, slow, perKind, print, perSecond);
        const { from: floodFrom, slowReader } = flood;
        const floodTo = now();
        const cpuDuring = (cpuMs(pid) ?? 0) - cpuBefore;
        const commits = commitShare(commitsBefore, await commitBuckets(server));
        print(`  every stalled socket closed ${fmtMs(floodTo - floodFrom)} after the flood began; slow reader ${slowReader}`);
        for (const line of table(
          ['kind', 'sockets', 'closed by server', 'closed after: median', 'last', 'last − limit', 'documented limit'],
          STALL_KINDS.map((k) => {
            const last = Math.max(0, ...flood.closed[k]);
            return [k, fmtCount(flood.opened[k]), fmtCount(flood.closed[k].length), fmtMs(percentile(flood.closed[k], 50)), fmtMs(last), signedMs(last - DOCUMENTED[k].ms), DOCUMENTED[k].what];
          }),
        ))
          print(`  ${line}`);
        if (flood.failedToOpen > 0) print(`  (${flood.failedToOpen} sockets could not be opened)`);
        const shed = await disconnects(server, 'admission-timeout');
        if (shed > 0) print(`  ${fmtCount(shed)} sockets so far shed before admission (docs/compat.md C-MQTT-ADMISSION)`);
        await sleep(5_000);
        const rssAfter = rssBytes(pid) ?? 0;
        const peak = Math.max(0, ...rss.filter((r) => r.at >= floodFrom && r.at <= floodTo).map((r) => r.bytes));
        const sockets = perKind * STALL_KINDS.length;
        print(`  server RSS: ${mib(rssBefore)} before, ${mib(peak)} peak during (${((peak - rssBefore) / sockets / 1024).toFixed(1)} KiB per socket), ${mib(rssAfter)} 5 s after the abusive connections ended (${await v8Heap(server)})`);
        print(`  server CPU during the flood: ${fmtMs(cpuDuring)} (${((cpuDuring * 1000) / sockets).toFixed(0)} µs per socket, accept to close, TLS handshakes included)`);
        const during = probe.between(floodFrom, floodTo);
        const bySecond = Array.from({ length: Math.ceil((floodTo - floodFrom) / 1000) }, (_, i) => percentile(probe.between(floodFrom + i * 1000, floodFrom + (i + 1) * 1000), 99));
        print(`  healthy PUBACK p99 by second of the flood: ${bySecond.map((ms) => (Number.isNaN(ms) ? '-' : ms.toFixed(0))).join(' ')} ms`);
        print(`  healthy device: ${over(during, 5)} PUBACKs over 5 ms, ${over(during, 10)} over 10 ms, at the device; ingress to commit in the server: ${commits}`);
        rows.push([`flood round ${round} (${perSecond === undefined ? 'burst' : `${perSecond}/s`})`, ...latency(during), (percentile(during, 99) / idleP99).toFixed(2)]);
      }
      // V8 gives back the pages of a heap the flood grew only after major GCs, which an idle
      // server runs on its own a while later: the readings that say whether memory came back.
      const lastEnded = now();
      const later: string[] = [];
      for (const at of RSS_LATER_S) {
        await sleep(Math.max(0, lastEnded + at * 1000 - now()));
        later.push(`${mib(rssBytes(pid) ?? 0)} at ${at} s`);
      }
      print();
      print(`server RSS idle before the floods: ${mib(rssIdle)} (${heapIdle}); after the last round: ${later.join(', ')} (${await v8Heap(server)})`);
      if (censusIdle !== null) {
        const censusAfter = await heapSnapshotOf(pid, heapDir);
        if (censusAfter !== null) for (const line of censusDiff(censusIdle, censusAfter, 1, 25)) print(`  ${line}`);
      }
      for (const line of table(['healthy device PUBACK', 'messages', 'p50', 'p99', 'max', 'p99 / idle'], rows)) print(`  ${line}`);
      const idle = probe.between(idleFrom, idleTo);
      print(`  idle: ${over(idle, 5)} PUBACKs over 5 ms, ${over(idle, 10)} over 10 ms, at the device; ingress to commit in the server: ${idleCommits}`);
      print(`target: p99 during ≤ 2 × idle; publish failures: ${probe.failures}`);
      await probe.stop();
      let health = 'published with PUBACK after the floods';
      try {
        await assertDevicePublishes(server, REG, healthy);
      } catch (e) {
        health = `FAILED after the floods: ${e instanceof Error ? e.message : String(e)}`;
      }
      print(`crashes: ${alive(server) ? 0 : 1}; bugs contained at one connection: ${containedBugs(server).length}; healthy device ${health}`);
    } finally {
      clearInterval(sampler);
      await probe.stop();
    }
  });
}

/** Close times are taken in the flood's worker thread, whose own delays add to them. */
const signedMs = (ms: number): string => `${ms >= 0 ? '+' : '−'}${fmtMs(Math.abs(ms))}`;

const latency = (xs: number[]): string[] => [fmtCount(xs.length), fmtMs(percentile(xs, 50)), fmtMs(percentile(xs, 99)), fmtMs(percentile(xs, 100))];

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

/** The V8 heap's size and use from the server's metrics: what of its RSS is JS, not native memory. */
async function v8Heap(server: StartedServer): Promise<string> {
  const text = await metricsText(server);
  const value = (name: string): number => Number(new RegExp(`^bridgehead_${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  return `V8 heap ${mib(value('nodejs_heap_size_total_bytes'))}, ${mib(value('nodejs_heap_size_used_bytes'))} used`;
}

/**
 * The server's own count of device messages by time from ingress to commit
 * (bridgehead_mqtt_puback_latency_seconds, cumulative by upper bound in seconds). Only the
 * healthy device publishes, so the difference over a round is its messages: what of its PUBACK
 * times the commit path took, as against waiting to be read at all.
 */
async function commitBuckets(server: StartedServer): Promise<Map<string, number>> {
  const text = await metricsText(server);
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^bridgehead_mqtt_puback_latency_seconds_bucket\{le="([^"]+)"\} (\S+)$/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

/** "n of m over 5 ms, k over 10 ms" from two commitBuckets readings. */
function commitShare(before: Map<string, number>, after: Map<string, number>): string {
  const d = (le: string): number => (after.get(le) ?? 0) - (before.get(le) ?? 0);
  const all = d('+Inf');
  return `${fmtCount(all)} messages, ${fmtCount(all - d('0.005'))} over 5 ms, ${fmtCount(all - d('0.01'))} over 10 ms`;
}

const over = (xs: number[], ms: number): number => xs.filter((x) => x > ms).length;

interface FloodResult {
  /** now() when the attackers' clock started. */
  from: number;
  opened: Record<StallKind, number>;
  closed: Record<StallKind, number[]>;
  failedToOpen: number;
  /** What became of the slow reader. */
  slowReader: string;
}

/**
 * Runs one round of the attack from a child process (loadgen/flood-child.ts): the stalled
 * sockets, and the slow reader SLOW_READER_AFTER_MS in. Resolves once every stalled socket is
 * closed (or given up on) and the slow reader's fate is known.
 */
async function runFlood(server: StartedServer, slow: TestDevice, perKind: number, print: (l?: string) => void, perSecond: number | undefined): Promise<FloodResult> {
  const job: FloodJob = {
    targets: { plain: mqttUrl(server), tls: mqttsUrl(server), ca: caOf(server).toString(), hello: [...(await clientHello())] },
    perKind,
    concurrency: Number(process.env.BENCH_FLOOD_CONCURRENCY ?? 100),
    ...(perSecond === undefined ? {} : { perSecond }),
    deadlineMs: FLOOD_DEADLINE_MS,
    slowReader: { clientId: slow.clientId, jwt: await slow.jwt(), topic: `/devices/${slow.id}/config`, subscribes: SLOW_SUBSCRIBES, afterMs: SLOW_READER_AFTER_MS },
  };
  const child = fork(fileURLToPath(new URL('./loadgen/flood-child.js', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  // An attacker's CPU is not the server's: on a 2-core machine the flood's own TLS handshakes
  // would otherwise take the core the healthy device's client and the server's commits need, and
  // its cost would be measured as the server's latency. SCHED_IDLE still gets it any idle CPU; a
  // nice value is not enough on Linux's EEVDF scheduler, where a nice 19 thread keeps a core for a
  // whole slice (src/main/helper-threads.ts). Threads the child starts later inherit the policy.
  if (child.pid !== undefined) lowerProcess(child.pid);
  const closed = Object.fromEntries(STALL_KINDS.map((k) => [k, [] as number[]])) as Record<StallKind, number[]>;
  const opened = Object.fromEntries(STALL_KINDS.map((k) => [k, perKind])) as Record<StallKind, number>;
  let failedToOpen = 0;
  let from = now();
  try {
    const droppedBefore = await disconnects(server, 'write-backlog-exceeded');
    let slowReader: Promise<string> = Promise.resolve('never connected');
    await new Promise<void>((resolve, reject) => {
      child.on('message', (m: FloodMessage) => {
        if (m.type === 'ready') child.send(job);
        else if (m.type === 'started') from = now();
        else if (m.type === 'closed') closed[m.kind].push(m.afterMs);
        else if (m.type === 'slow-sent') slowReader = slowReaderFate(server, droppedBefore, now(), from + FLOOD_DEADLINE_MS);
        else if (m.type === 'slow-failed') slowReader = Promise.resolve(`FAILED: ${m.error}`);
        else if (m.type === 'opened') {
          failedToOpen = m.failed;
          print(`  ${fmtCount(m.count)} sockets open after ${fmtMs(m.ms)}${m.failed > 0 ? ` (${m.failed} failed to open)` : ''}`);
        } else {
          const left = STALL_KINDS.filter((k) => m.stillOpen[k] > 0).map((k) => `${k}: ${m.stillOpen[k]}`);
          if (left.length > 0) print(`  ! still open after ${fmtMs(FLOOD_DEADLINE_MS)} (given up): ${left.join(', ')}`);
          resolve();
        }
      });
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`the flood's process exited early (${String(code)})`)));
    });
    return { from, opened, closed, failedToOpen, slowReader: await slowReader };
  } finally {
    child.kill('SIGKILL');
  }
}

/** Whether the server dropped the slow reader for its backlog (counted in its metrics), and when. */
async function slowReaderFate(server: StartedServer, droppedBefore: number, sentAt: number, deadline: number): Promise<string> {
  while (now() < deadline) {
    if ((await disconnects(server, 'write-backlog-exceeded')) > droppedBefore) return `dropped by the server within ${fmtMs(now() - sentAt)} of its SUBSCRIBEs (write-backlog-exceeded)`;
    await sleep(250);
  }
  return `NOT dropped within ${fmtMs(FLOOD_DEADLINE_MS)}`;
}

export const floodBench: BenchSection = {
  name: 'flood',
  summary: 'MQTT flood: 6,000 silent/half-open TCP and TLS sockets and a slow reader; close times vs timeouts, RSS, healthy PUBACK p50/p99 idle vs during',
  ownServers: true,
  run: (ctx) => runFloodBench({ signal: ctx.signal, print: ctx.print }),
};

// `node dist/bench/flood-bench.js` runs this section alone.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.once('SIGINT', () => process.exit(130));
  runFloodBench().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}

/** Every thread of a process to SCHED_IDLE, or nice 19 where chrt is missing. */
function lowerProcess(pid: number): void {
  const tids = readdirSync(`/proc/${pid}/task`).map(Number);
  if (!setIdlePolicy(tids)) setPriority(pid, 19);
}

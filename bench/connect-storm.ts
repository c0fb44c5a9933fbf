/**
 * `node dist/bench/connect-storm.js`: what a TLS + JWT connect costs the server, in CPU and in
 * memory, measured on the MQTT bench's own load generator (bench/loadgen) but without the rest
 * of `npm run bench -- mqtt`, so that a change can be measured before and after in a minute.
 *
 * For each run and algorithm: a storm of BENCH_CONNECTS connects (50 in flight), the server's CPU
 * time over it (/proc, all threads) per connect, then the connections are closed again. Mosquitto
 * (when installed, unless BENCH_MOSQUITTO=0) and a bare Node TLS server (bench/loadgen/bare-tls-server.ts,
 * the floor of any Node server; unless BENCH_BARE_TLS=0) and the floor of a Node JWT device broker
 * (bench/loadgen/floor-device-server.ts: the CONNECT parsed, the JWT checked against the device's
 * SQLite row; unless BENCH_NODE_FLOOR=0) take the same storms in turn. Optionally:
 * - BENCH_PROFILE_DIR=dir: the Node servers run with --cpu-prof; afterwards the samples of their
 *   storms (only those) are summarised by stage and function (bench/loadgen/cpu-profile.ts).
 * - BENCH_IDLE_DEVICES=n: at the end, n devices connect to each server and stay idle; RSS per idle
 *   device is measured after a forced GC, like the bench's memory row.
 * - BENCH_BASELINE_DIST=dir: another build's dist/ (e.g. of main) runs as a second Bridgehead,
 *   "baseline", in the same storms: a before/after comparison under the same machine noise.
 * - BENCH_HEAP_DIR=dir: with BENCH_IDLE_DEVICES, the Node servers also write heap snapshots there
 *   before and after, and what each idle device added is listed by constructor.
 * Loopback only, bounded in count (10,000) and time; the figures are only as quiet as the machine.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startBridgehead } from './loadgen/bridgehead.js';
import { summariseProfile, type CpuProfile } from './loadgen/cpu-profile.js';
import { censusDiff } from './loadgen/heap-snapshot.js';
import { heapSnapshotArgs, heapSnapshotOf } from './loadgen/heap-snapshot-signal.js';
import { BenchFleet } from './loadgen/devices.js';
import { findMosquitto, startMosquitto } from './loadgen/mosquitto.js';
import { LoadGenerator } from './loadgen/pool.js';
import { CpuMeter, median, rssBytes, settledValue, waitForQuiet } from './loadgen/proc.js';
import { startBareTls, startDeviceFloor, type StormTarget } from './loadgen/bare-tls.js';
import type { BenchTarget } from './loadgen/target.js';

type Alg = 'ES256' | 'RS256';

function envInt(name: string, fallback: number, max: number): number {
  const n = Number(process.env[name] ?? '');
  return Number.isSafeInteger(n) && n > 0 ? Math.min(n, max) : fallback;
}

const CONNECTS = envInt('BENCH_CONNECTS', 1_000, 10_000);
// 0: no storms (a memory-only run on a fresh server).
const RUNS = process.env.BENCH_RUNS === '0' ? 0 : envInt('BENCH_RUNS', 3, 10);
const IDLE = Number(process.env.BENCH_IDLE_DEVICES ?? '0') > 0 ? envInt('BENCH_IDLE_DEVICES', 0, 10_000) : 0;
const ALGS: Alg[] = (process.env.BENCH_ALGS ?? 'ES256,RS256').split(',').filter((a): a is Alg => a === 'ES256' || a === 'RS256');
const PROFILE_DIR = process.env.BENCH_PROFILE_DIR ?? '';
const WITH_MOSQUITTO = process.env.BENCH_MOSQUITTO !== '0';
const WITH_BARE = process.env.BENCH_BARE_TLS !== '0';
const WITH_FLOOR = process.env.BENCH_NODE_FLOOR !== '0';
const HEAP_DIR = process.env.BENCH_HEAP_DIR ?? '';
const BASELINE_DIST = process.env.BENCH_BASELINE_DIST ?? '';

const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

interface Storm {
  target: string;
  alg: Alg;
  ok: number;
  ms: number;
  serverCores: number | null;
  otherCores: number | null;
  /** Server CPU per accepted connect, µs. */
  cpuUs: number | null;
}

async function storm(t: StormTarget, lg: LoadGenerator, fleet: BenchFleet, alg: Alg, group: string, count: number, round: number): Promise<Storm> {
  // Fresh tokens for every storm: a storm that repeated the last one's would measure the server's token cache.
  const logins = await fleet.freshLogins(alg, count, round);
  const meter = new CpuMeter(t.pid);
  const r = await lg.connect({ group, dial: t.tls, logins, concurrency: 50, keepaliveSeconds: 300, connectTimeoutMs: 15_000, deadlineMs: 60_000, subscribeConfig: false });
  const cpu = meter.read();
  const cpuUs = cpu.server === null || r.ok === 0 ? null : (cpu.server * r.elapsedMs * 1000) / r.ok;
  if (r.failed > 0) console.log(`  ! ${t.name} ${group}: ${r.failed} failed: ${r.errors.map((e) => `${e.count}× ${e.message}`).join('; ')}`);
  return { target: t.name, alg, ok: r.ok, ms: r.elapsedMs, serverCores: cpu.server, otherCores: cpu.other, cpuUs };
}

async function closeGroup(lg: LoadGenerator, group: string): Promise<void> {
  await lg.close(group);
  await new Promise((r) => setTimeout(r, 500));
}

/** RSS less the committed young generation after a forced GC, settled (as TargetRun.memoryPoint). */
async function memoryPoint(t: StormTarget): Promise<{ value: number; rss: number; heapUsed: number | null }> {
  let rss = Number.NaN;
  let heapUsed: number | null = null;
  const r = await settledValue(async () => {
    const heap = await t.collectGarbage();
    heapUsed = heap?.heapUsed ?? null;
    rss = rssBytes(t.pid) ?? Number.NaN;
    return rss - (heap?.newSpace ?? 0);
  });
  return { value: r.value, rss, heapUsed };
}

function newestProfile(dir: string, pid: number): string | undefined {
  // Node names them CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile; thread 0 is the main one.
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile') && f.includes(`.${pid}.0.`))
    .map((f) => join(dir, f))[0];
}

async function main(): Promise<void> {
  const nodeArgs = [
    ...(PROFILE_DIR === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`]),
    ...(HEAP_DIR === '' ? [] : heapSnapshotArgs(HEAP_DIR)),
  ];
  process.env.BRIDGEHEAD_SERVER_NODE_ARGS = [process.env.BRIDGEHEAD_SERVER_NODE_ARGS ?? '', ...nodeArgs].join(' ').trim();
  const fleet = await BenchFleet.create();
  const bh = await startBridgehead(fleet);
  const targets: StormTarget[] = [bh];
  const lgs: LoadGenerator[] = [];
  const windows = new Map<StormTarget, Array<[number, number]>>();
  const storms: Storm[] = [];
  // Every server started so far is stopped however the run ends: one that fails to start must
  // not leave the others running, and this process waiting on them.
  try {
    let baseline: BenchTarget | undefined;
    if (BASELINE_DIST !== '') {
      const mod = (await import(pathToFileURL(join(BASELINE_DIST, 'bench/loadgen/bridgehead.js')).href)) as { startBridgehead: typeof startBridgehead };
      baseline = { ...(await mod.startBridgehead(fleet)), name: 'Bridgehead' };
      targets.push({ ...baseline, name: 'baseline' });
    }
    const bin = WITH_MOSQUITTO ? findMosquitto() : null;
    if (bin !== null) targets.push(await startMosquitto(bin));
    if (WITH_BARE) targets.push(await startBareTls(nodeArgs));
    if (WITH_FLOOR) targets.push(await startDeviceFloor(fleet, Math.max(CONNECTS, IDLE, 50), nodeArgs));
    for (const _ of targets) lgs.push(LoadGenerator.start(1));
    await bh.provision(Math.max(CONNECTS, IDLE, 50));
    await baseline?.provision(Math.max(CONNECTS, IDLE, 50));
    // Warm-up: JIT, TLS contexts, caches of first use.
    for (const [i, t] of targets.entries()) {
      for (const alg of ALGS) {
        // As the bench's memory row: a small warm-up when only memory is measured.
        await storm(t, lgs[i]!, fleet, alg, `warmup-${alg}`, RUNS === 0 ? 50 : 200, 0);
        await closeGroup(lgs[i]!, `warmup-${alg}`);
      }
    }
    for (let run = 1; run <= RUNS; run++) {
      const order = run % 2 === 1 ? targets.entries() : [...targets.entries()].reverse();
      for (const [i, t] of order) {
        for (const alg of ALGS) {
          await waitForQuiet(t.pid, 3_000);
          const from = monotonicUs();
          const s = await storm(t, lgs[i]!, fleet, alg, `storm-${run}-${alg}`, CONNECTS, run);
          windows.set(t, [...(windows.get(t) ?? []), [from, monotonicUs()]]);
          storms.push(s);
          console.log(
            `run ${run} ${t.name.padEnd(10)} ${alg}: ${s.ok} in ${s.ms.toFixed(0)} ms = ${((s.ok / s.ms) * 1000).toFixed(0)}/s; ` +
              `server ${s.serverCores?.toFixed(2) ?? '—'} cores = ${s.cpuUs?.toFixed(0) ?? '—'} µs CPU per connect; other processes ${s.otherCores?.toFixed(2) ?? '—'} cores`,
          );
          await closeGroup(lgs[i]!, `storm-${run}-${alg}`);
        }
      }
    }
    if (RUNS > 0) console.log('\nmedian server CPU per connect (µs), and connects per server CPU-second:');
    for (const alg of RUNS > 0 ? ALGS : []) {
      const m = (name: string): number => median(storms.filter((s) => s.target === name && s.alg === alg && s.cpuUs !== null).map((s) => s.cpuUs!));
      const b = m('Bridgehead');
      const parts = targets.slice(1).map((t) => {
        const x = m(t.name);
        return `${t.name} ${x.toFixed(0)} µs (${(1e6 / x).toFixed(0)}/CPU-s, Bridgehead/${t.name} ${(x / b).toFixed(2)}×)`;
      });
      console.log(`  ${alg}: Bridgehead ${b.toFixed(0)} µs (${(1e6 / b).toFixed(0)}/CPU-s)${parts.length > 0 ? `; ${parts.join('; ')}` : ''}`);
    }
    if (IDLE > 0) {
      console.log(`\nidle: ${IDLE} TLS devices each, RSS after a forced GC where the server has one, less the young generation:`);
      for (const [i, t] of targets.entries()) {
        const snapshots = HEAP_DIR !== '' && t.name !== 'Mosquitto';
        const before = await memoryPoint(t);
        const heapBefore = snapshots ? await heapSnapshotOf(t.pid, HEAP_DIR) : null;
        const r = await storm(t, lgs[i]!, fleet, 'ES256', 'idle', IDLE, RUNS + 1);
        await new Promise((res) => setTimeout(res, 2_000));
        const after = await memoryPoint(t);
        const heapAfter = snapshots ? await heapSnapshotOf(t.pid, HEAP_DIR) : null;
        const kb = (a: number, b: number): string => ((b - a) / r.ok / 1024).toFixed(1);
        console.log(
          `  ${t.name.padEnd(14)} ${r.ok} devices; RSS ${(before.rss / 2 ** 20).toFixed(1)} → ${(after.rss / 2 ** 20).toFixed(1)} MiB; ` +
            `per device ${kb(before.value, after.value)} KB, of it live JS heap ` +
            `${before.heapUsed === null || after.heapUsed === null ? '—' : kb(before.heapUsed, after.heapUsed)} KB`,
        );
        if (heapBefore !== null && heapAfter !== null) for (const line of censusDiff(heapBefore, heapAfter, r.ok, 30)) console.log(`    ${line}`);
        await closeGroup(lgs[i]!, 'idle');
      }
    }
  } finally {
    for (const lg of lgs) await lg.terminate().catch(() => undefined);
    for (const t of targets) await t.stop().catch(() => undefined);
  }
  if (PROFILE_DIR === '') return;
  for (const t of targets) {
    if (t.name === 'Mosquitto') continue;
    const file = newestProfile(PROFILE_DIR, t.pid);
    if (file === undefined) {
      console.log(`no profile of ${t.name} (pid ${t.pid}) in ${PROFILE_DIR}`);
      continue;
    }
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const connects = storms.filter((s) => s.target === t.name).reduce((n, s) => n + s.ok, 0);
    console.log(`\n${t.name}: profile ${file}, storm windows only (${connects} connects):`);
    for (const line of summariseProfile(profile, windows.get(t) ?? [], { rows: 45, perUnit: connects })) console.log(line);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});

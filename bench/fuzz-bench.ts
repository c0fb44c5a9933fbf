/**
 * MQTT fuzz (docs/compat.md C-MQTT-FAULTS): a million seeded inputs against the plain listener of
 * a server of its own, over loopback: valid packets of gateways and devices and mutations of them
 * (bit flips, truncation, corrupted and re-framed lengths, random bytes, splices, duplicated and
 * reordered packets), pipelined behind CONNECT and attaches and split at random offsets, in
 * parallel lanes. Bounded by the input count and a time budget. Prints the crashes (must be 0:
 * a crash is counted, the server restarted and the run continued), stalls (a batch neither
 * answered nor closed), bugs the server contained at one connection, outcomes by mutation, and
 * whether a healthy device still publishes with PUBACK and the registry is unchanged.
 *
 * BENCH_FUZZ_INPUTS, BENCH_FUZZ_SECONDS, BENCH_FUZZ_SEED, BENCH_FUZZ_LANES change the run.
 */
import { pathToFileURL } from 'node:url';
import type { StartedServer } from '../test/support/server.js';
import { createDevice, createRegistry, mqttUrl, type TestDevice } from '../test/support/fleet.js';
import { adminSnapshot, assertDevicePublishes } from '../test/support/mqtt-health.js';
import { MUTATIONS } from '../test/support/mqtt-fuzz-inputs.js';
import { addStats, newStats, type FuzzStats, type LaneOptions } from '../test/support/mqtt-fuzz-lane.js';
import { createFuzzFleet, runFuzz } from '../test/support/mqtt-fuzz.js';
import { fmtCount, fmtMs, fmtRate, now, table, type BenchSection } from './lib.js';
import { alive, containedBugs, withOwnServer } from './loadgen/own-server.js';
import { rssBytes } from './loadgen/proc.js';

const REG = 'reg-fuzz-bench';
const num = (name: string, fallback: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
};

const OPTIONS: LaneOptions = { batch: 32, mutationRate: 0.04, connectMutationRate: 0.1, syncTimeoutMs: 10_000 };
/** Progress and liveness are checked between rounds of this length. */
const ROUND_MS = 10_000;

export interface FuzzBenchOptions {
  signal?: AbortSignal;
  print?: (line?: string) => void;
}

export async function runFuzzBench(opts: FuzzBenchOptions = {}): Promise<void> {
  const print = opts.print ?? ((line = ''): void => console.log(line));
  const target = num('BENCH_FUZZ_INPUTS', 1_000_000);
  const budgetMs = num('BENCH_FUZZ_SECONDS', 100) * 1000;
  const seed = num('BENCH_FUZZ_SEED', 20_240_515);
  const lanes = num('BENCH_FUZZ_LANES', 12);
  print('== MQTT fuzz: seeded valid and mutated inputs against a real server (plain TCP, loopback) ==');
  print(
    `target ${fmtCount(target)} inputs or ${fmtMs(budgetMs)}; ${lanes} lanes (seeds ${seed}..${seed + lanes - 1}); batches of up to ${OPTIONS.batch} inputs, ` +
      `${OPTIONS.mutationRate * 100}% mutated, ${OPTIONS.connectMutationRate * 100}% of connections open with a mutated CONNECT; server --mqtt-max-msgs-per-sec 0`,
  );

  const total = newStats();
  const started = now();
  const deadline = Date.now() + budgetMs;
  let crashes = 0;
  let round = 0;
  const bugs: string[] = [];
  const health: string[] = [];
  const rss: string[] = [];
  // A crash ends the server; the run goes on with a fresh one, and the crash is reported.
  while (total.inputs < target && Date.now() < deadline && opts.signal?.aborted !== true) {
    await withOwnServer(['--mqtt-max-msgs-per-sec', '0'], async (server) => {
      await createRegistry(server, REG);
      const good = await createDevice(server, REG, 'good-dev');
      const fleet = await createFuzzFleet(server, REG, lanes);
      const baseline = await adminSnapshot(server, REG);
      const rssBefore = rssBytes(server.process.pid ?? -1);
      let peakRss = rssBefore ?? 0;
      while (total.inputs < target && Date.now() < deadline && opts.signal?.aborted !== true) {
        const stats = await runFuzz(mqttUrl(server), fleet, {
          seed: seed + lanes * round++,
          inputs: target - total.inputs,
          deadline: Math.min(deadline, Date.now() + ROUND_MS),
          options: OPTIONS,
        });
        addStats(total, stats);
        peakRss = Math.max(peakRss, rssBytes(server.process.pid ?? -1) ?? 0);
        const elapsed = now() - started;
        print(`  ${fmtMs(elapsed).padStart(8)}: ${fmtCount(total.inputs)} inputs (${fmtRate((total.inputs * 1000) / elapsed)}), ${fmtCount(total.connections)} connections, ${alive(server) ? 'server alive' : 'SERVER GONE'}`);
        if (!alive(server)) break;
      }
      bugs.push(...containedBugs(server));
      if (!alive(server)) {
        crashes++;
        print(`  ! the server crashed (round seed ${seed + lanes * (round - 1)}); stderr tail:`);
        for (const line of server.stderr().split('\n').slice(-15)) print(`    ${line}`);
        return;
      }
      health.push(await healthCheck(server, good, baseline));
      rss.push(`${mib(rssBefore)} before, ${mib(peakRss)} peak`);
    });
  }
  const elapsed = now() - started;
  print();
  report(print, total, elapsed, crashes, bugs, health, rss);
}

async function healthCheck(server: StartedServer, good: TestDevice, baseline: unknown): Promise<string> {
  try {
    await assertDevicePublishes(server, REG, good);
  } catch (e) {
    return `healthy device FAILED: ${e instanceof Error ? e.message : String(e)}`;
  }
  const same = JSON.stringify(await adminSnapshot(server, REG)) === JSON.stringify(baseline);
  return `healthy device published with PUBACK; registry ${same ? 'unchanged' : 'CHANGED'}`;
}

const mib = (bytes: number | null | undefined): string => (bytes == null ? '-' : `${(bytes / 2 ** 20).toFixed(0)} MiB`);
const pct = (n: number, of: number): string => (of === 0 ? '-' : `${((100 * n) / of).toFixed(1)}%`);

function report(print: (l?: string) => void, s: FuzzStats, elapsedMs: number, crashes: number, bugs: string[], health: string[], rss: string[]): void {
  const batches = s.outcomes.answered + s.outcomes.closed + s.outcomes.abandoned + s.outcomes.stall;
  print(`inputs: ${fmtCount(s.inputs)} in ${fmtMs(elapsedMs)} (${fmtRate((s.inputs * 1000) / elapsedMs)}), ${fmtCount(s.mutated)} mutated, ${fmtCount(batches)} batches, ${fmtCount(s.connections)} connections`);
  print(`crashes: ${crashes}`);
  print(`stalls (a batch neither answered nor closed within ${fmtMs(OPTIONS.syncTimeoutMs)}): ${s.outcomes.stall}${s.stallsAt.length > 0 ? ` at ${s.stallsAt.slice(0, 5).join(', ')}` : ''}`);
  print(`bugs contained at one connection (logged at error): ${bugs.length}${bugs.length > 0 ? `, first: ${bugs[0]!.slice(0, 300)}` : ''}`);
  print(`batches answered ${fmtCount(s.outcomes.answered)}, closed by the server ${fmtCount(s.outcomes.closed)}, abandoned mid-packet ${fmtCount(s.outcomes.abandoned)}`);
  for (const line of table(
    ['mutation', 'inputs', 'connection ended'],
    MUTATIONS.map((m) => {
      const t = s.byMutation[m] ?? { inputs: 0, closed: 0 };
      return [m, fmtCount(t.inputs), pct(t.closed, t.inputs)];
    }),
  ))
    print(`  ${line}`);
  for (const h of health) print(`after the run: ${h}`);
  for (const r of rss) print(`server RSS: ${r}`);
}

export const fuzzBench: BenchSection = {
  name: 'fuzz',
  summary: 'MQTT fuzz: 1,000,000 seeded valid and mutated inputs (split, pipelined) against a server of its own; crashes, stalls, health after',
  ownServers: true,
  run: (ctx) => runFuzzBench({ signal: ctx.signal, print: ctx.print }),
};

// `node dist/bench/fuzz-bench.js` runs this section alone.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.once('SIGINT', () => process.exit(130));
  runFuzzBench().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}

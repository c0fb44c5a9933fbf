/**
 * The PUBACK latency row of `npm run bench -- mqtt` (100 devices × window 10, issue 13) against
 * three servers: Bridgehead, Mosquitto (which stores nothing) and the floor of a Node server that
 * acknowledges each QoS 1 message only after a durable SQLite commit (bench/loadgen/
 * floor-telemetry-server.ts). The floor tells what durability itself costs on this machine and
 * disk, and so how much of Bridgehead's gap to Mosquitto is Bridgehead's own.
 *
 * BENCH_RUNS runs (default 3, at most 10), each phase against every server in turn, the order
 * alternating; medians at the end. BENCH_TRANSPORTS=plain,tls (default both). BENCH_MOSQUITTO=0
 * leaves Mosquitto out, BENCH_BRIDGEHEAD=0 Bridgehead. BENCH_FLOOR_CHECKPOINTS=<pages> (an
 * experiment): the floor's WAL checkpoint threshold, 0 for none. The other BENCH_* settings of the
 * MQTT bench (warm-up, duration) apply.
 * Loopback only, bounded in time (each phase stops by itself).
 */
import { startTelemetryFloor } from './loadgen/bare-tls.js';
import { startBridgehead } from './loadgen/bridgehead.js';
import { BenchFleet } from './loadgen/devices.js';
import { findMosquitto, startMosquitto } from './loadgen/mosquitto.js';
import { LoadGenerator } from './loadgen/pool.js';
import { median } from './loadgen/proc.js';
import { settingsFromEnv } from './loadgen/settings.js';
import { LATENCY_DEVICES, LATENCY_WINDOW, TargetRun } from './loadgen/target-run.js';
import type { BenchTarget } from './loadgen/target.js';

const runsArg = Number(process.env.BENCH_RUNS ?? '3');
const RUNS = Number.isInteger(runsArg) && runsArg >= 1 ? Math.min(runsArg, 10) : 3;
const TRANSPORTS = (process.env.BENCH_TRANSPORTS ?? 'plain,tls').split(',').filter((t): t is 'plain' | 'tls' => t === 'plain' || t === 'tls');
const FIGURES = [
  ['p50', 'PUBACK p50 (ms)', 2],
  ['p99', 'PUBACK p99 (ms)', 2],
  ['rate', 'QoS 1 msgs/s', 0],
  ['cpu', 'server CPU (cores)', 2],
] as const;

async function main(): Promise<void> {
  const s = settingsFromEnv();
  const fleet = await BenchFleet.create();
  const targets: BenchTarget[] = [];
  const runs: TargetRun[] = [];
  const print = (line = ''): void => console.log(line);
  try {
    if (process.env.BENCH_BRIDGEHEAD !== '0') targets.push(await startBridgehead(fleet));
    const bin = process.env.BENCH_MOSQUITTO === '0' ? null : findMosquitto();
    if (bin !== null) targets.push(await startMosquitto(bin));
    targets.push(await startTelemetryFloor());
    for (const t of targets) runs.push(new TargetRun(t, LoadGenerator.start(s.loadgenWorkers), fleet, s, print, undefined));
    print(`== PUBACK latency, ${LATENCY_DEVICES} devices × window ${LATENCY_WINDOW}, ${RUNS} runs: ${targets.map((t) => t.name).join(', ')} ==`);
    for (const r of runs) await r.target.provision(LATENCY_DEVICES);
    const samples = new Map<string, number[]>();
    for (let run = 1; run <= RUNS; run++) {
      for (const transport of TRANSPORTS) {
        print(`\n-- run ${run}, ${transport}`);
        for (const r of run % 2 === 1 ? runs : [...runs].reverse()) {
          await r.telemetry(transport, LATENCY_DEVICES, LATENCY_WINDOW);
          const key = `latency.${transport}.${LATENCY_DEVICES}.w${LATENCY_WINDOW}`;
          for (const [figure] of FIGURES) {
            const v = r.cells.get(`${key}.${figure}`)?.value;
            if (typeof v !== 'number') continue;
            const k = `${r.target.name}|${transport}|${figure}`;
            samples.set(k, [...(samples.get(k) ?? []), v]);
          }
        }
      }
    }
    print(`\nmedians of ${RUNS} runs (ratio: to the Node floor; lower is better for latency and CPU):`);
    const names = targets.map((t) => t.name);
    print(`${'figure'.padEnd(34)}${names.map((n) => n.padStart(14)).join('')}${names.filter((n) => n !== 'Node floor').map((n) => `${n}/floor`.padStart(18)).join('')}`);
    for (const transport of TRANSPORTS) {
      for (const [figure, label, digits] of FIGURES) {
        const m = (name: string): number => median(samples.get(`${name}|${transport}|${figure}`) ?? []);
        const floor = m('Node floor');
        const cells = names.map((n) => (Number.isFinite(m(n)) ? m(n).toFixed(digits) : '—').padStart(14)).join('');
        const ratios = names
          .filter((n) => n !== 'Node floor')
          .map((n) => (Number.isFinite(m(n)) && floor > 0 ? `${(m(n) / floor).toFixed(2)}×` : '—').padStart(18))
          .join('');
        print(`${`${transport} ${label}`.padEnd(34)}${cells}${ratios}`);
      }
    }
    for (const r of runs) for (const n of r.notes) print(`note: ${n}`);
  } finally {
    for (const r of runs) await r.loadgen.terminate().catch(() => undefined);
    for (const t of targets) await t.stop().catch(() => undefined);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});

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
 * experiment): the floor's WAL checkpoint threshold, 0 for none. BENCH_FLOOR_STORE=file|journal|rollback
 * (an experiment, floor-telemetry-server.ts): the floor commits to a flat file instead of SQLite, to
 * a flat file in front of SQLite, or to SQLite with a rollback journal. BENCH_FLOOR_LOADS=latency,telemetry
 * (default latency): `telemetry` adds the telemetry rows of the MQTT bench (100 and 1,000 devices at
 * its window), whose msgs per server CPU-second tell how much of that target a durable Node server
 * can reach at all. The other BENCH_* settings of the MQTT bench (warm-up, duration) apply.
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
  ['perCpu', 'msgs per server CPU-s', 0],
] as const;
const LOADS = (process.env.BENCH_FLOOR_LOADS ?? 'latency').split(',');

interface Load {
  label: string;
  devices: number;
  window: number;
}

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
    const loads: Load[] = [
      ...(LOADS.includes('latency') ? [{ label: `${LATENCY_DEVICES}×w${LATENCY_WINDOW}`, devices: LATENCY_DEVICES, window: LATENCY_WINDOW }] : []),
      ...(LOADS.includes('telemetry') ? [100, 1000].map((devices) => ({ label: `${devices}×w${s.window}`, devices, window: s.window })) : []),
    ];
    print(`== QoS 1 telemetry (${loads.map((l) => `${l.label.replace('×w', ' devices × window ')}`).join('; ')}), ${RUNS} runs: ${targets.map((t) => t.name).join(', ')} ==`);
    for (const r of runs) await r.target.provision(Math.max(...loads.map((l) => l.devices)));
    const samples = new Map<string, number[]>();
    const add = (k: string, v: unknown): void => {
      if (typeof v === 'number' && Number.isFinite(v)) samples.set(k, [...(samples.get(k) ?? []), v]);
    };
    for (let run = 1; run <= RUNS; run++) {
      for (const transport of TRANSPORTS) {
        for (const load of loads) {
          print(`\n-- run ${run}, ${transport}, ${load.label}`);
          for (const r of run % 2 === 1 ? runs : [...runs].reverse()) {
            await r.telemetry(transport, load.devices, load.window);
            const key = load.window === s.window ? `telemetry.${transport}.${load.devices}` : `latency.${transport}.${load.devices}.w${load.window}`;
            const cell = (figure: string): unknown => r.cells.get(`${key}.${figure}`)?.value;
            for (const [figure] of FIGURES) add(`${r.target.name}|${transport}|${load.label}|${figure}`, figure === 'perCpu' ? Number(cell('rate')) / Number(cell('cpu')) : cell(figure));
          }
        }
      }
    }
    print(`\nmedians of ${RUNS} runs (ratio: to the Node floor; lower is better for latency and CPU):`);
    const names = targets.map((t) => t.name);
    print(`${'figure'.padEnd(44)}${names.map((n) => n.padStart(14)).join('')}${names.filter((n) => n !== 'Node floor').map((n) => `${n}/floor`.padStart(18)).join('')}`);
    for (const transport of TRANSPORTS) {
      for (const load of loads) {
        for (const [figure, label, digits] of FIGURES) {
          const m = (name: string): number => median(samples.get(`${name}|${transport}|${load.label}|${figure}`) ?? []);
          const floor = m('Node floor');
          const cells = names.map((n) => (Number.isFinite(m(n)) ? m(n).toFixed(digits) : '—').padStart(14)).join('');
          const ratios = names
            .filter((n) => n !== 'Node floor')
            .map((n) => (Number.isFinite(m(n)) && floor > 0 ? `${(m(n) / floor).toFixed(2)}×` : '—').padStart(18))
            .join('');
          print(`${`${transport} ${load.label} ${label}`.padEnd(44)}${cells}${ratios}`);
        }
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

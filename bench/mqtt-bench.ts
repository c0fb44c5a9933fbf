/**
 * MQTT benchmark: Bridgehead's MQTT bridge against Mosquitto (when installed) under the same
 * loads, in one run. Loopback only; every phase is bounded in count and time; the servers are
 * stopped and their temporary directories removed whatever happens.
 *
 * Loads (see bench/loadgen/): TLS+JWT connects per second (ES256 and RS256) and server RSS per
 * idle connected TLS device; QoS 1 telemetry with a window of in-flight messages per connection
 * (100 and 1,000 devices, over TLS and plain TCP) with PUBACK latency; config update → device
 * latency. The load generator runs in a worker thread (one core), the server gets the other. The
 * connect and latency phases also run against Node floors (unless BENCH_MQTT_FLOOR=0).
 */
import { pathToFileURL } from 'node:url';
import type { BenchSection } from './lib.js';
import { startConnectFloor, startTelemetryFloor } from './loadgen/bare-tls.js';
import { startBridgehead } from './loadgen/bridgehead.js';
import { BenchFleet } from './loadgen/devices.js';
import { findMosquitto, startMosquitto } from './loadgen/mosquitto.js';
import { LoadGenerator } from './loadgen/pool.js';
import { machineFacts } from './loadgen/proc.js';
import { renderTable, type Results, type TargetName } from './loadgen/report.js';
import { idleDeviceCount, metricDefs, settingsFromEnv } from './loadgen/settings.js';
import { BENIGN_STDERR, MQTT_SECTIONS, phasesFor, TargetRun, type MqttSection } from './loadgen/target-run.js';
import type { BenchTarget } from './loadgen/target.js';

export { MQTT_SECTIONS, type MqttSection };

export interface MqttBenchOptions {
  /** Sub-sections to run (`connect`, `memory`, `telemetry`, `telemetry-plain`, `config`, optionally prefixed `mqtt.` or `mqtt:`); empty, absent or `mqtt` = all. */
  sections?: string[];
  /** Default: both (env BENCH_TARGETS=bridgehead,mosquitto). */
  targets?: Array<'bridgehead' | 'mosquitto'>;
  /** Checked between phases: once aborted, the run stops, the servers are stopped and what was measured is printed. */
  signal?: AbortSignal;
  /** Output sink, one line per call (default console.log). */
  print?: (line?: string) => void;
}

function selectedSections(sections: readonly string[] | undefined): Set<MqttSection> {
  const wanted = (sections ?? []).map((s) => s.replace(/^mqtt[.:]/, ''));
  if (wanted.length === 0 || wanted.includes('mqtt') || wanted.includes('all')) return new Set(MQTT_SECTIONS);
  return new Set(MQTT_SECTIONS.filter((s) => wanted.includes(s)));
}

/**
 * Runs the MQTT comparison and prints the table (the entry point bench/run.ts calls). Starts its
 * own Bridgehead (fresh data dir, MQTT listeners) and, when installed, Mosquitto, runs every phase
 * against each of them in turn, and stops both at the end whatever happens.
 */
export async function runMqttBench(opts: MqttBenchOptions = {}): Promise<void> {
  const print = opts.print ?? ((line = ''): void => console.log(line));
  const sections = selectedSections(opts.sections);
  if (sections.size === 0) {
    print(`mqtt bench: no MQTT section selected (known: ${MQTT_SECTIONS.join(', ')})`);
    return;
  }
  const s = settingsFromEnv();
  const wantedTargets = new Set(opts.targets ?? (process.env.BENCH_TARGETS ?? 'bridgehead,mosquitto').split(',').map((t) => t.trim().toLowerCase()));
  const facts = machineFacts();
  print(`== MQTT: Bridgehead vs Mosquitto (${[...sections].join(', ')}) ==`);
  print(
    `machine: ${facts.cpuCount} × ${facts.cpuModel}, ${facts.memoryGiB} GiB, Linux ${facts.kernel}, node ${facts.node}, OpenSSL ${facts.openssl}; ` +
      `load generator: ${s.loadgenWorkers} worker thread(s) in this process, sharing the cores with the server`,
  );
  print(
    `load: ${s.connects} TLS connects (${s.connectConcurrency} in flight), ${idleDeviceCount(s)} idle TLS devices; telemetry QoS 1, ${s.payloadBytes}-byte payloads, window ${s.window} per connection, ` +
      `${s.warmupMs} ms warm-up + ${s.durationMs} ms measured (or ${s.maxMessages.toLocaleString('en-US')} acks); ` +
      `config: ${s.configSamples} updates over ${s.configDevices} devices, ${s.configConcurrency} in flight`,
  );

  const fleet = await BenchFleet.create();
  const results: Results = new Map();
  const notes: string[] = [];
  const versions: string[] = [];
  /** `phases`: the only phases a floor runs (a floor does one thing); absent: all. */
  const starters: Array<{ name: TargetName; start: () => Promise<BenchTarget>; phases?: (phase: string) => boolean }> = [];
  if (wantedTargets.has('bridgehead')) starters.push({ name: 'Bridgehead', start: () => startBridgehead(fleet) });
  if (wantedTargets.has('mosquitto')) {
    const bin = findMosquitto();
    if (bin === null) notes.push('Mosquitto: not installed (apt-get install mosquitto), column skipped');
    else starters.push({ name: 'Mosquitto', start: () => startMosquitto(bin) });
  }
  // The least a Node server pays for the same work, measured in the same phases: where Bridgehead
  // misses a target, the floor's column shows whether a Node server can reach it at all. For
  // connects and idle memory, TLS + CONNECT + JWT + the device's row (floor-device-server.ts); for
  // PUBACK latency, QoS 1 acknowledged after a durable SQLite commit (floor-telemetry-server.ts).
  const floors = process.env.BENCH_MQTT_FLOOR !== '0';
  const connectFloor = floors && (sections.has('connect') || sections.has('memory'));
  const latencyFloor = floors && sections.has('latency');
  if (connectFloor) starters.push({ name: 'Node floor', start: () => startConnectFloor(fleet, idleDeviceCount(s)), phases: (p) => p === 'connect' });
  if (latencyFloor) starters.push({ name: 'Node floor', start: () => startTelemetryFloor(), phases: (p) => p.startsWith('latency-') });

  // All servers run side by side (an idle one costs nothing) and each phase runs against every
  // one of them before the next phase, alternating who goes first.
  const runs: Array<{ run: TargetRun; failed: string | null; phases?: (phase: string) => boolean }> = [];
  try {
    for (const { name, start, phases } of starters) {
      try {
        const target = await start();
        runs.push({ run: new TargetRun(target, LoadGenerator.start(s.loadgenWorkers), fleet, s, print, opts.signal), failed: null, ...(phases === undefined ? {} : { phases }) });
      } catch (e) {
        const msg = `${name}: could not start: ${e instanceof Error ? (e.message.split('\n')[0] ?? '') : String(e)}`;
        print(`  ! ${msg}`);
        notes.push(msg);
      }
    }
    for (const [i, phase] of phasesFor(sections, s).entries()) {
      if (opts.signal?.aborted === true) {
        notes.push(`stopped before ${phase.name}: time budget spent`);
        break;
      }
      print();
      print(`-- ${phase.name}`);
      for (const entry of i % 2 === 0 ? runs : [...runs].reverse()) {
        if (entry.failed !== null) continue;
        if (entry.phases !== undefined && !entry.phases(phase.name)) continue;
        try {
          await phase.run(entry.run);
        } catch (e) {
          entry.failed = `${entry.run.target.name}: aborted in ${phase.name}: ${e instanceof Error ? e.message : String(e)}`;
          entry.run.say(`! ${entry.failed}`);
          notes.push(entry.failed);
        }
      }
    }
  } finally {
    for (const { run } of runs) {
      await run.loadgen.terminate().catch(() => undefined);
      await run.target.stop().catch((e: unknown) => notes.push(`${run.target.name}: could not stop cleanly: ${String(e)}`));
      // Partial figures are still worth printing.
      // The two floors fill different rows of one column.
      results.set(run.target.name, new Map([...(results.get(run.target.name) ?? []), ...run.cells]));
      notes.push(...run.notes);
      versions.push(`${run.target.version}${run.tlsLine === null ? '' : ` (${run.tlsLine})`}`);
      const err = run.target
        .stderr()
        .split('\n')
        .filter((l) => l.trim() !== '' && !BENIGN_STDERR.some((re) => re.test(l)));
      if (err.length > 0) notes.push(`${run.target.name} stderr: ${err.slice(0, 5).join(' | ').slice(0, 600)}`);
    }
  }

  print();
  for (const line of renderTable(metricDefs(s), results).split('\n')) print(line);
  print(`servers: ${versions.join('; ') || 'none ran'}`);
  print('ratio = Bridgehead / Mosquitto: higher is better for rates, lower for latency, memory and CPU.');
  if (connectFloor) {
    print(
      "Node floor, connect and memory rows: TLS, the CONNECT parsed, the JWT checked against the device's SQLite row, a canned CONNACK, nothing else (bench/loadgen/floor-device-server.ts); " +
        'the same storms many times over, with a bare TLS server beside: `node dist/bench/connect-storm.js`.',
    );
  }
  if (sections.has('memory')) {
    print(
      `RSS per idle device: the target is set at 10,000 devices (\`BENCH_MQTT_IDLE_DEVICES=10000 node dist/bench/mqtt-bench.js memory\`; ${idleDeviceCount(s)} here); what a bare Node TLS server holds per idle socket is measured beside both by \`BENCH_RUNS=0 BENCH_IDLE_DEVICES=10000 node dist/bench/connect-storm.js\`.`,
    );
  }
  if (latencyFloor) {
    print(
      'Node floor, PUBACK latency rows: a server that only frames QoS 1 PUBLISHes, commits them to SQLite (synchronous=FULL) and acknowledges (bench/loadgen/floor-telemetry-server.ts); ' +
        'several runs of it, or a flat file instead of SQLite (BENCH_FLOOR_STORE=file): `node dist/bench/durable-floor.js`.',
    );
  }
  if (!floors) print('Node floors: not run (BENCH_MQTT_FLOOR=0).');
  if (results.has('Mosquitto') && sections.has('config')) {
    print("config on Mosquitto: a backend client publishes QoS 1 to the device's config topic (no API, no store): not the same path, so no ratio.");
  }
  for (const n of notes) print(`note: ${n}`);
}

/** The `mqtt` section for bench/run.ts (ignores run.ts's server: it needs fresh servers of its own). */
export const mqttBench: BenchSection = {
  name: 'mqtt',
  summary: 'MQTT bridge vs Mosquitto: TLS+JWT connects/s, RSS per idle device, QoS 1 msgs/s + PUBACK p50/p99, config latency',
  ownServers: true,
  run: (ctx) =>
    runMqttBench({
      sections: (process.env.BENCH_MQTT_SECTIONS ?? '').split(',').filter((x) => x !== ''),
      signal: ctx.signal,
      print: ctx.print,
    }),
};

// `node dist/bench/mqtt-bench.js [sections...]` runs this bench alone.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // Through process.exit, so the exit hooks stop the servers and remove their directories.
  process.once('SIGINT', () => process.exit(130));
  runMqttBench({ sections: process.argv.slice(2).flatMap((a) => a.split(',')) }).catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}

/**
 * Gateway benchmark (spec §6, docs/compat.md "Gateways"): Bridgehead only, Mosquitto has no
 * gateways. Loopback only; every phase is bounded in count and time; the server is stopped and
 * its temporary directory removed whatever happens.
 *
 * Loads (see bench/loadgen/gateway-*.ts): (a) one ASSOCIATION_ONLY gateway attaching 1,000 bound
 * devices, one by one (each attach once the previous PUBACK arrived, as a gateway re-attaching
 * after a reconnect) and all at once (1,000 attach PUBLISHes in one write), with attach latency
 * (PUBLISH → PUBACK) and the total time; (b) 10 gateways × 100 attached devices relaying QoS 1
 * telemetry, a window of in-flight messages per gateway connection rotating over its devices'
 * topics, with msgs/s, PUBACK latency and server CPU; and, for comparison, the same load from as
 * many devices connected directly. The server runs with `--mqtt-max-msgs-per-sec 0`: Google's
 * 100 msgs/s per connection would cap a gateway at 100 msgs/s for all its devices.
 */
import { pathToFileURL } from 'node:url';
import type { BenchSection } from './lib.js';
import { startBridgehead } from './loadgen/bridgehead.js';
import { BenchFleet } from './loadgen/devices.js';
import { GatewayRun } from './loadgen/gateway-run.js';
import { gatewayMetricDefs, gatewaySettingsFromEnv } from './loadgen/gateway-settings.js';
import { LoadGenerator } from './loadgen/pool.js';
import { machineFacts } from './loadgen/proc.js';
import { renderSingleTable } from './loadgen/report.js';
import { BENIGN_STDERR } from './loadgen/target-run.js';

export interface GatewayBenchOptions {
  /** Checked between phases: once aborted, the run stops, the server is stopped and what was measured is printed. */
  signal?: AbortSignal;
  /** Output sink, one line per call (default console.log). */
  print?: (line?: string) => void;
}

/**
 * Runs the gateway phases and prints the table (the entry point bench/run.ts calls). Starts its
 * own Bridgehead (fresh data dir, MQTT listeners, no per-connection message rate limit) and stops
 * it at the end whatever happens.
 */
export async function runGatewayBench(opts: GatewayBenchOptions = {}): Promise<void> {
  const print = opts.print ?? ((line = ''): void => console.log(line));
  const gs = gatewaySettingsFromEnv();
  const s = gs.base;
  const facts = machineFacts();
  print('== Gateways: attach and relayed telemetry (Bridgehead only) ==');
  print(
    `machine: ${facts.cpuCount} × ${facts.cpuModel}, ${facts.memoryGiB} GiB, Linux ${facts.kernel}, node ${facts.node}, OpenSSL ${facts.openssl}; ` +
      `load generator: ${s.loadgenWorkers} worker thread(s) in this process, sharing the cores with the server`,
  );
  print(
    `load: attach ${gs.attachDevices} bound devices through 1 gateway, one by one and all at once, ${gs.attachRounds} round(s) each after a warm-up ` +
      `(payload {"authorization":""}, ASSOCIATION_ONLY); relayed telemetry over ${gs.transport === 'tls' ? 'TLS' : 'plain TCP'}: ${gs.gateways} gateways × ${gs.devicesPerGateway} ` +
      `attached devices, QoS 1, ${s.payloadBytes}-byte payloads, window ${s.window} per gateway connection rotating over its devices' topics, ` +
      `${s.warmupMs} ms warm-up + ${s.durationMs} ms measured (or ${s.maxMessages.toLocaleString('en-US')} acks); baseline: ${gs.gateways} devices connected directly, same window`,
  );

  const fleet = await BenchFleet.create();
  const notes: string[] = [];
  let run: GatewayRun | null = null;
  let version = 'not started';
  try {
    const target = await startBridgehead(fleet);
    version = target.version;
    run = new GatewayRun(target, LoadGenerator.start(s.loadgenWorkers), fleet, gs, print, opts.signal);
    const r = run;
    const phases: Array<{ name: string; run: () => Promise<void> }> = [
      { name: 'provision', run: () => r.provision() },
      { name: 'attach', run: () => r.attach() },
      { name: 'relay', run: () => r.relay() },
      { name: 'baseline', run: () => r.baseline() },
    ];
    for (const phase of phases) {
      if (opts.signal?.aborted === true) {
        notes.push(`stopped before ${phase.name}: time budget spent`);
        break;
      }
      print();
      print(`-- ${phase.name}`);
      try {
        await phase.run();
      } catch (e) {
        const msg = `Bridgehead: aborted in ${phase.name}: ${e instanceof Error ? e.message : String(e)}`;
        r.say(`! ${msg}`);
        notes.push(msg);
        // Later phases depend on provisioning; after any other failure they still have a fresh start.
        if (phase.name === 'provision') break;
      }
    }
  } catch (e) {
    const msg = `Bridgehead: could not start: ${e instanceof Error ? (e.message.split('\n')[0] ?? '') : String(e)}`;
    print(`  ! ${msg}`);
    notes.push(msg);
  } finally {
    if (run !== null) {
      await run.loadgen.terminate().catch(() => undefined);
      const target = run.target;
      await target.stop().catch((e: unknown) => notes.push(`${target.name}: could not stop cleanly: ${String(e)}`));
      notes.push(...run.notes);
      if (run.tlsLine !== null) version += ` (${run.tlsLine})`;
      const err = target
        .stderr()
        .split('\n')
        .filter((l) => l.trim() !== '' && !BENIGN_STDERR.some((re) => re.test(l)));
      if (err.length > 0) notes.push(`${target.name} stderr: ${err.slice(0, 5).join(' | ').slice(0, 600)}`);
    }
  }

  print();
  for (const line of renderSingleTable(gatewayMetricDefs(gs), run?.cells ?? new Map()).split('\n')) print(line);
  print(`server: ${version}, --mqtt-max-msgs-per-sec 0`);
  print('attach latency: attach PUBLISH written → its PUBACK (all at once: every PUBLISH is written at the same instant, so it includes the queue ahead of it).');
  for (const n of notes) print(`note: ${n}`);
}

/** The `gateway` section for bench/run.ts (ignores run.ts's server: it needs a fresh one without the message rate limit). */
export const gatewayBench: BenchSection = {
  name: 'gateway',
  summary: 'gateways: attach latency of 1,000 bound devices (one by one, all at once), relayed QoS 1 msgs/s + PUBACK p50/p99 of 10 gateways × 100 devices',
  ownServers: true,
  run: (ctx) => runGatewayBench({ signal: ctx.signal, print: ctx.print }),
};

// `node dist/bench/gateway-bench.js` runs this bench alone.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // Through process.exit, so the exit hooks stop the server and remove its directories.
  process.once('SIGINT', () => process.exit(130));
  runGatewayBench().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}

/**
 * MQTT benchmark: Bridgehead's MQTT bridge against Mosquitto (when installed) under the same
 * loads, in one run. Loopback only; every phase is bounded in count and time; the servers are
 * stopped and their temporary directories removed whatever happens.
 *
 * Loads (see bench/loadgen/): TLS+JWT connects per second (ES256 and RS256) and server RSS per
 * idle connected TLS device; QoS 1 telemetry with a window of in-flight messages per connection
 * (100 and 1,000 devices, over TLS and plain TCP) with PUBACK latency; config update → device
 * latency. The load generator runs in a worker thread (one core), the server gets the other.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { startBridgehead } from './loadgen/bridgehead.js';
import type { DialSpec } from './loadgen/connection.js';
import { BenchFleet } from './loadgen/devices.js';
import { Histogram } from './loadgen/histogram.js';
import type { ConnectResult } from './loadgen/jobs.js';
import { findMosquitto, startMosquitto } from './loadgen/mosquitto.js';
import { LoadGenerator } from './loadgen/pool.js';
import { CpuMeter, machineFacts, settledRss, type CpuShares } from './loadgen/proc.js';
import { renderTable, type Cell, type MetricDef, type Results, type TargetName } from './loadgen/report.js';
import type { BenchTarget } from './loadgen/target.js';
import type { BenchSection } from './lib.js';

export const MQTT_SECTIONS = ['connect', 'memory', 'telemetry', 'telemetry-plain', 'config'] as const;
export type MqttSection = (typeof MQTT_SECTIONS)[number];

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

interface Settings {
  connects: number;
  connectConcurrency: number;
  window: number;
  payloadBytes: number;
  warmupMs: number;
  durationMs: number;
  maxMessages: number;
  deviceCounts: number[];
  configSamples: number;
  configDevices: number;
  configConcurrency: number;
  loadgenWorkers: number;
}

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? Number.NaN : Number(raw);
  return Number.isSafeInteger(n) && n > 0 ? n : fallback;
}

function settingsFromEnv(): Settings {
  const counts = (process.env.BENCH_MQTT_DEVICES ?? '100,1000')
    .split(',')
    .map(Number)
    .filter((n) => Number.isSafeInteger(n) && n > 0 && n <= 10_000);
  return {
    connects: Math.min(envInt('BENCH_MQTT_CONNECTS', 1_000), 10_000),
    connectConcurrency: envInt('BENCH_MQTT_CONNECT_CONCURRENCY', 50),
    window: Math.min(envInt('BENCH_MQTT_WINDOW', 32), 1_000),
    payloadBytes: 64,
    warmupMs: envInt('BENCH_MQTT_WARMUP_MS', 1_000),
    durationMs: Math.min(envInt('BENCH_MQTT_DURATION_MS', 5_000), 120_000),
    maxMessages: envInt('BENCH_MQTT_MAX_MESSAGES', 5_000_000),
    deviceCounts: counts.length > 0 ? counts : [100, 1000],
    configSamples: Math.min(envInt('BENCH_MQTT_CONFIG_SAMPLES', 500), 10_000),
    configDevices: Math.min(envInt('BENCH_MQTT_CONFIG_DEVICES', 250), 10_000),
    configConcurrency: envInt('BENCH_MQTT_CONFIG_CONCURRENCY', 8),
    loadgenWorkers: Math.min(envInt('BENCH_LOADGEN_WORKERS', 1), 8),
  };
}

function selectedSections(sections: readonly string[] | undefined): Set<MqttSection> {
  const wanted = (sections ?? []).map((s) => s.replace(/^mqtt[.:]/, ''));
  if (wanted.length === 0 || wanted.includes('mqtt') || wanted.includes('all')) return new Set(MQTT_SECTIONS);
  return new Set(MQTT_SECTIONS.filter((s) => wanted.includes(s)));
}

const ms = (ns: number): number => ns / 1e6;
const CONNECT_DEADLINE_MS = 60_000;
const CONNECT_TIMEOUT_MS = 15_000;
const KEEPALIVE_S = 300;

/** The metrics, in table order. */
function metricDefs(s: Settings): MetricDef[] {
  const defs: MetricDef[] = [
    { key: 'connect.ES256', label: `TLS+JWT connects, ES256 (${s.connects} devices, ${s.connectConcurrency} in flight)`, unit: 'rate', target: { kind: 'ratio-at-least', value: 1 } },
    { key: 'connect.RS256', label: 'TLS+JWT connects, RS256', unit: 'rate', target: { kind: 'ratio-at-least', value: 1 } },
    { key: 'connect.p50', label: '  connect latency p50 (ES256)', unit: 'ms' },
    { key: 'connect.p99', label: '  connect latency p99 (ES256)', unit: 'ms' },
    { key: 'memory', label: `server RSS per idle TLS device (${s.connects} devices)`, unit: 'kb', target: { kind: 'at-most', value: 20 } },
  ];
  for (const transport of ['tls', 'plain'] as const) {
    for (const n of s.deviceCounts) {
      const k = `telemetry.${transport}.${n}`;
      const tag = `${n} devices, ${transport === 'tls' ? 'TLS' : 'plain TCP'}`;
      defs.push(
        { key: `${k}.rate`, label: `QoS 1 msgs, ${tag}`, unit: 'rate', ...(transport === 'tls' ? { target: { kind: 'ratio-at-least' as const, value: 1 } } : {}) },
        { key: `${k}.p50`, label: '  PUBACK latency p50', unit: 'ms' },
        { key: `${k}.p99`, label: '  PUBACK latency p99', unit: 'ms' },
        { key: `${k}.cpu`, label: '  server CPU', unit: 'cores' },
        { key: `${k}.elu`, label: '  load generator busy', unit: 'fraction', noRatio: true },
      );
    }
  }
  defs.push(
    { key: 'config.p50', label: `config update → device p50 (${s.configSamples} updates, ${s.configConcurrency} in flight)`, unit: 'ms', noRatio: true },
    { key: 'config.p99', label: 'config update → device p99', unit: 'ms', noRatio: true },
  );
  return defs;
}

class TargetRun {
  readonly cells = new Map<string, Cell>();
  readonly notes: string[] = [];
  tlsLine: string | null = null;
  /** CPU (in cores) used during the last connect job. */
  lastCpu: CpuShares = { server: null, loadgen: null, other: null };

  constructor(
    readonly target: BenchTarget,
    readonly loadgen: LoadGenerator,
    readonly fleet: BenchFleet,
    readonly s: Settings,
    readonly print: (line?: string) => void,
    readonly signal: AbortSignal | undefined,
  ) {}

  /** Throws between phases once the run's budget is spent. */
  checkpoint(): void {
    if (this.signal?.aborted === true) throw new Error('time budget spent (aborted)');
  }

  set(key: string, value: number | null, note?: string): void {
    this.cells.set(key, note === undefined ? { value } : { value, note });
  }

  private note(text: string): void {
    this.notes.push(`${this.target.name}: ${text}`);
    this.print(`  ! ${text}`);
  }

  private async connectGroup(group: string, dial: DialSpec, count: number, alg: 'ES256' | 'RS256', subscribeConfig = false): Promise<ConnectResult> {
    this.checkpoint();
    const logins = await this.fleet.logins(alg, count);
    const meter = new CpuMeter(this.target.pid);
    const result = await this.loadgen.connect({
      group,
      dial,
      logins,
      concurrency: this.s.connectConcurrency,
      keepaliveSeconds: KEEPALIVE_S,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      deadlineMs: CONNECT_DEADLINE_MS,
      subscribeConfig,
    });
    if (result.failed > 0 || result.ok < count) {
      this.note(`${group}: ${result.ok}/${count} connected; ${result.errors.map((e) => `${e.count}× ${e.message}`).join('; ')}`);
    }
    this.lastCpu = meter.read();
    this.tlsLine ??= result.tlsProtocol === null ? null : `${result.tlsProtocol} ${result.cipher ?? ''}`.trim();
    return result;
  }

  private cpuText(cpu: CpuShares = this.lastCpu): string {
    const f = (x: number | null): string => (x === null ? '—' : x.toFixed(2));
    return `; CPU cores: server ${f(cpu.server)}, load generator ${f(cpu.loadgen)}, other ${f(cpu.other)}`;
  }

  /** A measured phase shared the machine with something else: say so next to the figures. */
  private checkQuiet(phase: string, cpu: CpuShares): void {
    if (cpu.other !== null && cpu.other > 0.25) this.note(`${phase}: other processes used ${cpu.other.toFixed(2)} cores meanwhile; figures are low`);
  }

  private async closeGroup(group: string): Promise<void> {
    await this.loadgen.close(group);
    await sleep(500); // let the server finish tearing the sessions down before the next phase
  }

  /** ES256 connect storm, measuring RSS before and after; then an RS256 storm. */
  async connectAndMemory(sections: Set<MqttSection>): Promise<void> {
    const { pid } = this.target;
    const n = this.s.connects;
    // Warm-up: TLS contexts, JIT, first-use allocations. Held open through the baseline sample
    // so that what is measured is the marginal cost of a device.
    await this.connectGroup('warmup', this.target.tls, 50, 'ES256');
    await this.closeGroup('warmup');
    const before = await settledRss(pid);
    const r = await this.connectGroup('storm-es', this.target.tls, n, 'ES256');
    const rate = (r.ok / r.elapsedMs) * 1000;
    this.print(`  ES256 connects: ${r.ok} in ${r.elapsedMs.toFixed(0)} ms = ${rate.toFixed(0)}/s${this.cpuText()}`);
    this.checkQuiet('ES256 connects', this.lastCpu);
    if (sections.has('connect')) {
      this.set('connect.ES256', rate, r.failed > 0 ? `(${r.failed} failed)` : undefined);
      const h = new Histogram();
      h.merge(r.latency);
      this.set('connect.p50', ms(h.quantile(0.5)));
      this.set('connect.p99', ms(h.quantile(0.99)));
    }
    if (sections.has('memory')) {
      const after = await settledRss(pid);
      const perDevice = r.ok > 0 ? (after.bytes - before.bytes) / r.ok / 1024 : null;
      this.print(`  RSS ${(before.bytes / 2 ** 20).toFixed(1)} MiB → ${(after.bytes / 2 ** 20).toFixed(1)} MiB with ${r.ok} idle devices${after.settled ? '' : ' (not settled)'}`);
      this.set('memory', perDevice, after.settled && before.settled ? undefined : '(unsettled)');
    }
    await this.closeGroup('storm-es');
    if (sections.has('connect')) {
      const rs = await this.connectGroup('storm-rs', this.target.tls, n, 'RS256');
      const rsRate = (rs.ok / rs.elapsedMs) * 1000;
      this.print(`  RS256 connects: ${rs.ok} in ${rs.elapsedMs.toFixed(0)} ms = ${rsRate.toFixed(0)}/s${this.cpuText()}`);
      this.checkQuiet('RS256 connects', this.lastCpu);
      this.set('connect.RS256', rsRate, rs.failed > 0 ? `(${rs.failed} failed)` : undefined);
      await this.closeGroup('storm-rs');
    }
  }

  async telemetry(transport: 'tls' | 'plain', devices: number): Promise<void> {
    const key = `telemetry.${transport}.${devices}`;
    const group = `telemetry-${transport}-${devices}`;
    await this.connectGroup(group, transport === 'tls' ? this.target.tls : this.target.plain, devices, 'ES256');
    let meter: CpuMeter | null = null;
    let cpu: CpuShares = { server: null, loadgen: null, other: null };
    const r = await this.loadgen.telemetry(
      {
        group,
        window: this.s.window,
        payloadBytes: this.s.payloadBytes,
        warmupMs: this.s.warmupMs,
        durationMs: this.s.durationMs,
        maxMessages: this.s.maxMessages,
        drainMs: 5_000,
      },
      (mark) => {
        if (mark === 'measure-start') meter = new CpuMeter(this.target.pid);
        else if (meter !== null) cpu = meter.read();
      },
    );
    await this.closeGroup(group);
    const rate = r.measuredMs > 0 ? (r.measuredAcks / r.measuredMs) * 1000 : null;
    const h = new Histogram();
    h.merge(r.latency);
    const problems = [
      r.lostConnections > 0 ? `${r.lostConnections} connections lost (${r.lostReasons.map((x) => `${x.count}× ${x.message}`).join('; ')})` : '',
      r.unacked > 0 ? `${r.unacked} PUBLISHes never acked` : '',
      r.strayAcks > 0 ? `${r.strayAcks} PUBACKs for ids not in flight` : '',
    ].filter((p) => p !== '');
    if (problems.length > 0) this.note(`${group}: ${problems.join('; ')}`);
    this.print(
      `  ${group}: ${r.measuredAcks} acks in ${r.measuredMs.toFixed(0)} ms = ${rate?.toFixed(0) ?? '—'}/s, p50 ${ms(h.quantile(0.5)).toFixed(2)} ms, ` +
        `p99 ${ms(h.quantile(0.99)).toFixed(2)} ms; load generator loop ${(r.loadgenElu * 100).toFixed(0)}% busy${this.cpuText(cpu)}`,
    );
    this.checkQuiet(group, cpu);
    this.set(`${key}.rate`, rate, r.lostConnections > 0 ? `(${r.lostConnections} lost)` : undefined);
    this.set(`${key}.p50`, ms(h.quantile(0.5)));
    this.set(`${key}.p99`, ms(h.quantile(0.99)));
    this.set(`${key}.cpu`, cpu.server);
    this.set(`${key}.elu`, r.loadgenElu);
  }

  async config(): Promise<void> {
    const devices = Math.max(this.s.configDevices, this.s.configConcurrency * 2);
    const c = await this.connectGroup('config', this.target.tls, devices, 'ES256', true);
    if (this.target.configIsApi && c.initialConfigs < c.ok) this.note(`config: only ${c.initialConfigs}/${c.ok} devices got their current config right after SUBSCRIBE (spec §5.5)`);
    const r = await this.loadgen.config({
      group: 'config',
      trigger: this.target.configTrigger(),
      samples: this.s.configSamples,
      concurrency: this.s.configConcurrency,
      minIntervalPerDeviceMs: 1_100,
      sampleTimeoutMs: 5_000,
      deadlineMs: 60_000,
    });
    await this.closeGroup('config');
    const h = new Histogram();
    h.merge(r.latency);
    if (r.timeouts > 0 || r.httpErrors.length > 0) {
      this.note(`config: ${r.timeouts} updates never reached the device; ${r.httpErrors.map((e) => `${e.count}× ${e.message}`).join('; ')}`);
    }
    const how = this.target.configIsApi ? 'REST modifyCloudToDeviceConfig' : 'MQTT publish by a backend client (analogue)';
    this.print(`  config (${how}): ${r.samples} samples in ${r.elapsedMs.toFixed(0)} ms, p50 ${ms(h.quantile(0.5)).toFixed(2)} ms, p99 ${ms(h.quantile(0.99)).toFixed(2)} ms`);
    const note = this.target.configIsApi ? undefined : '(MQTT analogue)';
    this.set('config.p50', ms(h.quantile(0.5)), note);
    this.set('config.p99', ms(h.quantile(0.99)), note);
  }
}

async function benchTarget(
  run: TargetRun,
  sections: Set<MqttSection>,
): Promise<void> {
  const { target, s, print, loadgen } = run;
  try {
    const needed = Math.max(
      sections.has('connect') || sections.has('memory') ? s.connects : 0,
      sections.has('telemetry') || sections.has('telemetry-plain') ? Math.max(...s.deviceCounts) : 0,
      sections.has('config') ? Math.max(s.configDevices, s.configConcurrency * 2) : 0,
      50,
    );
    const p0 = performance.now();
    await target.provision(needed);
    if (target.configIsApi) print(`  provisioned ${needed} devices in ${(performance.now() - p0).toFixed(0)} ms`);
    if (sections.has('connect') || sections.has('memory')) await run.connectAndMemory(sections);
    for (const transport of ['tls', 'plain'] as const) {
      if (!sections.has(transport === 'tls' ? 'telemetry' : 'telemetry-plain')) continue;
      for (const n of s.deviceCounts) await run.telemetry(transport, n);
    }
    if (sections.has('config')) await run.config();
  } finally {
    await loadgen.terminate();
  }
}

/** Runs the MQTT comparison and prints the table (entry point for bench/run.ts). */
export async function runMqttBench(opts: MqttBenchOptions = {}): Promise<void> {
  const sections = selectedSections(opts.sections);
  if (sections.size === 0) {
    console.log(`mqtt bench: no MQTT section selected (known: ${MQTT_SECTIONS.join(', ')})`);
    return;
  }
  const s = settingsFromEnv();
  const wantedTargets = new Set(opts.targets ?? (process.env.BENCH_TARGETS ?? 'bridgehead,mosquitto').split(',').map((t) => t.trim().toLowerCase()));
  const facts = machineFacts();
  console.log(`\n== MQTT: Bridgehead vs Mosquitto (${[...sections].join(', ')}) ==`);
  console.log(
    `machine: ${facts.cpuCount}× ${facts.cpuModel}, ${facts.memoryGiB} GiB, Linux ${facts.kernel}, node ${facts.node}, OpenSSL ${facts.openssl}; ` +
      `load generator: ${s.loadgenWorkers} worker thread(s), servers and load generator share the cores`,
  );
  console.log(
    `load: ${s.connects} connects (${s.connectConcurrency} in flight); telemetry QoS 1, ${s.payloadBytes}-byte payloads, window ${s.window} per connection, ` +
      `${s.warmupMs} ms warm-up + ${s.durationMs} ms measured (or ${s.maxMessages.toLocaleString('en-US')} acks); config: ${s.configSamples} updates over ${s.configDevices} devices`,
  );

  const fleet = await BenchFleet.create();
  const results: Results = new Map();
  const notes: string[] = [];
  const versions: string[] = [];
  const starters: Array<{ name: TargetName; start: () => Promise<BenchTarget> }> = [];
  if (wantedTargets.has('bridgehead')) starters.push({ name: 'Bridgehead', start: () => startBridgehead(fleet) });
  if (wantedTargets.has('mosquitto')) {
    const bin = findMosquitto();
    if (bin === null) notes.push('Mosquitto: not installed (apt-get install mosquitto), column skipped');
    else starters.push({ name: 'Mosquitto', start: () => startMosquitto(bin) });
  }

  for (const { name, start } of starters) {
    console.log(`\n-- ${name}`);
    let target: BenchTarget;
    try {
      target = await start();
    } catch (e) {
      const msg = `${name}: could not start: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
      console.log(`  ! ${msg}`);
      notes.push(msg);
      continue;
    }
    try {
      const run = await benchTarget(target, fleet, s, sections);
      results.set(name, run.cells);
      notes.push(...run.notes);
      versions.push(`${target.version}${run.tlsLine === null ? '' : ` (${run.tlsLine})`}`);
    } catch (e) {
      const msg = `${name}: aborted: ${e instanceof Error ? e.message : String(e)}`;
      console.log(`  ! ${msg}`);
      notes.push(msg);
    } finally {
      await target.stop();
      const err = target.stderr().trim();
      if (err !== '') notes.push(`${name} stderr: ${err.split('\n').slice(0, 5).join(' | ').slice(0, 600)}`);
    }
  }

  console.log(`\n${renderTable(metricDefs(s), results)}`);
  console.log(`servers: ${versions.join('; ') || 'none ran'}`);
  console.log('ratio = Bridgehead / Mosquitto (higher is better for rates, lower for latency, memory and CPU).');
  if (results.has('Mosquitto') && sections.has('config')) console.log('config on Mosquitto: a backend client publishing QoS 1 to the device\'s config topic; not the same path, so no ratio.');
  for (const n of notes) console.log(`note: ${n}`);
}

// `node dist/bench/mqtt-bench.js [sections...]` runs this bench alone.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runMqttBench({ sections: process.argv.slice(2) }).catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}


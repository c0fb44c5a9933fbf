import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DialSpec } from './connection.js';
import type { BenchFleet } from './devices.js';
import { Histogram } from './histogram.js';
import type { ConnectResult } from './jobs.js';
import type { LoadGenerator } from './pool.js';
import { CpuMeter, rssBytes, settledValue, waitForIdleServer, waitForQuiet, type CpuShares } from './proc.js';
import type { Cell } from './report.js';
import { idleDeviceCount, type Settings } from './settings.js';
import type { BenchTarget, HeapStats } from './target.js';

export const MQTT_SECTIONS = ['connect', 'memory', 'telemetry', 'telemetry-plain', 'latency', 'config'] as const;
export type MqttSection = (typeof MQTT_SECTIONS)[number];

const ms = (ns: number): number => ns / 1e6;
/** Server stderr lines that say nothing about the figures. */
export const BENIGN_STDERR = [
  /Mosquitto should not be run as root/,
  /unexpected eof while reading/, // the readiness probe and torn-down connections
  /SIGTERM received, draining/,
];
const CONNECT_DEADLINE_MS = 60_000;
const CONNECT_TIMEOUT_MS = 15_000;
const KEEPALIVE_S = 300;

/** The phases against one server, and the figures they produced (keyed as in metricDefs). */
export class TargetRun {
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

  /** One progress line, tagged with the server's name. */
  say(text: string): void {
    this.print(`  ${this.target.name.padEnd(10)} ${text}`);
  }

  set(key: string, value: number | null, note?: string): void {
    this.cells.set(key, note === undefined ? { value } : { value, note });
  }

  protected note(text: string): void {
    this.notes.push(`${this.target.name}: ${text}`);
    this.say(`! ${text}`);
  }

  private async connectGroup(
    group: string,
    dial: DialSpec,
    count: number,
    alg: 'ES256' | 'RS256',
    subscribeConfig = false,
    firstDevice = 1,
    /** Tokens the measured storms never present (a warm-up: see BenchFleet.freshLogins). */
    freshTokens = false,
  ): Promise<ConnectResult> {
    this.checkpoint();
    const logins = freshTokens ? await this.fleet.freshLogins(alg, count, 1) : await this.fleet.logins(alg, count, firstDevice);
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

  protected cpuText(cpu: CpuShares = this.lastCpu): string {
    const f = (x: number | null): string => (x === null ? '—' : x.toFixed(2));
    return `; CPU cores: server ${f(cpu.server)}, load generator ${f(cpu.loadgen)}, other ${f(cpu.other)}`;
  }

  /** Gives other processes on the machine a chance to finish before a measured phase. */
  async quiet(): Promise<void> {
    if (this.s.quietWaitMs > 0) await waitForQuiet(this.target.pid, this.s.quietWaitMs);
  }

  /** A measured phase shared the machine with something else: say so next to the figures. */
  protected checkQuiet(phase: string, cpu: CpuShares): boolean {
    const busy = cpu.other !== null && cpu.other > 0.25;
    if (busy) this.note(`${phase}: other processes used ${(cpu.other ?? 0).toFixed(2)} cores meanwhile; figures may be low`);
    return busy;
  }

  /** The note a rate cell carries: failures, and whether the machine was busy meanwhile. */
  protected static cellNote(parts: Array<string | false>): string | undefined {
    const kept = parts.filter((p): p is string => p !== false);
    return kept.length === 0 ? undefined : `(${kept.join(', ')})`;
  }

  protected async closeGroup(group: string): Promise<void> {
    await this.loadgen.close(group);
    await sleep(500); // let the server finish tearing the sessions down before the next phase
  }

  /**
   * Server memory for the per-device figure: RSS less the committed young generation, settled.
   * For a Node server each sample follows a forced full GC (loadgen/gc-hook.ts), after which the
   * young generation is empty: its committed size follows how fast the server allocated lately
   * (it grows in a handshake storm and shrinks seconds later), not what the devices hold.
   */
  private async memoryPoint(): Promise<{ value: number; rss: number; heap: HeapStats | null; settled: boolean }> {
    let heap: HeapStats | null = null;
    let rss = Number.NaN;
    const r = await settledValue(async () => {
      heap = await this.target.collectGarbage();
      rss = rssBytes(this.target.pid) ?? Number.NaN;
      return rss - (heap?.newSpace ?? 0);
    });
    return { value: r.value, rss, heap, settled: r.settled };
  }

  /** ES256 connect storm, measuring memory before and after; then an RS256 storm. */
  async connectAndMemory(sections: Set<MqttSection>): Promise<void> {
    const n = this.s.connects;
    // Warm-up (TLS contexts, JIT, first-use allocations), closed again before the baseline, so
    // that the delta is what the idle devices themselves hold.
    await this.connectGroup('warmup', this.target.tls, 50, 'ES256', false, 1, true);
    await this.closeGroup('warmup');
    const before = await this.memoryPoint();
    await this.quiet();
    const r = await this.connectGroup('storm-es', this.target.tls, n, 'ES256');
    let extra: ConnectResult | undefined;
    const rate = (r.ok / r.elapsedMs) * 1000;
    this.say(`ES256 connects: ${r.ok} in ${r.elapsedMs.toFixed(0)} ms = ${rate.toFixed(0)}/s${this.cpuText()}`);
    const busy = this.checkQuiet('ES256 connects', this.lastCpu);
    if (sections.has('connect')) {
      this.set('connect.ES256', rate, TargetRun.cellNote([r.failed > 0 && `${r.failed} failed`, busy && 'busy']));
      this.set('connect.ES256.perCpu', this.lastCpu.server === null || this.lastCpu.server <= 0 ? null : rate / this.lastCpu.server);
      const h = new Histogram();
      h.merge(r.latency);
      this.set('connect.p50', ms(h.quantile(0.5)));
      this.set('connect.p99', ms(h.quantile(0.99)));
    }
    if (sections.has('memory')) {
      // The rest of the idle devices, after the storm's: the storm's rate stays the one measured
      // over `connects`, and the memory row is read at the device count its target names.
      const more = idleDeviceCount(this.s) - n;
      extra = more > 0 ? await this.connectGroup('idle-more', this.target.tls, more, 'ES256', false, n + 1) : undefined;
      const idle = r.ok + (extra?.ok ?? 0);
      const after = await this.memoryPoint();
      const per = (a: number, b: number): number | null => (idle > 0 ? (b - a) / idle / 1024 : null);
      const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;
      const b = before.heap;
      const a = after.heap;
      const young =
        b !== null && a !== null
          ? ` (V8 heap committed ${mib(b.heapTotal)} → ${mib(a.heapTotal)}, of it young generation ${mib(b.newSpace)} → ${mib(a.newSpace)}, live ${mib(b.heapUsed)} → ${mib(a.heapUsed)})`
          : '';
      this.say(`RSS ${mib(before.rss)} → ${mib(after.rss)}${young} with ${idle} idle devices${after.settled && before.settled ? '' : ' (not settled)'}`);
      const rssPer = per(before.value, after.value);
      const heapPer = before.heap !== null && after.heap !== null ? per(before.heap.heapUsed, after.heap.heapUsed) : null;
      if (rssPer !== null && heapPer !== null && rssPer < heapPer) {
        // RSS holds the live heap and more: less than that is the young generation's committed
        // size changing between the samples (subtracted from both), not what the devices hold.
        this.set('memory', null, `(no reading: ${rssPer.toFixed(1)} KB, below the live JS heap)`);
      } else {
        this.set('memory', rssPer, after.settled && before.settled ? undefined : '(unsettled)');
      }
      if (heapPer !== null) this.set('memory.js', heapPer);
    }
    await this.closeGroup('storm-es');
    if (extra !== undefined) {
      await this.closeGroup('idle-more');
      // Thousands of sessions ending keep the server busy for a while: the phases after this one
      // must not pay for it.
      await waitForIdleServer(this.target.pid, 10_000);
    }
    if (sections.has('connect')) {
      // The ES256 storm's sessions end in the background: their teardown is not the RS256 storm's cost.
      await waitForIdleServer(this.target.pid, 10_000);
      await this.quiet();
      const rs = await this.connectGroup('storm-rs', this.target.tls, n, 'RS256');
      const rsRate = (rs.ok / rs.elapsedMs) * 1000;
      this.say(`RS256 connects: ${rs.ok} in ${rs.elapsedMs.toFixed(0)} ms = ${rsRate.toFixed(0)}/s${this.cpuText()}`);
      const rsBusy = this.checkQuiet('RS256 connects', this.lastCpu);
      this.set('connect.RS256', rsRate, TargetRun.cellNote([rs.failed > 0 && `${rs.failed} failed`, rsBusy && 'busy']));
      this.set('connect.RS256.perCpu', this.lastCpu.server === null || this.lastCpu.server <= 0 ? null : rsRate / this.lastCpu.server);
      await this.closeGroup('storm-rs');
    }
  }

  async telemetry(transport: 'tls' | 'plain', devices: number, window = this.s.window): Promise<void> {
    const group = `telemetry-${transport}-${devices}${window === this.s.window ? '' : `-w${window}`}`;
    await this.connectGroup(group, transport === 'tls' ? this.target.tls : this.target.plain, devices, 'ES256');
    await this.measureTelemetry(group, window === this.s.window ? `telemetry.${transport}.${devices}` : `latency.${transport}.${devices}.w${window}`, window);
  }

  /**
   * QoS 1 telemetry over the open connections of `group` (closed afterwards); the figures go to
   * the cells `${key}.rate`, `.p50`, `.p99`, `.cpu` and `.elu`.
   */
  protected async measureTelemetry(group: string, key: string, window = this.s.window): Promise<void> {
    await this.quiet();
    let meter: CpuMeter | null = null;
    let cpu: CpuShares = { server: null, loadgen: null, other: null };
    const r = await this.loadgen.telemetry(
      {
        group,
        window,
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
      r.gatewayErrors.length > 0 ? `gateway errors: ${r.gatewayErrors.map((x) => `${x.count}× ${x.message}`).join('; ')}` : '',
    ].filter((p) => p !== '');
    if (problems.length > 0) this.note(`${group}: ${problems.join('; ')}`);
    this.say(
      `${group}: ${r.measuredAcks} acks in ${r.measuredMs.toFixed(0)} ms = ${rate?.toFixed(0) ?? '—'}/s, p50 ${ms(h.quantile(0.5)).toFixed(2)} ms, ` +
        `p99 ${ms(h.quantile(0.99)).toFixed(2)} ms, p99.9 ${ms(h.quantile(0.999)).toFixed(1)} ms, max ${ms(h.quantile(1)).toFixed(1)} ms; load generator loop ${(r.loadgenElu * 100).toFixed(0)}% busy${this.cpuText(cpu)}`,
    );
    const busy = this.checkQuiet(group, cpu);
    // A saturated load generator means the server could have taken more: the rate is a floor.
    const bound = r.loadgenElu > 0.9;
    if (bound) this.note(`${group}: the load generator was saturated, so this rate is a lower bound of the server's`);
    this.set(`${key}.rate`, rate, TargetRun.cellNote([r.lostConnections > 0 && `${r.lostConnections} lost`, busy && 'busy', bound && 'loadgen-bound']));
    this.set(`${key}.p50`, ms(h.quantile(0.5)));
    this.set(`${key}.p99`, ms(h.quantile(0.99)));
    this.set(`${key}.cpu`, cpu.server);
    // What a message costs the server, whatever the load generator managed to offer.
    this.set(`${key}.perCpu`, rate === null || cpu.server === null || cpu.server <= 0 ? null : rate / cpu.server);
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
    this.say(`config (${how}): ${r.samples} samples in ${r.elapsedMs.toFixed(0)} ms, p50 ${ms(h.quantile(0.5)).toFixed(2)} ms, p99 ${ms(h.quantile(0.99)).toFixed(2)} ms`);
    const note = this.target.configIsApi ? undefined : '(MQTT analogue)';
    this.set('config.p50', ms(h.quantile(0.5)), note);
    this.set('config.p99', ms(h.quantile(0.99)), note);
  }
}

/** The PUBACK latency target's load (issue 13): 100 devices with 10 messages in flight each. */
export const LATENCY_DEVICES = 100;
export const LATENCY_WINDOW = 10;

/** A step of the run, done against every server before the next step starts. */
export interface Phase {
  name: string;
  run(r: TargetRun): Promise<void>;
}

/**
 * The selected sections as phases. The caller runs each phase against every server before moving
 * on, so that a change in background load on a shared machine hits both columns alike.
 */
export function phasesFor(sections: Set<MqttSection>, s: Settings): Phase[] {
  const phases: Phase[] = [];
  const needed = Math.max(
    sections.has('connect') ? s.connects : 0,
    sections.has('memory') ? idleDeviceCount(s) : 0,
    sections.has('telemetry') || sections.has('telemetry-plain') ? Math.max(...s.deviceCounts) : 0,
    sections.has('latency') ? LATENCY_DEVICES : 0,
    sections.has('config') ? Math.max(s.configDevices, s.configConcurrency * 2) : 0,
    50,
  );
  phases.push({
    name: 'provision',
    run: async (r) => {
      const p0 = performance.now();
      await r.target.provision(needed);
      if (r.target.configIsApi) r.say(`provisioned ${needed} devices in ${(performance.now() - p0).toFixed(0)} ms`);
    },
  });
  if (sections.has('connect') || sections.has('memory')) phases.push({ name: 'connect', run: (r) => r.connectAndMemory(sections) });
  for (const transport of ['tls', 'plain'] as const) {
    if (!sections.has(transport === 'tls' ? 'telemetry' : 'telemetry-plain')) continue;
    for (const n of s.deviceCounts) phases.push({ name: `telemetry-${transport}-${n}`, run: (r) => r.telemetry(transport, n) });
  }
  if (sections.has('latency')) {
    for (const transport of ['tls', 'plain'] as const) {
      phases.push({ name: `latency-${transport}-${LATENCY_DEVICES}-w${LATENCY_WINDOW}`, run: (r) => r.telemetry(transport, LATENCY_DEVICES, LATENCY_WINDOW) });
    }
  }
  if (sections.has('config')) phases.push({ name: 'config', run: (r) => r.config() });
  return phases;
}

import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DialSpec } from './connection.js';
import { deviceId, type BenchFleet } from './devices.js';
import { devicesNeeded, type GatewaySettings } from './gateway-settings.js';
import { Histogram } from './histogram.js';
import type { AttachResult, GatewayPlan } from './jobs.js';
import type { LoadGenerator } from './pool.js';
import { CpuMeter, median, type CpuShares } from './proc.js';
import type { BenchTarget } from './target.js';
import { TargetRun } from './target-run.js';

/** The gateway that attaches the whole attach fleet, and the relaying gateways' ids. */
export const ATTACH_GATEWAY = 'gw-attach';
export const relayGatewayId = (index: number): string => `gw-${String(index).padStart(2, '0')}`;

const ms = (ns: number): number => ns / 1e6;
const KEEPALIVE_S = 300;
const CONNECT_TIMEOUT_MS = 15_000;
const ATTACH_DEADLINE_MS = 120_000;
/** Warm-up round (JIT, statement caches) before the measured attach rounds. */
const WARMUP_ATTACHES = 100;

/**
 * The gateway phases against one Bridgehead (spec §6): gateways and bindings through the REST
 * API, attach latency of one gateway (one by one and pipelined), and relayed QoS 1 telemetry of
 * several gateways at once; the figures land in `cells` like the MQTT bench's.
 */
export class GatewayRun extends TargetRun {
  constructor(
    target: BenchTarget,
    loadgen: LoadGenerator,
    fleet: BenchFleet,
    readonly gs: GatewaySettings,
    print: (line?: string) => void,
    signal: AbortSignal | undefined,
  ) {
    super(target, loadgen, fleet, gs.base, print, signal);
  }

  private get dial(): DialSpec {
    return this.gs.transport === 'tls' ? this.target.tls : this.target.plain;
  }

  /** Devices 1..N, the gateways (ASSOCIATION_ONLY) and every binding the phases use. */
  async provision(): Promise<void> {
    const admin = this.target.admin;
    if (admin === undefined) throw new Error(`${this.target.name} has no device manager API: the gateway bench needs Bridgehead`);
    const t0 = performance.now();
    const needed = devicesNeeded(this.gs);
    await this.target.provision(needed);
    const call = async (path: string, body: unknown, okStatuses: readonly number[] = [200]): Promise<void> => {
      const res = await fetch(`${admin.api}${admin.registryPath}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.any([...(this.signal === undefined ? [] : [this.signal]), AbortSignal.timeout(30_000)]),
      });
      const text = await res.text();
      if (!okStatuses.includes(res.status)) throw new Error(`POST ${admin.registryPath}${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
    };
    const gateways = [ATTACH_GATEWAY, ...Array.from({ length: this.gs.gateways }, (_, k) => relayGatewayId(k + 1))];
    const credentials = [{ publicKey: { format: 'ES256_PEM', key: this.fleet.keys.ES256.publicKeyPem } }];
    for (const id of gateways) {
      await call('/devices', { id, credentials, gatewayConfig: { gatewayType: 'GATEWAY', gatewayAuthMethod: 'ASSOCIATION_ONLY' } }, [200, 409]);
    }
    const bindings: Array<{ gatewayId: string; deviceId: string }> = [];
    for (let i = 1; i <= this.gs.attachDevices; i += 1) bindings.push({ gatewayId: ATTACH_GATEWAY, deviceId: deviceId(i) });
    for (const [g, ids] of this.relayDevices().entries()) for (const id of ids) bindings.push({ gatewayId: relayGatewayId(g + 1), deviceId: id });
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < bindings.length) {
        const b = bindings[next];
        next += 1;
        if (b !== undefined) await call(':bindDeviceToGateway', b);
      }
    };
    await Promise.all(Array.from({ length: 8 }, lane));
    this.say(`provisioned ${needed} devices, ${gateways.length} gateways (ASSOCIATION_ONLY) and ${bindings.length} bindings in ${(performance.now() - t0).toFixed(0)} ms`);
  }

  /** Relaying gateway g (0-based) gets devices g·D+1 .. (g+1)·D. */
  private relayDevices(): string[][] {
    const d = this.gs.devicesPerGateway;
    return Array.from({ length: this.gs.gateways }, (_, g) => Array.from({ length: d }, (_x, k) => deviceId(g * d + k + 1)));
  }

  /** Runs one attach job, sampling server CPU over the attach window; notes anything that failed. */
  private async attachJob(label: string, mode: 'sequential' | 'pipelined', gateways: GatewayPlan[], group: string | null): Promise<{ r: AttachResult; cpu: CpuShares }> {
    this.checkpoint();
    let meter: CpuMeter | null = null;
    let cpu: CpuShares = { server: null, loadgen: null, other: null };
    const r = await this.loadgen.attach(
      {
        group,
        dial: this.dial,
        gateways,
        mode,
        keepaliveSeconds: KEEPALIVE_S,
        connectTimeoutMs: CONNECT_TIMEOUT_MS,
        attachTimeoutMs: this.gs.attachTimeoutMs,
        deadlineMs: ATTACH_DEADLINE_MS,
      },
      (mark) => {
        if (mark === 'measure-start') meter = new CpuMeter(this.target.pid);
        else if (meter !== null) cpu = meter.read();
      },
    );
    const expected = gateways.reduce((n, g) => n + g.deviceIds.length, 0);
    const problems = [
      r.connected < r.gateways ? `${r.connected}/${r.gateways} gateways connected (${r.connectErrors.map((e) => `${e.count}× ${e.message}`).join('; ')})` : '',
      r.attached < expected ? `${r.attached}/${expected} attached (${r.refused} refused, ${r.timedOut} timed out, ${expected - r.attempted} not attempted)` : '',
      r.gatewayErrors.length > 0 ? `errors topic: ${r.gatewayErrors.map((e) => `${e.count}× ${e.message}`).join('; ')}` : '',
    ].filter((p) => p !== '');
    if (problems.length > 0) this.note(`${label}: ${problems.join('; ')}`);
    // Disconnected gateways: let the server finish tearing their sessions down first.
    if (group === null) await sleep(300);
    return { r, cpu };
  }

  /** One gateway attaching the attach fleet: a warm-up, then rounds of one-by-one and all-at-once. */
  async attach(): Promise<void> {
    const login = await this.fleet.loginFor(ATTACH_GATEWAY, 'ES256');
    const ids = Array.from({ length: this.gs.attachDevices }, (_, k) => deviceId(k + 1));
    await this.attachJob('attach warm-up', 'pipelined', [{ login, deviceIds: ids.slice(0, WARMUP_ATTACHES) }], null);
    const modes = [
      { mode: 'sequential', key: 'attach.seq', what: 'one by one' },
      { mode: 'pipelined', key: 'attach.pipe', what: 'all at once' },
    ] as const;
    // CPU is pooled over the rounds (core-ms over ms): one attach window lasts only tens of ms,
    // and /proc counts CPU time in 10 ms ticks.
    const acc = new Map(modes.map((m) => [m.key, { latency: new Histogram(), totals: [] as number[], cpuMs: 0, cpuWallMs: 0, failed: 0 }]));
    for (let round = 1; round <= this.gs.attachRounds; round += 1) {
      for (const m of modes) {
        await this.quiet();
        // A fresh connection per round: attachments belong to the connection, as after a reconnect.
        const { r, cpu } = await this.attachJob(`attach ${m.what} (round ${round})`, m.mode, [{ login, deviceIds: ids }], null);
        const a = acc.get(m.key);
        if (a === undefined) continue;
        a.latency.merge(r.latency);
        const total = r.totalsMs[0] ?? Number.NaN;
        a.totals.push(total);
        if (cpu.server !== null && Number.isFinite(total)) {
          a.cpuMs += cpu.server * total;
          a.cpuWallMs += total;
        }
        a.failed += r.attempted - r.attached;
        const h = new Histogram();
        h.merge(r.latency);
        this.say(
          `attach ${m.what}, round ${round}: ${r.attached}/${ids.length} in ${total.toFixed(0)} ms, p50 ${ms(h.quantile(0.5)).toFixed(2)} ms, ` +
            `p99 ${ms(h.quantile(0.99)).toFixed(2)} ms${this.cpuText(cpu)}`,
        );
        // Other processes' share is only readable over longer windows (10 ms ticks); quiet() ran before.
        if (total >= 1_000) this.checkQuiet(`attach ${m.what} (round ${round})`, cpu);
      }
    }
    for (const m of modes) {
      const a = acc.get(m.key);
      if (a === undefined) continue;
      const total = median(a.totals);
      const note = TargetRun.cellNote([a.failed > 0 && `${a.failed} failed`, a.totals.length > 1 && `median of ${a.totals.length}`]);
      this.set(`${m.key}.total`, total, note);
      this.set(`${m.key}.rate`, total > 0 ? (ids.length / total) * 1000 : null);
      this.set(`${m.key}.p50`, ms(a.latency.quantile(0.5)));
      this.set(`${m.key}.p99`, ms(a.latency.quantile(0.99)));
      this.set(`${m.key}.cpu`, a.cpuWallMs > 0 ? a.cpuMs / a.cpuWallMs : null);
    }
  }

  /** Every relaying gateway attaches its devices (pipelined, all gateways at once), then relays telemetry. */
  async relay(): Promise<void> {
    const plans: GatewayPlan[] = [];
    for (const [g, deviceIds] of this.relayDevices().entries()) plans.push({ login: await this.fleet.loginFor(relayGatewayId(g + 1), 'ES256'), deviceIds });
    const group = `relay-${this.gs.gateways}x${this.gs.devicesPerGateway}`;
    await this.quiet();
    const { r, cpu } = await this.attachJob(`${group} attach`, 'pipelined', plans, group);
    const total = r.totalsMs.length > 0 ? Math.max(...r.totalsMs) : Number.NaN;
    this.say(`${group}: ${r.connected} gateways attached ${r.attached}/${plans.length * this.gs.devicesPerGateway} devices in ${total.toFixed(0)} ms${this.cpuText(cpu)}`);
    this.set('relay.attach', total, TargetRun.cellNote([r.attached < r.attempted && `${r.attempted - r.attached} failed`]));
    await this.measureTelemetry(group, 'relay');
  }

  /** The same load from as many devices connected directly (no gateway), for comparison. */
  async baseline(): Promise<void> {
    await this.telemetry(this.gs.transport, this.gs.gateways);
  }
}

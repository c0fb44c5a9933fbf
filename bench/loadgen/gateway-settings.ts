import type { MetricDef } from './report.js';
import { settingsFromEnv, type Settings } from './settings.js';

/** Sizes of the gateway bench, from BENCH_GW_* environment variables (the rest as in the MQTT bench). */
export interface GatewaySettings {
  /** Bound devices the attach gateway attaches per round (the bridge attaches at most 1,000 per gateway). */
  attachDevices: number;
  /** Measured rounds of each attach mode (after one warm-up round). */
  attachRounds: number;
  /** Gateways relaying telemetry at once, and devices attached to each. */
  gateways: number;
  devicesPerGateway: number;
  transport: 'tls' | 'plain';
  /** An attach with neither PUBACK nor error for this long counts as timed out. */
  attachTimeoutMs: number;
  /** Telemetry sizes (window: in-flight messages per gateway connection) and the shared knobs. */
  base: Settings;
}

function envInt(name: string, fallback: number, max: number): number {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? Number.NaN : Number(raw);
  return Math.min(Number.isSafeInteger(n) && n > 0 ? n : fallback, max);
}

export function gatewaySettingsFromEnv(): GatewaySettings {
  const base = settingsFromEnv();
  const gateways = envInt('BENCH_GW_GATEWAYS', 10, 100);
  return {
    attachDevices: envInt('BENCH_GW_ATTACH_DEVICES', 1_000, 1_000),
    attachRounds: envInt('BENCH_GW_ATTACH_ROUNDS', 3, 10),
    gateways,
    devicesPerGateway: envInt('BENCH_GW_DEVICES', 100, Math.min(1_000, Math.floor(10_000 / gateways))),
    transport: process.env.BENCH_GW_TRANSPORT === 'plain' ? 'plain' : 'tls',
    attachTimeoutMs: 5_000,
    base: { ...base, window: envInt('BENCH_GW_WINDOW', 32, 1_000) },
  };
}

/** Devices the registry needs: attach devices, relayed devices and the direct baseline's. */
export function devicesNeeded(g: GatewaySettings): number {
  return Math.max(g.attachDevices, g.gateways * g.devicesPerGateway, g.gateways);
}

/** The key TargetRun.telemetry gives the direct-device baseline. */
export const baselineKey = (g: GatewaySettings): string => `telemetry.${g.transport}.${g.gateways}`;

/** The metrics, in table order. */
export function gatewayMetricDefs(g: GatewaySettings): MetricDef[] {
  const n = g.attachDevices.toLocaleString('en-US');
  const tr = g.transport === 'tls' ? 'TLS' : 'plain TCP';
  const attachRows = (mode: 'seq' | 'pipe', title: string): MetricDef[] => [
    { key: `attach.${mode}.total`, label: title, unit: 'ms' },
    { key: `attach.${mode}.rate`, label: '  attaches', unit: 'rate' },
    { key: `attach.${mode}.p50`, label: '  attach latency p50 (PUBLISH → PUBACK)', unit: 'ms' },
    { key: `attach.${mode}.p99`, label: '  attach latency p99', unit: 'ms' },
    { key: `attach.${mode}.cpu`, label: '  server CPU (all rounds)', unit: 'cores' },
  ];
  const b = baselineKey(g);
  return [
    ...attachRows('seq', `attach ${n} bound devices one by one, 1 gateway: total`),
    ...attachRows('pipe', `attach ${n} bound devices all at once, 1 gateway: total`),
    { key: 'relay.attach', label: `attach ${g.gateways} × ${g.devicesPerGateway} devices, ${g.gateways} gateways at once: total`, unit: 'ms' },
    { key: 'relay.rate', label: `QoS 1 msgs relayed, ${g.gateways} gateways × ${g.devicesPerGateway} devices, ${tr}`, unit: 'rate' },
    { key: 'relay.p50', label: '  PUBACK latency p50', unit: 'ms' },
    { key: 'relay.p99', label: '  PUBACK latency p99', unit: 'ms' },
    { key: 'relay.cpu', label: '  server CPU', unit: 'cores' },
    { key: 'relay.elu', label: '  load generator busy', unit: 'fraction' },
    { key: `${b}.rate`, label: `baseline: QoS 1 msgs, ${g.gateways} direct devices, ${tr}`, unit: 'rate' },
    { key: `${b}.p50`, label: '  PUBACK latency p50', unit: 'ms' },
    { key: `${b}.p99`, label: '  PUBACK latency p99', unit: 'ms' },
    { key: `${b}.cpu`, label: '  server CPU', unit: 'cores' },
    { key: `${b}.elu`, label: '  load generator busy', unit: 'fraction' },
  ];
}

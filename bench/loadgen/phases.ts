import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { LoadConnection, type DialSpec } from './connection.js';
import { Histogram } from './histogram.js';
import { tally, type ConfigJob, type ConfigResult, type ConnectJob, type ConnectResult, type TelemetryJob, type TelemetryResult } from './jobs.js';

/** What the worker keeps between jobs: a named group of open connections. */
export interface ConnectionGroup {
  conns: LoadConnection[];
  /** Device id → latest config payload received (config phase). */
  configs: Map<string, { payload: Buffer; at: number }>;
  /** error_type of each message on a gateway's errors topic, in arrival order (gateway groups). */
  gatewayErrors: string[];
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Opens job.logins with bounded concurrency; every connection is kept open in the returned group. */
export async function runConnect(job: ConnectJob): Promise<{ group: ConnectionGroup; result: ConnectResult }> {
  const group: ConnectionGroup = { conns: [], configs: new Map(), gatewayErrors: [] };
  const latency = new Histogram();
  const failures: string[] = [];
  let next = 0;
  let tlsProtocol: string | null = null;
  let cipher: string | null = null;
  const started = performance.now();
  const deadline = started + job.deadlineMs;
  const dials: readonly DialSpec[] = ([] as DialSpec[]).concat(job.dial);

  const lane = async (): Promise<void> => {
    while (next < job.logins.length) {
      const remaining = deadline - performance.now();
      if (remaining <= 0) return;
      const login = job.logins[next];
      const dial = dials[next % dials.length];
      next += 1;
      if (login === undefined || dial === undefined) return;
      const conn = new LoadConnection(login);
      if (job.subscribeConfig) {
        conn.onMessage = (topic, payload, at) => {
          if (topic === `/devices/${login.deviceId}/config`) group.configs.set(login.deviceId, { payload, at });
        };
      }
      const t0 = performance.now();
      try {
        const outcome = await conn.connect(dial, job.keepaliveSeconds, Math.min(job.connectTimeoutMs, remaining));
        if (job.subscribeConfig) {
          const granted = await conn.subscribe(`/devices/${login.deviceId}/config`, 1, job.connectTimeoutMs);
          if (granted[0] !== 0 && granted[0] !== 1) throw new Error(`SUBACK granted ${JSON.stringify(granted)}`);
        }
        latency.record((performance.now() - t0) * 1e6);
        tlsProtocol ??= outcome.tlsProtocol;
        cipher ??= outcome.cipher;
        group.conns.push(conn);
      } catch (e) {
        failures.push(errorText(e));
        conn.destroy();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, job.concurrency) }, lane));
  const elapsedMs = performance.now() - started;

  let initialConfigs = 0;
  if (job.subscribeConfig) {
    // The bridge sends the current config right after SUBACK (spec §5.5); give stragglers a moment.
    const until = performance.now() + 2_000;
    while (group.configs.size < group.conns.length && performance.now() < until) await sleep(20);
    initialConfigs = group.configs.size;
  }
  return {
    group,
    result: {
      kind: 'connect',
      attempted: Math.min(next, job.logins.length),
      ok: group.conns.length,
      failed: failures.length,
      elapsedMs,
      errors: tally(failures),
      tlsProtocol,
      cipher,
      latency: latency.snapshot(),
      initialConfigs,
    },
  };
}

/**
 * Every open connection of the group publishes QoS 1 with `window` messages in flight; PUBACKs
 * that arrive inside [warm-up end, warm-up end + duration) are counted and their latency recorded.
 */
export async function runTelemetry(
  job: TelemetryJob,
  group: ConnectionGroup,
  mark: (name: 'measure-start' | 'measure-end') => void,
): Promise<TelemetryResult> {
  const conns = group.conns.filter((c) => c.isOpen);
  const errorsBefore = group.gatewayErrors.length;
  const latency = new Histogram();
  const payload = Buffer.alloc(job.payloadBytes, 'bench-telemetry-0123456789abcdef-');
  let measureStart = Number.POSITIVE_INFINITY;
  let measureEnd = Number.POSITIVE_INFINITY;
  let measuredAcks = 0;
  let totalAcks = 0;
  const onAck = (latencyMs: number, at: number): void => {
    totalAcks += 1;
    if (at >= measureStart && at < measureEnd) {
      measuredAcks += 1;
      latency.record(latencyMs * 1e6);
    }
  };
  for (const c of conns) {
    // A gateway publishes for its attached devices in turn; a device for itself.
    const devices = c.relayFor.length > 0 ? c.relayFor : [c.login.deviceId];
    c.prepareTelemetry(
      devices.map((id) => `/devices/${id}/events`),
      payload,
      job.window,
    );
    c.onAck = onAck;
  }
  for (const c of conns) c.startSending();

  await sleep(job.warmupMs);
  measureStart = performance.now();
  const plannedEnd = measureStart + job.durationMs;
  mark('measure-start');
  const elu0 = performance.eventLoopUtilization();
  while (performance.now() < plannedEnd && measuredAcks < job.maxMessages) {
    await sleep(Math.min(50, Math.max(1, plannedEnd - performance.now())));
  }
  measureEnd = performance.now();
  const loadgenElu = performance.eventLoopUtilization(elu0).utilization;
  mark('measure-end');

  for (const c of conns) c.stopSending();
  const drainUntil = performance.now() + job.drainMs;
  const outstanding = (): number => conns.reduce((n, c) => n + (c.isOpen ? c.inFlightCount : 0), 0);
  while (outstanding() > 0 && performance.now() < drainUntil) await sleep(10);

  const lost = conns.filter((c) => !c.isOpen);
  for (const c of conns) c.onAck = null;
  return {
    kind: 'telemetry',
    connections: conns.length,
    measuredAcks,
    measuredMs: measureEnd - measureStart,
    totalAcks,
    unacked: conns.reduce((n, c) => n + c.inFlightCount, 0),
    strayAcks: conns.reduce((n, c) => n + c.strayAcks, 0),
    lostConnections: lost.length,
    lostReasons: tally(lost.map((c) => c.lastCloseReason ?? 'unknown')),
    latency: latency.snapshot(),
    loadgenElu,
    gatewayErrors: tally(group.gatewayErrors.slice(errorsBefore)),
  };
}

/**
 * Config-update-to-device latency: for one device at a time per lane, trigger an update with a
 * unique payload and time until that payload arrives on the device's config subscription.
 */
export async function runConfig(job: ConfigJob, group: ConnectionGroup): Promise<ConfigResult> {
  const conns = group.conns.filter((c) => c.isOpen);
  const latency = new Histogram();
  const httpFailures: string[] = [];
  let timeouts = 0;
  if (conns.length === 0 || job.samples <= 0) {
    return { kind: 'config', samples: 0, timeouts: 0, httpErrors: [], latency: latency.snapshot(), elapsedMs: 0 };
  }

  let backend: LoadConnection | null = null;
  if (job.trigger.kind === 'mqtt') {
    backend = new LoadConnection(job.trigger.login);
    await backend.connect(job.trigger.dial, 60, 10_000);
  }

  // Each device's subscription resolves whoever waits for a given payload.
  const waiting = new Map<string, { payload: string; resolve: (at: number) => void }>();
  for (const c of conns) {
    const id = c.login.deviceId;
    c.onMessage = (topic, payload, at) => {
      if (topic !== `/devices/${id}/config`) return;
      const w = waiting.get(id);
      if (w !== undefined && payload.toString() === w.payload) {
        waiting.delete(id);
        w.resolve(at);
      }
    };
  }

  const lastUsed = new Float64Array(conns.length).fill(Number.NEGATIVE_INFINITY);
  const started = performance.now();
  const deadline = started + job.deadlineMs;
  let taken = 0;
  let seq = 0;

  const trigger = async (deviceId: string, payload: string): Promise<void> => {
    if (job.trigger.kind === 'rest') {
      const res = await fetch(`${job.trigger.devicesUrl}${deviceId}:modifyCloudToDeviceConfig`, {
        method: 'POST',
        headers: { authorization: `Bearer ${job.trigger.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ binaryData: Buffer.from(payload).toString('base64') }),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`HTTP ${res.status} ${text.slice(0, 120)}`);
    } else {
      backend?.publishOnce(`/devices/${deviceId}/config`, Buffer.from(payload), 1);
    }
  };

  const lane = async (): Promise<void> => {
    while (taken < job.samples && performance.now() < deadline) {
      const index = taken % conns.length;
      taken += 1;
      const conn = conns[index];
      if (conn === undefined) return;
      const readyAt = (lastUsed[index] ?? 0) + job.minIntervalPerDeviceMs;
      const wait = readyAt - performance.now();
      if (wait > 0) await sleep(wait);
      if (performance.now() >= deadline) return;
      const deviceId = conn.login.deviceId;
      seq += 1;
      const payload = `bench-config-${seq}-${deviceId}`;
      let timer: NodeJS.Timeout | undefined;
      const arrived = new Promise<number | null>((resolve) => {
        waiting.set(deviceId, { payload, resolve });
        timer = setTimeout(() => resolve(null), job.sampleTimeoutMs);
      });
      const t0 = performance.now();
      lastUsed[index] = t0;
      try {
        await trigger(deviceId, payload);
      } catch (e) {
        httpFailures.push(errorText(e));
        waiting.delete(deviceId);
        clearTimeout(timer);
        continue;
      }
      const at = await arrived;
      clearTimeout(timer);
      if (at === null) {
        waiting.delete(deviceId);
        timeouts += 1;
      } else {
        latency.record((at - t0) * 1e6);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, job.concurrency) }, lane));
  const elapsedMs = performance.now() - started;
  for (const c of conns) c.onMessage = null;
  await backend?.close(2_000);
  return { kind: 'config', samples: latency.count, timeouts, httpErrors: tally(httpFailures), latency: latency.snapshot(), elapsedMs };
}

/** Sends DISCONNECT on every connection of the group and waits (bounded) for the sockets to close. */
export async function closeGroup(group: ConnectionGroup, timeoutMs: number): Promise<number> {
  await Promise.all(group.conns.map((c) => c.close(timeoutMs)));
  return group.conns.length;
}

import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { LoadConnection } from './connection.js';
import { Histogram } from './histogram.js';
import { tally, type AttachJob, type AttachResult, type GatewayPlan } from './jobs.js';
import type { ConnectionGroup } from './phases.js';

/**
 * The gateway side of the load (spec §6, docs/compat.md "Gateways"), run in the load-generator
 * worker: a gateway connects with its own JWT, subscribes to its errors topic at QoS 0 and
 * attaches its bound devices with QoS 1 PUBLISHes to `/devices/{id}/attach`; the PUBACK is the
 * attachment. An attach that fails gets no PUBACK but a GATEWAY_ATTACHMENT_ERROR on the errors
 * topic, which settles it at once instead of after the timeout.
 */

/** What an ASSOCIATION_ONLY gateway sends (Google's samples). */
export const ATTACH_PAYLOAD = Buffer.from('{"authorization":""}');

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** The fields of an errors-topic message the bench looks at (spec §6.5). */
export interface GatewayErrorMessage {
  errorType: string;
  deviceId?: string;
  packetId?: number;
}

/** Reads an errors-topic payload; anything that is not the documented JSON shape says so in errorType. */
export function parseGatewayError(payload: Buffer): GatewayErrorMessage {
  let v: unknown;
  try {
    v = JSON.parse(payload.toString('utf8'));
  } catch {
    return { errorType: 'errors-topic message that is not JSON' };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { errorType: 'errors-topic message that is not a JSON object' };
  const r = v as Record<string, unknown>;
  const info = typeof r.mqtt_message_info === 'object' && r.mqtt_message_info !== null ? (r.mqtt_message_info as Record<string, unknown>) : {};
  return {
    errorType: typeof r.error_type === 'string' ? r.error_type : 'errors-topic message without error_type',
    ...(typeof r.device_id === 'string' ? { deviceId: r.device_id } : {}),
    ...(typeof info.packet_id === 'number' ? { packetId: info.packet_id } : {}),
  };
}

type Outcome = { deviceId: string; sentAt: number } & ({ kind: 'attached'; at: number } | { kind: 'refused'; errorType: string } | { kind: 'timed-out' });

interface Waiting {
  deviceId: string;
  sentAt: number;
  settle: (o: Outcome) => void;
}

/** One gateway connection's attaches in flight, settled by PUBACK, by an error, or by expiry. */
export class AttachTracker {
  private readonly byPacketId = new Map<number, Waiting>();
  private readonly packetIdOf = new Map<string, number>();
  /** When the last attach was written or answered (stall detection). */
  lastProgressAt = performance.now();

  constructor(
    private readonly conn: LoadConnection,
    /** Receives the error_type of every errors-topic message (the group's log). */
    errorLog: string[],
  ) {
    const errorsTopic = `/devices/${conn.login.deviceId}/errors`;
    conn.onControlAck = (packetId, at) => {
      const w = this.take(packetId);
      if (w === undefined) return;
      this.lastProgressAt = at;
      w.settle({ deviceId: w.deviceId, sentAt: w.sentAt, kind: 'attached', at });
    };
    conn.onMessage = (topic, payload, at) => {
      if (topic !== errorsTopic) return;
      const e = parseGatewayError(payload);
      errorLog.push(e.errorType);
      // Only an attach failure settles an attach (a detachment error about another device does not).
      if (e.errorType !== 'GATEWAY_ATTACHMENT_ERROR' && e.errorType !== 'UNKNOWN') return;
      const packetId = e.packetId ?? (e.deviceId === undefined ? undefined : this.packetIdOf.get(e.deviceId));
      const w = packetId === undefined ? undefined : this.take(packetId);
      if (w === undefined) return;
      this.lastProgressAt = at;
      w.settle({ deviceId: w.deviceId, sentAt: w.sentAt, kind: 'refused', errorType: e.errorType });
    };
  }

  get waiting(): number {
    return this.byPacketId.size;
  }

  /** Writes one attach per device, all in one buffer; each promise settles with that attach's outcome. */
  send(deviceIds: readonly string[]): Array<Promise<Outcome>> {
    const messages = deviceIds.map((id) => ({ topic: `/devices/${id}/attach`, payload: ATTACH_PAYLOAD }));
    const sentAt = performance.now();
    const packetIds = this.conn.publishBatch(messages, 1);
    this.lastProgressAt = sentAt;
    return deviceIds.map(
      (deviceId, k) =>
        new Promise<Outcome>((settle) => {
          const packetId = packetIds[k] ?? 0;
          this.byPacketId.set(packetId, { deviceId, sentAt, settle });
          this.packetIdOf.set(deviceId, packetId);
        }),
    );
  }

  /** Every attach still waiting counts as timed out. */
  expireAll(): void {
    for (const packetId of [...this.byPacketId.keys()]) {
      const w = this.take(packetId);
      w?.settle({ deviceId: w.deviceId, sentAt: w.sentAt, kind: 'timed-out' });
    }
  }

  /** Stops listening on the connection (its later errors-topic messages still reach the log). */
  detachAcks(): void {
    this.conn.onControlAck = null;
  }

  private take(packetId: number): Waiting | undefined {
    const w = this.byPacketId.get(packetId);
    if (w === undefined) return undefined;
    this.byPacketId.delete(packetId);
    if (this.packetIdOf.get(w.deviceId) === packetId) this.packetIdOf.delete(w.deviceId);
    return w;
  }
}

interface LiveGateway {
  plan: GatewayPlan;
  conn: LoadConnection;
  tracker: AttachTracker;
}

interface Tallies {
  attempted: number;
  attached: number;
  refused: number;
  timedOut: number;
  totalsMs: number[];
  latency: Histogram;
}

/** Connects a gateway and subscribes it to its errors topic (QoS 0, spec §6.5). */
async function connectGateway(plan: GatewayPlan, job: AttachJob, errorLog: string[]): Promise<LiveGateway> {
  const conn = new LoadConnection(plan.login);
  try {
    const tracker = new AttachTracker(conn, errorLog);
    await conn.connect(job.dial, job.keepaliveSeconds, job.connectTimeoutMs);
    const granted = await conn.subscribe(`/devices/${plan.login.deviceId}/errors`, 0, job.connectTimeoutMs);
    if (granted[0] !== 0) throw new Error(`errors topic SUBACK granted ${JSON.stringify(granted)}`);
    return { plan, conn, tracker };
  } catch (e) {
    conn.destroy();
    throw e;
  }
}

/** Attaches one gateway's devices in the job's mode and tallies the outcomes. */
async function attachDevices(g: LiveGateway, job: AttachJob, deadline: number, t: Tallies): Promise<void> {
  const first = performance.now();
  let last = first;
  const record = (o: Outcome): void => {
    if (o.kind === 'attached') {
      t.attached += 1;
      t.latency.record((o.at - o.sentAt) * 1e6);
      last = Math.max(last, o.at);
      g.conn.relayFor.push(o.deviceId);
    } else if (o.kind === 'refused') {
      t.refused += 1;
      last = Math.max(last, performance.now());
    } else {
      t.timedOut += 1;
    }
  };
  if (job.mode === 'sequential') {
    // As a gateway re-attaching after a reconnect: the next attach once the previous one is answered.
    for (const id of g.plan.deviceIds) {
      const remaining = deadline - performance.now();
      if (!g.conn.isOpen || remaining <= 0) break;
      t.attempted += 1;
      const [outcome] = g.tracker.send([id]);
      const timer = setTimeout(() => g.tracker.expireAll(), Math.min(job.attachTimeoutMs, remaining));
      if (outcome !== undefined) record(await outcome);
      clearTimeout(timer);
    }
  } else {
    t.attempted += g.plan.deviceIds.length;
    const outcomes = g.tracker.send(g.plan.deviceIds);
    // Expire what is left once answers stop coming, the connection is gone, or the deadline passed.
    const watchdog = (async (): Promise<void> => {
      while (g.tracker.waiting > 0) {
        await sleep(20);
        const now = performance.now();
        if (!g.conn.isOpen || now - g.tracker.lastProgressAt > job.attachTimeoutMs || now >= deadline) g.tracker.expireAll();
      }
    })();
    for (const o of await Promise.all(outcomes)) record(o);
    await watchdog;
  }
  t.totalsMs.push(last - first);
}

/**
 * Connects every gateway of the job, then (between the measure-start and measure-end marks) has
 * them all attach their devices at once; keeps the connections as a group or disconnects them.
 */
export async function runAttach(
  job: AttachJob,
  mark: (name: 'measure-start' | 'measure-end') => void,
): Promise<{ group: ConnectionGroup; result: AttachResult }> {
  const group: ConnectionGroup = { conns: [], configs: new Map(), gatewayErrors: [] };
  const deadline = performance.now() + job.deadlineMs;
  const connectFailures: string[] = [];
  const ready = await Promise.all(
    job.gateways.map((plan) =>
      connectGateway(plan, job, group.gatewayErrors).catch((e: unknown) => {
        connectFailures.push(errorText(e));
        return null;
      }),
    ),
  );
  const live = ready.filter((g): g is LiveGateway => g !== null);
  const t: Tallies = { attempted: 0, attached: 0, refused: 0, timedOut: 0, totalsMs: [], latency: new Histogram() };
  mark('measure-start');
  await Promise.all(live.map((g) => attachDevices(g, job, deadline, t)));
  mark('measure-end');
  for (const g of live) g.tracker.detachAcks();
  if (job.group !== null) group.conns.push(...live.map((g) => g.conn));
  else await Promise.all(live.map((g) => g.conn.close(3_000)));
  return {
    group,
    result: {
      kind: 'attach',
      gateways: job.gateways.length,
      connected: live.length,
      connectErrors: tally(connectFailures),
      attempted: t.attempted,
      attached: t.attached,
      refused: t.refused,
      timedOut: t.timedOut,
      totalsMs: t.totalsMs,
      latency: t.latency.snapshot(),
      gatewayErrors: tally(group.gatewayErrors),
    },
  };
}

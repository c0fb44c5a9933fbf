import type { DeviceLogin, DialSpec } from './connection.js';
import type { HistogramSnapshot } from './histogram.js';

/**
 * Messages between the bench's main thread and its load-generator worker(s). Connections live in
 * the worker, in named groups, from a `connect` job until the `close` job for that group.
 */

export interface ConnectJob {
  kind: 'connect';
  group: string;
  /** Several: the logins are spread over them in turn (one node each of a cluster). */
  dial: DialSpec | readonly DialSpec[];
  logins: DeviceLogin[];
  /** Handshakes in flight at once. */
  concurrency: number;
  keepaliveSeconds: number;
  /** Per connection: TCP/TLS + CONNECT + CONNACK (+ SUBACK). */
  connectTimeoutMs: number;
  /** Hard deadline for the whole job; devices not started by then are counted as not attempted. */
  deadlineMs: number;
  /** Subscribe `/devices/{id}/config` at QoS 1 after CONNACK (config-latency phase). */
  subscribeConfig: boolean;
}

export interface ConnectResult {
  kind: 'connect';
  attempted: number;
  ok: number;
  failed: number;
  /** From the first dial to the last CONNACK (or failure). */
  elapsedMs: number;
  /** Failure messages with counts, most frequent first (at most a few). */
  errors: Array<{ message: string; count: number }>;
  tlsProtocol: string | null;
  cipher: string | null;
  /** Per-connection dial → CONNACK time. */
  latency: HistogramSnapshot;
  /** Devices whose initial config arrived after SUBSCRIBE (subscribeConfig only). */
  initialConfigs: number;
}

export interface TelemetryJob {
  kind: 'telemetry';
  group: string;
  /** In-flight QoS 1 PUBLISHes per connection. */
  window: number;
  payloadBytes: number;
  warmupMs: number;
  durationMs: number;
  /** The measurement also stops once this many PUBACKs were counted in it. */
  maxMessages: number;
  /** After sending stops, how long to wait for the outstanding PUBACKs. */
  drainMs: number;
}

export interface TelemetryResult {
  kind: 'telemetry';
  connections: number;
  /** PUBACKs received inside the measurement window, and that window's length. */
  measuredAcks: number;
  measuredMs: number;
  totalAcks: number;
  /** Still without a PUBACK after the drain. */
  unacked: number;
  strayAcks: number;
  /** Connections the server closed during the run, with reasons. */
  lostConnections: number;
  lostReasons: Array<{ message: string; count: number }>;
  latency: HistogramSnapshot;
  /** Event-loop utilisation of this worker over the measurement window (1 = load generator saturated). */
  loadgenElu: number;
  /** Messages on a gateway's errors topic during the job (error_type), most frequent first. */
  gatewayErrors: Array<{ message: string; count: number }>;
}

/** How a config update is triggered for the config-latency phase. */
export type ConfigTrigger =
  | {
      kind: 'rest';
      /** `${api}/v1/projects/P/locations/L/registries/R/devices/` */
      devicesUrl: string;
      token: string;
    }
  | {
      /** Mosquitto analogue: a backend client publishes QoS 1 straight to the device's config topic. */
      kind: 'mqtt';
      dial: DialSpec;
      login: DeviceLogin;
    };

export interface ConfigJob {
  kind: 'config';
  group: string;
  trigger: ConfigTrigger;
  samples: number;
  concurrency: number;
  /** Cloud IoT allows one config update per device per second. */
  minIntervalPerDeviceMs: number;
  sampleTimeoutMs: number;
  deadlineMs: number;
}

export interface ConfigResult {
  kind: 'config';
  samples: number;
  timeouts: number;
  httpErrors: Array<{ message: string; count: number }>;
  latency: HistogramSnapshot;
  elapsedMs: number;
}

/** One gateway of an attach job and the bound devices it attaches. */
export interface GatewayPlan {
  login: DeviceLogin;
  deviceIds: string[];
}

/**
 * Gateways connect (and subscribe to their errors topic at QoS 0), then attach their devices
 * with QoS 1 PUBLISHes to `/devices/{id}/attach` (spec §6.2): one at a time, each sent once the
 * previous one's PUBACK arrived (`sequential`), or all written at once (`pipelined`). Every
 * gateway runs at the same time.
 */
export interface AttachJob {
  kind: 'attach';
  /** Keep the gateway connections open under this group (relayed telemetry follows); null: disconnect them. */
  group: string | null;
  dial: DialSpec;
  gateways: GatewayPlan[];
  mode: 'sequential' | 'pipelined';
  keepaliveSeconds: number;
  connectTimeoutMs: number;
  /** No PUBACK (nor error) for this long: the attaches still waiting count as timed out. */
  attachTimeoutMs: number;
  /** Hard deadline for the whole job. */
  deadlineMs: number;
}

export interface AttachResult {
  kind: 'attach';
  gateways: number;
  connected: number;
  /** Connect failures (with counts). */
  connectErrors: Array<{ message: string; count: number }>;
  attempted: number;
  attached: number;
  /** Refused on the errors topic (GATEWAY_ATTACHMENT_ERROR and the like), no PUBACK. */
  refused: number;
  /** Neither PUBACK nor error before the timeout, the deadline or the connection's end. */
  timedOut: number;
  /** Per gateway: first attach written → last attach answered. */
  totalsMs: number[];
  /** Attach PUBLISH written → its PUBACK, acknowledged attaches only. */
  latency: HistogramSnapshot;
  /** Messages on the gateways' errors topics (error_type), most frequent first. */
  gatewayErrors: Array<{ message: string; count: number }>;
}

export interface CloseJob {
  kind: 'close';
  group: string;
}

export interface CloseResult {
  kind: 'close';
  closed: number;
}

export type Job = ConnectJob | TelemetryJob | ConfigJob | AttachJob | CloseJob;
export type JobResult = ConnectResult | TelemetryResult | ConfigResult | AttachResult | CloseResult;

/** main → worker */
export interface JobRequest {
  id: number;
  job: Job;
}

/** worker → main */
export type WorkerMessage =
  | { type: 'result'; id: number; result: JobResult }
  | { type: 'error'; id: number; message: string }
  | { type: 'mark'; id: number; name: 'measure-start' | 'measure-end' };

/** Counts messages and keeps the most frequent few. */
export function tally(messages: Iterable<string>, keep = 5): Array<{ message: string; count: number }> {
  const counts = new Map<string, number>();
  for (const m of messages) counts.set(m, (counts.get(m) ?? 0) + 1);
  return [...counts.entries()]
    .map(([message, count]) => ({ message, count }))
    .sort((a, b) => b.count - a.count || a.message.localeCompare(b.message))
    .slice(0, keep);
}

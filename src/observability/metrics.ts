import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { BoundedLabels } from './bounded-labels.js';
import { registerProcessMetrics } from './process-metrics.js';
import { TalliedHistogram } from './tallied-histogram.js';

/** Distinct registries that get their own `registry` label; later ones are `other` (C-METRICS-LABELS). */
export const MAX_REGISTRY_LABELS = 100;
/** The `registry` label of HTTP bridge requests refused before a device was authenticated. */
export const NO_REGISTRY = 'none';

const KINDS = ['events', 'state', 'attach', 'detach'] as const;
type MessageKind = (typeof KINDS)[number];
const KIND_INDEX: Record<MessageKind, number> = { events: 0, state: 1, attach: 2, detach: 3 };

/**
 * The hot-path tallies of one `registry` label value: plain numbers, reported to prom-client when
 * scraped. Sessions keep a reference on their device slot, so counting a message is an increment.
 */
export interface RegistryMeter {
  readonly registry: string;
  /** Messages in, by KIND_INDEX * 3 + QoS. */
  readonly messagesIn: number[];
  readonly reportedIn: number[];
  /** Authenticated MQTT connections of devices of this registry (gateway-attached devices not counted). */
  sessionsOpen: number;
}

/** What a session's device slot carries for metrics. */
export interface MeteredSlot {
  readonly registryName: string;
  meter?: RegistryMeter;
  /** This slot's connection is counted in its meter's sessionsOpen. */
  sessionCounted?: boolean;
}

export type ApiTransport = 'rest' | 'grpc';

export type MessageOutKind = 'config' | 'command' | 'error';

/** Totals since the start, read by the metrics history. */
export interface MetricTotals {
  /** Device messages committed to the sink (both bridges). */
  messagesIn: number;
  /** Config, command and gateway-error PUBLISHes sent to devices. */
  messagesOut: number;
  /** Refused MQTT CONNECTs, HTTP bridge authentication failures, gateway errors, and API calls answered with a server-side error. */
  errors: number;
}

/** Canonical codes that mean the server failed, not the caller. */
const SERVER_ERROR_CODES = new Set(['INTERNAL', 'UNKNOWN', 'UNAVAILABLE', 'DATA_LOSS', 'DEADLINE_EXCEEDED']);

/**
 * The server's Prometheus metrics. Hot paths touch pre-labelled children (no label lookups per
 * message); latency histograms are observed for every message.
 */
export class BridgeMetrics {
  readonly registry = new Registry();
  readonly connectionsOpen: Gauge;
  private readonly connects: Counter<'result'>;
  private readonly authFailures: Counter<'reason'>;
  private readonly messagesIn: Counter<'kind' | 'qos' | 'registry'>;
  private readonly sessionsOpen: Gauge<'registry'>;
  readonly pubackLatency: TalliedHistogram;
  readonly sinkCommitLatency: Histogram;
  private readonly disconnects: Counter<'reason'>;
  private httpRequests: Counter | undefined;
  private httpLatency: Histogram | undefined;
  private httpAuthFailures: Counter | undefined;
  readonly registryLabels = new BoundedLabels(MAX_REGISTRY_LABELS);
  private readonly meters = new Map<string, RegistryMeter>();
  private readonly apiRequests: Counter<'transport' | 'method' | 'code'>;
  private readonly apiLatency: Histogram<'transport' | 'method'>;
  private readonly attaches: Counter<'result'>;
  private readonly detaches: Counter<'initiator'>;
  private readonly messagesOut: Counter<'kind'>;
  /** Plain running totals for the metrics history (docs/compat.md C-CONSOLE-HISTORY). */
  private readonly tallies: MetricTotals = { messagesIn: 0, messagesOut: 0, errors: 0 };

  constructor() {
    registerProcessMetrics(this.registry, 'bridgehead_');
    this.connectionsOpen = new Gauge({ name: 'bridgehead_mqtt_connections_open', help: 'Open MQTT connections', registers: [this.registry] });
    this.connects = new Counter({ name: 'bridgehead_mqtt_connects_total', help: 'MQTT CONNECTs by result', labelNames: ['result'], registers: [this.registry] });
    this.authFailures = new Counter({
      name: 'bridgehead_mqtt_auth_failures_total',
      help: 'MQTT authentication failures by reason',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    const meters = this.meters;
    this.messagesIn = new Counter({
      name: 'bridgehead_mqtt_messages_in_total',
      help: 'Device PUBLISH packets by kind, QoS and registry',
      labelNames: ['kind', 'qos', 'registry'],
      registers: [this.registry],
      // The hot path bumps plain numbers; they reach the counter when it is scraped.
      collect() {
        for (const m of meters.values()) {
          for (let i = 0; i < m.messagesIn.length; i++) {
            const n = m.messagesIn[i]! - m.reportedIn[i]!;
            if (n > 0) {
              this.inc({ kind: KINDS[Math.floor(i / 3)]!, qos: String(i % 3), registry: m.registry }, n);
              m.reportedIn[i] = m.messagesIn[i]!;
            }
          }
        }
      },
    });
    this.sessionsOpen = new Gauge({
      name: 'bridgehead_mqtt_sessions_open',
      help: 'Authenticated MQTT connections by the registry of their device',
      labelNames: ['registry'],
      registers: [this.registry],
      collect() {
        for (const m of meters.values()) this.set({ registry: m.registry }, m.sessionsOpen);
      },
    });
    this.apiRequests = new Counter({
      name: 'bridgehead_api_requests_total',
      help: 'Admin API calls (REST and gRPC, Device Manager and Pub/Sub) by transport, method and canonical code',
      labelNames: ['transport', 'method', 'code'],
      registers: [this.registry],
    });
    this.apiLatency = new Histogram({
      name: 'bridgehead_api_request_seconds',
      help: 'Admin API calls from the request to the answer, by transport and method (streaming calls not observed)',
      labelNames: ['transport', 'method'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [this.registry],
    });
    this.attaches = new Counter({
      name: 'bridgehead_gateway_attach_total',
      help: 'Gateway attach requests by result',
      labelNames: ['result'],
      registers: [this.registry],
    });
    this.messagesOut = new Counter({
      name: 'bridgehead_mqtt_messages_out_total',
      help: 'PUBLISH packets sent to devices by kind (config, command, gateway error)',
      labelNames: ['kind'],
      registers: [this.registry],
    });
    this.detaches = new Counter({
      name: 'bridgehead_gateway_detach_total',
      help: 'Devices detached from a gateway: asked by the gateway, or by the server (device error, API change, takeover)',
      labelNames: ['initiator'],
      registers: [this.registry],
    });
    for (const result of ['accepted', 'refused']) this.attaches.inc({ result }, 0);
    for (const initiator of ['gateway', 'server']) this.detaches.inc({ initiator }, 0);
    this.disconnects = new Counter({
      name: 'bridgehead_mqtt_disconnects_total',
      help: 'MQTT connections ended, by reason',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    const buckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
    this.pubackLatency = new TalliedHistogram(
      'bridgehead_mqtt_puback_latency_seconds',
      'From a device message handed to the ingress to its commit, when its PUBACK may go out',
      buckets,
      this.registry,
    );
    this.sinkCommitLatency = new Histogram({
      name: 'bridgehead_sink_commit_latency_seconds',
      help: 'Duration of one sink commit (one group of messages), from the first message queued to the commit',
      buckets,
      registers: [this.registry],
    });
  }

  totals(): MetricTotals {
    return { ...this.tallies };
  }

  messageOut(kind: MessageOutKind): void {
    this.tallies.messagesOut++;
    if (kind === 'error') this.tallies.errors++;
    this.messagesOut.inc({ kind });
  }

  /** IngressObserver: one sink commit took `seconds` and acknowledged `messages` messages. */
  committed(seconds: number, messages: number): void {
    this.tallies.messagesIn += messages;
    this.sinkCommitLatency.observe(seconds);
    // Every message of a commit waited the same time for its PUBACK, give or take a microtask:
    // one weighted tally, not an observation per message.
    this.pubackLatency.observe(seconds, messages);
  }

  connect(result: 'accepted' | 'refused'): void {
    if (result === 'refused') this.tallies.errors++;
    this.connects.inc({ result });
  }

  authFailure(reason: string): void {
    this.authFailures.inc({ reason });
  }

  disconnect(reason: string): void {
    this.disconnects.inc({ reason });
  }

  /**
   * HttpBridgeObserver: one HTTP bridge request answered; `registryName` of the authenticated
   * device, undefined when refused before (label `none`: an unauthenticated caller names no registry
   * worth a series).
   */
  request(method: string, status: number, seconds: number, registryName?: string): void {
    const registry = registryName === undefined ? NO_REGISTRY : this.registryLabels.label(registryName);
    (this.httpRequests ??= new Counter({
      name: 'bridgehead_http_bridge_requests_total',
      help: 'HTTP device bridge requests by method, HTTP status and registry',
      labelNames: ['method', 'status', 'registry'],
      registers: [this.registry],
    })).inc({ method, status: String(status), registry });
    (this.httpLatency ??= new Histogram({
      name: 'bridgehead_http_bridge_request_seconds',
      help: 'HTTP device bridge requests, from the request to the answer (a publish: after the sink committed it)',
      labelNames: ['method'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    })).observe({ method }, seconds);
  }

  /** DeviceHttpObserver: a device JWT refused over HTTP. */
  httpAuthFailure(reason: string): void {
    this.tallies.errors++;
    (this.httpAuthFailures ??= new Counter({
      name: 'bridgehead_http_bridge_auth_failures_total',
      help: 'HTTP device bridge authentication failures by reason',
      labelNames: ['reason'],
      registers: [this.registry],
    })).inc({ reason });
  }

  /** One device PUBLISH on a slot of a session: an increment, after the slot's first message. */
  messageIn(kind: MessageKind, qos: number, slot: MeteredSlot): void {
    (slot.meter ??= this.meterOf(slot.registryName)).messagesIn[KIND_INDEX[kind] * 3 + qos]!++;
  }

  /** A device authenticated on an MQTT connection; `sessionClosed` with the same slot undoes it. */
  sessionOpened(slot: MeteredSlot): void {
    if (slot.sessionCounted) return;
    slot.sessionCounted = true;
    (slot.meter ??= this.meterOf(slot.registryName)).sessionsOpen++;
  }

  sessionClosed(slot: MeteredSlot): void {
    if (!slot.sessionCounted) return;
    slot.sessionCounted = false;
    slot.meter!.sessionsOpen--;
  }

  /** The tallies of a registry's label (shared by all registries past the bound). */
  meterOf(registryName: string): RegistryMeter {
    const registry = this.registryLabels.label(registryName);
    let m = this.meters.get(registry);
    if (!m) {
      m = { registry, messagesIn: new Array<number>(KINDS.length * 3).fill(0), reportedIn: new Array<number>(KINDS.length * 3).fill(0), sessionsOpen: 0 };
      this.meters.set(registry, m);
    }
    return m;
  }

  /**
   * ApiCallObserver: one admin API call answered with canonical `code`; `seconds` undefined for
   * streaming calls, whose length says nothing about the server's speed.
   */
  apiCall(transport: ApiTransport, method: string, code: string, seconds: number | undefined): void {
    if (SERVER_ERROR_CODES.has(code)) this.tallies.errors++;
    this.apiRequests.inc({ transport, method, code });
    if (seconds !== undefined) this.apiLatency.observe({ transport, method }, seconds);
  }

  gatewayAttach(result: 'accepted' | 'refused'): void {
    this.attaches.inc({ result });
  }

  gatewayDetach(initiator: 'gateway' | 'server'): void {
    this.detaches.inc({ initiator });
  }
}

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

interface Tally {
  kind: string;
  qos: string;
  count: number;
  reported: number;
}

/**
 * The server's Prometheus metrics. Hot paths touch pre-labelled children (no label lookups per
 * message); latency histograms are observed for every message.
 */
export class BridgeMetrics {
  readonly registry = new Registry();
  readonly connectionsOpen: Gauge;
  private readonly connects: Counter<'result'>;
  private readonly authFailures: Counter<'reason'>;
  private readonly messagesIn: Counter<'kind' | 'qos'>;
  readonly pubackLatency: Histogram;
  readonly sinkCommitLatency: Histogram;
  private readonly disconnects: Counter<'reason'>;
  private readonly inTallies = new Map<string, Tally>();
  private httpRequests: Counter | undefined;
  private httpLatency: Histogram | undefined;
  private httpAuthFailures: Counter | undefined;
  private readonly inByKind = new Map<string, Tally[]>();

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'bridgehead_' });
    this.connectionsOpen = new Gauge({ name: 'bridgehead_mqtt_connections_open', help: 'Open MQTT connections', registers: [this.registry] });
    this.connects = new Counter({ name: 'bridgehead_mqtt_connects_total', help: 'MQTT CONNECTs by result', labelNames: ['result'], registers: [this.registry] });
    this.authFailures = new Counter({
      name: 'bridgehead_mqtt_auth_failures_total',
      help: 'MQTT authentication failures by reason',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    const tallies = this.inTallies;
    this.messagesIn = new Counter({
      name: 'bridgehead_mqtt_messages_in_total',
      help: 'Device PUBLISH packets by kind and QoS',
      labelNames: ['kind', 'qos'],
      registers: [this.registry],
      // The hot path bumps plain numbers; they reach the counter when it is scraped.
      collect() {
        for (const t of tallies.values()) {
          if (t.count > t.reported) {
            this.inc({ kind: t.kind, qos: t.qos }, t.count - t.reported);
            t.reported = t.count;
          }
        }
      },
    });
    this.disconnects = new Counter({
      name: 'bridgehead_mqtt_disconnects_total',
      help: 'MQTT connections ended, by reason',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    const buckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
    this.pubackLatency = new Histogram({
      name: 'bridgehead_mqtt_puback_latency_seconds',
      help: 'From a device message handed to the ingress to its commit, when its PUBACK may go out',
      buckets,
      registers: [this.registry],
    });
    this.sinkCommitLatency = new Histogram({
      name: 'bridgehead_sink_commit_latency_seconds',
      help: 'Duration of one sink commit (one group of messages), from the first message queued to the commit',
      buckets,
      registers: [this.registry],
    });
  }

  /** IngressObserver: one sink commit took `seconds` and acknowledged `messages` messages. */
  committed(seconds: number, messages: number): void {
    this.sinkCommitLatency.observe(seconds);
    // Every message of a commit waited the same time for its PUBACK, give or take a microtask.
    for (let i = 0; i < messages; i++) this.pubackLatency.observe(seconds);
  }

  connect(result: 'accepted' | 'refused'): void {
    this.connects.inc({ result });
  }

  authFailure(reason: string): void {
    this.authFailures.inc({ reason });
  }

  disconnect(reason: string): void {
    this.disconnects.inc({ reason });
  }

  /** HttpBridgeObserver: one HTTP bridge request answered. */
  request(method: string, status: number, seconds: number): void {
    (this.httpRequests ??= new Counter({
      name: 'bridgehead_http_bridge_requests_total',
      help: 'HTTP device bridge requests by method and HTTP status',
      labelNames: ['method', 'status'],
      registers: [this.registry],
    })).inc({ method, status: String(status) });
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
    (this.httpAuthFailures ??= new Counter({
      name: 'bridgehead_http_bridge_auth_failures_total',
      help: 'HTTP device bridge authentication failures by reason',
      labelNames: ['reason'],
      registers: [this.registry],
    })).inc({ reason });
  }

  messageIn(kind: 'events' | 'state' | 'attach' | 'detach', qos: number): void {
    let byQos = this.inByKind.get(kind);
    if (!byQos) {
      byQos = [0, 1, 2].map((q) => ({ kind, qos: String(q), count: 0, reported: 0 }));
      for (const t of byQos) this.inTallies.set(`${kind}/${t.qos}`, t);
      this.inByKind.set(kind, byQos);
    }
    byQos[qos]!.count++;
  }
}

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
  private readonly inChildren = new Map<string, Counter.Internal>();

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
    this.messagesIn = new Counter({
      name: 'bridgehead_mqtt_messages_in_total',
      help: 'Device PUBLISH packets by kind and QoS',
      labelNames: ['kind', 'qos'],
      registers: [this.registry],
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
      help: 'From a QoS 1 PUBLISH received to its PUBACK sent',
      buckets,
      registers: [this.registry],
    });
    this.sinkCommitLatency = new Histogram({
      name: 'bridgehead_sink_commit_latency_seconds',
      help: 'From a message handed to the sink to its durable commit',
      buckets,
      registers: [this.registry],
    });
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

  messageIn(kind: string, qos: number): void {
    const key = `${kind}/${qos}`;
    let child = this.inChildren.get(key);
    if (!child) {
      child = this.messagesIn.labels(kind, String(qos));
      this.inChildren.set(key, child);
    }
    child.inc();
  }
}

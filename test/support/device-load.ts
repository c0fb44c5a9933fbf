import mqtt, { type MqttClient } from 'mqtt';
import { mqttUrl, PROJECT, type TestDevice } from './fleet.js';
import { firstEvent } from './mqtt-clients.js';
import { api, type StartedServer } from './server.js';

/** An MQTT.js device on the node's plaintext listener, or the reason it got no CONNACK 0 (refusal code, close, timeout). */
export async function connectTo(node: StartedServer, dev: TestDevice, timeoutMs = 10_000): Promise<MqttClient> {
  const client = mqtt.connect(mqttUrl(node), {
    clientId: dev.clientId,
    username: 'unused',
    password: await dev.jwt(),
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: timeoutMs,
  });
  client.on('error', () => undefined);
  try {
    const r = await firstEvent(client as never, ['connect', 'error', 'close'], timeoutMs);
    if (r.event === 'connect') return client;
    const code = (r.args[0] as { code?: number } | undefined)?.code;
    throw Object.assign(new Error(`${dev.id}: no CONNACK 0 from ${node.info.api} (${r.event}${code === undefined ? '' : ` code ${code}`})`), { code });
  } catch (e) {
    client.end(true);
    throw e;
  }
}

/** A QoS 1 publish resolving on its PUBACK; rejects if none comes within `timeoutMs` (or the connection fails). */
export function publishAcked(client: MqttClient, topic: string, payload: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no PUBACK within ${timeoutMs} ms`)), timeoutMs);
    client.publish(topic, payload, { qos: 1 }, (err) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    });
  });
}

export interface Acked {
  payload: string;
  at: number;
}

/**
 * One device publishing QoS 1 telemetry (one message every `intervalMs` at most, 20 ms by default)
 * for as long as it runs, as a real device
 * would: a publish without a PUBACK within `ackTimeoutMs` drops the connection (the message is
 * not counted: it may or may not be stored), and the device reconnects to its node and carries on.
 * What was PUBACKed, and when, is the record the fault tests check the log against.
 */
export class DeviceLoad {
  readonly acked: Acked[] = [];
  connects = 0;
  failures = 0;
  lastError = '';
  private n = 0;
  private stopping = false;
  private client: MqttClient | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly node: StartedServer,
    readonly dev: TestDevice,
    private readonly opts: { ackTimeoutMs?: number; retryMs?: number; intervalMs?: number } = {},
  ) {}

  start(): void {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const ackTimeoutMs = this.opts.ackTimeoutMs ?? 3000;
    while (!this.stopping) {
      if (!this.client) {
        try {
          this.client = await connectTo(this.node, this.dev, 3000);
          this.connects++;
        } catch (e) {
          this.failures++;
          this.lastError = (e as Error).message;
          await new Promise((r) => setTimeout(r, this.opts.retryMs ?? 200));
          continue;
        }
      }
      const payload = `${this.dev.id}-${this.n++}`;
      // Paced under the per-connection message rate (C-MQTT-RATE, 100/s by default) that closes a faster device.
      const next = Date.now() + (this.opts.intervalMs ?? 20);
      try {
        await publishAcked(this.client, `/devices/${this.dev.id}/events`, payload, ackTimeoutMs);
        this.acked.push({ payload, at: Date.now() });
        const wait = next - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      } catch (e) {
        this.failures++;
        this.lastError = (e as Error).message;
        this.client.end(true);
        this.client = undefined;
      }
    }
  }

  /** Resolves once `count` more messages have been PUBACKed than now; rejects after `timeoutMs`. */
  async more(count: number, timeoutMs: number): Promise<void> {
    const want = this.acked.length + count;
    const deadline = Date.now() + timeoutMs;
    while (this.acked.length < want) {
      if (Date.now() > deadline) throw new Error(`${this.dev.id}: ${this.acked.length - (want - count)} of ${count} PUBACKs within ${timeoutMs} ms (${this.connects} connects, ${this.failures} failures: ${this.lastError})`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
    this.client?.end(true);
    this.client = undefined;
  }
}

/** Every message of a topic in the node's log (the admin event-log route), paged. */
export async function allLogMessages(node: StartedServer, topic: string): Promise<{ data: string; attributes: Record<string, string> }[]> {
  const out: { data: string; attributes: Record<string, string> }[] = [];
  let after = '0';
  for (;;) {
    const r = await api(node, 'GET', `/v1/projects/${PROJECT}/topics/${topic}/messages?after=${after}&limit=1000`);
    if (r.status !== 200) throw new Error(`read log: ${r.status} ${JSON.stringify(r.json)}`);
    const messages = r.json.messages as { data: string; attributes: Record<string, string> }[];
    out.push(...messages.map((m) => ({ data: Buffer.from(m.data, 'base64').toString(), attributes: m.attributes })));
    if (messages.length === 0) return out;
    after = String(r.json.nextCursor);
  }
}

import type { MqttClient } from 'mqtt';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectDevice, endQuietly } from '../../test/support/mqtt-clients.js';
import type { TestDevice } from '../../test/support/fleet.js';
import type { StartedServer } from '../../test/support/server.js';

/**
 * A healthy device over TLS (MQTT.js) publishing QoS 1 telemetry at a steady pace, one message
 * at a time, recording each PUBLISH → PUBACK latency with the time it was sent, so that a run
 * can be cut into windows afterwards (idle, during a flood).
 */
export class PubackProbe {
  readonly samples: { at: number; ms: number }[] = [];
  failures = 0;
  private running = false;
  private loop: Promise<void> | undefined;

  private constructor(
    private readonly client: MqttClient,
    private readonly topic: string,
    private readonly intervalMs: number,
  ) {}

  static async start(server: StartedServer, device: TestDevice, intervalMs: number): Promise<PubackProbe> {
    const client = await connectDevice(server, device.clientId, await device.jwt());
    const probe = new PubackProbe(client, `/devices/${device.id}/events`, intervalMs);
    probe.running = true;
    probe.loop = probe.run();
    return probe;
  }

  private async run(): Promise<void> {
    const payload = Buffer.alloc(64, 0x61);
    let next = performance.now();
    while (this.running) {
      const at = performance.now();
      try {
        await this.client.publishAsync(this.topic, payload, { qos: 1 });
        this.samples.push({ at, ms: performance.now() - at });
      } catch {
        this.failures++;
        if (!this.client.connected) return;
      }
      next += this.intervalMs;
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      else next = performance.now();
    }
  }

  /** Latencies of the messages sent in [from, to) (performance.now() times). */
  between(from: number, to: number): number[] {
    return this.samples.filter((s) => s.at >= from && s.at < to).map((s) => s.ms);
  }

  get connected(): boolean {
    return this.client.connected;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await endQuietly(this.client);
  }
}

import { selectEventTopic } from '../domain/event-routing.js';
import type { Registry } from '../domain/model.js';
import type { ActivityRecorder } from './activity-recorder.js';
import type { Sink, SinkMessage, Store } from './ports.js';

/**
 * Device-to-cloud messages from any bridge: telemetry into the sink, state into the store (and,
 * best effort, the sink). Resolves when the message is durably stored: that is when a QoS 1
 * PUBACK or an HTTP 200 may be sent.
 */
export class DeviceIngress {
  private readonly waiting = new Set<() => void>();

  constructor(
    private readonly sink: Sink,
    private readonly store: Store,
    private readonly activity: ActivityRecorder,
    /** Seconds from handing a message to the sink to its commit (a metrics histogram). */
    private readonly observeCommit: (seconds: number) => void = () => undefined,
  ) {
    sink.onDrain(() => {
      const list = [...this.waiting];
      this.waiting.clear();
      for (const resume of list) resume();
    });
  }

  /** The topic for a telemetry message, or undefined when the registry routes it nowhere. */
  route(registry: Registry, subfolder: string): string | undefined {
    return selectEventTopic(registry.eventNotificationConfigs, subfolder);
  }

  async event(numId: string, topic: string, attributes: Readonly<Record<string, string>>, data: Uint8Array, at: number): Promise<void> {
    const message: SinkMessage = { topic, attributes, data, publishTime: at };
    const t0 = performance.now();
    await this.sink.append([message]);
    this.observeCommit((performance.now() - t0) / 1000);
    this.activity.event(numId, at);
  }

  async state(numId: string, registry: Registry, attributes: Readonly<Record<string, string>>, data: Uint8Array, at: number): Promise<void> {
    await this.store.recordState(numId, { updateTime: at, binaryData: data });
    const topic = registry.stateNotificationConfig?.pubsubTopicName;
    if (topic) {
      // Best effort (spec §8.4): the state is stored whatever happens to the notification.
      this.sink.append([{ topic, attributes, data, publishTime: at }]).catch(() => undefined);
    }
  }

  /** True while the sink wants callers to stop reading; `resume` is called once it drains. */
  holdIfSaturated(resume: () => void): boolean {
    if (!this.sink.saturated()) return false;
    this.waiting.add(resume);
    return true;
  }

  forget(resume: () => void): void {
    this.waiting.delete(resume);
  }
}


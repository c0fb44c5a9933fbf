import type { ErrorStatus, Registry } from '../domain/model.js';
import type { ActivityRecorder } from './activity-recorder.js';
import type { Sink, SinkMessage, Store } from './ports.js';
import { TelemetryPacker } from './telemetry-packer.js';

/**
 * Told when submitted messages are durably stored (error undefined) or could not be: those whose
 * tokens are `tokens[from..to)`, in the order submitted. One call per run of a target's messages
 * in a commit, not one per message.
 */
export interface StoredTarget {
  stored(tokens: readonly number[], from: number, to: number, error: unknown): void;
}

/** Latency observations, for metrics: seconds, and how many messages the value stands for. */
export interface IngressObserver {
  committed(seconds: number, messages: number): void;
  /** A device's message was routed to a Pub/Sub topic that does not exist (spec §8.3: logged at ERROR). */
  topicMissing?(numId: string, topic: string): void;
}

/** Whether a Pub/Sub topic exists (PubSubStore.getTopic does it). */
export interface TopicCheck {
  exists(topic: string): Promise<boolean>;
}

/** spec §8.3: what a device's lastErrorStatus says when its message's topic does not exist (code 5, NOT_FOUND). */
export const topicMissingStatus = (topic: string): ErrorStatus => ({
  code: 5,
  message: `The Pub/Sub topic "${topic}" does not exist; the message reached no subscription.`,
});

/** A topic seen to exist is not looked up again for this long: the check must not cost a read per message. */
const TOPIC_SEEN_MS = 1000;

/**
 * Device-to-cloud messages from any bridge: telemetry into the sink, state into the store (and,
 * best effort, the sink). A message counts as stored once it is durably committed: that is when a
 * QoS 1 PUBACK or an HTTP 200 may be sent.
 *
 * Telemetry submitted in one turn of the event loop (the packets of every socket read in it) goes
 * to the sink in one append; completion is reported through `StoredTarget` rather than a promise
 * per message, so the per-message path allocates little more than the message itself.
 */
export class DeviceIngress {
  private readonly waiting = new Set<() => void>();
  /** With a sink that takes packed batches, the messages go straight into one (telemetry-packer.ts). */
  private readonly packer: TelemetryPacker | undefined;
  private batch: SinkMessage[] = [];
  /** Every message's token; the rest is kept per run of one target's messages to one topic. */
  private tokens: number[] = [];
  private runs: Runs = newRuns();
  private scheduled = false;
  private batchStart = 0;
  private readonly flush = (): void => this.flushBatch();
  private readonly topicsSeen = new Map<string, number>();

  constructor(
    private readonly sink: Sink,
    private readonly store: Store,
    private readonly activity: ActivityRecorder,
    private readonly observer: IngressObserver = { committed: () => undefined },
    /**
     * With Pub/Sub served: a message routed to a missing topic is still stored and acknowledged,
     * but the device's lastErrorStatus says it reached no subscription (spec §8.3,
     * docs/compat.md C-PS-AUTO-TOPICS). Checked after the commit, so it never delays a PUBACK.
     */
    private readonly topics?: TopicCheck,
  ) {
    this.packer = sink.appendPacked !== undefined ? new TelemetryPacker() : undefined;
    sink.onDrain(() => this.wakeWaiting());
  }

  /** Queues a telemetry message; `target.stored(token, …)` is called once it is committed or failed. */
  submitEvent(
    numId: string,
    topic: string,
    attributes: Readonly<Record<string, string>>,
    data: Uint8Array,
    at: number,
    target: StoredTarget,
    token: number,
  ): void {
    if (this.packer !== undefined) this.packer.add(topic, attributes, data, at);
    else this.batch.push({ topic, attributes, data, publishTime: at });
    this.tokens.push(token);
    const runs = this.runs;
    const last = runs.targets.length - 1;
    // A socket read brings a run of one device's messages to one topic, in time order: the run
    // keeps its latest time, and the commit is told per run.
    if (last >= 0 && runs.targets[last] === target && runs.numIds[last] === numId && runs.topics[last] === topic) {
      runs.times[last] = at;
      runs.ends[last] = this.tokens.length;
    } else {
      runs.targets.push(target);
      runs.numIds.push(numId);
      runs.topics.push(topic);
      runs.times.push(at);
      runs.ends.push(this.tokens.length);
    }
    if (!this.scheduled) {
      this.scheduled = true;
      this.batchStart = performance.now();
      // Once the turn's reads are all in, not after each one: with many devices a read holds a
      // few messages, and an append per read cost more of the main thread than its messages did.
      setImmediate(this.flush);
    }
  }

  private flushBatch(): void {
    const committed: Committed = { runs: this.runs, tokens: this.tokens, start: this.batchStart };
    this.runs = newRuns();
    this.tokens = [];
    this.scheduled = false;
    let appended: Promise<unknown>;
    if (this.packer !== undefined) {
      appended = this.sink.appendPacked!(this.packer.finish());
    } else {
      appended = this.sink.append(this.batch);
      this.batch = [];
    }
    // One promise and two closures per batch (a turn's worth of messages), none per message.
    appended.then(
      () => this.onCommitted(committed),
      (err: unknown) => this.notifyAll(committed, err ?? new Error('sink append failed')),
    );
  }

  private onCommitted(c: Committed): void {
    this.observer.committed((performance.now() - c.start) / 1000, c.tokens.length);
    const { numIds, times } = c.runs;
    for (let r = 0; r < numIds.length; r++) if (numIds[r] !== numIds[r + 1]) this.activity.event(numIds[r]!, times[r]!);
    this.notifyAll(c, undefined);
    this.checkTopics(c.runs.topics, times, numIds);
    // The sinks' drain fires below half their bound, for everyone at once. Waiting for it alone
    // starved devices: the ones parked at the bound stayed parked while the others, never
    // parked, kept the queue between half and full (a quarter of 1,000 devices waited 5 s in the
    // MQTT bench). A commit that leaves the sink below its bound lets them all read again.
    if (this.waiting.size > 0 && !this.sink.saturated()) this.wakeWaiting();
  }

  private notifyAll(c: Committed, error: unknown): void {
    const { targets, ends } = c.runs;
    for (let r = 0, from = 0; r < targets.length; r++) {
      notify(targets[r]!, c.tokens, from, ends[r]!, error);
      from = ends[r]!;
    }
  }

  private wakeWaiting(): void {
    const list = [...this.waiting];
    this.waiting.clear();
    for (const resume of list) resume();
  }

  async state(numId: string, registry: Registry, attributes: Readonly<Record<string, string>>, data: Uint8Array, at: number): Promise<void> {
    await this.store.recordState(numId, { updateTime: at, binaryData: data });
    const topic = registry.stateNotificationConfig?.pubsubTopicName;
    if (topic) {
      // Best effort (spec §8.4): the state is stored whatever happens to the notification.
      const message = { topic, attributes, data, publishTime: at };
      this.sink.append([message]).then(
        () => this.checkTopics([topic], [at], [numId]),
        () => undefined,
      );
    }
  }

  /** Records spec §8.3's error on the devices whose committed messages went to a missing topic. */
  private checkTopics(topics: readonly string[], times: readonly number[], numIds: readonly string[]): void {
    const check = this.topics;
    if (!check) return;
    const now = performance.now();
    const distinct = new Set<string>();
    let last: string | undefined;
    for (const topic of topics) {
      if (topic === last) continue;
      last = topic;
      const seen = this.topicsSeen.get(topic);
      if (seen === undefined || now - seen > TOPIC_SEEN_MS) distinct.add(topic);
    }
    if (distinct.size === 0) return;
    for (const topic of distinct) {
      check.exists(topic).then(
        (exists) => {
          if (exists) {
            this.topicsSeen.set(topic, performance.now());
            return;
          }
          this.topicsSeen.delete(topic);
          for (let i = 0; i < topics.length; i++) {
            if (topics[i] !== topic) continue;
            this.activity.error(numIds[i]!, times[i]!, topicMissingStatus(topic));
            this.observer.topicMissing?.(numIds[i]!, topic);
          }
        },
        // The message is stored either way; a failed lookup must not become an unhandled rejection.
        () => undefined,
      );
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


/**
 * Runs of consecutive messages from one target and device to one topic: run r holds the messages
 * `ends[r-1] (0 for r = 0) .. ends[r]` and its last message's time.
 */
interface Runs {
  targets: StoredTarget[];
  numIds: string[];
  topics: string[];
  times: number[];
  ends: number[];
}

const newRuns = (): Runs => ({ targets: [], numIds: [], topics: [], times: [], ends: [] });

/** A flushed batch, kept until its commit is reported. */
interface Committed {
  runs: Runs;
  tokens: number[];
  start: number;
}

/**
 * One target's failure must not leave the others of the batch waiting for ever, nor become an
 * unhandled rejection; targets log their own failures.
 */
function notify(target: StoredTarget, tokens: readonly number[], from: number, to: number, error: unknown): void {
  try {
    target.stored(tokens, from, to, error);
  } catch {
    // see above
  }
}

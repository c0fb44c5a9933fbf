import { PubSub, type Topic } from '@google-cloud/pubsub';
import type { ForwardingRule } from '../../../config/pubsub-forwarding.js';
import type { ForwardedMessage, ForwardTarget } from './forward-target.js';

export interface GooglePubSubTargetOptions {
  /** Longest a publish may take, retries included; then it fails and the message waits for redelivery. */
  publishTimeoutMs: number;
  /** How long the client batches messages before sending them. */
  batchMaxMs?: number;
  batchMaxMessages?: number;
}

const GOOGLE_ENDPOINT = 'pubsub.googleapis.com:443';

/**
 * A Google Pub/Sub topic through @google-cloud/pubsub: batching, the client's own retries (within
 * `publishTimeoutMs`) and message ordering, so that messages of one ordering key reach the topic
 * in the order they were handed over. Google's endpoint with Application Default Credentials, a
 * private TLS endpoint, or a plaintext one without credentials (an emulator, or Bridgehead).
 */
export class GooglePubSubTarget implements ForwardTarget {
  private readonly client: PubSub;
  private readonly topic: Topic;

  constructor(rule: Pick<ForwardingRule, 'target' | 'apiEndpoint' | 'emulator'>, options: GooglePubSubTargetOptions) {
    const project = /^projects\/([^/]+)\//.exec(rule.target)![1]!;
    this.client = new PubSub({
      projectId: project,
      // Always explicit: PUBSUB_EMULATOR_HOST, set for other programs on the host, must not redirect Bridgehead's forwarding.
      apiEndpoint: rule.apiEndpoint ?? GOOGLE_ENDPOINT,
      emulatorMode: rule.emulator,
      // Without credentials there is no universe to look up: skip the metadata-server probe an emulator client would make.
      ...(rule.emulator ? { universeDomain: 'googleapis.com' } : {}),
    });
    this.topic = this.client.topic(rule.target, {
      messageOrdering: true,
      batching: { maxMessages: options.batchMaxMessages ?? 100, maxMilliseconds: options.batchMaxMs ?? 10 },
      gaxOpts: { timeout: options.publishTimeoutMs },
    });
  }

  publish(m: ForwardedMessage): Promise<string> {
    return this.topic.publishMessage({
      data: Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength),
      attributes: m.attributes,
      ...(m.orderingKey === '' ? {} : { orderingKey: m.orderingKey }),
    });
  }

  resume(orderingKey: string): void {
    this.topic.resumePublishing(orderingKey);
  }

  /** Publishes in flight are abandoned, not flushed: their messages are unacked locally and wait in the log. */
  async close(): Promise<void> {
    await this.client.close();
  }
}

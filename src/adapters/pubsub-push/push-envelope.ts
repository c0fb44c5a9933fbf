import type { PushConfig } from '../../domain/pubsub/pubsub-model.js';
import type { ReceivedMessage } from '../../services/pubsub/pubsub-api.js';

/**
 * The JSON body of a push request, as Pub/Sub wraps a message for a push endpoint. `x-goog-version`
 * in the push config's attributes picks the shape: `v1beta1` has the snake_case message fields
 * only; `v1`, `v1beta2` and no version (docs/compat.md C-PS-PUSH-ENVELOPE) have both spellings,
 * which is what lets one receiver read either.
 */
export interface PushEnvelope {
  message: {
    data: string;
    attributes?: Record<string, string>;
    messageId?: string;
    message_id: string;
    publishTime?: string;
    publish_time: string;
    orderingKey?: string;
  };
  subscription: string;
  /** Only when the subscription has a dead-letter policy, as in Pull. */
  deliveryAttempt?: number;
}

export function pushEnvelope(subscription: string, received: ReceivedMessage, config: Pick<PushConfig, 'attributes'>): PushEnvelope {
  const m = received.message;
  const publishTime = new Date(m.publishTime).toISOString();
  const v1beta1 = config.attributes['x-goog-version'] === 'v1beta1';
  const message: PushEnvelope['message'] = {
    data: Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).toString('base64'),
    ...(Object.keys(m.attributes).length > 0 ? { attributes: m.attributes } : {}),
    ...(v1beta1 ? {} : { messageId: m.messageId }),
    message_id: m.messageId,
    ...(v1beta1 ? {} : { publishTime }),
    publish_time: publishTime,
    ...(m.orderingKey !== '' && !v1beta1 ? { orderingKey: m.orderingKey } : {}),
  };
  return { message, subscription, ...(received.deliveryAttempt > 0 ? { deliveryAttempt: received.deliveryAttempt } : {}) };
}

/** The statuses Pub/Sub takes as an acknowledgement; any other one, or no answer, is a nack. */
const ACK_STATUSES: ReadonlySet<number> = new Set([102, 200, 201, 202, 204]);

export const isPushAck = (status: number): boolean => ACK_STATUSES.has(status);

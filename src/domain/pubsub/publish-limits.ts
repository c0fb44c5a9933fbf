import { echo } from '../echo.js';
import { invalidArgument } from '../errors.js';
import { utf8Length } from '../ids.js';

/** Pub/Sub's publish quotas (cloud.google.com/pubsub/quotas, "Resource limits"; docs/compat.md C-PS-LIMITS). */
export const PUBLISH_LIMITS = {
  maxMessagesPerRequest: 1000,
  maxRequestBytes: 10 * 1024 * 1024,
  maxMessageBytes: 10 * 1024 * 1024,
  maxAttributes: 100,
  maxAttributeKeyBytes: 256,
  maxAttributeValueBytes: 1024,
  maxOrderingKeyBytes: 1024,
} as const;

export interface PublishInput {
  data?: Uint8Array;
  attributes?: Record<string, string>;
  orderingKey?: string;
}

export interface CheckedMessage {
  data: Uint8Array;
  attributes: Record<string, string>;
  orderingKey: string;
}

const EMPTY = new Uint8Array(0);

/**
 * Checks a Publish request's messages against Pub/Sub's limits, naming the field at fault
 * (`messages[3].attributes`), and returns them with absent fields filled in.
 */
export function checkPublishMessages(messages: readonly PublishInput[] | undefined, field = 'messages'): CheckedMessage[] {
  const list = messages ?? [];
  if (list.length === 0) throw invalidArgument(field, `${field} must contain at least one message.`, 'REQUIRED_FIELD');
  if (list.length > PUBLISH_LIMITS.maxMessagesPerRequest) {
    throw invalidArgument(field, `A Publish request carries at most ${PUBLISH_LIMITS.maxMessagesPerRequest} messages, got ${list.length}.`);
  }
  let total = 0;
  const out = list.map((m, i) => {
    const f = `${field}[${i}]`;
    const checked = checkMessage(m ?? {}, f);
    total += checked.size;
    return checked.message;
  });
  if (total > PUBLISH_LIMITS.maxRequestBytes) {
    throw invalidArgument(field, `The messages of a Publish request total ${total} bytes; at most ${PUBLISH_LIMITS.maxRequestBytes} are allowed.`);
  }
  return out;
}

function checkMessage(m: PublishInput, f: string): { message: CheckedMessage; size: number } {
  const data = m.data ?? EMPTY;
  const attributes = m.attributes ?? {};
  const keys = Object.keys(attributes);
  if (data.length === 0 && keys.length === 0) {
    throw invalidArgument(f, `${f} must have non-empty data or at least one attribute.`);
  }
  if (keys.length > PUBLISH_LIMITS.maxAttributes) {
    throw invalidArgument(`${f}.attributes`, `A message has at most ${PUBLISH_LIMITS.maxAttributes} attributes, got ${keys.length}.`);
  }
  let size = data.length;
  for (const key of keys) {
    const value = attributes[key];
    const kf = `${f}.attributes`;
    if (key === '') throw invalidArgument(kf, 'An attribute key must not be empty.');
    if (key.startsWith('goog')) throw invalidArgument(kf, `Attribute key "${echo(key)}" is reserved: keys must not start with "goog".`);
    const keyBytes = utf8Length(key);
    if (keyBytes > PUBLISH_LIMITS.maxAttributeKeyBytes) {
      throw invalidArgument(kf, `Attribute key "${echo(key)}" is ${keyBytes} bytes; at most ${PUBLISH_LIMITS.maxAttributeKeyBytes} are allowed.`);
    }
    if (typeof value !== 'string') throw invalidArgument(kf, `The value of attribute "${echo(key)}" must be a string.`);
    const valueBytes = utf8Length(value);
    if (valueBytes > PUBLISH_LIMITS.maxAttributeValueBytes) {
      throw invalidArgument(kf, `The value of attribute "${echo(key)}" is ${valueBytes} bytes; at most ${PUBLISH_LIMITS.maxAttributeValueBytes} are allowed.`);
    }
    size += keyBytes + valueBytes;
  }
  if (size > PUBLISH_LIMITS.maxMessageBytes) {
    throw invalidArgument(f, `${f} is ${size} bytes (data and attributes); at most ${PUBLISH_LIMITS.maxMessageBytes} are allowed.`);
  }
  const orderingKey = m.orderingKey ?? '';
  if (utf8Length(orderingKey) > PUBLISH_LIMITS.maxOrderingKeyBytes) {
    throw invalidArgument(`${f}.ordering_key`, `${f}.ordering_key is at most ${PUBLISH_LIMITS.maxOrderingKeyBytes} bytes.`);
  }
  return { message: { data, attributes: { ...attributes }, orderingKey }, size };
}

/**
 * `pubsubForwarding`: local Pub/Sub topics republished to Google Pub/Sub (or any google.pubsub.v1
 * endpoint). One rule per local topic.
 */
export interface ForwardingRule {
  /** The local topic, `projects/P/topics/T`. */
  topic: string;
  /** The topic in Google Pub/Sub, `projects/P/topics/T`. */
  target: string;
  /** `host:port` of the Pub/Sub endpoint; undefined: Google's (pubsub.googleapis.com:443). */
  apiEndpoint: string | undefined;
  /** Plaintext and no credentials (an emulator, or a Bridgehead's `--grpc-listen` with `--grpc-anonymous`). */
  emulator: boolean;
}

const TOPIC = /^projects\/(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]\/topics\/[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/;
/** Local project IDs follow Bridgehead's looser project rules, so only the shape is checked here. */
const LOCAL_TOPIC = /^projects\/[^/\s]+\/topics\/[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/;
const HOST_PORT = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

/** The internal subscription's ID is `bridgehead-forward-<topicId>`, at most 255 characters. */
export const FORWARD_SUBSCRIPTION_PREFIX = 'bridgehead-forward-';
const MAX_TOPIC_ID = 255 - FORWARD_SUBSCRIPTION_PREFIX.length;

const FIX = 'give LOCAL=TARGET[@ENDPOINT], e.g. projects/p/topics/telemetry=projects/gcp-project/topics/telemetry, where ENDPOINT is host:port (TLS, Google credentials) or http://host:port (plaintext, no credentials)';

/** Entries from a file (array), the environment (separated by `;` or `,`) or repeated flags. */
function entries(value: unknown): unknown[] {
  if (value === undefined || value === '') return [];
  const items = Array.isArray(value) ? value : [value];
  return items.flatMap((item) => (typeof item === 'string' ? item.split(/[;,]/).map((s) => s.trim()).filter((s) => s !== '') : [item]));
}

function fromString(value: string): Partial<ForwardingRule> | undefined {
  const m = /^([^=@]+)=([^=@]+)(?:@(.+))?$/.exec(value);
  if (!m) return undefined;
  const endpoint = m[3];
  if (endpoint === undefined) return { topic: m[1], target: m[2], apiEndpoint: undefined, emulator: false };
  const plain = /^http:\/\/(.+?)\/?$/.exec(endpoint);
  return { topic: m[1], target: m[2], apiEndpoint: plain ? plain[1] : endpoint, emulator: plain !== null };
}

function fromObject(value: Record<string, unknown>): Partial<ForwardingRule> | undefined {
  const { topic, target, apiEndpoint, emulator, ...rest } = value;
  if (Object.keys(rest).length > 0) return undefined;
  if (typeof topic !== 'string' || typeof target !== 'string') return undefined;
  if (apiEndpoint !== undefined && typeof apiEndpoint !== 'string') return undefined;
  if (emulator !== undefined && typeof emulator !== 'boolean') return undefined;
  return { topic, target, apiEndpoint, emulator: emulator ?? false };
}

/** Parses and checks `pubsubForwarding`; problems go into the config's list. */
export function parsePubsubForwarding(value: unknown, problems: string[]): ForwardingRule[] {
  const rules: ForwardingRule[] = [];
  entries(value).forEach((raw, i) => {
    const name = `pubsubForwarding[${i}]`;
    const shown = JSON.stringify(raw);
    const rule =
      typeof raw === 'string' ? fromString(raw) : typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? fromObject(raw as Record<string, unknown>) : undefined;
    if (!rule) {
      problems.push(`${name}: expected LOCAL=TARGET[@ENDPOINT] or {"topic", "target", "apiEndpoint"?, "emulator"?}, got ${shown}; ${FIX}`);
      return;
    }
    const { topic, target, apiEndpoint, emulator } = rule as ForwardingRule;
    if (!LOCAL_TOPIC.test(topic)) {
      problems.push(`${name}: the local topic ${JSON.stringify(topic)} is not a topic name (projects/PROJECT/topics/TOPIC); ${FIX}`);
      return;
    }
    if (topic.slice(topic.lastIndexOf('/') + 1).length > MAX_TOPIC_ID) {
      problems.push(`${name}: the local topic ID of ${JSON.stringify(topic)} is longer than ${MAX_TOPIC_ID} characters (its forwarding subscription is ${FORWARD_SUBSCRIPTION_PREFIX}<topic ID>)`);
      return;
    }
    if (!TOPIC.test(target)) {
      problems.push(`${name}: the target ${JSON.stringify(target)} is not a Google Pub/Sub topic name (projects/PROJECT_ID/topics/TOPIC); ${FIX}`);
      return;
    }
    if (apiEndpoint !== undefined && !HOST_PORT.test(apiEndpoint)) {
      problems.push(`${name}: the endpoint ${JSON.stringify(apiEndpoint)} is not host:port; ${FIX}`);
      return;
    }
    if (emulator && apiEndpoint === undefined) {
      problems.push(`${name}: a plaintext (emulator) target needs an endpoint; ${FIX}`);
      return;
    }
    if (rules.some((r) => r.topic === topic)) {
      problems.push(`${name}: ${topic} is forwarded twice; give one target per local topic`);
      return;
    }
    rules.push({ topic, target, apiEndpoint, emulator });
  });
  return rules;
}

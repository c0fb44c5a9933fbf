import { InvalidArgumentError, Option, type Command } from 'commander';
import { arg, callerAuth, globals, group, leaf, printer, run, UsageError } from '../context.js';
import { collect, intParser, parseKeyValues, parseTimestamp } from '../flags.js';
import { pick, previewData, type Column, type Json, type JsonObject } from '../output.js';
import type { Message, PubSubClient } from '../pubsub-client.js';

/**
 * `bridgehead pubsub topics|subscriptions|snapshots ...`: gcloud pubsub, against Bridgehead's
 * google.pubsub.v1 gRPC API (the listener of --grpc-listen, or the TLS API listener with
 * --pubsub-tls). A bare ID is completed with --project, as gcloud does.
 */

interface PubSubOptions {
  pubsubEndpoint?: string;
  pubsubTls?: boolean;
  caFile?: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;

function addEndpointOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--pubsub-endpoint <host:port>', "Bridgehead's gRPC listener (--grpc-listen), or its TLS API listener with --pubsub-tls").env(
        'BRIDGEHEAD_PUBSUB_ENDPOINT',
      ),
    )
    .option('--pubsub-tls', 'connect with TLS (the --api-tls-listen port)')
    .option('--ca-file <pem>', 'CA certificate to trust for --pubsub-tls');
}

/** A resource name from a full name or a bare ID (gcloud's completion with the project). */
export function resourceName(kind: 'topics' | 'subscriptions' | 'snapshots', text: string, project: string | undefined, what: string): string {
  if (new RegExp(`^projects/[^/]+/${kind}/[^/]+$`).test(text)) return text;
  if (text === '' || text.includes('/')) throw new InvalidArgumentError(`${what} must be projects/PROJECT/${kind}/ID or an ID, got "${text}".`);
  if (!project) throw new UsageError(`${what}: a bare ID needs --project (or BRIDGEHEAD_PROJECT); or give projects/PROJECT/${kind}/${text}.`);
  return `projects/${project}/${kind}/${text}`;
}

/** gcloud's durations: `600s`, `10m`, `2h`, `7d`, or plain seconds. */
export function parseDuration(text: string, flag: string): { seconds: string } {
  const m = /^(\d{1,9})([smhd]?)$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`${flag} must be a duration such as 600s, 10m, 2h or 7d, got "${text}".`);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return { seconds: String(Number(m[1]) * unit) };
}

function timestampMessage(rfc3339: string): { seconds: string; nanos: number } {
  const ms = Date.parse(rfc3339);
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
}

const isTimestamp = (v: Record<string, unknown>): boolean =>
  typeof v.seconds === 'string' && Object.keys(v).every((k) => k === 'seconds' || k === 'nanos');

/** What the API returned, as gcloud prints it: timestamps in RFC 3339 (durations keep seconds). */
export function toJson(value: unknown, key = ''): Json {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return value.map((v) => toJson(v));
  if (typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (isTimestamp(o)) {
      const ms = Number(o.seconds) * 1000 + Math.floor(Number(o.nanos ?? 0) / 1e6);
      return /Time$/.test(key) ? new Date(ms).toISOString() : `${String(o.seconds)}s`;
    }
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(o)) out[k] = toJson(v, k);
    return out;
  }
  return value as Json;
}

const TOPIC_COLUMNS: Column[] = [{ header: 'NAME', value: 'name' }];
const SUBSCRIPTION_COLUMNS: Column[] = [
  { header: 'NAME', value: 'name' },
  { header: 'TOPIC', value: 'topic' },
  { header: 'ACK_DEADLINE', value: (r) => String(pick(r, 'ackDeadlineSeconds') ?? '') },
  { header: 'PUSH_ENDPOINT', value: (r) => String(pick(r, 'pushConfig.pushEndpoint') ?? '') },
];
const SNAPSHOT_COLUMNS: Column[] = [
  { header: 'NAME', value: 'name' },
  { header: 'TOPIC', value: 'topic' },
  { header: 'EXPIRE_TIME', value: 'expireTime' },
];
const MESSAGE_COLUMNS: Column[] = [
  { header: 'DATA', value: (r) => previewData(pick(r, 'message.data'), 60) },
  { header: 'MESSAGE_ID', value: 'message.messageId' },
  { header: 'ORDERING_KEY', value: (r) => String(pick(r, 'message.orderingKey') ?? '') },
  {
    header: 'ATTRIBUTES',
    value: (r) =>
      Object.entries((pick(r, 'message.attributes') ?? {}) as Record<string, string>)
        .map(([k, v]) => `${k}=${v}`)
        .join(' '),
  },
  { header: 'DELIVERY_ATTEMPT', value: (r) => String(pick(r, 'deliveryAttempt') ?? '') },
  { header: 'ACK_ID', value: 'ackId' },
];

interface Context {
  client: PubSubClient;
  project: string | undefined;
  out: ReturnType<typeof printer>;
}

/** Runs `fn` with a connected client; closes it after. */
async function withClient(cmd: Command, fn: (ctx: Context) => Promise<void>): Promise<void> {
  const o = cmd.opts<PubSubOptions>();
  const endpoint = o.pubsubEndpoint ?? process.env.PUBSUB_EMULATOR_HOST;
  if (!endpoint) throw new UsageError('--pubsub-endpoint is required (or BRIDGEHEAD_PUBSUB_ENDPOINT / PUBSUB_EMULATOR_HOST): the address of --grpc-listen.');
  let authorization: string | undefined;
  let keyProject: string | undefined;
  try {
    const auth = callerAuth(cmd);
    authorization = `Bearer ${auth.bearer}`;
    keyProject = auth.keyProject;
  } catch (e) {
    // Without any credential a plaintext listener started with --grpc-anonymous still answers.
    if (!(e instanceof UsageError) || o.pubsubTls) throw e;
  }
  const { PubSubClient } = await import('../pubsub-client.js');
  const client = new PubSubClient({ endpoint, tls: o.pubsubTls === true, caFile: o.caFile, authorization, timeoutMs: DEFAULT_TIMEOUT_MS });
  try {
    await fn({ client, project: globals(cmd).project ?? keyProject, out: printer(cmd) });
  } finally {
    client.close();
  }
}

const pubsubLeaf = (parent: Command, nameAndArgs: string, description: string): Command => addEndpointOptions(leaf(parent, nameAndArgs, description));

function projectOf(ctx: Context): string {
  if (!ctx.project) throw new UsageError('--project is required (or set BRIDGEHEAD_PROJECT).');
  return ctx.project;
}

const labelsOf = (text: string | undefined): Record<string, string> | undefined =>
  text === undefined ? undefined : Object.fromEntries(parseKeyValues(text, '--labels'));

async function listAll(ctx: Context, call: (pageToken: string) => Promise<Message>, field: string): Promise<Json[]> {
  const items: Json[] = [];
  let pageToken = '';
  do {
    const page = await call(pageToken);
    for (const item of (page[field] as unknown[] | undefined) ?? []) items.push(toJson(item));
    pageToken = typeof page.nextPageToken === 'string' ? page.nextPageToken : '';
  } while (pageToken !== '');
  return items;
}

function registerTopics(pubsub: Command): void {
  const topics = group(pubsub, 'topics', 'Pub/Sub topics');
  const name = (ctx: Context, cmd: Command): string => resourceName('topics', arg(cmd, 0), ctx.project, 'TOPIC');

  pubsubLeaf(topics, 'create <topic>', 'create a topic')
    .option('--labels <k=v,...>', 'labels')
    .option('--message-retention-duration <duration>', 'how long the topic keeps messages for seek (e.g. 7d)')
    .action(
      run((cmd) =>
        withClient(cmd, async (ctx) => {
          const o = cmd.opts<{ labels?: string; messageRetentionDuration?: string }>();
          const topic: Message = { name: name(ctx, cmd) };
          if (o.labels !== undefined) topic.labels = labelsOf(o.labels);
          if (o.messageRetentionDuration !== undefined) topic.messageRetentionDuration = parseDuration(o.messageRetentionDuration, '--message-retention-duration');
          const doc = toJson(await ctx.client.publisherCall('createTopic', topic)) as JsonObject;
          ctx.out.status(`Created topic [${String(doc.name)}].`);
          ctx.out.resource(doc);
        }),
      ),
    );

  pubsubLeaf(topics, 'list', 'list the topics of the project').action(
    run((cmd) =>
      withClient(cmd, async (ctx) => {
        const project = `projects/${projectOf(ctx)}`;
        const items = await listAll(ctx, (pageToken) => ctx.client.publisherCall('listTopics', { project, pageToken }), 'topics');
        ctx.out.list({ topics: items }, items as JsonObject[], TOPIC_COLUMNS, 'topics');
      }),
    ),
  );

  pubsubLeaf(topics, 'describe <topic>', 'show a topic').action(
    run((cmd) => withClient(cmd, async (ctx) => ctx.out.resource(toJson(await ctx.client.publisherCall('getTopic', { topic: name(ctx, cmd) })) as JsonObject))),
  );

  pubsubLeaf(topics, 'delete <topic>', 'delete a topic (its subscriptions stay, detached from it)').action(
    run((cmd) =>
      withClient(cmd, async (ctx) => {
        await ctx.client.publisherCall('deleteTopic', { topic: name(ctx, cmd) });
        ctx.out.status(`Deleted topic [${name(ctx, cmd)}].`);
      }),
    ),
  );

  pubsubLeaf(topics, 'publish <topic>', 'publish one message')
    .option('--message <text>', 'the message body (UTF-8)')
    .option('--attribute <k=v,...>', 'attributes; repeatable', collect(String))
    .option('--ordering-key <key>', 'ordering key')
    .action(
      run((cmd) =>
        withClient(cmd, async (ctx) => {
          const o = cmd.opts<{ message?: string; attribute?: string[]; orderingKey?: string }>();
          const attributes = Object.fromEntries((o.attribute ?? []).flatMap((a) => parseKeyValues(a, '--attribute')));
          if (o.message === undefined && Object.keys(attributes).length === 0) throw new UsageError('give --message, --attribute, or both.');
          const message: Message = { data: Buffer.from(o.message ?? '', 'utf8'), attributes };
          if (o.orderingKey !== undefined) message.orderingKey = o.orderingKey;
          const doc = toJson(await ctx.client.publisherCall('publish', { topic: name(ctx, cmd), messages: [message] })) as JsonObject;
          ctx.out.resource(doc);
        }),
      ),
    );

  pubsubLeaf(topics, 'list-subscriptions <topic>', "list a topic's subscriptions").action(
    run((cmd) =>
      withClient(cmd, async (ctx) => {
        const topic = name(ctx, cmd);
        const items = await listAll(ctx, (pageToken) => ctx.client.publisherCall('listTopicSubscriptions', { topic, pageToken }), 'subscriptions');
        ctx.out.list({ subscriptions: items }, items.map((n) => ({ name: n })), [{ header: 'NAME', value: 'name' }], 'subscriptions');
      }),
    ),
  );
}

interface SubscriptionFlags {
  topic?: string;
  ackDeadline?: number;
  filter?: string;
  enableMessageOrdering?: boolean;
  deadLetterTopic?: string;
  maxDeliveryAttempts?: number;
  pushEndpoint?: string;
  pushAuthServiceAccount?: string;
  pushAuthTokenAudience?: string;
  retainAckedMessages?: boolean;
  messageRetentionDuration?: string;
  minRetryDelay?: string;
  maxRetryDelay?: string;
  labels?: string;
}

function subscriptionMessage(ctx: Context, name: string, o: SubscriptionFlags): Message {
  const sub: Message = { name };
  if (o.topic !== undefined) sub.topic = resourceName('topics', o.topic, ctx.project, '--topic');
  if (o.ackDeadline !== undefined) sub.ackDeadlineSeconds = o.ackDeadline;
  if (o.filter !== undefined) sub.filter = o.filter;
  if (o.enableMessageOrdering) sub.enableMessageOrdering = true;
  if (o.retainAckedMessages) sub.retainAckedMessages = true;
  if (o.messageRetentionDuration !== undefined) sub.messageRetentionDuration = parseDuration(o.messageRetentionDuration, '--message-retention-duration');
  if (o.labels !== undefined) sub.labels = labelsOf(o.labels);
  if (o.deadLetterTopic !== undefined || o.maxDeliveryAttempts !== undefined) {
    if (o.deadLetterTopic === undefined) throw new UsageError('--max-delivery-attempts needs --dead-letter-topic.');
    const policy: Message = { deadLetterTopic: resourceName('topics', o.deadLetterTopic, ctx.project, '--dead-letter-topic') };
    if (o.maxDeliveryAttempts !== undefined) policy.maxDeliveryAttempts = o.maxDeliveryAttempts;
    sub.deadLetterPolicy = policy;
  }
  if (o.minRetryDelay !== undefined || o.maxRetryDelay !== undefined) {
    const policy: Message = {};
    if (o.minRetryDelay !== undefined) policy.minimumBackoff = parseDuration(o.minRetryDelay, '--min-retry-delay');
    if (o.maxRetryDelay !== undefined) policy.maximumBackoff = parseDuration(o.maxRetryDelay, '--max-retry-delay');
    sub.retryPolicy = policy;
  }
  if (o.pushEndpoint !== undefined) sub.pushConfig = pushConfig(o);
  return sub;
}

function pushConfig(o: SubscriptionFlags): Message {
  const config: Message = { pushEndpoint: o.pushEndpoint };
  if (o.pushAuthServiceAccount !== undefined) {
    config.oidcToken = { serviceAccountEmail: o.pushAuthServiceAccount, audience: o.pushAuthTokenAudience ?? '' };
  }
  return config;
}

function registerSubscriptions(pubsub: Command): void {
  const subs = group(pubsub, 'subscriptions', 'Pub/Sub subscriptions');
  const name = (ctx: Context, cmd: Command): string => resourceName('subscriptions', arg(cmd, 0), ctx.project, 'SUBSCRIPTION');

  pubsubLeaf(subs, 'create <subscription>', 'create a subscription')
    .requiredOption('--topic <topic>', 'the topic to subscribe to')
    .option('--ack-deadline <seconds>', 'ack deadline, 10..600 s', intParser('--ack-deadline', 0))
    .option('--filter <filter>', "Pub/Sub filter on attributes, e.g. attributes.subFolder = \"alerts\"")
    .option('--enable-message-ordering', 'deliver messages of one ordering key in order')
    .option('--dead-letter-topic <topic>', 'where messages go after --max-delivery-attempts')
    .option('--max-delivery-attempts <n>', '5..100 (default 5)', intParser('--max-delivery-attempts', 0))
    .option('--push-endpoint <url>', 'make it a push subscription to this URL')
    .option('--push-auth-service-account <email>', 'sign push requests with a token naming this account')
    .option('--push-auth-token-audience <aud>', "the push token's audience (default: the endpoint)")
    .option('--retain-acked-messages', 'keep acked messages for seek')
    .option('--message-retention-duration <duration>', 'how long unacked messages are kept (10m..7d)')
    .option('--min-retry-delay <duration>', 'retry policy: first backoff')
    .option('--max-retry-delay <duration>', 'retry policy: longest backoff')
    .option('--labels <k=v,...>', 'labels')
    .action(
      run((cmd) =>
        withClient(cmd, async (ctx) => {
          const doc = toJson(await ctx.client.subscriberCall('createSubscription', subscriptionMessage(ctx, name(ctx, cmd), cmd.opts<SubscriptionFlags>()))) as JsonObject;
          ctx.out.status(`Created subscription [${String(doc.name)}].`);
          ctx.out.resource(doc);
        }),
      ),
    );

  pubsubLeaf(subs, 'list', 'list the subscriptions of the project').action(
    run((cmd) =>
      withClient(cmd, async (ctx) => {
        const project = `projects/${projectOf(ctx)}`;
        const items = await listAll(ctx, (pageToken) => ctx.client.subscriberCall('listSubscriptions', { project, pageToken }), 'subscriptions');
        ctx.out.list({ subscriptions: items }, items as JsonObject[], SUBSCRIPTION_COLUMNS, 'subscriptions');
      }),
    ),
  );

  pubsubLeaf(subs, 'describe <subscription>', 'show a subscription').action(
    run((cmd) =>
      withClient(cmd, async (ctx) => ctx.out.resource(toJson(await ctx.client.subscriberCall('getSubscription', { subscription: name(ctx, cmd) })) as JsonObject)),
    ),
  );

  pubsubLeaf(subs, 'delete <subscription>', 'delete a subscription').action(
    run((cmd) =>
      withClient(cmd, async (ctx) => {
        await ctx.client.subscriberCall('deleteSubscription', { subscription: name(ctx, cmd) });
        ctx.out.status(`Deleted subscription [${name(ctx, cmd)}].`);
      }),
    ),
  );

  pubsubLeaf(subs, 'pull <subscription>', 'pull messages (and with --auto-ack acknowledge them)')
    .option('--limit <n>', 'at most this many messages (default 1)', intParser('--limit', 1), 1)
    .option('--auto-ack', 'acknowledge what was pulled')
    .option('--wait', 'wait for a message instead of returning at once when there is none')
    .action(
      run((cmd) =>
        withClient(cmd, async (ctx) => {
          const o = cmd.opts<{ limit: number; autoAck?: boolean; wait?: boolean }>();
          const subscription = name(ctx, cmd);
          const page = await ctx.client.subscriberCall('pull', { subscription, maxMessages: o.limit, returnImmediately: o.wait !== true });
          const received = ((page.receivedMessages as unknown[] | undefined) ?? []).map((m) => toJson(m) as JsonObject);
          if (o.autoAck && received.length > 0) {
            await ctx.client.subscriberCall('acknowledge', { subscription, ackIds: received.map((m) => String(m.ackId)) });
          }
          ctx.out.list({ receivedMessages: received }, received, MESSAGE_COLUMNS, 'messages');
        }),
      ),
    );

  pubsubLeaf(subs, 'ack <subscription>', 'acknowledge messages by ack ID')
    .requiredOption('--ack-ids <id,...>', 'ack IDs as pull printed them; repeatable', collect(String))
    .action(
      run((cmd) =>
        withClient(cmd, async (ctx) => {
          const ackIds = cmd.opts<{ ackIds: string[] }>().ackIds.flatMap((s) => s.split(',')).filter((s) => s !== '');
          await ctx.client.subscriberCall('acknowledge', { subscription: name(ctx, cmd), ackIds });
          ctx.out.status(`Acknowledged ${ackIds.length} message(s).`);
        }),
      ),
    );

  pubsubLeaf(subs, 'modify-push-config <subscription>', 'make it a push subscription, or (without --push-endpoint) a pull one')
    .option('--push-endpoint <url>', 'the push endpoint')
    .option('--push-auth-service-account <email>', 'sign push requests with a token naming this account')
    .option('--push-auth-token-audience <aud>', "the push token's audience (default: the endpoint)")
    .action(
      run((cmd) =>
        withClient(cmd, async (ctx) => {
          const o = cmd.opts<SubscriptionFlags>();
          const request: Message = { subscription: name(ctx, cmd), pushConfig: o.pushEndpoint === undefined ? {} : pushConfig(o) };
          await ctx.client.subscriberCall('modifyPushConfig', request);
          ctx.out.status(`Updated the push config of [${name(ctx, cmd)}].`);
        }),
      ),
    );

  pubsubLeaf(subs, 'seek <subscription>', 'mark messages acked or unacked by time or to a snapshot')
    .option('--time <rfc3339>', 'messages published before it become acked, after it unacked')
    .option('--snapshot <snapshot>', 'restore the ack state of a snapshot')
    .action(
      run((cmd) =>
        withClient(cmd, async (ctx) => {
          const o = cmd.opts<{ time?: string; snapshot?: string }>();
          if ((o.time === undefined) === (o.snapshot === undefined)) throw new UsageError('give exactly one of --time and --snapshot.');
          const request: Message = { subscription: name(ctx, cmd) };
          if (o.time !== undefined) request.time = timestampMessage(parseTimestamp(o.time, '--time'));
          else request.snapshot = resourceName('snapshots', o.snapshot!, ctx.project, '--snapshot');
          await ctx.client.subscriberCall('seek', request);
          ctx.out.status(`Seeked [${name(ctx, cmd)}].`);
        }),
      ),
    );
}

function registerSnapshots(pubsub: Command): void {
  const snaps = group(pubsub, 'snapshots', 'Pub/Sub snapshots (a subscription\'s ack state, for seek)');
  const name = (ctx: Context, cmd: Command): string => resourceName('snapshots', arg(cmd, 0), ctx.project, 'SNAPSHOT');

  pubsubLeaf(snaps, 'create <snapshot>', "capture a subscription's ack state")
    .requiredOption('--subscription <subscription>', 'the subscription')
    .option('--labels <k=v,...>', 'labels')
    .action(
      run((cmd) =>
        withClient(cmd, async (ctx) => {
          const o = cmd.opts<{ subscription: string; labels?: string }>();
          const request: Message = { name: name(ctx, cmd), subscription: resourceName('subscriptions', o.subscription, ctx.project, '--subscription') };
          if (o.labels !== undefined) request.labels = labelsOf(o.labels);
          const doc = toJson(await ctx.client.subscriberCall('createSnapshot', request)) as JsonObject;
          ctx.out.status(`Created snapshot [${String(doc.name)}].`);
          ctx.out.resource(doc);
        }),
      ),
    );

  pubsubLeaf(snaps, 'list', 'list the snapshots of the project').action(
    run((cmd) =>
      withClient(cmd, async (ctx) => {
        const project = `projects/${projectOf(ctx)}`;
        const items = await listAll(ctx, (pageToken) => ctx.client.subscriberCall('listSnapshots', { project, pageToken }), 'snapshots');
        ctx.out.list({ snapshots: items }, items as JsonObject[], SNAPSHOT_COLUMNS, 'snapshots');
      }),
    ),
  );

  pubsubLeaf(snaps, 'describe <snapshot>', 'show a snapshot').action(
    run((cmd) => withClient(cmd, async (ctx) => ctx.out.resource(toJson(await ctx.client.subscriberCall('getSnapshot', { snapshot: name(ctx, cmd) })) as JsonObject))),
  );

  pubsubLeaf(snaps, 'delete <snapshot>', 'delete a snapshot').action(
    run((cmd) =>
      withClient(cmd, async (ctx) => {
        await ctx.client.subscriberCall('deleteSnapshot', { snapshot: name(ctx, cmd) });
        ctx.out.status(`Deleted snapshot [${name(ctx, cmd)}].`);
      }),
    ),
  );
}

export function registerPubSub(program: Command): void {
  const pubsub = group(program, 'pubsub', "Bridgehead's Pub/Sub API: topics, subscriptions, snapshots");
  registerTopics(pubsub);
  registerSubscriptions(pubsub);
  registerSnapshots(pubsub);
}

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { credentials, Client, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { PubSub, type Message as PsClientMessage } from '@google-cloud/pubsub';
import pino from 'pino';
import { GrpcApiServer, GrpcPlainListener } from '../../../src/adapters/grpc/grpc-server.js';
import { statusCodec } from '../../../src/adapters/grpc/protos.js';
import { ApiError, invalidArgument } from '../../../src/domain/errors.js';
import type { IamPolicy } from '../../../src/domain/model.js';
import type { PsMessage, PsSubscriptionView, PsTopic } from '../../../src/domain/pubsub/pubsub-model.js';
import { ApiAuth, type Principal } from '../../../src/services/api-auth.js';
import { CallDeadlines } from '../../../src/services/call-deadlines.js';
import type { DeviceAdmin } from '../../../src/services/device-admin.js';
import type {
  PublisherApi,
  PubSubIamApi,
  ReceivedMessage,
  StreamingPullSession,
  StreamingPullSink,
  SubscriberApi,
} from '../../../src/services/pubsub/pubsub-api.js';
import type * as Req from '../../../src/services/pubsub/pubsub-requests.js';

/**
 * The google.pubsub.v1 edge with the real @google-cloud/pubsub client on one side and doubles of
 * the Pub/Sub services on the other: what the client sends arrives as the request shapes the
 * services expect, what they answer reaches the client as Pub/Sub's messages and status codes,
 * and StreamingPull streams open, carry acks and close their sessions whatever ends them.
 */

const PROJECT = 'p';
const TOPIC = `projects/${PROJECT}/topics/t`;
const SUB = `projects/${PROJECT}/subscriptions/s`;

const topic = (name: string, labels: Record<string, string> = {}): PsTopic => ({ name, labels, messageRetentionMs: 3_600_000, createTime: 1, revision: 1 });

const subscription = (name: string, topicName: string): PsSubscriptionView => ({
  name,
  topic: topicName,
  ackDeadlineSeconds: 20,
  retainAckedMessages: false,
  messageRetentionMs: 600_000,
  labels: {},
  filter: 'attributes.kind = "a"',
  enableMessageOrdering: true,
  deadLetterPolicy: { deadLetterTopic: `projects/${PROJECT}/topics/dead`, maxDeliveryAttempts: 5 },
  retryPolicy: undefined,
  pushConfig: undefined,
  detached: false,
  startSeq: 0,
  createTime: 1,
  revision: 1,
  topicMessageRetentionMs: 86_400_000,
});

/** One open stream as the double of the engine sees it. */
interface FakeSession {
  first: Req.StreamingPullRequest;
  sink: StreamingPullSink;
  later: Req.StreamingPullRequest[];
  closed: boolean;
}

class FakePubSub implements PublisherApi, SubscriberApi, PubSubIamApi {
  readonly topics = new Map<string, PsTopic>();
  readonly subscriptions = new Map<string, PsSubscriptionView>();
  readonly published: Req.PublishRequest[] = [];
  readonly acked: string[] = [];
  readonly sessions: FakeSession[] = [];
  readonly callers: Principal[] = [];
  policy: IamPolicy = { version: 1, bindings: [], etag: Buffer.from('e1') };
  private seq = 0;
  private sessionOpened: ((s: FakeSession) => void)[] = [];
  private closeWaiters: (() => void)[] = [];

  /** The next session to open. */
  nextSession(): Promise<FakeSession> {
    return new Promise((resolve) => this.sessionOpened.push(resolve));
  }

  openSessions(): number {
    return this.sessions.filter((s) => !s.closed).length;
  }

  /** Resolves once `n` sessions have ever been opened. */
  sessionsReach(n: number): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.sessions.length >= n) resolve();
        else this.sessionOpened.push(check);
      };
      check();
    });
  }

  /** Resolves once no session is open. */
  allClosed(): Promise<void> {
    return new Promise((resolve) => {
      if (this.openSessions() === 0) resolve();
      else this.closeWaiters.push(resolve);
    });
  }

  async createTopic(caller: Principal, r: Req.TopicMessage): Promise<PsTopic> {
    this.callers.push(caller);
    if (!r.name?.startsWith('projects/')) throw invalidArgument('name', 'Invalid topic name.');
    if (this.topics.has(r.name)) throw new ApiError('ALREADY_EXISTS', 'Topic already exists.');
    const t = topic(r.name, r.labels);
    this.topics.set(r.name, t);
    return t;
  }
  async getTopic(_c: Principal, r: { topic?: string }): Promise<PsTopic> {
    const t = this.topics.get(r.topic ?? '');
    if (!t) throw new ApiError('NOT_FOUND', 'Topic not found.');
    return t;
  }
  async updateTopic(): Promise<PsTopic> {
    throw new ApiError('UNIMPLEMENTED', 'not in this double');
  }
  async listTopics(): Promise<{ items: PsTopic[]; nextPageToken: string }> {
    return { items: [...this.topics.values()], nextPageToken: '' };
  }
  async listTopicSubscriptions(): Promise<{ items: string[]; nextPageToken: string }> {
    return { items: [...this.subscriptions.keys()], nextPageToken: '' };
  }
  async listTopicSnapshots(): Promise<{ items: string[]; nextPageToken: string }> {
    return { items: [], nextPageToken: '' };
  }
  async deleteTopic(): Promise<void> {}
  async publish(_c: Principal, r: Req.PublishRequest): Promise<string[]> {
    this.published.push(r);
    return (r.messages ?? []).map(() => String(++this.seq));
  }
  async detachSubscription(): Promise<void> {}

  async createSubscription(_c: Principal, r: Req.SubscriptionMessage): Promise<PsSubscriptionView> {
    const s = subscription(r.name!, r.topic!);
    this.subscriptions.set(s.name, s);
    return s;
  }
  async getSubscription(_c: Principal, r: { subscription?: string }): Promise<PsSubscriptionView> {
    const s = this.subscriptions.get(r.subscription ?? '');
    if (!s) throw new ApiError('NOT_FOUND', 'Subscription not found.');
    return s;
  }
  async updateSubscription(): Promise<PsSubscriptionView> {
    throw new ApiError('UNIMPLEMENTED', 'not in this double');
  }
  async listSubscriptions(): Promise<{ items: PsSubscriptionView[]; nextPageToken: string }> {
    return { items: [...this.subscriptions.values()], nextPageToken: '' };
  }
  async deleteSubscription(): Promise<void> {}
  async modifyAckDeadline(): Promise<void> {}
  async acknowledge(_c: Principal, r: Req.AcknowledgeRequest): Promise<void> {
    this.acked.push(...(r.ackIds ?? []));
  }
  async pull(): Promise<ReceivedMessage[]> {
    return [];
  }
  async streamingPull(caller: Principal, first: Req.StreamingPullRequest, sink: StreamingPullSink): Promise<StreamingPullSession> {
    this.callers.push(caller);
    if (!this.subscriptions.has(first.subscription ?? '')) throw new ApiError('NOT_FOUND', 'Subscription not found.');
    const session: FakeSession = { first, sink, later: [], closed: false };
    this.sessions.push(session);
    for (const resolve of this.sessionOpened.splice(0)) resolve(session);
    return {
      messageOrderingEnabled: true,
      request: (r) => {
        if (r.modifyDeadlineSeconds?.some((s) => s < 0)) throw invalidArgument('modify_deadline_seconds', 'Negative deadline.');
        session.later.push(r);
      },
      resume: () => undefined,
      close: () => {
        session.closed = true;
        if (this.openSessions() === 0) for (const resolve of this.closeWaiters.splice(0)) resolve();
      },
    };
  }
  async modifyPushConfig(): Promise<void> {}
  async getSnapshot(): Promise<never> {
    throw new ApiError('NOT_FOUND', 'Snapshot not found.');
  }
  async listSnapshots(): Promise<{ items: never[]; nextPageToken: string }> {
    return { items: [], nextPageToken: '' };
  }
  async createSnapshot(): Promise<never> {
    throw new ApiError('UNIMPLEMENTED', 'not in this double');
  }
  async updateSnapshot(): Promise<never> {
    throw new ApiError('UNIMPLEMENTED', 'not in this double');
  }
  async deleteSnapshot(): Promise<void> {}
  async seek(): Promise<void> {}

  async getIamPolicy(): Promise<IamPolicy> {
    return this.policy;
  }
  async setIamPolicy(_c: Principal, r: Req.SetIamPolicyRequest): Promise<IamPolicy> {
    if (r.policy?.etag && Buffer.compare(Buffer.from(r.policy.etag), Buffer.from(this.policy.etag)) !== 0) {
      throw new ApiError('ABORTED', 'Stale etag.', { reason: 'ETAG_MISMATCH' });
    }
    const bindings = (r.policy?.bindings ?? []).map((b) => ({ role: b.role ?? '', members: b.members ?? [] }));
    this.policy = { version: 1, bindings, etag: Buffer.from(`e${Date.now()}`) };
    return this.policy;
  }
  async testIamPermissions(_c: Principal, r: Req.TestIamPermissionsRequest): Promise<string[]> {
    return (r.permissions ?? []).filter((p) => p.startsWith('pubsub.topics.'));
  }
}

const message = (seq: number, extra: Partial<PsMessage> = {}): PsMessage => ({
  seq,
  messageId: String(seq),
  publishTime: 1_700_000_000_123,
  attributes: { deviceId: 'd1' },
  data: Buffer.from(`m${seq}`),
  orderingKey: '',
  ...extra,
});

describe('google.pubsub.v1 over gRPC, with @google-cloud/pubsub', () => {
  const fake = new FakePubSub();
  let server: GrpcApiServer;
  let listener: GrpcPlainListener;
  let endpoint: string;
  let pubsub: PubSub;

  before(async () => {
    const log = pino({ level: 'silent' });
    server = new GrpcApiServer(
      {
        deviceManager: {
          admin: {} as DeviceAdmin,
          auth: new ApiAuth('unit-admin-token-0123456789'),
          deadlines: new CallDeadlines({ now: () => Date.now() }),
          codec: statusCodec(),
          log,
          anonymousAsAdmin: true,
        },
        pubsub: { publisher: fake, subscriber: fake, iam: fake },
      },
      { maxReceiveMessageBytes: 11 * 1024 * 1024, maxConcurrentStreams: 100 },
    );
    listener = new GrpcPlainListener(server, 1000, log);
    const address = await listener.listen('127.0.0.1', 0);
    endpoint = `127.0.0.1:${address.port}`;
    pubsub = new PubSub({ projectId: PROJECT, apiEndpoint: endpoint, emulatorMode: true });
  });

  after(async () => {
    await pubsub.close();
    await Promise.all([listener.close(), server.close()]);
  });

  test('topics: created and read back as Topic messages; service errors arrive with their codes', async () => {
    const [created] = await pubsub.createTopic({ name: TOPIC, labels: { team: 'iot' } });
    assert.equal(created.name, TOPIC);
    assert.deepEqual(fake.callers.at(-1), { kind: 'admin' }, 'no credentials on --grpc-anonymous: the admin');
    const [metadata] = await pubsub.topic('t').getMetadata();
    assert.deepEqual(metadata.labels, { team: 'iot' });
    assert.equal(Number(metadata.messageRetentionDuration?.seconds), 3600);
    await assert.rejects(pubsub.createTopic('t'), (e: ServiceError) => e.code === status.ALREADY_EXISTS);
    await assert.rejects(pubsub.topic('missing').getMetadata(), (e: ServiceError) => e.code === status.NOT_FOUND && /Topic not found/.test(e.message));
    const [topics] = await pubsub.getTopics();
    assert.deepEqual(
      topics.map((t) => t.name),
      [TOPIC],
    );
  });

  test('publish: data, attributes and ordering keys reach the service; message IDs come back', async () => {
    await pubsub.createTopic('pub').catch(() => undefined);
    const publisher = pubsub.topic('pub', { messageOrdering: true, batching: { maxMessages: 2, maxMilliseconds: 5 } });
    const ids = await Promise.all([
      publisher.publishMessage({ data: Buffer.from('one'), attributes: { a: '1' }, orderingKey: 'k' }),
      publisher.publishMessage({ data: Buffer.from('two'), orderingKey: 'k' }),
    ]);
    assert.equal(new Set(ids).size, 2);
    const sent = fake.published.flatMap((r) => r.messages ?? []);
    assert.deepEqual(
      sent.map((m) => [Buffer.from(m.data!).toString(), m.attributes ?? {}, m.orderingKey]),
      [
        ['one', { a: '1' }, 'k'],
        ['two', {}, 'k'],
      ],
    );
    assert.equal(fake.published.at(-1)!.topic, `projects/${PROJECT}/topics/pub`);
  });

  test('subscriptions render every setting the client reads', async () => {
    const [sub] = await pubsub.topic('t').createSubscription('s');
    const [metadata] = await sub.getMetadata();
    assert.equal(metadata.topic, TOPIC);
    assert.equal(metadata.ackDeadlineSeconds, 20);
    assert.equal(metadata.filter, 'attributes.kind = "a"');
    assert.equal(metadata.enableMessageOrdering, true);
    assert.deepEqual(metadata.deadLetterPolicy, { deadLetterTopic: `projects/${PROJECT}/topics/dead`, maxDeliveryAttempts: 5 });
    assert.deepEqual(metadata.topicMessageRetentionDuration, { seconds: '86400', nanos: 0 });
    await assert.rejects(pubsub.subscription('nope').getMetadata(), (e: ServiceError) => e.code === status.NOT_FOUND);
  });

  test('streaming pull: the first request opens a session, messages arrive whole, acks come back, close ends the session', async () => {
    const sub = pubsub.subscription('s', { flowControl: { maxMessages: 7, allowExcessMessages: false }, streamingOptions: { maxStreams: 1 } });
    const opened = fake.nextSession();
    const received: PsClientMessage[] = [];
    const twoArrived = new Promise<void>((resolve) =>
      sub.on('message', (m: PsClientMessage) => {
        received.push(m);
        m.ack();
        if (received.length === 2) resolve();
      }),
    );
    const session = await opened;
    assert.equal(session.first.subscription, SUB);
    assert.equal(Number(session.first.maxOutstandingMessages), 7);
    assert.ok(Number(session.first.streamAckDeadlineSeconds) >= 10);
    session.sink.deliver([
      { ackId: 'ack-1', message: message(1, { orderingKey: 'dev' }), deliveryAttempt: 0 },
      { ackId: 'ack-2', message: message(2), deliveryAttempt: 3 },
    ]);
    await twoArrived;
    assert.deepEqual(
      received.map((m) => [m.id, m.data.toString(), m.attributes, m.orderingKey, m.publishTime.getTime(), m.deliveryAttempt]),
      [
        ['1', 'm1', { deviceId: 'd1' }, 'dev', 1_700_000_000_123, 0],
        ['2', 'm2', { deviceId: 'd1' }, '', 1_700_000_000_123, 3],
      ],
    );
    // The client sends acks over Acknowledge (or the stream, depending on its version): either reaches the service.
    await sub.close();
    const streamAcks = session.later.flatMap((r) => r.ackIds ?? []);
    assert.deepEqual([...fake.acked, ...streamAcks].sort(), ['ack-1', 'ack-2']);
    assert.equal(session.closed, true, "the client's close ends the session");
  });

  test('streaming pull: the engine ending a stream reaches the client as that status', async () => {
    const sub = pubsub.subscription('s', { streamingOptions: { maxStreams: 1 } });
    const opened = fake.nextSession();
    sub.on('message', () => undefined);
    const failed = once(sub, 'error') as Promise<[ServiceError]>;
    const session = await opened;
    session.sink.end(new ApiError('NOT_FOUND', 'Subscription deleted.'));
    const [error] = await failed;
    assert.equal(error.code, status.NOT_FOUND);
    assert.equal(session.closed, true);
    await sub.close();
  });

  test('streaming pull of an unknown subscription: NOT_FOUND to the client', async () => {
    const sub = pubsub.subscription('unknown', { streamingOptions: { maxStreams: 1 } });
    sub.on('message', () => undefined);
    const [error] = (await once(sub, 'error')) as [ServiceError];
    assert.equal(error.code, status.NOT_FOUND);
    await sub.close();
  });

  test('IAM: policies read and written with their etag; a stale etag is ABORTED', async () => {
    const iam = pubsub.topic('t').iam;
    const [policy] = await iam.getPolicy();
    assert.equal(Buffer.from(policy.etag as Uint8Array).toString(), 'e1');
    const [written] = await iam.setPolicy({ bindings: [{ role: 'roles/pubsub.publisher', members: ['user:a@example.com'] }], etag: policy.etag });
    assert.deepEqual(
      written.bindings?.map((b) => [b.role, b.members]),
      [['roles/pubsub.publisher', ['user:a@example.com']]],
    );
    await assert.rejects(iam.setPolicy({ bindings: [], etag: Buffer.from('e1') }), (e: ServiceError) => e.code === status.ABORTED);
    const [granted] = await iam.testPermissions(['pubsub.topics.publish', 'pubsub.subscriptions.consume']);
    assert.deepEqual(granted, { 'pubsub.topics.publish': true, 'pubsub.subscriptions.consume': false });
  });

  describe('with a raw grpc-js client', () => {
    let client: Client;
    before(() => {
      client = new Client(endpoint, credentials.createInsecure());
    });
    after(() => client.close());

    const raw = (b: Buffer): Buffer => b;

    test('bytes that are no request message: INVALID_ARGUMENT, not INTERNAL', async () => {
      const error = await new Promise<ServiceError | null>((resolve) =>
        client.makeUnaryRequest('/google.pubsub.v1.Publisher/GetTopic', raw, raw, Buffer.from([0x0a, 0xff, 0xff]), new Metadata(), (e) => resolve(e)),
      );
      assert.equal(error?.code, status.INVALID_ARGUMENT);
      assert.match(error!.details, /not a valid GetTopic request message/);
    });

    test('a malformed later request on a stream ends it with INVALID_ARGUMENT and closes the session', async () => {
      const opened = fake.nextSession();
      const call = client.makeBidiStreamRequest('/google.pubsub.v1.Subscriber/StreamingPull', raw, raw, new Metadata());
      const ended = new Promise<ServiceError>((resolve) => call.on('error', resolve));
      call.on('data', () => undefined);
      // subscription = SUB (field 1), stream_ack_deadline_seconds = 10 (field 5).
      call.write(Buffer.concat([Buffer.from([0x0a, SUB.length]), Buffer.from(SUB), Buffer.from([0x28, 10])]));
      const session = await opened;
      call.write(Buffer.from([0x0a, 0xff]));
      const error = await ended;
      assert.equal(error.code, status.INVALID_ARGUMENT);
      assert.equal(session.closed, true);
    });

    test('a thousand streams opened and abandoned, a hundred at a time, leave no session open', async () => {
      const first = Buffer.concat([Buffer.from([0x0a, SUB.length]), Buffer.from(SUB), Buffer.from([0x28, 10])]);
      const start = fake.sessions.length;
      for (let wave = 1; wave <= 10; wave++) {
        const opened = fake.sessionsReach(start + wave * 100);
        const calls = [];
        for (let i = 0; i < 100; i++) {
          const call = client.makeBidiStreamRequest('/google.pubsub.v1.Subscriber/StreamingPull', raw, raw, new Metadata());
          call.on('error', () => undefined);
          call.on('data', () => undefined);
          call.write(first);
          calls.push(call);
        }
        await opened;
        const closed = fake.allClosed();
        for (const call of calls) call.cancel();
        await closed;
      }
      assert.equal(fake.sessions.length - start, 1000);
      assert.equal(fake.openSessions(), 0);
    });
  });
});

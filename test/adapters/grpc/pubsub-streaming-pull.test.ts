import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { describe, test } from 'node:test';
import { Metadata, status, type ServerDuplexStream, type StatusObject } from '@grpc/grpc-js';
import pino from 'pino';
import { statusCodec } from '../../../src/adapters/grpc/protos.js';
import { STREAM_BUFFER_BYTES, streamingPull } from '../../../src/adapters/grpc/pubsub-streaming-pull.js';
import { ApiError } from '../../../src/domain/errors.js';
import type { PsMessage } from '../../../src/domain/pubsub/pubsub-model.js';
import { ApiAuth } from '../../../src/services/api-auth.js';
import { CallDeadlines } from '../../../src/services/call-deadlines.js';
import type { StreamingPullSession, StreamingPullSink, SubscriberApi } from '../../../src/services/pubsub/pubsub-api.js';
import type { StreamingPullRequest } from '../../../src/services/pubsub/pubsub-requests.js';

/**
 * One StreamingPull stream without a network: a duplex standing in for grpc-js's call object,
 * whose writes complete only when the test says so (a client that stopped reading), and a double
 * of SubscriberApi.streamingPull that opens when the test says so.
 */

const message: PsMessage = { seq: 1, messageId: '1', publishTime: 0, attributes: {}, data: Buffer.from('x'), orderingKey: '' };

class FakeCall extends Duplex {
  readonly metadata = new Metadata();
  cancelled = false;
  readonly written: unknown[] = [];
  readonly pendingWrites: (() => void)[] = [];
  status: StatusObject | 'OK' | undefined;

  constructor() {
    super({ objectMode: true, highWaterMark: 2 });
    // As grpc-js does: an 'error' event's status is the call's final status.
    this.on('error', (e: StatusObject) => {
      this.status = e;
    });
  }
  getDeadline(): number {
    return Infinity;
  }
  override _read(): void {}
  override _write(chunk: unknown, _enc: BufferEncoding, done: () => void): void {
    this.written.push(chunk);
    this.pendingWrites.push(done);
  }
  override _final(done: () => void): void {
    this.status ??= 'OK';
    done();
  }
  /** The client read everything written so far. */
  flush(): void {
    for (const done of this.pendingWrites.splice(0)) done();
  }
}

function harness() {
  const events: string[] = [];
  const later: StreamingPullRequest[] = [];
  let sink: StreamingPullSink | undefined;
  let release!: () => void;
  const opened = new Promise<void>((resolve) => (release = resolve));
  const session: StreamingPullSession = {
    messageOrderingEnabled: true,
    request: (r) => later.push(r),
    resume: () => events.push('resume'),
    close: () => events.push('close'),
  };
  const subscriber = {
    streamingPull: async (_c: unknown, first: StreamingPullRequest, s: StreamingPullSink) => {
      events.push(`open ${first.subscription}`);
      sink = s;
      await opened;
      return session;
    },
  } as unknown as SubscriberApi;
  const handler = streamingPull(subscriber, {
    auth: new ApiAuth('unit-admin-token-0123456789'),
    deadlines: new CallDeadlines({ now: () => 0 }),
    codec: statusCodec(),
    log: pino({ level: 'silent' }),
    anonymousAsAdmin: true,
  });
  const call = new FakeCall();
  handler(call as unknown as ServerDuplexStream<unknown, never>);
  return { call, events, later, sink: () => sink!, release };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('StreamingPull stream', () => {
  test('requests that come while the session opens are handed to it in order, once open', async () => {
    const h = harness();
    h.call.push({ subscription: 'projects/p/subscriptions/s' });
    h.call.push({ ackIds: ['a'] });
    h.call.push({ ackIds: ['b'] });
    await tick();
    assert.equal(h.later.length, 0);
    h.release();
    await tick();
    assert.deepEqual(
      h.later.map((r) => r.ackIds),
      [['a'], ['b']],
    );
  });

  test('messages delivered while the session opens are held, the engine paused, then written with the ordering flag and the engine resumed', async () => {
    const h = harness();
    h.call.push({ subscription: 'projects/p/subscriptions/s' });
    await tick();
    assert.equal(h.sink().deliver([{ ackId: 'x', message, deliveryAttempt: 0 }]), false);
    assert.equal(h.call.written.length, 0);
    h.release();
    await tick();
    assert.deepEqual(h.call.written, [
      {
        receivedMessages: [{ ackId: 'x', message: { data: Buffer.from('x'), messageId: '1', publishTime: { seconds: 0, nanos: 0 } } }],
        subscriptionProperties: { messageOrderingEnabled: true },
      },
    ]);
    assert.deepEqual(h.events.slice(1), ['resume']);
  });

  test('deliver reports a full buffer once the bytes the client has not taken reach STREAM_BUFFER_BYTES; half drained resumes the session', async () => {
    const h = harness();
    h.call.push({ subscription: 'projects/p/subscriptions/s' });
    h.release();
    await tick();
    const sized = (bytes: number): PsMessage => ({ ...message, data: Buffer.alloc(bytes) });
    assert.equal(h.sink().deliver([{ ackId: 'x', message: sized((STREAM_BUFFER_BYTES * 3) / 4), deliveryAttempt: 0 }]), true);
    assert.equal(h.sink().deliver([{ ackId: 'y', message: sized(STREAM_BUFFER_BYTES / 4), deliveryAttempt: 0 }]), false, 'past the buffer');
    assert.deepEqual(h.events, ['open projects/p/subscriptions/s']);
    // The client takes the first one: half the buffer is free again.
    h.call.pendingWrites.shift()!();
    await tick();
    assert.deepEqual(h.events.slice(1), ['resume']);
    h.call.flush();
    await tick();
    assert.deepEqual(h.events.slice(1), ['resume'], 'resumed once');
    assert.equal(h.call.written.length, 2);
  });

  test("small messages do not pause the engine at the call's own high-water mark (issue 12: drains crawled)", async () => {
    const h = harness();
    h.call.push({ subscription: 'projects/p/subscriptions/s' });
    h.release();
    await tick();
    // A client that has read nothing yet: 1,000 one-message responses sit in the call's buffer.
    const accepted = Array.from({ length: 1000 }, (_, i) => h.sink().deliver([{ ackId: `a${i}`, message, deliveryAttempt: 0 }]));
    assert.deepEqual(
      accepted.map((ok, i) => (ok ? -1 : i)).filter((i) => i >= 0),
      [],
      'no write reported a full buffer',
    );
    assert.ok(h.call.writableLength > h.call.writableHighWaterMark, 'far past the call object high-water mark');
    // The client reads: the call hands its buffered writes on one by one.
    for (let i = 0; i < 1000 && h.call.pendingWrites.length > 0; i++) h.call.flush();
    await tick();
    assert.equal(h.call.written.length, 1000);
    assert.deepEqual(h.events.slice(1), [], 'never paused, so never resumed');
  });

  test("the client's half-close closes the session and ends the stream OK", async () => {
    const h = harness();
    h.call.push({ subscription: 'projects/p/subscriptions/s' });
    h.release();
    await tick();
    h.call.push(null);
    await tick();
    assert.deepEqual(h.events.slice(1), ['close']);
    assert.equal(h.call.status, 'OK');
    assert.equal(h.sink().deliver([{ ackId: 'x', message, deliveryAttempt: 0 }]), false, 'nothing is written after the end');
  });

  test('a stream cancelled while its session opens closes the session as soon as it opens', async () => {
    const h = harness();
    h.call.push({ subscription: 'projects/p/subscriptions/s' });
    await tick();
    h.call.cancelled = true;
    h.call.emit('cancelled');
    h.call.destroy();
    h.release();
    await tick();
    assert.deepEqual(h.events.slice(1), ['close']);
  });

  test('the engine ending the stream sends its status once and closes the session', async () => {
    const h = harness();
    h.call.push({ subscription: 'projects/p/subscriptions/s' });
    h.release();
    await tick();
    h.sink().end(new ApiError('UNAVAILABLE', 'Server shutting down.'));
    h.sink().end(new ApiError('NOT_FOUND', 'ignored: the stream already ended'));
    await tick();
    assert.equal((h.call.status as StatusObject).code, status.UNAVAILABLE);
    assert.deepEqual(h.events.slice(1), ['close']);
  });
});

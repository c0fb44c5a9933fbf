import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { credentials, makeGenericClientConstructor, Metadata, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { pubSubDefinitions } from '../../src/adapters/grpc/protos.js';
import { Collector, startPubSubServer, type PubSubServer } from '../support/pubsub.js';

/**
 * Hostile input on the Pub/Sub gRPC surface: random bytes as every Publisher and Subscriber
 * request, garbage ack IDs and deadline changes on a live StreamingPull, and over-long attributes.
 * Each gets a status (never INTERNAL, never a crash), and afterwards the server still delivers
 * exactly what was published.
 */

type RawCall = (req: Buffer, md: Metadata, opts: { deadline: number }, cb: (e: ServiceError | null) => void) => void;
type RawClient = Client & Record<string, RawCall>;

/** A client of `service` that sends whatever bytes it is given as the request. */
function rawClient(service: Record<string, { path: string; requestStream: boolean; responseStream: boolean }>, target: string): { client: RawClient; methods: string[] } {
  const definition = Object.fromEntries(
    Object.entries(service)
      .filter(([, m]) => !m.requestStream && !m.responseStream)
      .map(([name, m]) => [
        name,
        { ...m, requestSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b },
      ]),
  );
  const Ctor = makeGenericClientConstructor(definition as never, 'Raw');
  return { client: new Ctor(target, credentials.createInsecure()) as unknown as RawClient, methods: Object.keys(definition) };
}

describe('Pub/Sub gRPC hostile input', () => {
  let ps: PubSubServer;

  before(async () => {
    ps = await startPubSubServer();
  });
  after(async () => ps.cleanup());

  it('random bytes as every unary request: a status other than INTERNAL each time, and the server lives', async () => {
    const defs = pubSubDefinitions();
    const services = [defs.publisher, defs.subscriber, defs.iamPolicy] as unknown as Record<string, { path: string; requestStream: boolean; responseStream: boolean }>[];
    const seen = new Map<number, number>();
    for (const service of services) {
      const { client, methods } = rawClient(service, ps.endpoint);
      try {
        for (const method of methods) {
          for (let i = 0; i < 25; i++) {
            const bytes = randomBytes(1 + (i * 37) % 300);
            const code = await new Promise<number>((resolve) =>
              client[method]!(bytes, new Metadata(), { deadline: Date.now() + 10_000 }, (e) => resolve(e ? e.code : status.OK)),
            );
            assert.notEqual(code, status.INTERNAL, `${method} answered INTERNAL to random bytes`);
            assert.notEqual(code, status.UNAVAILABLE, `${method}: the server went away`);
            seen.set(code, (seen.get(code) ?? 0) + 1);
          }
        }
      } finally {
        client.close();
      }
    }
    assert.ok((seen.get(status.INVALID_ARGUMENT) ?? 0) > 0, `statuses seen: ${JSON.stringify([...seen])}`);
    assert.equal(ps.server.process.exitCode, null);
  });

  it('garbage on a live StreamingPull is ignored, an over-long attribute key is refused, and delivery stays exact', async () => {
    const [topic] = await ps.pubsub.createTopic('hostile');
    const [sub] = await topic.createSubscription('hostile-sub');
    const client = ps.subscriberClient();
    const stream = client.streamingPull();
    const errors: Error[] = [];
    stream.on('error', (e: Error) => errors.push(e));
    stream.on('data', () => undefined);
    stream.write({ subscription: sub.name, streamAckDeadlineSeconds: 10 });
    for (let i = 0; i < 50; i++) {
      stream.write({
        ackIds: ['', 'x', randomBytes(40).toString('base64'), '0-0-0', `${'9'.repeat(30)}-1-1`, 'a-b-c'.repeat(200)],
        modifyDeadlineAckIds: ['nope', randomBytes(8).toString('hex')],
        modifyDeadlineSeconds: [30, 600],
      });
    }
    // Ack IDs of another subscription's shape, acknowledged through the unary call: ignored, not an error.
    await client.acknowledge({ subscription: sub.name, ackIds: Array.from({ length: 1000 }, (_, i) => `zzzzzzzzzzzzzz-${i}-1`) });

    await assert.rejects(topic.publishMessage({ data: Buffer.from('x'), attributes: { ['k'.repeat(300)]: 'v' } }), (e: { code?: number }) => e.code === status.INVALID_ARGUMENT);

    stream.end();
    for (let i = 0; i < 20; i++) await topic.publishMessage({ data: Buffer.from(`m${i}`) });
    const collector = new Collector(ps.pubsub.subscription(sub.name));
    const got = await collector.next(20);
    await collector.close();
    assert.deepEqual(got.map((m) => m.data.toString()).sort(), Array.from({ length: 20 }, (_, i) => `m${i}`).sort());
    assert.deepEqual(errors.filter((e) => !/CANCELLED|cancel/i.test(e.message)), []);
    assert.equal(ps.server.process.exitCode, null);
    assert.doesNotMatch(ps.server.stderr(), /"msg":"bug/);
  });
});

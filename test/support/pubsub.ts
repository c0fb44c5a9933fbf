import { createServer } from 'node:net';
import { makeGenericClientConstructor, type ChannelCredentials, type ClientDuplexStream, type Metadata, type StatusObject } from '@grpc/grpc-js';
import { PubSub, v1, type Message, type Subscription } from '@google-cloud/pubsub';
import { pubSubDefinitions } from '../../src/adapters/grpc/protos.js';
import { startServer, type StartedServer } from './server.js';

/**
 * A started server with its plaintext gRPC listener open to anonymous calls (the emulator
 * convention, C-GRPC-PLAIN), and the real @google-cloud/pubsub client pointed at it as a
 * backend would be: only the endpoint changes.
 */

export const PS_PROJECT = 'ps-proj';

/** A port free right now on 127.0.0.1 (for a server restarted on the same address). */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

export interface PubSubServer {
  server: StartedServer;
  endpoint: string;
  pubsub: PubSub;
  /** The generated Subscriber client (unary Pull, Acknowledge, ...), on the same channel settings. */
  subscriberClient(): InstanceType<typeof v1.SubscriberClient>;
  cleanup(): Promise<void>;
}

export async function startPubSubServer(opts: { port?: number; dataDir?: string; args?: string[] } = {}): Promise<PubSubServer> {
  const server = await startServer({
    ...(opts.dataDir === undefined ? {} : { dataDir: opts.dataDir }),
    args: ['--grpc-listen', `127.0.0.1:${opts.port ?? 0}`, '--grpc-anonymous', ...(opts.args ?? [])],
  });
  const endpoint = String(server.info.grpc).replace(/^grpc:\/\//, '');
  const pubsub = new PubSub({ projectId: PS_PROJECT, apiEndpoint: endpoint, emulatorMode: true });
  let client: InstanceType<typeof v1.SubscriberClient> | undefined;
  return {
    server,
    endpoint,
    pubsub,
    subscriberClient() {
      // The options the PubSub object resolved from apiEndpoint (servicePath, port, insecure credentials).
      client ??= new v1.SubscriberClient({ ...pubsub.options, port: Number(pubsub.options.port) });
      return client;
    },
    async cleanup() {
      await client?.close();
      await pubsub.close();
      await server.cleanup();
    },
  };
}

/**
 * Collects messages from a subscription's streaming pull; `handle` decides ack or nack (default:
 * ack). `next(n)` resolves with the first `n` collected.
 */
export class Collector {
  readonly messages: Message[] = [];
  private waiters: { n: number; resolve: (m: Message[]) => void }[] = [];
  readonly errors: Error[] = [];

  constructor(
    readonly subscription: Subscription,
    private readonly handle: (m: Message) => void = (m) => m.ack(),
  ) {
    subscription.on('message', (m: Message) => {
      this.messages.push(m);
      this.handle(m);
      this.waiters = this.waiters.filter((w) => {
        if (this.messages.length < w.n) return true;
        w.resolve(this.messages.slice(0, w.n));
        return false;
      });
    });
    subscription.on('error', (e: Error) => this.errors.push(e));
  }

  /** Rejects after `timeoutMs` with what did arrive: a message that never comes fails the test, it does not hang it. */
  next(n: number, timeoutMs = 30_000): Promise<Message[]> {
    if (this.messages.length >= n) return Promise.resolve(this.messages.slice(0, n));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`${this.messages.length} of ${n} messages within ${timeoutMs} ms: ${this.messages.map((m) => m.data.toString()).join(', ')}`));
      }, timeoutMs);
      const waiter = {
        n,
        resolve: (m: Message[]) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** The first error the subscription emitted; rejects if none came within `timeoutMs`. */
  async firstError(timeoutMs = 30_000): Promise<Error> {
    const until = Date.now() + timeoutMs;
    while (this.errors.length === 0) {
      if (Date.now() > until) throw new Error(`no subscriber error within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return this.errors[0]!;
  }

  close(): Promise<void> {
    return this.subscription.close();
  }
}

type Received = { ackId: string; message: { data: Buffer } };

/** A raw StreamingPull (see rawStreamingPull): what it received, and how it ended. */
export interface RawStream {
  /** The data of every message received, as text, in order. */
  data: string[];
  /** The status the server ended the stream with. */
  ended: Promise<StatusObject>;
  /** That status once it came; undefined while the stream is open. */
  status(): StatusObject | undefined;
  close(): void;
}

/**
 * A StreamingPull made with grpc-js alone, no client library: the status the server ends it with
 * is seen as sent. `metadata` (a bearer) is sent with the call. Acks every message it receives,
 * on the stream.
 */
export function rawStreamingPull(address: string, channel: ChannelCredentials, metadata: Metadata, subscription: string): RawStream {
  const Subscriber = makeGenericClientConstructor(pubSubDefinitions().subscriber, 'Subscriber');
  const raw = new Subscriber(address, channel);
  const call = (raw as unknown as { StreamingPull(m: Metadata): ClientDuplexStream<unknown, { receivedMessages?: Received[] }> }).StreamingPull(metadata);
  const data: string[] = [];
  call.on('error', () => undefined);
  call.on('data', (response: { receivedMessages?: Received[] }) => {
    const got = response.receivedMessages ?? [];
    for (const m of got) data.push(Buffer.from(m.message.data).toString());
    if (got.length > 0) call.write({ ackIds: got.map((m) => m.ackId) });
  });
  let status: StatusObject | undefined;
  const ended = new Promise<StatusObject>((resolve) =>
    call.on('status', (s: StatusObject) => {
      status = s;
      resolve(s);
    }),
  );
  call.write({ subscription, streamAckDeadlineSeconds: 10 });
  return { data, ended, status: () => status, close: () => raw.close() };
}

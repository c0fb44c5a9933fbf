import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Server, ServerCredentials, status, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

const require = createRequire(import.meta.url);
const PUBSUB_PROTOS = join(dirname(require.resolve('@google-cloud/pubsub/package.json')), 'build', 'protos');
const GAX_PROTOS = join(dirname(dirname(dirname(createRequire(PUBSUB_PROTOS).resolve('google-gax')))), 'build', 'protos');

export interface PublishedMessage {
  topic: string;
  data: Buffer;
  attributes: Record<string, string>;
  orderingKey: string;
}

interface PublishRequest {
  topic: string;
  messages: { data: Buffer; attributes: Record<string, string>; orderingKey: string }[];
}

/**
 * google.pubsub.v1.Publisher.Publish and nothing else, plaintext, on 127.0.0.1: a stand-in for
 * Google that the real @google-cloud/pubsub client publishes to (emulator mode), and that a test
 * can stop and start again on the same port.
 */
export class FakeGooglePublisher {
  readonly received: PublishedMessage[] = [];
  private server: Server | undefined;
  private nextId = 0;
  port = 0;

  async start(): Promise<string> {
    const pkg = loadSync('google/pubsub/v1/pubsub.proto', { keepCase: false, longs: String, enums: String, bytes: Buffer, defaults: true, includeDirs: [PUBSUB_PROTOS, GAX_PROTOS] });
    const definition = pkg['google.pubsub.v1.Publisher'] as Parameters<Server['addService']>[0];
    const server = new Server();
    server.addService(definition, {
      Publish: (call: ServerUnaryCall<PublishRequest, unknown>, callback: sendUnaryData<{ messageIds: string[] }>) => {
        const ids: string[] = [];
        for (const m of call.request.messages) {
          this.received.push({ topic: call.request.topic, data: m.data, attributes: m.attributes, orderingKey: m.orderingKey });
          ids.push(String(++this.nextId));
        }
        callback(null, { messageIds: ids });
      },
    });
    // Every other method of the service answers UNIMPLEMENTED, as grpc-js does for missing handlers.
    void status;
    this.port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${this.port}`, ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );
    this.server = server;
    return `127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.forceShutdown();
  }
}

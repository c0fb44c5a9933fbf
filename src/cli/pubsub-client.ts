import { readFileSync } from 'node:fs';
import { credentials, loadPackageDefinition, Metadata, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { PUBSUB_PROTO_DIRS } from '../adapters/grpc/protos.js';

/**
 * The CLI's client of Bridgehead's google.pubsub.v1 API, over gRPC with grpc-js and the protos
 * `@google-cloud/pubsub` ships. Loaded only by `bridgehead pubsub ...` commands (dynamic import),
 * so the other admin commands never pay for grpc-js. Responses are decoded JSON-friendly: int64
 * and enums as strings, bytes as base64.
 */

export type Message = Record<string, unknown>;

/** A failed call: the gRPC status name and the server's message. */
export class PubSubCallError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    // Printed as `ERROR: (NOT_FOUND) ...`, as REST errors are.
    super(`(${code}) ${message}`);
  }
}

const STATUS_NAMES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE',
  'DATA_LOSS', 'UNAUTHENTICATED',
];

export interface PubSubClientOptions {
  /** host:port of Bridgehead's gRPC listener (plaintext) or TLS API listener. */
  endpoint: string;
  tls: boolean;
  /** PEM file of the CA to trust for TLS (else the system's and NODE_EXTRA_CA_CERTS). */
  caFile: string | undefined;
  /** `Bearer ...`, or undefined to call without credentials (a listener started with --grpc-anonymous). */
  authorization: string | undefined;
  /** Per-call deadline. */
  timeoutMs: number;
}

type Unary = (request: Message, metadata: Metadata, options: { deadline: Date }, callback: (e: ServiceError | null, r: Message) => void) => void;
type ServiceClient = Record<string, Unary> & { close(): void };
type ServiceConstructor = new (address: string, creds: ChannelCredentials) => ServiceClient;

export class PubSubClient {
  private readonly publisher: ServiceClient;
  private readonly subscriber: ServiceClient;

  constructor(private readonly options: PubSubClientOptions) {
    const definition = loadSync('google/pubsub/v1/pubsub.proto', {
      keepCase: false,
      longs: String,
      enums: String,
      bytes: String,
      defaults: false,
      includeDirs: [...PUBSUB_PROTO_DIRS],
    });
    const pkg = loadPackageDefinition(definition) as unknown as { google: { pubsub: { v1: Record<string, ServiceConstructor> } } };
    const creds = options.tls
      ? credentials.createSsl(options.caFile === undefined ? undefined : readFileSync(options.caFile))
      : credentials.createInsecure();
    this.publisher = new pkg.google.pubsub.v1.Publisher!(options.endpoint, creds);
    this.subscriber = new pkg.google.pubsub.v1.Subscriber!(options.endpoint, creds);
  }

  publisherCall(method: string, request: Message): Promise<Message> {
    return this.call(this.publisher, method, request);
  }

  subscriberCall(method: string, request: Message): Promise<Message> {
    return this.call(this.subscriber, method, request);
  }

  close(): void {
    this.publisher.close();
    this.subscriber.close();
  }

  private call(client: ServiceClient, method: string, request: Message): Promise<Message> {
    const metadata = new Metadata();
    if (this.options.authorization !== undefined) metadata.set('authorization', this.options.authorization);
    const fn = client[method]!.bind(client);
    return new Promise((resolve, reject) => {
      fn(request, metadata, { deadline: new Date(Date.now() + this.options.timeoutMs) }, (e, response) => {
        if (e) reject(new PubSubCallError(STATUS_NAMES[e.code] ?? String(e.code), e.details || e.message));
        else resolve(response);
      });
    });
  }
}

import { createServer, type AddressInfo, type Server as NetServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { Server, ServerCredentials, type ConnectionInjector, type ServerOptions } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { deviceManagerDefinition, pubSubDefinitions } from './protos.js';
import { deviceManagerService, type DeviceManagerServiceOptions } from './device-manager-service.js';
import { pubSubServices, type PubSubServiceOptions } from './pubsub-service.js';

/**
 * A grpc-js server of Bridgehead's gRPC APIs (DeviceManager; Pub/Sub's Publisher, Subscriber and
 * IAMPolicy when given) that owns no port: connections are handed to it (`inject`) by a listener,
 * the plaintext one below or the TLS API listener, so that Bridgehead decides what a connection is
 * before gRPC sees it and keeps one place for connection limits.
 */

export interface GrpcServices {
  deviceManager: DeviceManagerServiceOptions;
  /** The Pub/Sub APIs; their calls authenticate as DeviceManager's do. */
  pubsub?: Pick<PubSubServiceOptions, 'publisher' | 'subscriber' | 'iam'>;
}

export interface GrpcLimits {
  /** Largest request message accepted (the REST body limit); larger ones get RESOURCE_EXHAUSTED. */
  maxReceiveMessageBytes: number;
  /** Concurrent calls per HTTP/2 connection; more wait in the client. */
  maxConcurrentStreams: number;
}

/** Pings idle clients to drop dead connections; nothing here needs tuning per deployment. */
const KEEPALIVE_TIME_MS = 120_000;
const KEEPALIVE_TIMEOUT_MS = 20_000;
/** Memory nghttp2 may hold for one connection (MiB) before it refuses new streams (ENHANCE_YOUR_CALM). */
const MAX_SESSION_MEMORY_MB = 32;
/** How long in-flight calls get to finish at shutdown. */
const SHUTDOWN_GRACE_MS = 5000;

export class GrpcApiServer {
  private readonly server: Server;
  private readonly injector: ConnectionInjector;

  constructor(services: GrpcServices, limits: GrpcLimits) {
    const options: ServerOptions = {
      'grpc.max_receive_message_length': limits.maxReceiveMessageBytes,
      'grpc.max_concurrent_streams': limits.maxConcurrentStreams,
      'grpc.keepalive_time_ms': KEEPALIVE_TIME_MS,
      'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
      'grpc-node.max_session_memory': MAX_SESSION_MEMORY_MB,
    };
    this.server = new Server(options);
    this.server.addService(deviceManagerDefinition(), deviceManagerService(services.deviceManager));
    if (services.pubsub) {
      const definitions = pubSubDefinitions();
      const implementations = pubSubServices({ ...services.deviceManager, ...services.pubsub });
      this.server.addService(definitions.publisher, implementations.publisher);
      this.server.addService(definitions.subscriber, implementations.subscriber);
      this.server.addService(definitions.iamPolicy, implementations.iamPolicy);
    }
    // HTTP/2 without TLS: a TLS listener terminates TLS before handing its connections over.
    this.injector = this.server.createConnectionInjector(ServerCredentials.createInsecure());
  }

  /** Serves gRPC on an established connection (a TCP socket, a TLS socket, an in-process pipe). */
  inject(connection: Duplex): void {
    this.injector.injectConnection(connection);
  }

  /** Lets calls in flight finish (bounded), then closes every connection. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, SHUTDOWN_GRACE_MS);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }
}

/** `--grpc-listen`: plaintext HTTP/2 (h2c) straight into the gRPC server. */
export class GrpcPlainListener {
  private readonly server: NetServer;

  constructor(
    grpc: GrpcApiServer,
    maxConnections: number,
    private readonly log: Logger,
  ) {
    this.server = createServer((socket) => grpc.inject(socket));
    this.server.maxConnections = maxConnections;
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    // Accept failures (out of file descriptors): the operator's to fix, not a reason to exit.
    this.server.on('error', (err) => this.log.warn({ err }, 'gRPC listener error'));
    return this.server.address() as AddressInfo;
  }

  /** Stops accepting; resolves once the connections are gone too (GrpcApiServer.close ends them). */
  async close(): Promise<void> {
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

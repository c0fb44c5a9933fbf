import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { ApiTlsListener } from '../adapters/api-tls/api-tls-listener.js';
import { GrpcApiServer, GrpcPlainListener, type GrpcLimits, type GrpcServices } from '../adapters/grpc/grpc-server.js';
import { statusCodec } from '../adapters/grpc/protos.js';
import type { DeviceManagerServiceOptions } from '../adapters/grpc/device-manager-service.js';
import type { TlsMaterial } from '../adapters/mqtt/tls-material.js';

/**
 * The gRPC APIs' listeners (Device Manager, Pub/Sub) beyond the admin REST one: `--grpc-listen` and `--api-tls-listen`.
 * Part of the composition root, in a module of its own so that a server without them never loads
 * grpc-js and the protos.
 */

export interface ApiListeners {
  grpc: AddressInfo | undefined;
  apiTls: AddressInfo | undefined;
  close(): Promise<void>;
}

/** Open connections per listener; past it new ones are closed at once. */
const MAX_API_CONNECTIONS = 10_000;
/** Concurrent calls per HTTP/2 connection; a client queues the rest. */
const MAX_CONCURRENT_STREAMS = 100;

export async function startApiListeners(
  config: Pick<Config, 'grpcListen' | 'grpcAnonymous' | 'apiTlsListen' | 'apiBodyLimitBytes'>,
  deps: Omit<DeviceManagerServiceOptions, 'codec' | 'log' | 'anonymousAsAdmin'> & {
    rest: FastifyInstance;
    tls: TlsMaterial;
    logger: Logger;
    /** google.pubsub.v1 on both listeners, beside DeviceManager. */
    pubsub?: GrpcServices['pubsub'];
  },
): Promise<ApiListeners> {
  const limits: GrpcLimits = { maxReceiveMessageBytes: config.apiBodyLimitBytes, maxConcurrentStreams: MAX_CONCURRENT_STREAMS };
  const service = { admin: deps.admin, auth: deps.auth, deadlines: deps.deadlines, codec: statusCodec(), log: deps.logger.child({ component: 'grpc' }), observer: deps.observer };
  // One gRPC server per listener: what a call without credentials may do differs between them.
  const plain = config.grpcListen && new GrpcApiServer({ deviceManager: { ...service, anonymousAsAdmin: config.grpcAnonymous }, pubsub: deps.pubsub }, limits);
  const plainListener = plain && new GrpcPlainListener(plain, MAX_API_CONNECTIONS, service.log);
  const secure = config.apiTlsListen && new GrpcApiServer({ deviceManager: { ...service, anonymousAsAdmin: false }, pubsub: deps.pubsub }, limits);
  const apiTls =
    secure &&
    new ApiTlsListener({
      tls: deps.tls,
      rest: { server: deps.rest.server, routing: (req, res) => deps.rest.routing(req, res) },
      grpc: (connection) => secure.inject(connection),
      maxConnections: MAX_API_CONNECTIONS,
      maxConcurrentStreams: MAX_CONCURRENT_STREAMS,
      log: deps.logger.child({ component: 'api-tls' }),
    });
  const close = async (): Promise<void> => {
    await Promise.all([apiTls?.close(), plainListener?.close(), plain?.close(), secure?.close()]);
  };
  try {
    return {
      grpc: plainListener ? await plainListener.listen(config.grpcListen!.host, config.grpcListen!.port) : undefined,
      apiTls: apiTls ? await apiTls.listen(config.apiTlsListen!.host, config.apiTlsListen!.port) : undefined,
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { createServer as createH2Server, type Http2Server, type Http2ServerRequest, type ServerHttp2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { followCertificates, tlsServerOptions, type TlsMaterial } from '../mqtt/tls-material.js';
import { GrpcStreamProxy } from './grpc-stream-proxy.js';

/**
 * `--api-tls-listen` (docs/compat.md C-API-TLS): the one TLS port cloudiot.googleapis.com:443 was. ALPN picks the protocol per
 * connection: `http/1.1` (or none) goes to the REST server as is; `h2` carries gRPC and REST side
 * by side, told apart per stream by content type (`application/grpc…` is gRPC, relayed to the gRPC
 * server; anything else is REST, routed into the same REST application).
 */

export interface ApiTlsListenerOptions {
  /** The certificates, shared with the MQTT TLS listeners (docs/compat.md C-MQTT-TLS). */
  tls: TlsMaterial;
  /** The REST application: its HTTP/1.1 server and its router. */
  rest: {
    server: HttpServer;
    routing(req: IncomingMessage, res: ServerResponse): void;
  };
  /** Serves gRPC on a connection handed to it. */
  grpc: (connection: Duplex) => void;
  maxConnections: number;
  /** Concurrent streams per HTTP/2 connection (as the gRPC server allows). */
  maxConcurrentStreams: number;
  log: Logger;
}

/** docs/compat.md C-MQTT-TIMEOUTS keeps 10 s for the MQTT handshake; the API port does the same. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** An HTTP/2 connection without a frame for this long is closed (clients reconnect at will). */
const H2_IDLE_TIMEOUT_MS = 5 * 60_000;
/** Memory (MiB) one HTTP/2 connection may hold in nghttp2 before new streams are refused. */
const MAX_SESSION_MEMORY_MB = 32;

/** Marks the sockets of this listener (also visible through an HTTP/2 request's socket proxy). */
const API_TLS = Symbol('bridgehead.apiTls');

/** Whether a request's socket came through an API TLS listener. */
export const servedByApiTls = (socket: object): boolean => (socket as { [API_TLS]?: true })[API_TLS] === true;

const isGrpc = (req: Http2ServerRequest): boolean => (req.headers['content-type'] ?? '').startsWith('application/grpc');

export class ApiTlsListener {
  private readonly tls: TlsServer;
  private readonly h2: Http2Server;
  private readonly sessions = new Set<ServerHttp2Session>();

  constructor(private readonly opts: ApiTlsListenerOptions) {
    const proxy = new GrpcStreamProxy(opts.grpc);
    this.h2 = createH2Server({ settings: { maxConcurrentStreams: opts.maxConcurrentStreams }, maxSessionMemory: MAX_SESSION_MEMORY_MB });
    this.h2.on('session', (session) => {
      this.sessions.add(session);
      // GOAWAY rather than a dropped socket: streams still open may finish.
      session.setTimeout(H2_IDLE_TIMEOUT_MS, () => session.close());
      session.once('close', () => this.sessions.delete(session));
    });
    this.h2.on('request', (req, res) => {
      // The REST application was built for HTTP/1.1; Node's HTTP/2 compatibility objects give its
      // router the same interface (it is how fastify itself serves HTTP/2).
      if (isGrpc(req)) proxy.forward(req, res);
      else opts.rest.routing(req as unknown as IncomingMessage, res as unknown as ServerResponse);
    });
    this.tls = createTlsServer({
      ...tlsServerOptions(opts.tls),
      ALPNProtocols: ['h2', 'http/1.1'],
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    });
    this.tls.maxConnections = opts.maxConnections;
    followCertificates(opts.tls, this.tls);
    this.tls.on('secureConnection', (socket: TLSSocket & { [API_TLS]?: true }) => {
      socket[API_TLS] = true;
      // A TLS server leaves Nagle on (Node's HTTP server does not): a REST answer written in two
      // pieces would wait for the client's delayed ACK, 40 ms on Linux.
      socket.setNoDelay(true);
      if (socket.alpnProtocol === 'h2') this.h2.emit('connection', socket);
      else opts.rest.server.emit('connection', socket);
    });
    // A peer's fault (bad handshake, wrong CA, timeout): theirs to see, not ours to shout about.
    this.tls.on('tlsClientError', (err) => opts.log.debug({ err }, 'API TLS handshake failed'));
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.tls.once('error', reject);
      this.tls.listen(port, host, () => {
        this.tls.off('error', reject);
        resolve();
      });
    });
    // Accept failures (out of file descriptors): the operator's to fix, not a reason to exit.
    this.tls.on('error', (err) => this.opts.log.warn({ err }, 'API TLS listener error'));
    return this.tls.address() as AddressInfo;
  }

  /**
   * Stops accepting and ends the HTTP/2 connections (GOAWAY, in-flight streams finish); HTTP/1.1
   * connections belong to the REST server, which closes them when it closes.
   */
  async close(): Promise<void> {
    const closed = this.tls.listening ? new Promise<void>((resolve) => this.tls.close(() => resolve())) : Promise.resolve();
    for (const session of this.sessions) session.close();
    await closed;
  }
}

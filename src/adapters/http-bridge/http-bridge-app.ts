import { constants as http2Constants, type SecureServerOptions, type ServerHttp2Stream } from 'node:http2';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { echo, ECHO_MAX_PATH_CHARS } from '../../domain/echo.js';
import { ApiError } from '../../domain/errors.js';
import { registryName } from '../../domain/model.js';
import type { ConfigReply } from '../../domain/device-http.js';
import type { DeviceHttpBridge, HttpCaller } from '../../services/device-http-bridge.js';
import { errorResponse, REASON_HEADER, toApiError } from '../rest/error-response.js';
import { answerClientError, frameworkErrorHandler } from '../rest/http-errors.js';
import { parseJsonBody } from '../rest/strict-json.js';
import { getConfigRequest, publishEventRequest, routeOf, setStateRequest, type DeviceMethod, type DeviceRoute } from './device-routes.js';

/** What the HTTP bridge tells metrics: one answered request. */
export interface HttpBridgeObserver {
  /** `registryName`: the authenticated device's registry; undefined when refused before that. */
  request(method: DeviceMethod | 'other', status: number, seconds: number, registryName: string | undefined): void;
}

export interface HttpBridgeTimeouts {
  /** The request line and headers must arrive within this (slow-loris headers). */
  headersMs: number;
  /** The whole request, body included, must arrive within this. */
  requestMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveMs: number;
}

/**
 * Largest accepted body: a 256 KiB event in base64 (349,528 characters), a 1 KiB subfolder and the
 * JSON around them (docs/compat.md C-HTTP-LIMITS). Refused from Content-Length when it says more,
 * else as soon as the stream passes it.
 */
export const HTTP_BRIDGE_BODY_LIMIT = 384 * 1024;

/** On shutdown, requests under way get this long to finish before their connections are destroyed. */
const CLOSE_GRACE_MS = 2000;

/** Content types a device body may come with; all are read as JSON (spec §7.1: no dependence on the header). */
const BODY_TYPES = new Set(['', 'application/json', 'text/plain', 'application/x-www-form-urlencoded']);

export interface HttpBridgeAppOptions {
  bridge: DeviceHttpBridge;
  logger: Logger;
  observer: HttpBridgeObserver;
  timeouts: HttpBridgeTimeouts;
  /** TLS with HTTP/2 offered by ALPN (HTTP/1.1 otherwise); undefined: plaintext HTTP/1.1. */
  tls: SecureServerOptions | undefined;
}

interface RequestState {
  route: DeviceRoute;
  caller: HttpCaller;
  started: number;
}

/**
 * One listener of the HTTP device bridge (cloudiotdevice.googleapis.com, spec §7): three routes,
 * each authenticated by the device JWT before its body is read, answered in Google's JSON. Every
 * error has Google's error shape, including Node's and Fastify's own.
 */
export function createHttpBridgeApp(opts: HttpBridgeAppOptions): FastifyInstance {
  const log = opts.logger as FastifyBaseLogger;
  const { timeouts } = opts;
  const common = {
    loggerInstance: log,
    bodyLimit: HTTP_BRIDGE_BODY_LIMIT,
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 2000 },
    clientErrorHandler: (err: Error & { code?: string }, socket: import('node:net').Socket) => answerClientError(err, socket, log),
    frameworkErrors: frameworkErrorHandler,
    return503OnClosing: false,
    keepAliveTimeout: timeouts.keepAliveMs,
    requestTimeout: timeouts.requestMs,
  };
  const http1 = { headersTimeout: timeouts.headersMs, requestTimeout: timeouts.requestMs, keepAliveTimeout: timeouts.keepAliveMs, connectionsCheckingInterval: 1000 };
  // Fastify's types tie an instance to one server kind; both kinds serve the same routes here.
  const make = Fastify as unknown as (options: object) => FastifyInstance;
  const app = opts.tls
    ? make({ ...common, http2: true, https: { ...opts.tls, allowHTTP1: true, handshakeTimeout: timeouts.headersMs, ...http1 }, http2SessionTimeout: timeouts.keepAliveMs })
    : make({ ...common, http: http1 });
  // Node's Http2SecureServer takes none of these as options, and Fastify sets them only on HTTP/1
  // servers: its HTTP/1.1 connections would keep Node's defaults (60 s headers, 300 s request, no
  // keep-alive timeout), and a silent or trickling client would hold one for minutes. Set before
  // listen, where the connections check starts.
  if (opts.tls) {
    Object.assign(app.server, http1);
    // HTTP/2 has no request timeout of its own (the session timeout is an idle one, which a
    // trickled body keeps resetting): a stream whose request has not fully arrived in time is reset.
    app.server.on('stream', (stream: ServerHttp2Stream) => {
      if (stream.endAfterHeaders) return;
      const timer = setTimeout(() => stream.close(http2Constants.NGHTTP2_CANCEL), timeouts.requestMs);
      timer.unref();
      const done = (): void => clearTimeout(timer);
      stream.once('end', done);
      stream.once('close', done);
    });
  }

  const state = new WeakMap<FastifyRequest, RequestState>();
  let closing = false;
  // Keep-alive connections and HTTP/2 sessions would hold the server open until their idle
  // timeout: on close, sessions get GOAWAY (streams under way finish) and whatever is still open
  // after a grace period is destroyed.
  const sockets = new Set<import('node:net').Socket>();
  const sessions = new Set<import('node:http2').ServerHttp2Session>();
  app.server.on('connection', (socket: import('node:net').Socket) => {
    // Node's HTTP server turns Nagle off, its TLS and HTTP/2 servers do not: a response written in
    // two pieces would then wait for the client's delayed ACK (40 ms on Linux).
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  app.server.on('session', (session: import('node:http2').ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  let lastCall: NodeJS.Timeout | undefined;
  app.addHook('preClose', async () => {
    closing = true;
    for (const session of sessions) session.close();
    (app.server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
    lastCall = setTimeout(() => {
      for (const socket of sockets) socket.destroy();
    }, CLOSE_GRACE_MS);
    lastCall.unref();
  });
  app.addHook('onClose', async () => clearTimeout(lastCall));

  // Route and device JWT before the body: an unauthenticated caller costs no body read.
  app.addHook('onRequest', async (request) => {
    const started = performance.now();
    if (closing) throw new ApiError('UNAVAILABLE', 'The server is shutting down.');
    const route = routeOf(request.method, request.url);
    const caller = await opts.bridge.authenticate(route.path, request.headers.authorization);
    state.set(request, { route, caller, started });
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (req, body, done) => {
    const type = String(req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
    const encoding = String(req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    try {
      if (!BODY_TYPES.has(type) && !type.endsWith('+json')) {
        throw new ApiError('INVALID_ARGUMENT', `Content-Type "${echo(type)}" is not accepted; send application/json.`, { reason: 'INVALID_BODY' });
      }
      if (encoding !== 'identity' && encoding !== '') {
        throw new ApiError('INVALID_ARGUMENT', `Content-Encoding "${echo(encoding)}" is not accepted; send the JSON body as is.`, { reason: 'INVALID_BODY' });
      }
      done(null, parseJsonBody(body as Buffer));
    } catch (e) {
      done(e as Error, undefined);
    }
  });

  const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const s = state.get(request);
    if (!s) throw new ApiError('INTERNAL', 'The request was not authenticated.');
    const body = request.body as Parameters<typeof publishEventRequest>[0];
    let result: unknown;
    switch (s.route.method) {
      case 'publishEvent':
        await opts.bridge.publishEvent(s.caller, publishEventRequest(body));
        result = {};
        break;
      case 'setState':
        await opts.bridge.setState(s.caller, setStateRequest(body));
        result = {};
        break;
      case 'getConfig':
        result = configJson(await opts.bridge.getConfig(s.caller, getConfigRequest(request.url)));
        break;
    }
    void reply.header('content-type', 'application/json; charset=utf-8');
    return result;
  };
  for (const prefix of ['/v1/*', '/v1beta1/*']) app.route({ method: ['GET', 'POST'], url: prefix, handler });

  app.addHook('onResponse', async (request, reply) => {
    const s = state.get(request);
    if (!s) return opts.observer.request('other', reply.statusCode, 0, undefined);
    opts.observer.request(s.route.method, reply.statusCode, (performance.now() - s.started) / 1000, registryName(s.caller.registry));
  });

  app.setNotFoundHandler((request, reply) => {
    const path = echo(request.url.split('?')[0]!, ECHO_MAX_PATH_CHARS);
    sendError(request, reply, new ApiError('NOT_FOUND', `No such method: ${echo(request.method)} ${path}`, { reason: 'NO_SUCH_METHOD' }));
  });

  app.setErrorHandler((error, request, reply) => {
    const apiError = fastifyToApiError(error);
    if (apiError.kind === 'INTERNAL') request.log.error({ err: error }, 'internal error in an HTTP bridge request');
    sendError(request, reply, apiError);
  });

  return app;
}

function sendError(request: FastifyRequest, reply: FastifyReply, e: ApiError): void {
  const { status, body, reason } = errorResponse(e);
  void reply.code(status).header(REASON_HEADER, reason).header('content-type', 'application/json; charset=utf-8');
  // A body not read (refused before it, or cut at the limit) would have to be drained to keep the
  // connection: an HTTP/1.1 connection closes instead. HTTP/2 resets just that stream.
  if (request.raw.httpVersionMajor === 1 && !request.raw.complete) void reply.header('connection', 'close');
  void reply.send(body);
}

/** proto3 JSON of the getConfig answer: int64 as a string, bytes as base64, RFC 3339 time. */
function configJson(c: ConfigReply): Record<string, string> {
  const out: Record<string, string> = { version: String(c.version) };
  if (c.cloudUpdateTime !== undefined) out.cloudUpdateTime = new Date(c.cloudUpdateTime).toISOString();
  if (c.binaryData !== undefined) out.binaryData = Buffer.from(c.binaryData.buffer, c.binaryData.byteOffset, c.binaryData.byteLength).toString('base64');
  return out;
}

function fastifyToApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  const code = (error as { code?: string }).code;
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new ApiError('INVALID_ARGUMENT', `The request body is larger than ${HTTP_BRIDGE_BODY_LIMIT} bytes.`, { reason: 'PAYLOAD_TOO_LARGE' });
  }
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new ApiError('INVALID_ARGUMENT', 'The Content-Type header is not a valid media type.', { reason: 'INVALID_BODY' });
  if (typeof code === 'string' && code.startsWith('FST_ERR_CTP')) return new ApiError('INVALID_ARGUMENT', 'The request body could not be read.', { reason: 'INVALID_BODY' });
  return toApiError(error);
}

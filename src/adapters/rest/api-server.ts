import { createGunzip, type Gunzip } from 'node:zlib';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { echo, ECHO_MAX_PATH_CHARS } from '../../domain/echo.js';
import { ApiError } from '../../domain/errors.js';
import type { ApiAuth, Principal } from '../../services/api-auth.js';
import type { DeviceAdmin } from '../../services/device-admin.js';
import type { ServiceAccountAdmin } from '../../services/service-account-admin.js';
import type { ServiceAccountCredentials } from '../../services/service-account-credentials.js';
import type { ApiCallObserver } from '../../observability/api-call-observer.js';
import { codeOfStatus, restMethodName } from './api-method-names.js';
import { handleDeviceManager, splitVerb } from './device-manager-routes.js';
import { errorResponse, REASON_HEADER, toApiError } from './error-response.js';
import { answerClientError, frameworkErrorHandler } from './http-errors.js';
import type { Json, JsonObject } from './json-read.js';
import { parseJsonBody } from './strict-json.js';
import { handleIamAdmin, isIamAdminPath } from './iam-admin-routes.js';
import { registerTokenRoute, TOKEN_PATH } from './token-route.js';

export interface ApiServerOptions {
  admin: DeviceAdmin;
  auth: Pick<ApiAuth, 'authenticate'>;
  /** Service accounts, their keys and the token endpoint (docs/compat.md C-SA-*); absent: not served. */
  serviceAccounts?: {
    admin: ServiceAccountAdmin;
    credentials: Pick<ServiceAccountCredentials, 'exchangeAssertion'>;
    /** The configured token endpoint URL, if any. */
    tokenUri: string | undefined;
  };
  bodyLimitBytes: number;
  logger: Logger;
  /** Told of every answered request (metrics); absent: nobody is. */
  observer?: ApiCallObserver;
}

/** Answers a request whose path the router could not decode, instead of the API's 400 (see answerBadUrlsUnder). */
export type BadUrlAnswer = (request: FastifyRequest, reply: FastifyReply) => unknown;

const badUrlAnswers = new WeakMap<FastifyInstance, { prefix: string; answer: BadUrlAnswer }[]>();

/**
 * GETs of paths under `prefix` that are not valid percent-encoding go to `answer` rather than the
 * API's INVALID_ARGUMENT: the router refuses them before any route sees them, yet under the
 * console they are the app's own deep links (a `%` in an ID, typed or cut off), which it
 * shows as not found itself.
 */
export function answerBadUrlsUnder(app: FastifyInstance, prefix: string, answer: BadUrlAnswer): void {
  badUrlAnswers.get(app)?.push({ prefix, answer });
}

/**
 * The API's HTTP server: the Device Manager and service-account REST
 * APIs under `/v1` behind a bearer credential, and the OAuth token endpoint. Further adapters
 * (health, metrics, event log) add routes to the returned instance before it listens.
 */
export function createApiServer(opts: ApiServerOptions): FastifyInstance {
  const log = opts.logger.child({ component: 'api' }) as FastifyBaseLogger;
  const badUrls: { prefix: string; answer: BadUrlAnswer }[] = [];
  const app = Fastify({
    loggerInstance: log,
    bodyLimit: opts.bodyLimitBytes,
    // Per-request lines would log every API call at info; errors are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    // Resource names carry their own structure; keep the raw path for our matcher.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 2000 },
    // Errors before routing answer in Google's error JSON too (docs/compat.md C-HTTP-ERRORS).
    clientErrorHandler: (err, socket) => answerClientError(err, socket, log),
    frameworkErrors: (error, request, reply) => {
      const path = request.url.split('?')[0]!;
      const read = request.method === 'GET' || request.method === 'HEAD';
      const own = error.code === 'FST_ERR_BAD_URL' && read ? badUrls.find((b) => path === b.prefix || path.startsWith(`${b.prefix}/`)) : undefined;
      if (own) void own.answer(request, reply);
      else frameworkErrorHandler(error, request, reply);
    },
    // Fastify's own 503 while closing has its own shape; the onRequest hook below answers instead.
    return503OnClosing: false,
  });
  badUrlAnswers.set(app, badUrls);
  /** Who made each authenticated request, for the handler to pass on to the services. */
  const callers = new WeakMap<FastifyRequest, Principal>();

  /** The canonical code of each request answered with an error, for metrics. */
  const errorKinds = new WeakMap<FastifyRequest, string>();
  const observer = opts.observer;
  if (observer) {
    // Every route's requests, those of routes other adapters add included (one encapsulation context).
    app.addHook('onResponse', async (request, reply) => {
      const method = restMethodName({
        method: request.method,
        url: request.url,
        route: request.routeOptions.url,
        override: request.headers['x-http-method-override'],
      });
      observer.apiCall('rest', method, errorKinds.get(request) ?? codeOfStatus(reply.statusCode), reply.elapsedTime / 1000);
    });
  }

  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });

  // The caller is authenticated before the body is read: an unauthenticated caller costs nothing.
  app.addHook('onRequest', async (request) => {
    // Requests still arriving on open connections while the server drains.
    if (closing) throw new ApiError('UNAVAILABLE', 'The server is shutting down.');
    // Decided on the matched route as well as the raw URL: the router decodes and normalises
    // paths (`/%761/…`, absolute-form `http://host/v1/…`) that a prefix test would miss.
    const protectedRoute = request.routeOptions.url?.startsWith('/v1/') === true || request.url.startsWith('/v1/');
    if (protectedRoute) callers.set(request, await opts.auth.authenticate(request.headers.authorization));
  });

  // Java clients gzip request bodies (spec §1.9); decompressed as a stream so bodyLimit applies to
  // the decompressed size (docs/compat.md C-BODY-LIMIT). Content-Length stays: without it (and without a content type) Fastify
  // would take the body for empty; receivedEncodedLength lets it check the length on the wire.
  app.addHook('preParsing', async (request, _reply, payload) => {
    if (String(request.headers['content-encoding'] ?? '').toLowerCase() !== 'gzip') return payload;
    const gunzip: Gunzip & { receivedEncodedLength?: number } = createGunzip();
    let encoded = 0;
    payload.on('data', (chunk: Buffer) => {
      encoded += chunk.length;
      gunzip.receivedEncodedLength = encoded;
    });
    payload.on('error', (err) => gunzip.destroy(err));
    // The body reader listens for gunzip errors while it reads; once it has stopped (body too
    // large), a corrupt tail must not become an unhandled 'error' that ends the process.
    gunzip.on('error', (err) => request.log.debug({ err }, 'gzip request body failed'));
    return payload.pipe(gunzip);
  });

  // Clients send bodies with any or no content type (and empty bodies on POST verbs).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (req, body, done) => {
    // The token endpoint speaks OAuth (form-encoded bodies) and reads its body itself.
    if (req.routeOptions.url === TOKEN_PATH) return done(null, (body as Buffer).toString('utf8'));
    try {
      done(null, parseJsonBody(body as Buffer));
    } catch (e) {
      done(e as Error, undefined);
    }
  });

  app.route({
    method: ['GET', 'POST', 'PATCH', 'DELETE', 'PUT'],
    url: '/v1/*',
    handler: async (request: FastifyRequest, reply: FastifyReply) => {
      const override = request.headers['x-http-method-override'];
      const method = request.method === 'POST' && typeof override === 'string' ? override.toUpperCase() : request.method;
      // Only the plain origin form reaches the resource parser (see the onRequest hook).
      if (!request.url.startsWith('/v1/')) throw new ApiError('NOT_FOUND', 'No such endpoint.', { reason: 'NO_SUCH_METHOD' });
      const rawPath = request.url.slice('/v1/'.length).split('?')[0]!;
      const segments = rawPath.split('/').map(decodeSegment);
      const verb = splitVerb(segments);
      const query = request.query as Record<string, unknown>;
      const alt = String(query.$alt ?? query.alt ?? '');
      const body = request.body as Json | undefined;
      if (body !== undefined && (typeof body !== 'object' || body === null || Array.isArray(body))) {
        throw new ApiError('INVALID_ARGUMENT', 'The request body must be a JSON object.', { reason: 'INVALID_BODY' });
      }
      const caller = callers.get(request);
      if (!caller) throw new ApiError('UNAUTHENTICATED', 'Request is missing a valid admin bearer token (Authorization: Bearer <token>).');
      const ifMatch = request.headers['if-match'];
      const rest = {
        method,
        segments,
        verb,
        query,
        body: body as JsonObject | undefined,
        enc: { enumsAsInt: alt.includes('enum-encoding=int') },
        ifMatch: typeof ifMatch === 'string' ? ifMatch : undefined,
        setEtag: (etag: string) => void reply.header('etag', etag),
      };
      const result =
        opts.serviceAccounts && isIamAdminPath(segments)
          ? await handleIamAdmin({ ...rest, origin: `${request.protocol}://${request.host}` }, opts.serviceAccounts.admin, caller)
          : await handleDeviceManager(rest, opts.admin, caller);
      void reply.header('content-type', 'application/json; charset=utf-8');
      return result;
    },
  });

  if (opts.serviceAccounts) registerTokenRoute(app, opts.serviceAccounts);

  app.setNotFoundHandler((request, reply) => {
    const path = echo(request.url.split('?')[0]!, ECHO_MAX_PATH_CHARS);
    errorKinds.set(request, 'NOT_FOUND');
    const { status, body, reason } = errorResponse(new ApiError('NOT_FOUND', `No such endpoint: ${echo(request.method)} ${path}`, { reason: 'NO_SUCH_METHOD' }));
    void reply.code(status).header(REASON_HEADER, reason).send(body);
  });

  app.setErrorHandler((error, request, reply) => {
    const apiError = fastifyToApiError(error);
    if (apiError.kind === 'INTERNAL') request.log.error({ err: error }, 'internal error in API request');
    errorKinds.set(request, apiError.kind);
    const { status, body, reason } = errorResponse(apiError);
    void reply.code(status).header(REASON_HEADER, reason).send(body);
  });

  return app;
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new ApiError('INVALID_ARGUMENT', 'The request path is not valid URL encoding.');
  }
}

/** Fastify's own errors (body too large, bad content) keep their HTTP meaning in Google's error shape. */
function fastifyToApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  const code = (error as { code?: string }).code;
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new ApiError('INVALID_ARGUMENT', 'The request body is larger than the server accepts.', { reason: 'INVALID_BODY' });
  }
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new ApiError('INVALID_ARGUMENT', 'The Content-Type header is not a valid media type.', { reason: 'INVALID_BODY' });
  if (typeof code === 'string' && code.startsWith('FST_ERR_CTP')) return new ApiError('INVALID_ARGUMENT', 'The request body could not be read.', { reason: 'INVALID_BODY' });
  // zlib's codes (Z_DATA_ERROR: not gzip; Z_BUF_ERROR: cut short) are all the client's gzip at fault.
  if (typeof code === 'string' && code.startsWith('Z_')) return new ApiError('INVALID_ARGUMENT', 'The gzip request body is corrupt or truncated.', { reason: 'INVALID_BODY' });
  return toApiError(error);
}

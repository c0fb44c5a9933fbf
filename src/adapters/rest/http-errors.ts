import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../../domain/errors.js';
import { errorResponse, REASON_HEADER, toApiError } from './error-response.js';

/**
 * Requests that fail before any route sees them still answer in Google's error JSON
 * (docs/compat.md C-HTTP-ERRORS): Node's HTTP parser errors (request line or headers over the
 * limit, malformed HTTP) and the router's (bad percent-encoding, an over-long path parameter).
 * Otherwise Node and Fastify answer in their own shapes.
 */

/** For Fastify's `clientErrorHandler`: Node's parser gave up, so there is no request, only the socket. */
export function answerClientError(err: Error & { code?: string }, socket: Socket, log: FastifyBaseLogger): void {
  // A reset peer has nobody to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  // The peer's fault, and cheap to provoke: not worth an info line each.
  log.debug({ err }, 'malformed HTTP request');
  if (socket.writable) socket.write(rawResponse(clientErrorToApiError(err)));
  socket.destroy();
}

export function clientErrorToApiError(err: { code?: string }): ApiError {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return new ApiError('INVALID_ARGUMENT', 'The request URL or headers are larger than the server accepts.');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'ERR_HTTP_HEADERS_TIMEOUT':
      return new ApiError('INVALID_ARGUMENT', 'The request was not received in time.');
    default:
      return new ApiError('INVALID_ARGUMENT', 'The request is not valid HTTP/1.1.');
  }
}

/** A whole HTTP/1.1 response carrying the error; the connection closes after it. */
export function rawResponse(e: ApiError): string {
  const { status, body, reason } = errorResponse(e);
  const text = JSON.stringify(body);
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
    'Content-Type: application/json; charset=utf-8\r\n' +
    `${REASON_HEADER}: ${reason}\r\n` +
    `Content-Length: ${Buffer.byteLength(text)}\r\n` +
    'Connection: close\r\n\r\n' +
    text
  );
}

/** Fastify's `frameworkErrors`: the router could not route the URL. */
export function frameworkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const apiError = frameworkToApiError(error);
  if (apiError.kind === 'INTERNAL') request.log.error({ err: error }, 'router error');
  const { status, body, reason } = errorResponse(apiError);
  void reply.code(status).header(REASON_HEADER, reason).header('content-type', 'application/json; charset=utf-8').send(body);
}

export function frameworkToApiError(error: { code?: string }): ApiError {
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      return new ApiError('INVALID_ARGUMENT', 'The request path is not valid URL encoding.');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new ApiError('INVALID_ARGUMENT', 'A segment of the request path is longer than the server accepts.');
    default:
      return toApiError(error);
  }
}

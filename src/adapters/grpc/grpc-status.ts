import { Metadata, status, type StatusObject } from '@grpc/grpc-js';
import type { ApiError, ErrorKind } from '../../domain/errors.js';
import type { StatusCodec } from './protos.js';

/**
 * The gRPC edge's mapping of the error vocabulary (docs/errors.md): the status code of the kind,
 * the message, and a google.rpc.Status in `grpc-status-details-bin` carrying what REST puts in its
 * error JSON (google.rpc.BadRequest naming the field of an INVALID_ARGUMENT) and the stable reason
 * as google.rpc.ErrorInfo, which google-gax surfaces as `err.reason`. The reason is also sent as
 * the `x-bridgehead-error-reason` trailer, as REST sends it as a header.
 */

export const GRPC_CODES: Readonly<Record<ErrorKind, status>> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  DEADLINE_EXCEEDED: status.DEADLINE_EXCEEDED,
  NOT_FOUND: status.NOT_FOUND,
  ALREADY_EXISTS: status.ALREADY_EXISTS,
  PERMISSION_DENIED: status.PERMISSION_DENIED,
  RESOURCE_EXHAUSTED: status.RESOURCE_EXHAUSTED,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  ABORTED: status.ABORTED,
  OUT_OF_RANGE: status.OUT_OF_RANGE,
  UNIMPLEMENTED: status.UNIMPLEMENTED,
  INTERNAL: status.INTERNAL,
  UNAVAILABLE: status.UNAVAILABLE,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
};

export const REASON_TRAILER = 'x-bridgehead-error-reason';
export const STATUS_DETAILS_TRAILER = 'grpc-status-details-bin';
/** ErrorInfo.domain: the reasons are Bridgehead's own catalogue, not Google's. */
export const ERROR_DOMAIN = 'bridgehead';

export function grpcError(e: ApiError, codec: StatusCodec): StatusObject {
  const code = GRPC_CODES[e.kind];
  const details: { typeName: string; value: Record<string, unknown> }[] = [];
  if (e.kind === 'INVALID_ARGUMENT' && e.field !== undefined) {
    details.push({ typeName: 'google.rpc.BadRequest', value: { fieldViolations: [{ field: e.field, description: e.message }] } });
  }
  details.push({ typeName: 'google.rpc.ErrorInfo', value: { reason: e.reason, domain: ERROR_DOMAIN } });
  const metadata = new Metadata();
  metadata.set(REASON_TRAILER, e.reason);
  metadata.set(STATUS_DETAILS_TRAILER, codec.encode({ code, message: e.message, details }));
  return { code, details: e.message, metadata };
}

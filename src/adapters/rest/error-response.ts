import { ApiError, ERROR_KINDS, isApiError } from '../../domain/errors.js';

/**
 * The REST edge's mapping of the error vocabulary: HTTP status + Google's error JSON (spec §3.10),
 * exactly as Cloud IoT shaped it, and the stable reason (docs/errors.md) in a header of its own so
 * that the body clients parse stays Google's.
 */

export const REASON_HEADER = 'x-bridgehead-error-reason';

export interface ErrorBody {
  error: {
    code: number;
    message: string;
    status: string;
    details?: unknown[];
  };
}

export function errorResponse(e: ApiError): { status: number; body: ErrorBody; reason: string } {
  const status = ERROR_KINDS[e.kind].http;
  const body: ErrorBody = { error: { code: status, message: e.message, status: e.kind } };
  if (e.field !== undefined && e.kind === 'INVALID_ARGUMENT') {
    body.error.details = [
      {
        '@type': 'type.googleapis.com/google.rpc.BadRequest',
        fieldViolations: [{ field: e.field, description: e.message }],
      },
    ];
  }
  return { status, body, reason: e.reason };
}

/** Anything that is not an ApiError is our bug: the client sees INTERNAL, the log sees the cause. */
export function toApiError(e: unknown): ApiError {
  return isApiError(e) ? e : new ApiError('INTERNAL', 'Internal error.', { cause: e });
}

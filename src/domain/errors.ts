import { ERROR_REASONS, type ErrorReason } from './error-reasons.js';

/**
 * The one error vocabulary of Bridgehead: canonical google.rpc codes. Every edge maps these
 * (REST: HTTP status + Google error JSON; MQTT: CONNACK / close / gateway error) through its own
 * table, and never branches on message text.
 */
export const ERROR_KINDS = {
  INVALID_ARGUMENT: { grpc: 3, http: 400 },
  DEADLINE_EXCEEDED: { grpc: 4, http: 504 },
  NOT_FOUND: { grpc: 5, http: 404 },
  ALREADY_EXISTS: { grpc: 6, http: 409 },
  PERMISSION_DENIED: { grpc: 7, http: 403 },
  RESOURCE_EXHAUSTED: { grpc: 8, http: 429 },
  FAILED_PRECONDITION: { grpc: 9, http: 400 },
  ABORTED: { grpc: 10, http: 409 },
  OUT_OF_RANGE: { grpc: 11, http: 400 },
  UNIMPLEMENTED: { grpc: 12, http: 501 },
  INTERNAL: { grpc: 13, http: 500 },
  UNAVAILABLE: { grpc: 14, http: 503 },
  UNAUTHENTICATED: { grpc: 16, http: 401 },
} as const;

export type ErrorKind = keyof typeof ERROR_KINDS;

export class ApiError extends Error {
  readonly kind: ErrorKind;
  /** The request field at fault (proto path, e.g. `device.credentials[1].public_key.key`). */
  readonly field: string | undefined;
  /** Stable code (docs/errors.md); defaults to the generic one of the kind, or INVALID_FIELD. */
  readonly reason: ErrorReason;

  constructor(kind: ErrorKind, message: string, options: { field?: string; cause?: unknown; reason?: ErrorReason } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ApiError';
    this.kind = kind;
    this.field = options.field;
    const reason = options.reason ?? (kind === 'INVALID_ARGUMENT' && options.field !== undefined ? 'INVALID_FIELD' : kind);
    // A reason of another kind is our bug; keep the kind the caller chose and say so in the code.
    this.reason = ERROR_REASONS[reason] === kind ? reason : kind;
  }
}

export const invalidArgument = (field: string, message: string, reason: ErrorReason = 'INVALID_FIELD'): ApiError =>
  new ApiError('INVALID_ARGUMENT', message, { field, reason });

export const notFound = (message: string, reason: ErrorReason = 'NOT_FOUND'): ApiError => new ApiError('NOT_FOUND', message, { reason });

export const isApiError = (e: unknown): e is ApiError => e instanceof ApiError;

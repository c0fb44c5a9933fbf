import { ApiError, invalidArgument } from '../../domain/errors.js';
import type { StreamingPullRequest } from './pubsub-requests.js';

/** Pub/Sub's own text, as the stores answer (docs/compat.md C-PS-ERRORS). */
export const subscriptionNotFound = (name: string): ApiError =>
  new ApiError('NOT_FOUND', `Resource not found (resource=${name.slice(name.lastIndexOf('/') + 1)}).`, { reason: 'SUBSCRIPTION_NOT_FOUND' });

export const subscriptionDetached = (name: string): ApiError =>
  new ApiError('FAILED_PRECONDITION', `Subscription ${name} is detached: it no longer receives messages.`);

/** 1..9 s lease for 10 s, the shortest lease kept (docs/compat.md C-PS-MODACK-MIN); 0 stays a nack. */
export const leaseSeconds = (s: number): number => (s === 0 ? 0 : Math.max(10, s));

/** A flow-control limit of a later stream request (int64, maybe a decimal string); <= 0 = no limit, as the proto says. */
function flowLimit(value: string | number | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'string' ? (/^-?\d{1,16}$/.test(value) ? Number(value) : NaN) : value;
  if (!Number.isSafeInteger(n)) throw invalidArgument(field, `${field} must be an integer.`);
  return Math.max(0, n);
}

/** What a later StreamingPull request asks, checked as Pub/Sub checks it (INVALID_ARGUMENT otherwise) before any of it applies. */
export interface CheckedStreamRequest {
  ackIds: readonly string[];
  modifyIds: readonly string[];
  /** Per modifyIds, as given (0..600); leaseSeconds() makes a lease of each. */
  modifySeconds: readonly number[];
  /** A new deadline for the stream (10..600), or undefined to keep it. */
  streamAckDeadlineSeconds: number | undefined;
  maxOutstandingMessages: number | undefined;
  maxOutstandingBytes: number | undefined;
}

export function checkStreamRequest(req: StreamingPullRequest): CheckedStreamRequest {
  const ids = req.modifyDeadlineAckIds ?? [];
  const seconds = req.modifyDeadlineSeconds ?? [];
  if (ids.length !== seconds.length) {
    throw invalidArgument('modify_deadline_seconds', 'modify_deadline_seconds and modify_deadline_ack_ids must have the same length.');
  }
  for (const s of seconds) {
    if (!Number.isInteger(s) || s < 0 || s > 600) throw invalidArgument('modify_deadline_seconds', 'Each deadline must be 0..600 seconds.');
  }
  const streamDeadline = req.streamAckDeadlineSeconds;
  if (streamDeadline !== undefined && streamDeadline !== 0 && (!Number.isInteger(streamDeadline) || streamDeadline < 10 || streamDeadline > 600)) {
    throw invalidArgument('stream_ack_deadline_seconds', 'stream_ack_deadline_seconds must be 10..600.');
  }
  return {
    ackIds: req.ackIds ?? [],
    modifyIds: ids,
    modifySeconds: seconds,
    streamAckDeadlineSeconds: streamDeadline ? streamDeadline : undefined,
    maxOutstandingMessages: flowLimit(req.maxOutstandingMessages, 'max_outstanding_messages'),
    maxOutstandingBytes: flowLimit(req.maxOutstandingBytes, 'max_outstanding_bytes'),
  };
}

import { ApiError, isApiError } from '../../../domain/errors.js';

/**
 * PostgreSQL errors in the store's error vocabulary. Driver messages name tables and columns:
 * clients get a generic text naming the store (`what`), operators get the cause.
 * SQLSTATE classes: https://www.postgresql.org/docs/15/errcodes-appendix.html
 */

const sqlState = (e: unknown): string | undefined => {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
};

export const isUniqueViolation = (e: unknown): boolean => sqlState(e) === '23505';
/** 40001 serialization_failure, 40P01 deadlock_detected: the transaction may simply be retried. */
export const isRetryable = (e: unknown): boolean => sqlState(e) === '40001' || sqlState(e) === '40P01';

/** Connection-level failures of node-postgres (no SQLSTATE): refused, reset, timed out, pool ended. */
function isConnectionFailure(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'ETIMEDOUT' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH') return true;
  return /timeout exceeded when trying to connect|Connection terminated|Query read timeout|Client has encountered a connection error|Cannot use a pool after calling end/i.test(e.message);
}

export function pgErrorTranslator(what: string, uniqueAsAlreadyExists: boolean): (e: unknown) => unknown {
  return (e) => {
    if (isApiError(e)) return e;
    if (uniqueAsAlreadyExists && isUniqueViolation(e)) return new ApiError('ALREADY_EXISTS', 'The resource already exists.', { cause: e });
    const state = sqlState(e);
    if (isConnectionFailure(e) || state?.startsWith('08') || state === '57P01' || state === '57P02' || state === '57P03' || state === '53300') {
      return new ApiError('UNAVAILABLE', `The ${what} is unreachable; retry the request.`, { cause: e, reason: 'STORE_UNAVAILABLE' });
    }
    if (state === '57014' || isRetryable(e) || state === '55P03') {
      return new ApiError('UNAVAILABLE', `The ${what} is busy; retry the request.`, { cause: e, reason: 'STORE_BUSY' });
    }
    if (state === '53100' || state === '53200') {
      return new ApiError('RESOURCE_EXHAUSTED', `The ${what} is out of space.`, { cause: e, reason: 'STORE_FULL' });
    }
    return new ApiError('INTERNAL', `Internal error in the ${what}.`, { cause: e });
  };
}

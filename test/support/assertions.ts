import assert from 'node:assert/strict';
import { ApiError, type ErrorKind } from '../../src/domain/errors.js';

/*
 * ApiError checks shared by the unit tests. Each one asserts field by field (rather than returning
 * false) so a failure names the part that differs instead of only "the validation function failed".
 */

/**
 * Asserts `e` is an ApiError of `kind` whose field is exactly `field` (undefined included). A string
 * `message` must equal the message; a RegExp must match it; without one the message is not checked.
 */
export function assertApiError(
  e: unknown,
  kind: ErrorKind,
  field: string | undefined,
  message?: string | RegExp,
): asserts e is ApiError {
  assert.ok(e instanceof ApiError, `expected an ApiError, got ${String(e)}`);
  assert.equal(e.kind, kind);
  assert.equal(e.field, field);
  if (typeof message === 'string') assert.equal(e.message, message);
  else if (message) assert.match(e.message, message);
}

/** A validation function for assert.throws / assert.rejects: see assertApiError. */
export const apiErrorOn =
  (kind: ErrorKind, field: string | undefined, message?: string | RegExp) =>
  (e: unknown): true => {
    assertApiError(e, kind, field, message);
    return true;
  };

/** A validation function for assert.throws / assert.rejects: INVALID_ARGUMENT naming `field`. */
export const invalidOn = (field: string, message?: RegExp): ((e: unknown) => true) =>
  apiErrorOn('INVALID_ARGUMENT', field, message);

import { timingSafeEqual } from 'node:crypto';
import { ApiError } from '../../domain/errors.js';

/**
 * The admin bearer token check shared by every protected route (docs/compat.md C-ADMIN-AUTH):
 * a constant-time comparison, and one 401 for a missing and a wrong token alike.
 */
export function bearerMatches(header: string | undefined, expected: Buffer): boolean {
  if (!header?.startsWith('Bearer ')) return false;
  const got = Buffer.from(header.slice('Bearer '.length).trim());
  return got.length === expected.length && timingSafeEqual(got, expected);
}

export function requireAdminToken(header: string | undefined, expected: Buffer): void {
  if (!bearerMatches(header, expected)) {
    throw new ApiError('UNAUTHENTICATED', 'Request is missing a valid admin bearer token (Authorization: Bearer <token>).');
  }
}

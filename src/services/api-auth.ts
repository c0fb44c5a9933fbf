import { timingSafeEqual } from 'node:crypto';
import { ApiError } from '../domain/errors.js';
import type { Permission } from '../domain/permissions.js';

/** Who is calling the API. Service accounts join the admin later (their keys, their roles). */
export type Principal = { kind: 'admin' };

/**
 * Authentication and authorization of API callers, once for every edge (REST, the event log,
 * gRPC): an edge hands over the credential as its wire carried it and gets a principal back, or
 * UNAUTHENTICATED; services ask `authorize` before acting.
 */
export class ApiAuth {
  private readonly adminToken: Buffer;

  constructor(adminToken: string) {
    this.adminToken = Buffer.from(adminToken);
  }

  /** `authorization` is the HTTP header (or gRPC metadata) value: `Bearer <token>`. */
  authenticate(authorization: string | undefined): Principal {
    if (authorization === undefined || authorization === '') {
      throw new ApiError('UNAUTHENTICATED', 'Request is missing a valid admin bearer token (Authorization: Bearer <token>).', {
        reason: 'CREDENTIALS_MISSING',
      });
    }
    const token = /^Bearer\s+(.+)$/i.exec(authorization)?.[1]?.trim();
    if (token !== undefined) {
      const got = Buffer.from(token);
      if (got.length === this.adminToken.length && timingSafeEqual(got, this.adminToken)) return { kind: 'admin' };
    }
    throw new ApiError('UNAUTHENTICATED', 'Request is missing a valid admin bearer token (Authorization: Bearer <token>).', {
      reason: 'CREDENTIALS_INVALID',
    });
  }

  /** PERMISSION_DENIED naming the permission, unless `caller` holds it on `resource`. */
  async authorize(caller: Principal, permission: Permission, resource: string): Promise<void> {
    if (!(await this.allowed(caller, permission, resource))) {
      throw new ApiError('PERMISSION_DENIED', `Permission "${permission}" denied on resource "${resource}".`, { reason: 'PERMISSION_DENIED' });
    }
  }

  /** The admin token holds every permission (docs/compat.md C-ADMIN-AUTH). */
  async allowed(caller: Principal, _permission: Permission, _resource: string): Promise<boolean> {
    return caller.kind === 'admin';
  }
}

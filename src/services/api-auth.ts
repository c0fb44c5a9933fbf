import { timingSafeEqual } from 'node:crypto';
import { ApiError, isApiError } from '../domain/errors.js';
import { grants, policyScope } from '../domain/iam-evaluation.js';
import type { IamPolicy } from '../domain/model.js';
import type { Permission } from '../domain/permissions.js';
import type { Store } from './ports.js';
import type { ServiceAccountCredentials, ServiceAccountPrincipal } from './service-account-credentials.js';

/** Who is calling the API: the holder of the admin token, or a service account. */
export type Principal = { kind: 'admin' } | ServiceAccountPrincipal;

/** Equal for principals every check answers alike: the admin, or one account's key. */
export const principalKey = (p: Principal): string => (p.kind === 'admin' ? 'admin' : `${p.email}\n${p.keyId ?? ''}`);

export interface ServiceAccountAuth {
  credentials: Pick<ServiceAccountCredentials, 'authenticateJwt' | 'authenticateAccessToken' | 'requireUsableKey'>;
  /** Where registry and project policies are read for every authorization of a service account. */
  policies: Pick<Store, 'getIamPolicy' | 'getProjectIamPolicy'>;
  /**
   * Where the policies of Pub/Sub topics, subscriptions and snapshots are read (PubSubStore
   * satisfies it). Without it only project policies grant Pub/Sub permissions.
   */
  resourcePolicies?: ResourcePolicies;
}

/** The own policy of a Pub/Sub resource; NOT_FOUND when the resource does not exist. */
export interface ResourcePolicies {
  getIamPolicy(resource: string): Promise<IamPolicy>;
}

const MISSING_OR_INVALID = 'Request is missing a valid admin bearer token (Authorization: Bearer <token>).';

/**
 * Authentication and authorization of API callers, once for every edge (REST, the event log,
 * gRPC): an edge hands over the credential as its wire carried it and gets a principal back, or
 * UNAUTHENTICATED; services ask `authorize` before acting. Without `serviceAccounts` only the
 * admin token is accepted.
 */
export class ApiAuth {
  private readonly adminToken: Buffer;

  constructor(
    adminToken: string,
    private readonly serviceAccounts?: ServiceAccountAuth,
  ) {
    this.adminToken = Buffer.from(adminToken);
  }

  /**
   * `authorization` is the HTTP header (or gRPC metadata) value: `Bearer <token>`, the token being
   * the admin token, a service-account JWT (docs/compat.md C-SA-JWT) or an access token from the
   * token endpoint (C-SA-TOKEN).
   */
  async authenticate(authorization: string | undefined): Promise<Principal> {
    if (authorization === undefined || authorization === '') {
      throw new ApiError('UNAUTHENTICATED', MISSING_OR_INVALID, { reason: 'CREDENTIALS_MISSING' });
    }
    const token = /^Bearer\s+(.+)$/i.exec(authorization)?.[1]?.trim();
    if (token !== undefined) {
      const got = Buffer.from(token);
      if (got.length === this.adminToken.length && timingSafeEqual(got, this.adminToken)) return { kind: 'admin' };
      if (this.serviceAccounts) {
        const { credentials } = this.serviceAccounts;
        // A JWT is three dot-separated segments; access tokens and admin tokens are not.
        if (token.split('.').length === 3) return credentials.authenticateJwt(token);
        const principal = credentials.authenticateAccessToken(token);
        if (principal) return principal;
      }
    }
    throw new ApiError('UNAUTHENTICATED', MISSING_OR_INVALID, { reason: 'CREDENTIALS_INVALID' });
  }

  /**
   * UNAUTHENTICATED when the credential `caller` was authenticated with has since been revoked
   * (its service-account key disabled or deleted, which deleting the account does too). For calls
   * that outlive their authentication, such as a StreamingPull (docs/compat.md C-PS-STREAM-AUTH).
   */
  async recheckCredential(caller: Principal): Promise<void> {
    if (caller.kind !== 'service-account' || caller.keyId === undefined || !this.serviceAccounts) return;
    await this.serviceAccounts.credentials.requireUsableKey(caller.keyId);
  }

  /** PERMISSION_DENIED naming the permission, unless `caller` holds it on `resource`. */
  async authorize(caller: Principal, permission: Permission, resource: string): Promise<void> {
    if (!(await this.allowed(caller, permission, resource))) {
      throw new ApiError('PERMISSION_DENIED', `Permission "${permission}" denied on resource "${resource}" (or it may not exist).`, {
        reason: 'PERMISSION_DENIED',
      });
    }
  }

  /**
   * The admin token holds every permission (docs/compat.md C-ADMIN-AUTH); a service account the
   * ones its roles on the resource's registry or project give it (C-IAM-EVAL), or on the Pub/Sub
   * resource itself (C-PS-IAM).
   */
  async allowed(caller: Principal, permission: Permission, resource: string): Promise<boolean> {
    if (caller.kind === 'admin') return true;
    if (!this.serviceAccounts) return false;
    const scope = policyScope(resource);
    if (!scope) return false;
    const { policies, resourcePolicies } = this.serviceAccounts;
    const found: IamPolicy[] = [await policies.getProjectIamPolicy(scope.project)];
    if (scope.registry) {
      const registry = scope.registry;
      await addIfExists(found, () => policies.getIamPolicy(registry));
    }
    if (scope.pubsubResource && resourcePolicies) {
      const resource = scope.pubsubResource;
      await addIfExists(found, () => resourcePolicies.getIamPolicy(resource));
    }
    return grants(found, caller.email, permission);
  }
}

/** A resource that does not exist has no policy; the project's still decides. */
async function addIfExists(found: IamPolicy[], read: () => Promise<IamPolicy>): Promise<void> {
  try {
    found.push(await read());
  } catch (e) {
    if (!(isApiError(e) && e.kind === 'NOT_FOUND')) throw e;
  }
}

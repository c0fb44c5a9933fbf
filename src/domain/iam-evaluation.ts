import { rolePermissions } from './iam-roles.js';
import type { IamPolicy, RegistryKey } from './model.js';
import type { Permission } from './permissions.js';

/**
 * IAM evaluation (docs/compat.md C-IAM-EVAL): a service account holds a permission on a resource
 * when the policy of the resource's registry (or, for a Pub/Sub topic, subscription or snapshot,
 * the resource's own policy: C-PS-IAM), or of its project, binds a role containing the
 * permission to `serviceAccount:EMAIL` (or to `allUsers` / `allAuthenticatedUsers`, which every
 * authenticated caller is). Bindings with a condition grant nothing: Bridgehead does not evaluate
 * CEL, and honouring a condition-less reading of them would grant more than their author meant.
 */

/**
 * The policies that govern a resource: its project's always, its registry's when it names one, its
 * own when it is a Pub/Sub topic, subscription or snapshot (Pub/Sub grants on each of those).
 */
export interface PolicyScope {
  project: string;
  registry: RegistryKey | undefined;
  /** The full name of a Pub/Sub topic, subscription or snapshot. */
  pubsubResource: string | undefined;
}

const RESOURCE =
  /^projects\/([^/]+)(?:\/locations\/([^/]+)(?:\/registries\/([^/]+)(?:\/devices\/[^/]+)?)?|\/(topics|subscriptions|snapshots)\/[^/]+|\/serviceAccounts\/[^/]+(?:\/keys\/[^/]+)?)?$/;

/** Undefined for a name that is not a resource under a project (nothing can grant on it). */
export function policyScope(resource: string): PolicyScope | undefined {
  const m = RESOURCE.exec(resource);
  if (!m) return undefined;
  const [, project, location, registry, collection] = m as unknown as [string, string, string | undefined, string | undefined, string | undefined];
  return {
    project,
    registry: location !== undefined && registry !== undefined ? { project, location, registry } : undefined,
    pubsubResource: collection !== undefined ? resource : undefined,
  };
}

export const serviceAccountMember = (email: string): string => `serviceAccount:${email}`;

/** Members that stand for every authenticated caller (requests without credentials never get this far). */
const EVERYONE = new Set(['allusers', 'allauthenticatedusers']);

export function grants(policies: readonly IamPolicy[], email: string, permission: Permission): boolean {
  // Google compares members without regard to case ("serviceAccount:A@x" is "serviceaccount:a@x").
  const member = serviceAccountMember(email).toLowerCase();
  for (const policy of policies) {
    for (const binding of policy.bindings) {
      if (binding.condition !== undefined) continue;
      if (!rolePermissions(binding.role).has(permission)) continue;
      if (binding.members.some((m) => { const lower = m.toLowerCase(); return lower === member || EVERYONE.has(lower); })) return true;
    }
  }
  return false;
}

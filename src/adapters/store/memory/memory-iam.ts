import { serviceAccountMember } from '../../../domain/iam-evaluation.js';
import { EMPTY_POLICY, nextPolicy, withMember, withoutMember } from '../../../domain/iam-policy.js';
import type { IamPolicy } from '../../../domain/model.js';
import { pageOf, type Page } from '../../../domain/paging.js';
import { isUniqueId, type ServiceAccount, type ServiceAccountKey } from '../../../domain/service-accounts.js';
import { copyIamPolicy } from './copies.js';
import * as err from '../store-errors.js';

/** Where the memory store keeps each registry's policy; the IAM part edits it when an account goes. */
export interface RegistryPolicyHolder {
  iam: IamPolicy | undefined;
}

/**
 * The memory store's project policies, service accounts and keys. Like MemoryStore, every method
 * checks before its first change and never awaits, so each call is atomic.
 */
export class MemoryIam {
  private readonly projectPolicies = new Map<string, IamPolicy>();
  private readonly accounts = new Map<string, ServiceAccount>();
  private readonly emailsByUniqueId = new Map<string, string>();
  private readonly keys = new Map<string, ServiceAccountKey>();

  constructor(private readonly registryPolicies: () => Iterable<RegistryPolicyHolder>) {}

  getProjectIamPolicy(project: string): IamPolicy {
    return copyIamPolicy(this.projectPolicies.get(project) ?? EMPTY_POLICY);
  }

  setProjectIamPolicy(project: string, policy: Omit<IamPolicy, 'etag'>, expectedEtag: Uint8Array | undefined): IamPolicy {
    const next = copyIamPolicy(nextPolicy(this.projectPolicies.get(project) ?? EMPTY_POLICY, policy, expectedEtag));
    this.projectPolicies.set(project, next);
    return copyIamPolicy(next);
  }

  createServiceAccount(account: ServiceAccount, projectRoles: readonly string[]): ServiceAccount {
    if (this.accounts.has(account.email)) throw err.serviceAccountExists(account.email);
    if (this.emailsByUniqueId.has(account.uniqueId)) throw err.serviceAccountExists(account.email);
    if (projectRoles.length > 0) {
      const current = this.projectPolicies.get(account.project) ?? EMPTY_POLICY;
      let bindings = current.bindings;
      for (const role of projectRoles) bindings = withMember(bindings, role, serviceAccountMember(account.email));
      this.projectPolicies.set(account.project, copyIamPolicy(nextPolicy(current, { version: current.version || 1, bindings }, undefined)));
    }
    this.accounts.set(account.email, { ...account });
    this.emailsByUniqueId.set(account.uniqueId, account.email);
    return { ...account };
  }

  getServiceAccount(emailOrUniqueId: string): ServiceAccount | undefined {
    const email = isUniqueId(emailOrUniqueId) ? this.emailsByUniqueId.get(emailOrUniqueId) : emailOrUniqueId;
    const a = email === undefined ? undefined : this.accounts.get(email);
    return a && { ...a };
  }

  listServiceAccounts(project: string, after: string | undefined, limit: number): Page<ServiceAccount> {
    const matching = [...this.accounts.values()]
      .filter((a) => a.project === project && a.email > (after ?? ''))
      .sort((a, b) => (a.email < b.email ? -1 : a.email > b.email ? 1 : 0));
    const page = pageOf(matching, limit, (a) => a.email);
    return { items: page.items.map((a) => ({ ...a })), next: page.next };
  }

  deleteServiceAccount(email: string): void {
    const account = this.accounts.get(email);
    if (!account) throw err.serviceAccountNotFound(email);
    const member = serviceAccountMember(email);
    for (const [project, policy] of this.projectPolicies) {
      const bindings = withoutMember(policy.bindings, member);
      if (bindings) this.projectPolicies.set(project, copyIamPolicy(nextPolicy(policy, { version: policy.version, bindings }, undefined)));
    }
    for (const holder of this.registryPolicies()) {
      const bindings = holder.iam && withoutMember(holder.iam.bindings, member);
      if (holder.iam && bindings) holder.iam = copyIamPolicy(nextPolicy(holder.iam, { version: holder.iam.version, bindings }, undefined));
    }
    for (const [keyId, key] of this.keys) if (key.email === email) this.keys.delete(keyId);
    this.accounts.delete(email);
    this.emailsByUniqueId.delete(account.uniqueId);
  }

  createServiceAccountKey(key: ServiceAccountKey, maxKeys: number): ServiceAccountKey {
    if (!this.accounts.has(key.email)) throw err.serviceAccountNotFound(key.email);
    if (this.keys.has(key.keyId)) throw err.keyExists(key.keyId);
    if ([...this.keys.values()].filter((k) => k.email === key.email).length >= maxKeys) throw err.keyLimit(key.email, maxKeys);
    this.keys.set(key.keyId, { ...key });
    return { ...key };
  }

  getServiceAccountKey(keyId: string): ServiceAccountKey | undefined {
    const k = this.keys.get(keyId);
    return k && { ...k };
  }

  listServiceAccountKeys(email: string): ServiceAccountKey[] {
    return [...this.keys.values()]
      .filter((k) => k.email === email)
      .sort((a, b) => a.createTime - b.createTime || (a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : 0))
      .map((k) => ({ ...k }));
  }

  setServiceAccountKeyDisabled(keyId: string, disabled: boolean): ServiceAccountKey {
    const k = this.keys.get(keyId);
    if (!k) throw err.keyNotFound(keyId);
    k.disabled = disabled;
    return { ...k };
  }

  deleteServiceAccountKey(keyId: string): void {
    if (!this.keys.delete(keyId)) throw err.keyNotFound(keyId);
  }
}

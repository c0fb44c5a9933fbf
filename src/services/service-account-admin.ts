import { invalidArgument, notFound } from '../domain/errors.js';
import { serviceAccountMember } from '../domain/iam-evaluation.js';
import { isKnownRole } from '../domain/iam-roles.js';
import { buildKeyFile, type KeyFile } from '../domain/key-file.js';
import type { IamPolicy } from '../domain/model.js';
import { checkPageSize, decodePageToken, encodePageToken } from '../domain/page-token.js';
import { ADMIN_PERMISSIONS, type AdminMethod } from '../domain/permissions.js';
import {
  checkAccountId,
  MAX_KEYS_PER_ACCOUNT,
  parseKeyName,
  parseProjectName,
  parseServiceAccountName,
  serviceAccountEmail,
  type ServiceAccount,
  type ServiceAccountKey,
  type ServiceAccountRef,
} from '../domain/service-accounts.js';
import type { ApiAuth, Principal } from './api-auth.js';
import { policyFrom } from './device-manager-inputs.js';
import type { Bus, Clock, ServiceAccountCrypto, Store } from './ports.js';
import type { PubSubStore } from './pubsub/pubsub-ports.js';
import type { ServiceAccountCredentials } from './service-account-credentials.js';
import type {
  AccountNameRequest,
  CreateKeyRequest,
  CreateServiceAccountRequest,
  KeyNameRequest,
  ListKeysRequest,
  ListServiceAccountsRequest,
  ProjectPolicyRequest,
  SetProjectPolicyRequest,
} from './service-account-requests.js';

export interface ServiceAccountAdminDeps {
  store: Store;
  crypto: Pick<ServiceAccountCrypto, 'newRsaKeyPair' | 'randomHex' | 'randomDigits'>;
  clock: Clock;
  auth: Pick<ApiAuth, 'authorize'>;
  /** Told at once when a key stops being valid, so that this node refuses it from the next request on. */
  credentials: Pick<ServiceAccountCredentials, 'forgetKey'>;
  /** Other nodes hear of revoked keys from here. */
  bus: Pick<Bus, 'publish'>;
  /** The configured token endpoint URL; undefined: the one the client reached the API at. */
  tokenUri: string | undefined;
  /** Pub/Sub resources' own policies, which a deleted account leaves too (docs/compat.md C-SA-DELETE). */
  pubsubPolicies?: Pick<PubSubStore, 'removeIamMember'>;
}

const PAGE_SIZE = { max: 100, default: 100 };
const MAX_DISPLAY_NAME = 100;
const MAX_DESCRIPTION = 256;

/**
 * Service accounts, their keys and project policies, for every edge (docs/compat.md C-SA-API):
 * requests arrive decoded but unvalidated, as for DeviceAdmin. Managing them needs the IAM Admin
 * permissions, which only the admin token holds (C-SA-ADMIN). The private key of a new key is
 * returned once, inside its key file, and never stored.
 */
export class ServiceAccountAdmin {
  constructor(private readonly deps: ServiceAccountAdminDeps) {}

  async createServiceAccount(caller: Principal, req: CreateServiceAccountRequest): Promise<ServiceAccount> {
    const project = parseProjectName(req.name ?? '', 'name');
    await this.authorize(caller, 'createServiceAccount', req.name!);
    const accountId = checkAccountId(req.accountId, 'account_id');
    const displayName = boundedText(req.serviceAccount?.displayName, 'service_account.display_name', MAX_DISPLAY_NAME);
    const description = boundedText(req.serviceAccount?.description, 'service_account.description', MAX_DESCRIPTION);
    const roles = [...new Set(req.roles ?? [])];
    roles.forEach((role, i) => {
      if (!isKnownRole(role)) {
        throw invalidArgument(`roles[${i}]`, `Role "${role}" is not one Bridgehead knows; see docs/compat.md C-IAM-ROLES for the predefined roles.`);
      }
    });
    return this.deps.store.createServiceAccount(
      {
        project,
        accountId,
        email: serviceAccountEmail(project, accountId),
        uniqueId: this.deps.crypto.randomDigits(21),
        displayName,
        description,
        createTime: this.deps.clock.now(),
      },
      roles,
    );
  }

  async getServiceAccount(caller: Principal, req: AccountNameRequest): Promise<ServiceAccount> {
    const ref = parseServiceAccountName(req.name ?? '', 'name');
    await this.authorize(caller, 'getServiceAccount', req.name!);
    return this.requireAccount(ref);
  }

  async listServiceAccounts(caller: Principal, req: ListServiceAccountsRequest): Promise<{ accounts: ServiceAccount[]; nextPageToken: string }> {
    const project = parseProjectName(req.name ?? '', 'name');
    await this.authorize(caller, 'listServiceAccounts', req.name!);
    const limit = checkPageSize(req.pageSize ?? 0, PAGE_SIZE.max, PAGE_SIZE.default);
    const page = await this.deps.store.listServiceAccounts(project, decodePageToken(req.pageToken), limit);
    return { accounts: page.items, nextPageToken: page.next === undefined ? '' : encodePageToken(page.next) };
  }

  /** Its keys stop working at once; its grants go with it (docs/compat.md C-SA-DELETE). */
  async deleteServiceAccount(caller: Principal, req: AccountNameRequest): Promise<void> {
    const ref = parseServiceAccountName(req.name ?? '', 'name');
    await this.authorize(caller, 'deleteServiceAccount', req.name!);
    const account = await this.requireAccount(ref);
    const keys = await this.deps.store.listServiceAccountKeys(account.email);
    // Two stores, no common transaction: the grants go first, so that a failure in between leaves
    // an account with fewer rights, never a later account of the same e-mail with its grants.
    await this.deps.pubsubPolicies?.removeIamMember(serviceAccountMember(account.email));
    await this.deps.store.deleteServiceAccount(account.email);
    for (const key of keys) this.revoked(key.keyId);
  }

  /** A new RSA 2048 key: the stored public part, and the key file holding the private part (shown once). */
  async createKey(caller: Principal, req: CreateKeyRequest): Promise<{ key: ServiceAccountKey; keyFile: KeyFile }> {
    const ref = parseServiceAccountName(req.name ?? '', 'name');
    await this.authorize(caller, 'createKey', req.name!);
    if (req.privateKeyType !== undefined && !['TYPE_UNSPECIFIED', 'TYPE_GOOGLE_CREDENTIALS_FILE'].includes(req.privateKeyType)) {
      throw invalidArgument('private_key_type', `private_key_type ${req.privateKeyType} is not offered; only TYPE_GOOGLE_CREDENTIALS_FILE (JSON key files) is.`);
    }
    if (req.keyAlgorithm !== undefined && !['KEY_ALG_UNSPECIFIED', 'KEY_ALG_RSA_2048'].includes(req.keyAlgorithm)) {
      throw invalidArgument('key_algorithm', `key_algorithm ${req.keyAlgorithm} is not offered; only KEY_ALG_RSA_2048 is.`);
    }
    const account = await this.requireAccount(ref);
    const pair = await this.deps.crypto.newRsaKeyPair();
    const key = await this.deps.store.createServiceAccountKey(
      {
        keyId: this.deps.crypto.randomHex(20),
        email: account.email,
        project: account.project,
        publicKeyPem: pair.publicKeyPem,
        tokenUri: this.deps.tokenUri ?? `${req.origin.replace(/\/+$/, '')}/token`,
        createTime: this.deps.clock.now(),
        disabled: false,
      },
      MAX_KEYS_PER_ACCOUNT,
    );
    const keyFile = buildKeyFile({ ...key, privateKeyPem: pair.privateKeyPem, uniqueId: account.uniqueId });
    return { key, keyFile };
  }

  async listKeys(caller: Principal, req: ListKeysRequest): Promise<ServiceAccountKey[]> {
    const ref = parseServiceAccountName(req.name ?? '', 'name');
    await this.authorize(caller, 'listKeys', req.name!);
    const types = req.keyTypes ?? [];
    types.forEach((t, i) => {
      if (!['KEY_TYPE_UNSPECIFIED', 'USER_MANAGED', 'SYSTEM_MANAGED'].includes(t)) invalidKeyType(i, t);
    });
    const account = await this.requireAccount(ref);
    // Every key here is user-managed: a filter of only SYSTEM_MANAGED matches none.
    if (types.length > 0 && types.every((t) => t === 'SYSTEM_MANAGED')) return [];
    return this.deps.store.listServiceAccountKeys(account.email);
  }

  async getKey(caller: Principal, req: KeyNameRequest): Promise<ServiceAccountKey> {
    const ref = parseKeyName(req.name ?? '', 'name');
    await this.authorize(caller, 'getKey', req.name!);
    return this.requireKey(ref);
  }

  async disableKey(caller: Principal, req: KeyNameRequest): Promise<void> {
    const ref = parseKeyName(req.name ?? '', 'name');
    await this.authorize(caller, 'disableKey', req.name!);
    await this.requireKey(ref);
    await this.deps.store.setServiceAccountKeyDisabled(ref.keyId, true);
    this.revoked(ref.keyId);
  }

  async enableKey(caller: Principal, req: KeyNameRequest): Promise<void> {
    const ref = parseKeyName(req.name ?? '', 'name');
    await this.authorize(caller, 'enableKey', req.name!);
    await this.requireKey(ref);
    await this.deps.store.setServiceAccountKeyDisabled(ref.keyId, false);
  }

  async deleteKey(caller: Principal, req: KeyNameRequest): Promise<void> {
    const ref = parseKeyName(req.name ?? '', 'name');
    await this.authorize(caller, 'deleteKey', req.name!);
    await this.requireKey(ref);
    await this.deps.store.deleteServiceAccountKey(ref.keyId);
    this.revoked(ref.keyId);
  }

  async getProjectIamPolicy(caller: Principal, req: ProjectPolicyRequest): Promise<IamPolicy> {
    const project = parseProjectName(req.resource ?? '', 'resource');
    await this.authorize(caller, 'getProjectIamPolicy', req.resource!);
    return this.deps.store.getProjectIamPolicy(project);
  }

  async setProjectIamPolicy(caller: Principal, req: SetProjectPolicyRequest): Promise<IamPolicy> {
    const project = parseProjectName(req.resource ?? '', 'resource');
    await this.authorize(caller, 'setProjectIamPolicy', req.resource!);
    const { policy, etag } = policyFrom(req.policy);
    return this.deps.store.setProjectIamPolicy(project, policy, etag);
  }

  private async authorize(caller: Principal, method: AdminMethod, resource: string): Promise<void> {
    await this.deps.auth.authorize(caller, ADMIN_PERMISSIONS[method], resource);
  }

  private async requireAccount(ref: ServiceAccountRef): Promise<ServiceAccount> {
    const account = await this.deps.store.getServiceAccount(ref.account);
    if (!account || (ref.project !== '-' && ref.project !== account.project)) {
      throw notFound(`Service account "${ref.account}" not found in project "${ref.project}".`, 'SERVICE_ACCOUNT_NOT_FOUND');
    }
    return account;
  }

  private async requireKey(ref: ServiceAccountRef & { keyId: string }): Promise<ServiceAccountKey> {
    const account = await this.requireAccount(ref);
    const key = await this.deps.store.getServiceAccountKey(ref.keyId);
    if (!key || key.email !== account.email) throw notFound(`Key "${ref.keyId}" of service account "${account.email}" not found.`, 'KEY_NOT_FOUND');
    return key;
  }

  /** This node forgets the key now; the others when the event reaches them. */
  private revoked(keyId: string): void {
    this.deps.credentials.forgetKey(keyId);
    this.deps.bus.publish({ type: 'service-account-key-revoked', keyId }).catch(() => undefined);
  }
}

function boundedText(v: string | undefined, field: string, max: number): string {
  const s = v ?? '';
  if (s.length > max) throw invalidArgument(field, `${field} is longer than ${max} characters.`);
  return s;
}

function invalidKeyType(i: number, t: string): never {
  throw invalidArgument(`key_types[${i}]`, `key_types[${i}] must be USER_MANAGED, SYSTEM_MANAGED or KEY_TYPE_UNSPECIFIED, got "${t}".`);
}

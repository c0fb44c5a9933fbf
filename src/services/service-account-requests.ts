import type { PolicyMessage } from './device-manager-requests.js';

/**
 * Requests of the service-account API (Google's IAM Admin API v1 and the project policy methods
 * of Resource Manager v1), decoded from their wire but not validated: ServiceAccountAdmin
 * validates them, naming the field.
 */

export interface CreateServiceAccountRequest {
  /** `projects/{project}`. */
  name?: string;
  accountId?: string;
  serviceAccount?: { displayName?: string; description?: string };
  /** Bridgehead's extension: roles bound to the account in its project's policy (docs/compat.md C-SA-ROLES). */
  roles?: string[];
}

export interface AccountNameRequest {
  /** `projects/{project}/serviceAccounts/{email or unique ID}`. */
  name?: string;
}

export interface ListServiceAccountsRequest {
  name?: string;
  pageSize?: number;
  pageToken?: string;
}

export interface CreateKeyRequest {
  name?: string;
  /** TYPE_GOOGLE_CREDENTIALS_FILE (the default) is the only one offered. */
  privateKeyType?: string;
  /** KEY_ALG_RSA_2048 (the default) is the only one offered. */
  keyAlgorithm?: string;
  /** The URL the client reached the API at (`scheme://host[:port]`): token_uri is derived from it unless configured. */
  origin: string;
}

export interface KeyNameRequest {
  /** `projects/{project}/serviceAccounts/{account}/keys/{key ID}`. */
  name?: string;
}

export interface ListKeysRequest {
  name?: string;
  /** USER_MANAGED and KEY_TYPE_UNSPECIFIED list every key; SYSTEM_MANAGED lists none (there are none). */
  keyTypes?: string[];
}

export interface ProjectPolicyRequest {
  /** `projects/{project}`. */
  resource?: string;
}

export interface SetProjectPolicyRequest extends ProjectPolicyRequest {
  policy?: PolicyMessage;
}

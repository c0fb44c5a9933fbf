import { invalidArgument } from './errors.js';

/**
 * Service accounts and their keys (docs/compat.md C-SA-*), named as Google's IAM names them:
 * `NAME@PROJECT.iam.gserviceaccount.com`, a 21-digit unique ID, 40-hex-digit key IDs.
 */

export interface ServiceAccount {
  project: string;
  accountId: string;
  email: string;
  /** 21 digits; also the OAuth2 client ID of the key file. */
  uniqueId: string;
  displayName: string;
  description: string;
  createTime: number;
}

/** What the server keeps of a key: never the private part. */
export interface ServiceAccountKey {
  /** 40 lower-case hex digits: the key file's private_key_id and the JWT header's kid. */
  keyId: string;
  /** The account's email. */
  email: string;
  project: string;
  /** SPKI PEM of the RSA public key. */
  publicKeyPem: string;
  /** The token_uri written into the key file: an assertion for this key names it as its audience. */
  tokenUri: string;
  createTime: number;
  disabled: boolean;
}

export const SERVICE_ACCOUNT_DOMAIN = 'iam.gserviceaccount.com';
/** Google's limit of user-managed keys per service account. */
export const MAX_KEYS_PER_ACCOUNT = 10;

// Google's rule for account IDs: 6-30 characters, lower-case letters, digits and hyphens,
// starting with a letter and not ending with a hyphen.
const ACCOUNT_ID = /^[a-z][-a-z0-9]{4,28}[a-z0-9]$/;
// The project becomes part of an e-mail domain, so only what a domain label allows.
const EMAIL_PROJECT = /^[a-z0-9](?:[-a-z0-9.]{0,98}[a-z0-9])?$/;
const EMAIL = /^([a-z][-a-z0-9]{4,28}[a-z0-9])@([a-z0-9](?:[-a-z0-9.]{0,98}[a-z0-9])?)\.iam\.gserviceaccount\.com$/;

export function checkAccountId(id: unknown, field: string): string {
  if (typeof id !== 'string' || id === '') throw invalidArgument(field, `${field} is required.`, 'REQUIRED_FIELD');
  if (!ACCOUNT_ID.test(id)) {
    throw invalidArgument(
      field,
      `Invalid ${field} "${id}": 6-30 lower-case letters, digits and hyphens, starting with a letter and not ending with a hyphen.`,
    );
  }
  return id;
}

export function checkServiceAccountProject(project: string, field: string): void {
  if (!EMAIL_PROJECT.test(project)) {
    throw invalidArgument(
      field,
      `Project "${project}" cannot hold service accounts: their e-mail domain needs a project ID of lower-case letters, digits, hyphens and dots.`,
    );
  }
}

export const serviceAccountEmail = (project: string, accountId: string): string => `${accountId}@${project}.${SERVICE_ACCOUNT_DOMAIN}`;

/** The account ID and project of a service-account e-mail, or undefined for any other text. */
export function parseServiceAccountEmail(email: string): { accountId: string; project: string } | undefined {
  const m = EMAIL.exec(email);
  return m ? { accountId: m[1]!, project: m[2]! } : undefined;
}

export const isUniqueId = (s: string): boolean => /^\d{21}$/.test(s);
export const isKeyId = (s: string): boolean => /^[0-9a-f]{40}$/.test(s);

export const serviceAccountName = (a: Pick<ServiceAccount, 'project' | 'email'>): string => `projects/${a.project}/serviceAccounts/${a.email}`;
export const keyName = (k: Pick<ServiceAccountKey, 'project' | 'email' | 'keyId'>): string =>
  `projects/${k.project}/serviceAccounts/${k.email}/keys/${k.keyId}`;

/** `projects/{project}` of the IAM Admin API. */
export function parseProjectName(name: string, field: string): string {
  const m = /^projects\/([^/]+)$/.exec(name);
  if (!m) throw invalidArgument(field, `Invalid ${field}: expected "projects/{project}", got "${name}".`);
  checkServiceAccountProject(m[1]!, field);
  return m[1]!;
}

/** `projects/{project or -}/serviceAccounts/{email or unique ID}`, Google's forms. */
export interface ServiceAccountRef {
  /** `-` stands for any project, as in Google's API. */
  project: string;
  /** An e-mail or a unique ID. */
  account: string;
}

const ACCOUNT_NAME = /^projects\/([^/]+)\/serviceAccounts\/([^/]+)$/;
const KEY_NAME = /^projects\/([^/]+)\/serviceAccounts\/([^/]+)\/keys\/([^/]+)$/;

function accountRef(project: string, account: string, name: string, field: string, shape: string): ServiceAccountRef {
  if ((project !== '-' && !EMAIL_PROJECT.test(project)) || !(parseServiceAccountEmail(account) || isUniqueId(account))) {
    throw invalidArgument(field, `Invalid ${field}: expected "${shape}" with an e-mail or unique ID, got "${name}".`);
  }
  return { project, account };
}

export function parseServiceAccountName(name: string, field: string): ServiceAccountRef {
  const m = ACCOUNT_NAME.exec(name);
  const shape = 'projects/{project}/serviceAccounts/{account}';
  if (!m) throw invalidArgument(field, `Invalid ${field}: expected "${shape}", got "${name}".`);
  return accountRef(m[1]!, m[2]!, name, field, shape);
}

export function parseKeyName(name: string, field: string): ServiceAccountRef & { keyId: string } {
  const m = KEY_NAME.exec(name);
  const shape = 'projects/{project}/serviceAccounts/{account}/keys/{key}';
  if (!m) throw invalidArgument(field, `Invalid ${field}: expected "${shape}", got "${name}".`);
  if (!isKeyId(m[3]!)) throw invalidArgument(field, `Invalid ${field}: a key ID is 40 lower-case hex digits, got "${m[3]}".`);
  return { ...accountRef(m[1]!, m[2]!, name, field, shape), keyId: m[3]! };
}

import type Database from 'better-sqlite3';
import { serviceAccountMember } from '../../../domain/iam-evaluation.js';
import { emptyPolicy, nextPolicy, withMember, withoutMember } from '../../../domain/iam-policy.js';
import type { IamPolicy } from '../../../domain/model.js';
import { pageOf, type Page } from '../../../domain/paging.js';
import { isUniqueId, type ServiceAccount, type ServiceAccountKey } from '../../../domain/service-accounts.js';
import { decodeIam, likeMember, type IamRow } from './codec.js';
import * as err from '../store-errors.js';

interface AccountRow {
  email: string;
  project: string;
  account_id: string;
  unique_id: string;
  display_name: string;
  description: string;
  create_time: number;
}

interface KeyRow {
  key_id: string;
  email: string;
  project: string;
  public_key: string;
  token_uri: string;
  create_time: number;
  disabled: number;
}

type RegistryIamRow = IamRow & { project: string; location: string; registry: string };

const decodeAccount = (r: AccountRow): ServiceAccount => ({
  project: r.project,
  accountId: r.account_id,
  email: r.email,
  uniqueId: r.unique_id,
  displayName: r.display_name,
  description: r.description,
  createTime: r.create_time,
});

const decodeKey = (r: KeyRow): ServiceAccountKey => ({
  keyId: r.key_id,
  email: r.email,
  project: r.project,
  publicKeyPem: r.public_key,
  tokenUri: r.token_uri,
  createTime: r.create_time,
  disabled: r.disabled !== 0,
});

const ACCOUNT_COLUMNS = 'email, project, account_id, unique_id, display_name, description, create_time';
const KEY_SELECT = `SELECT k.key_id, k.email, a.project, k.public_key, k.token_uri, k.create_time, k.disabled
  FROM service_account_keys k JOIN service_accounts a ON a.email = k.email`;

function prepare(db: Database.Database) {
  return {
    getProjectIam: db.prepare<[string], IamRow>('SELECT version, bindings, etag FROM project_iam_policies WHERE project = ?'),
    upsertProjectIam: db.prepare<[string, number, string, Uint8Array]>(
      `INSERT INTO project_iam_policies (project, version, bindings, etag) VALUES (?, ?, ?, ?)
       ON CONFLICT (project) DO UPDATE SET version = excluded.version, bindings = excluded.bindings, etag = excluded.etag`,
    ),
    projectIamWithMember: db.prepare<[string], IamRow & { project: string }>(
      "SELECT project, version, bindings, etag FROM project_iam_policies WHERE bindings LIKE ? ESCAPE '\\'",
    ),
    registryIamWithMember: db.prepare<[string], RegistryIamRow>(
      "SELECT project, location, registry, version, bindings, etag FROM iam_policies WHERE bindings LIKE ? ESCAPE '\\'",
    ),
    updateRegistryIam: db.prepare<[number, string, Uint8Array, string, string, string]>(
      'UPDATE iam_policies SET version = ?, bindings = ?, etag = ? WHERE project = ? AND location = ? AND registry = ?',
    ),
    insertAccount: db.prepare<[string, string, string, string, string, string, number]>(
      `INSERT INTO service_accounts (${ACCOUNT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    accountByEmail: db.prepare<[string], AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM service_accounts WHERE email = ?`),
    accountByUniqueId: db.prepare<[string], AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM service_accounts WHERE unique_id = ?`),
    listAccounts: db.prepare<[string, string, number], AccountRow>(
      `SELECT ${ACCOUNT_COLUMNS} FROM service_accounts WHERE project = ? AND email > ? ORDER BY email LIMIT ?`,
    ),
    deleteAccount: db.prepare<[string]>('DELETE FROM service_accounts WHERE email = ?'),
    insertKey: db.prepare<[string, string, string, string, number, number]>(
      'INSERT INTO service_account_keys (key_id, email, public_key, token_uri, create_time, disabled) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    countKeys: db.prepare<[string], number>('SELECT COUNT(*) FROM service_account_keys WHERE email = ?').pluck(),
    keyById: db.prepare<[string], KeyRow>(`${KEY_SELECT} WHERE k.key_id = ?`),
    keysOfAccount: db.prepare<[string], KeyRow>(`${KEY_SELECT} WHERE k.email = ? ORDER BY k.create_time, k.key_id`),
    setKeyDisabled: db.prepare<[number, string]>('UPDATE service_account_keys SET disabled = ? WHERE key_id = ?'),
    deleteKey: db.prepare<[string]>('DELETE FROM service_account_keys WHERE key_id = ?'),
  };
}

/**
 * The SQLite store's project policies, service accounts and keys. Methods are synchronous: the
 * store runs each inside its own read or write transaction.
 */
export class SqliteIam {
  private readonly q: ReturnType<typeof prepare>;

  constructor(db: Database.Database) {
    this.q = prepare(db);
  }

  getProjectIamPolicy(project: string): IamPolicy {
    const row = this.q.getProjectIam.get(project);
    return row ? decodeIam(row) : emptyPolicy();
  }

  setProjectIamPolicy(project: string, policy: Omit<IamPolicy, 'etag'>, expectedEtag: Uint8Array | undefined): IamPolicy {
    const next = nextPolicy(this.getProjectIamPolicy(project), policy, expectedEtag);
    this.q.upsertProjectIam.run(project, next.version, JSON.stringify(next.bindings), next.etag);
    return next;
  }

  createServiceAccount(a: ServiceAccount, projectRoles: readonly string[]): ServiceAccount {
    if (this.q.accountByEmail.get(a.email) || this.q.accountByUniqueId.get(a.uniqueId)) throw err.serviceAccountExists(a.email);
    this.q.insertAccount.run(a.email, a.project, a.accountId, a.uniqueId, a.displayName, a.description, a.createTime);
    if (projectRoles.length > 0) {
      const current = this.getProjectIamPolicy(a.project);
      let bindings = current.bindings;
      for (const role of projectRoles) bindings = withMember(bindings, role, serviceAccountMember(a.email));
      this.setProjectIamPolicy(a.project, { version: current.version || 1, bindings }, undefined);
    }
    return { ...a };
  }

  getServiceAccount(emailOrUniqueId: string): ServiceAccount | undefined {
    const row = isUniqueId(emailOrUniqueId) ? this.q.accountByUniqueId.get(emailOrUniqueId) : this.q.accountByEmail.get(emailOrUniqueId);
    return row && decodeAccount(row);
  }

  listServiceAccounts(project: string, after: string | undefined, limit: number): Page<ServiceAccount> {
    const n = Math.max(1, Math.floor(limit));
    return pageOf(this.q.listAccounts.all(project, after ?? '', n + 1).map(decodeAccount), n, (a) => a.email);
  }

  deleteServiceAccount(email: string): void {
    if (!this.q.accountByEmail.get(email)) throw err.serviceAccountNotFound(email);
    const member = serviceAccountMember(email);
    const pattern = likeMember(member);
    // LIKE only narrows the rows to read; withoutMember decides on the parsed bindings.
    for (const row of this.q.projectIamWithMember.all(pattern)) {
      const policy = decodeIam(row);
      const bindings = withoutMember(policy.bindings, member);
      if (bindings) this.setProjectIamPolicy(row.project, { version: policy.version, bindings }, undefined);
    }
    for (const row of this.q.registryIamWithMember.all(pattern)) {
      const policy = decodeIam(row);
      const bindings = withoutMember(policy.bindings, member);
      if (!bindings) continue;
      const next = nextPolicy(policy, { version: policy.version, bindings }, undefined);
      this.q.updateRegistryIam.run(next.version, JSON.stringify(next.bindings), next.etag, row.project, row.location, row.registry);
    }
    // Its keys go with it through ON DELETE CASCADE.
    this.q.deleteAccount.run(email);
  }

  createServiceAccountKey(key: ServiceAccountKey, maxKeys: number): ServiceAccountKey {
    if (!this.q.accountByEmail.get(key.email)) throw err.serviceAccountNotFound(key.email);
    if (this.q.keyById.get(key.keyId)) throw err.keyExists(key.keyId);
    if ((this.q.countKeys.get(key.email) ?? 0) >= maxKeys) throw err.keyLimit(key.email, maxKeys);
    this.q.insertKey.run(key.keyId, key.email, key.publicKeyPem, key.tokenUri, key.createTime, key.disabled ? 1 : 0);
    return { ...key };
  }

  getServiceAccountKey(keyId: string): ServiceAccountKey | undefined {
    const row = this.q.keyById.get(keyId);
    return row && decodeKey(row);
  }

  listServiceAccountKeys(email: string): ServiceAccountKey[] {
    return this.q.keysOfAccount.all(email).map(decodeKey);
  }

  setServiceAccountKeyDisabled(keyId: string, disabled: boolean): ServiceAccountKey {
    if (this.q.setKeyDisabled.run(disabled ? 1 : 0, keyId).changes === 0) throw err.keyNotFound(keyId);
    return decodeKey(this.q.keyById.get(keyId)!);
  }

  deleteServiceAccountKey(keyId: string): void {
    if (this.q.deleteKey.run(keyId).changes === 0) throw err.keyNotFound(keyId);
  }
}

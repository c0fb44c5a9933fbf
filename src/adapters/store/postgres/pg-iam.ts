import { serviceAccountMember } from '../../../domain/iam-evaluation.js';
import { emptyPolicy, nextPolicy, withMember, withoutMember } from '../../../domain/iam-policy.js';
import type { IamPolicy } from '../../../domain/model.js';
import { pageOf, type Page } from '../../../domain/paging.js';
import { isUniqueId, type ServiceAccount, type ServiceAccountKey } from '../../../domain/service-accounts.js';
import { decodeIam, likeMember, type IamRow } from '../sqlite/codec.js';
import * as err from '../store-errors.js';
import { query, type Queryable, type Sql } from './pg-codec.js';
import { PROJECT_IAM_LOCK_CLASS } from './pg-statements.js';

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
  disabled: boolean;
}

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
  disabled: r.disabled,
});

const sql = (name: string, text: string): Sql => ({ name: `bh_registry_iam_${name}`, text });

const ACCOUNT_COLUMNS = 'email, project, account_id, unique_id, display_name, description, create_time';
const KEY_SELECT = `SELECT k.key_id, k.email, a.project, k.public_key, k.token_uri, k.create_time, k.disabled
  FROM service_account_keys k JOIN service_accounts a ON a.email = k.email`;

const Q = {
  projectLock: sql('project_lock', `SELECT pg_advisory_xact_lock(${PROJECT_IAM_LOCK_CLASS}, hashtext($1))`),
  getProjectIam: sql('get_project', 'SELECT version, bindings, etag FROM project_iam_policies WHERE project = $1'),
  upsertProjectIam: sql(
    'upsert_project',
    `INSERT INTO project_iam_policies (project, version, bindings, etag) VALUES ($1, $2, $3, $4)
     ON CONFLICT (project) DO UPDATE SET version = excluded.version, bindings = excluded.bindings, etag = excluded.etag`,
  ),
  projectsWithMember: sql('projects_with_member', "SELECT project FROM project_iam_policies WHERE bindings ILIKE $1 ESCAPE '\\' ORDER BY project"),
  /** The registries whose policy names the member, locked as setIamPolicy locks them, in key order. */
  lockRegistriesWithMember: sql(
    'lock_registries_with_member',
    `SELECT r.project, r.location, r.id FROM registries r
     JOIN iam_policies p ON p.project = r.project AND p.location = r.location AND p.registry = r.id
     WHERE p.bindings ILIKE $1 ESCAPE '\\' ORDER BY r.project, r.location, r.id FOR NO KEY UPDATE OF r`,
  ),
  getRegistryIam: sql('get_registry', 'SELECT version, bindings, etag FROM iam_policies WHERE project = $1 AND location = $2 AND registry = $3'),
  updateRegistryIam: sql(
    'update_registry',
    'UPDATE iam_policies SET version = $4, bindings = $5, etag = $6 WHERE project = $1 AND location = $2 AND registry = $3',
  ),
  /** No row back: the e-mail or the unique ID is taken (either unique constraint). */
  insertAccount: sql('insert_account', `INSERT INTO service_accounts (${ACCOUNT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING email`),
  accountByEmail: sql('account_by_email', `SELECT ${ACCOUNT_COLUMNS} FROM service_accounts WHERE email = $1`),
  accountByUniqueId: sql('account_by_unique_id', `SELECT ${ACCOUNT_COLUMNS} FROM service_accounts WHERE unique_id = $1`),
  listAccounts: sql('list_accounts', `SELECT ${ACCOUNT_COLUMNS} FROM service_accounts WHERE project = $1 AND email > $2 ORDER BY email LIMIT $3`),
  deleteAccount: sql('delete_account', 'DELETE FROM service_accounts WHERE email = $1 RETURNING email'),
  /** Serializes key creation per account, so the key limit holds between nodes. */
  lockAccount: sql('lock_account', 'SELECT 1 AS one FROM service_accounts WHERE email = $1 FOR NO KEY UPDATE'),
  keyCheck: sql(
    'key_check',
    `SELECT EXISTS (SELECT 1 FROM service_account_keys WHERE key_id = $1) AS taken,
       (SELECT count(*) FROM service_account_keys WHERE email = $2) AS keys`,
  ),
  insertKey: sql(
    'insert_key',
    'INSERT INTO service_account_keys (key_id, email, public_key, token_uri, create_time, disabled) VALUES ($1, $2, $3, $4, $5, $6)',
  ),
  keyById: sql('key_by_id', `${KEY_SELECT} WHERE k.key_id = $1`),
  keysOfAccount: sql('keys_of_account', `${KEY_SELECT} WHERE k.email = $1 ORDER BY k.create_time, k.key_id`),
  setKeyDisabled: sql(
    'set_key_disabled',
    `WITH u AS (UPDATE service_account_keys SET disabled = $2 WHERE key_id = $1 RETURNING *)
     SELECT u.key_id, u.email, a.project, u.public_key, u.token_uri, u.create_time, u.disabled FROM u JOIN service_accounts a ON a.email = u.email`,
  ),
  deleteKey: sql('delete_key', 'DELETE FROM service_account_keys WHERE key_id = $1 RETURNING key_id'),
};

const policyParams = (p: IamPolicy): unknown[] => [p.version, JSON.stringify(p.bindings), Buffer.from(p.etag)];

/**
 * Project policies, service accounts and their keys on PostgreSQL. Writes take a client inside the
 * store's transaction; every read-modify-write first takes the lock that orders its writers
 * (project: an advisory lock, since the policy row may not exist yet; registry: its row; account:
 * its row), then reads in a later statement, which in READ COMMITTED sees what the previous holder
 * committed.
 */
export const pgIam = {
  async getProjectIamPolicy(db: Queryable, project: string): Promise<IamPolicy> {
    const [row] = await query<IamRow>(db, Q.getProjectIam, [project]);
    return row ? decodeIam(row) : emptyPolicy();
  },

  async setProjectIamPolicy(c: Queryable, project: string, policy: Omit<IamPolicy, 'etag'>, expectedEtag: Uint8Array | undefined): Promise<IamPolicy> {
    await query(c, Q.projectLock, [project]);
    const next = nextPolicy(await pgIam.getProjectIamPolicy(c, project), policy, expectedEtag);
    await query(c, Q.upsertProjectIam, [project, ...policyParams(next)]);
    return next;
  },

  async createServiceAccount(c: Queryable, a: ServiceAccount, projectRoles: readonly string[]): Promise<ServiceAccount> {
    const inserted = await query(c, Q.insertAccount, [a.email, a.project, a.accountId, a.uniqueId, a.displayName, a.description, a.createTime]);
    if (inserted.length === 0) throw err.serviceAccountExists(a.email);
    if (projectRoles.length > 0) {
      await query(c, Q.projectLock, [a.project]);
      const current = await pgIam.getProjectIamPolicy(c, a.project);
      let bindings = current.bindings;
      for (const role of projectRoles) bindings = withMember(bindings, role, serviceAccountMember(a.email));
      const next = nextPolicy(current, { version: current.version || 1, bindings }, undefined);
      await query(c, Q.upsertProjectIam, [a.project, ...policyParams(next)]);
    }
    return { ...a };
  },

  async getServiceAccount(db: Queryable, emailOrUniqueId: string): Promise<ServiceAccount | undefined> {
    const [row] = await query<AccountRow>(db, isUniqueId(emailOrUniqueId) ? Q.accountByUniqueId : Q.accountByEmail, [emailOrUniqueId]);
    return row && decodeAccount(row);
  },

  async listServiceAccounts(db: Queryable, project: string, after: string | undefined, limit: number): Promise<Page<ServiceAccount>> {
    const n = Math.max(1, Math.floor(limit));
    const rows = await query<AccountRow>(db, Q.listAccounts, [project, after ?? '', n + 1]);
    return pageOf(rows.map(decodeAccount), n, (a) => a.email);
  },

  async deleteServiceAccount(c: Queryable, email: string): Promise<void> {
    // Its keys go with it through ON DELETE CASCADE.
    if ((await query(c, Q.deleteAccount, [email])).length === 0) throw err.serviceAccountNotFound(email);
    const member = serviceAccountMember(email);
    const pattern = likeMember(member);
    // ILIKE only narrows the rows to read; withoutMember decides on the parsed bindings.
    for (const { project } of await query<{ project: string }>(c, Q.projectsWithMember, [pattern])) {
      await query(c, Q.projectLock, [project]);
      const policy = await pgIam.getProjectIamPolicy(c, project);
      const bindings = withoutMember(policy.bindings, member);
      if (bindings) await query(c, Q.upsertProjectIam, [project, ...policyParams(nextPolicy(policy, { version: policy.version, bindings }, undefined))]);
    }
    const locked = await query<{ project: string; location: string; id: string }>(c, Q.lockRegistriesWithMember, [pattern]);
    for (const r of locked) {
      const key = [r.project, r.location, r.id];
      const [row] = await query<IamRow>(c, Q.getRegistryIam, key);
      if (!row) continue;
      const policy = decodeIam(row);
      const bindings = withoutMember(policy.bindings, member);
      if (bindings) await query(c, Q.updateRegistryIam, [...key, ...policyParams(nextPolicy(policy, { version: policy.version, bindings }, undefined))]);
    }
  },

  async createServiceAccountKey(c: Queryable, key: ServiceAccountKey, maxKeys: number): Promise<ServiceAccountKey> {
    if ((await query(c, Q.lockAccount, [key.email])).length === 0) throw err.serviceAccountNotFound(key.email);
    const [check] = await query<{ taken: boolean; keys: number }>(c, Q.keyCheck, [key.keyId, key.email]);
    if (check?.taken) throw err.keyExists(key.keyId);
    if ((check?.keys ?? 0) >= maxKeys) throw err.keyLimit(key.email, maxKeys);
    await query(c, Q.insertKey, [key.keyId, key.email, key.publicKeyPem, key.tokenUri, key.createTime, key.disabled]);
    return { ...key };
  },

  async getServiceAccountKey(db: Queryable, keyId: string): Promise<ServiceAccountKey | undefined> {
    const [row] = await query<KeyRow>(db, Q.keyById, [keyId]);
    return row && decodeKey(row);
  },

  async listServiceAccountKeys(db: Queryable, email: string): Promise<ServiceAccountKey[]> {
    return (await query<KeyRow>(db, Q.keysOfAccount, [email])).map(decodeKey);
  },

  async setServiceAccountKeyDisabled(db: Queryable, keyId: string, disabled: boolean): Promise<ServiceAccountKey> {
    const [row] = await query<KeyRow>(db, Q.setKeyDisabled, [keyId, disabled]);
    if (!row) throw err.keyNotFound(keyId);
    return decodeKey(row);
  },

  async deleteServiceAccountKey(db: Queryable, keyId: string): Promise<void> {
    if ((await query(db, Q.deleteKey, [keyId])).length === 0) throw err.keyNotFound(keyId);
  },
};

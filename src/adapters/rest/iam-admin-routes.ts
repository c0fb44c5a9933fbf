import { ApiError } from '../../domain/errors.js';
import { keyFileText } from '../../domain/key-file.js';
import { keyName, serviceAccountName, type ServiceAccount, type ServiceAccountKey } from '../../domain/service-accounts.js';
import type { Principal } from '../../services/api-auth.js';
import type { ServiceAccountAdmin } from '../../services/service-account-admin.js';
import type { RestRequest } from './device-manager-routes.js';
import { queryList, queryString, readArray, readInt, readObject, readString, type JsonObject } from './json-read.js';
import { policyJson, readPolicyMessage, timestamp } from './resource-json.js';

/**
 * Service accounts over REST, shaped like Google's IAM Admin API v1 (docs/compat.md C-SA-API):
 *
 *   POST   /v1/projects/{p}/serviceAccounts                      {accountId, serviceAccount, roles?}
 *   GET    /v1/projects/{p}/serviceAccounts                      ?pageSize&pageToken -> {accounts, nextPageToken}
 *   GET    /v1/projects/{p}/serviceAccounts/{email}
 *   DELETE /v1/projects/{p}/serviceAccounts/{email}
 *   POST   /v1/projects/{p}/serviceAccounts/{email}/keys         -> the key with privateKeyData (the key file, once)
 *   GET    /v1/projects/{p}/serviceAccounts/{email}/keys         ?keyTypes -> {keys}
 *   GET    /v1/projects/{p}/serviceAccounts/{email}/keys/{id}
 *   DELETE /v1/projects/{p}/serviceAccounts/{email}/keys/{id}
 *   POST   /v1/projects/{p}/serviceAccounts/{email}/keys/{id}:disable | :enable
 *
 * and the project's own policy as Resource Manager v1 has it: POST /v1/projects/{p}:getIamPolicy,
 * :setIamPolicy. `{email}` may also be the unique ID, and `{p}` `-`, as with Google.
 */

/** True for the paths this module serves (the rest of `/v1/projects/...` is the Device Manager's). */
export const isIamAdminPath = (segments: readonly string[]): boolean =>
  segments[0] === 'projects' && (segments.length === 2 || segments[2] === 'serviceAccounts');

export interface IamRestRequest extends RestRequest {
  /** `scheme://host[:port]` as the client reached the server. */
  origin: string;
}

const EMPTY: JsonObject = {};

/** The `shape[:verb] METHOD` key the switch below answers by, for metrics. */
export const iamAdminRouteKey = (segments: readonly string[], verb: string | undefined, method: string): string =>
  `${routeShape(segments)}${verb ? `:${verb}` : ''} ${method}`;

export async function handleIamAdmin(req: IamRestRequest, admin: ServiceAccountAdmin, caller: Principal): Promise<JsonObject> {
  const s = req.segments;
  const name = s.join('/');
  const route = `${routeShape(s)}${req.verb ? `:${req.verb}` : ''} ${req.method}`;
  switch (route) {
    case 'P:getIamPolicy POST':
      return policyJson(await admin.getProjectIamPolicy(caller, { resource: name }));
    case 'P:setIamPolicy POST':
      return policyJson(await admin.setProjectIamPolicy(caller, { resource: name, policy: readPolicyMessage(req.body?.policy) }));
    case 'P/serviceAccounts POST': {
      const saObject = readObject(req.body?.serviceAccount, 'service_account');
      const account = await admin.createServiceAccount(caller, {
        name: parent(s),
        accountId: readString(req.body?.accountId, 'account_id'),
        serviceAccount: {
          displayName: readString(saObject?.displayName, 'service_account.display_name'),
          description: readString(saObject?.description, 'service_account.description'),
        },
        roles: (readArray(req.body?.roles, 'roles') ?? []).map((r, i) => readString(r, `roles[${i}]`) ?? ''),
      });
      return accountJson(account);
    }
    case 'P/serviceAccounts GET': {
      const page = await admin.listServiceAccounts(caller, {
        name: parent(s),
        pageSize: readInt(queryString(req.query.pageSize ?? req.query.page_size), 'page_size') ?? 0,
        pageToken: queryString(req.query.pageToken ?? req.query.page_token),
      });
      const out: JsonObject = page.accounts.length ? { accounts: page.accounts.map(accountJson) } : {};
      if (page.nextPageToken) out.nextPageToken = page.nextPageToken;
      return out;
    }
    case 'PA GET':
      return accountJson(await admin.getServiceAccount(caller, { name }));
    case 'PA DELETE':
      await admin.deleteServiceAccount(caller, { name });
      return EMPTY;
    case 'PA/keys POST': {
      const { key, keyFile } = await admin.createKey(caller, {
        name: s.slice(0, 4).join('/'),
        privateKeyType: readString(req.body?.privateKeyType, 'private_key_type'),
        keyAlgorithm: readString(req.body?.keyAlgorithm, 'key_algorithm'),
        origin: req.origin,
      });
      return {
        ...keyJson(key),
        privateKeyType: 'TYPE_GOOGLE_CREDENTIALS_FILE',
        privateKeyData: Buffer.from(keyFileText(keyFile), 'utf8').toString('base64'),
      };
    }
    case 'PA/keys GET': {
      const keys = await admin.listKeys(caller, { name: s.slice(0, 4).join('/'), keyTypes: queryList(req.query.keyTypes ?? req.query.key_types) });
      return keys.length ? { keys: keys.map(keyJson) } : EMPTY;
    }
    case 'PAK GET':
      return keyJson(await admin.getKey(caller, { name }));
    case 'PAK DELETE':
      await admin.deleteKey(caller, { name });
      return EMPTY;
    case 'PAK:disable POST':
      await admin.disableKey(caller, { name });
      return EMPTY;
    case 'PAK:enable POST':
      await admin.enableKey(caller, { name });
      return EMPTY;
  }
  const known = ['P:getIamPolicy', 'P:setIamPolicy', 'P/serviceAccounts', 'PA', 'PA/keys', 'PAK', 'PAK:disable', 'PAK:enable'];
  if (known.includes(route.split(' ')[0]!)) {
    throw new ApiError('UNIMPLEMENTED', `Method ${req.method} is not allowed on this resource.`, { reason: 'METHOD_NOT_ALLOWED' });
  }
  throw new ApiError('NOT_FOUND', `No method at /v1/${name}${req.verb ? `:${req.verb}` : ''}.`, { reason: 'NO_SUCH_METHOD' });
}

/** P = projects/p, A = serviceAccounts/a, K = keys/k; a trailing collection keeps its name. */
function routeShape(s: readonly string[]): string {
  const labels = ['projects', 'serviceAccounts', 'keys'];
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const label = labels[i >> 1];
    if (i % 2 === 0) {
      if (i === s.length - 1) return `${out}/${s[i]}`;
      if (s[i] !== label) return '?';
    } else {
      if (s[i] === '') return '?';
      out += label === 'projects' ? 'P' : label === 'serviceAccounts' ? 'A' : 'K';
    }
  }
  return out;
}

const parent = (s: readonly string[]): string => s.slice(0, 2).join('/');

export function accountJson(a: ServiceAccount): JsonObject {
  const out: JsonObject = { name: serviceAccountName(a), projectId: a.project, uniqueId: a.uniqueId, email: a.email };
  if (a.displayName) out.displayName = a.displayName;
  if (a.description) out.description = a.description;
  out.oauth2ClientId = a.uniqueId;
  return out;
}

export function keyJson(k: ServiceAccountKey): JsonObject {
  const out: JsonObject = {
    name: keyName(k),
    validAfterTime: timestamp(k.createTime),
    // User-managed keys do not expire, which Google reports as the end of year 9999.
    validBeforeTime: '9999-12-31T23:59:59Z',
    keyAlgorithm: 'KEY_ALG_RSA_2048',
    keyOrigin: 'GOOGLE_PROVIDED',
    keyType: 'USER_MANAGED',
  };
  if (k.disabled) out.disabled = true;
  return out;
}

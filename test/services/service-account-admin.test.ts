import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { describe, it } from 'node:test';
import { NodeServiceAccountCrypto } from '../../src/adapters/crypto/service-account-crypto.js';
import { MemoryStore } from '../../src/adapters/store/memory/memory-store.js';
import { ApiError } from '../../src/domain/errors.js';
import type { ErrorReason } from '../../src/domain/error-reasons.js';
import { ApiAuth, type Principal } from '../../src/services/api-auth.js';
import type { BusEvent } from '../../src/services/ports.js';
import { ServiceAccountAdmin } from '../../src/services/service-account-admin.js';

const ADMIN: Principal = { kind: 'admin' };
const T0 = Date.UTC(2030, 0, 1);
const EMAIL = 'robot-01@proj.iam.gserviceaccount.com';
const ACCOUNT = `projects/proj/serviceAccounts/${EMAIL}`;

function setup(tokenUri?: string) {
  const store = new MemoryStore();
  const forgotten: string[] = [];
  const events: BusEvent[] = [];
  const admin = new ServiceAccountAdmin({
    store,
    crypto: new NodeServiceAccountCrypto(),
    clock: { now: () => T0 },
    auth: new ApiAuth('admin-token-0123456789abcdef', { credentials: { authenticateJwt: async () => assert.fail(), authenticateAccessToken: () => undefined, requireUsableKey: async () => undefined }, policies: store }),
    credentials: { forgetKey: (k) => void forgotten.push(k) },
    bus: { publish: async (e) => void events.push(e) },
    tokenUri,
  });
  return { store, admin, forgotten, events };
}

async function failsWith(p: Promise<unknown>, reason: ErrorReason, field?: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ApiError, String(e));
    assert.equal(e.reason, reason, e.message);
    if (field !== undefined) assert.equal(e.field, field);
    return true;
  });
}

describe('ServiceAccountAdmin', () => {
  it('creates an account with Google\'s names and grants its roles on the project', async () => {
    const { admin, store } = setup();
    const a = await admin.createServiceAccount(ADMIN, {
      name: 'projects/proj',
      accountId: 'robot-01',
      serviceAccount: { displayName: 'Robot' },
      roles: ['roles/cloudiot.viewer', 'roles/cloudiot.viewer'],
    });
    assert.equal(a.email, EMAIL);
    assert.match(a.uniqueId, /^[1-9]\d{20}$/);
    assert.equal(a.displayName, 'Robot');
    assert.deepEqual((await store.getProjectIamPolicy('proj')).bindings, [{ role: 'roles/cloudiot.viewer', members: [`serviceAccount:${EMAIL}`] }]);
    assert.deepEqual(await admin.getServiceAccount(ADMIN, { name: `projects/-/serviceAccounts/${a.uniqueId}` }), a);
    await failsWith(admin.getServiceAccount(ADMIN, { name: `projects/other/serviceAccounts/${EMAIL}` }), 'SERVICE_ACCOUNT_NOT_FOUND');
    await failsWith(admin.createServiceAccount(ADMIN, { name: 'projects/proj', accountId: 'robot-01' }), 'SERVICE_ACCOUNT_EXISTS');
  });

  it('validates every field of a create, naming it', async () => {
    const { admin, store } = setup();
    await failsWith(admin.createServiceAccount(ADMIN, { name: 'projects/proj' }), 'REQUIRED_FIELD', 'account_id');
    await failsWith(admin.createServiceAccount(ADMIN, { name: 'projects/proj', accountId: 'Bad_Id' }), 'INVALID_FIELD', 'account_id');
    await failsWith(admin.createServiceAccount(ADMIN, { name: 'projects/proj', accountId: 'robot-01', roles: ['roles/cloudiot.viewer', 'roles/storage.admin'] }), 'INVALID_FIELD', 'roles[1]');
    await failsWith(admin.createServiceAccount(ADMIN, { name: 'projects/proj', accountId: 'robot-01', serviceAccount: { displayName: 'x'.repeat(101) } }), 'INVALID_FIELD', 'service_account.display_name');
    await failsWith(admin.createServiceAccount(ADMIN, { name: 'projects/Ex:ample', accountId: 'robot-01' }), 'INVALID_FIELD', 'name');
    await failsWith(admin.createServiceAccount(ADMIN, { name: 'projects/proj/x', accountId: 'robot-01' }), 'INVALID_FIELD', 'name');
    assert.deepEqual((await store.listServiceAccounts('proj', undefined, 10)).items, []);
  });

  it('a key comes back once as Google\'s key file; only its public part is stored', async () => {
    const { admin, store } = setup();
    await admin.createServiceAccount(ADMIN, { name: 'projects/proj', accountId: 'robot-01' });
    const { key, keyFile } = await admin.createKey(ADMIN, { name: ACCOUNT, origin: 'http://127.0.0.1:8080' });
    assert.match(key.keyId, /^[0-9a-f]{40}$/);
    const account = await store.getServiceAccount(EMAIL);
    assert.deepEqual(Object.keys(keyFile), [
      'type',
      'project_id',
      'private_key_id',
      'private_key',
      'client_email',
      'client_id',
      'auth_uri',
      'token_uri',
      'auth_provider_x509_cert_url',
      'client_x509_cert_url',
      'universe_domain',
    ]);
    assert.deepEqual({ ...keyFile, private_key: '' }, {
      type: 'service_account',
      project_id: 'proj',
      private_key_id: key.keyId,
      private_key: '',
      client_email: EMAIL,
      client_id: account!.uniqueId,
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: 'http://127.0.0.1:8080/token',
      auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
      client_x509_cert_url: 'https://www.googleapis.com/robot/v1/metadata/x509/robot-01%40proj.iam.gserviceaccount.com',
      universe_domain: 'googleapis.com',
    });
    assert.match(keyFile.private_key, /^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/);
    const priv = createPrivateKey(keyFile.private_key);
    assert.equal(priv.asymmetricKeyType, 'rsa');
    assert.equal(priv.asymmetricKeyDetails?.modulusLength, 2048);
    const stored = await store.getServiceAccountKey(key.keyId);
    const signature = sign('sha256', Buffer.from('x'), priv);
    assert.ok(verify('sha256', Buffer.from('x'), createPublicKey(stored!.publicKeyPem), signature), 'the stored public key is the pair of the file\'s private key');
    assert.ok(!JSON.stringify(stored).includes('PRIVATE'), 'no private key is stored');
  });

  it('token_uri is the configured one when there is one; unknown key types and algorithms are refused', async () => {
    const { admin } = setup('https://iot.example.com/token');
    await admin.createServiceAccount(ADMIN, { name: 'projects/proj', accountId: 'robot-01' });
    assert.equal((await admin.createKey(ADMIN, { name: ACCOUNT, origin: 'http://127.0.0.1:1' })).keyFile.token_uri, 'https://iot.example.com/token');
    await failsWith(admin.createKey(ADMIN, { name: ACCOUNT, origin: 'x', privateKeyType: 'TYPE_PKCS12_FILE' }), 'INVALID_FIELD', 'private_key_type');
    await failsWith(admin.createKey(ADMIN, { name: ACCOUNT, origin: 'x', keyAlgorithm: 'KEY_ALG_RSA_1024' }), 'INVALID_FIELD', 'key_algorithm');
  });

  it('disabling or deleting a key, or deleting its account, revokes it here and tells the other nodes', async () => {
    const { admin, forgotten, events } = setup();
    await admin.createServiceAccount(ADMIN, { name: 'projects/proj', accountId: 'robot-01' });
    const k1 = (await admin.createKey(ADMIN, { name: ACCOUNT, origin: 'http://h' })).key.keyId;
    const k2 = (await admin.createKey(ADMIN, { name: ACCOUNT, origin: 'http://h' })).key.keyId;
    const k3 = (await admin.createKey(ADMIN, { name: ACCOUNT, origin: 'http://h' })).key.keyId;
    await admin.disableKey(ADMIN, { name: `${ACCOUNT}/keys/${k1}` });
    assert.equal((await admin.getKey(ADMIN, { name: `${ACCOUNT}/keys/${k1}` })).disabled, true);
    await admin.enableKey(ADMIN, { name: `${ACCOUNT}/keys/${k1}` });
    assert.equal((await admin.getKey(ADMIN, { name: `${ACCOUNT}/keys/${k1}` })).disabled, false);
    await admin.deleteKey(ADMIN, { name: `${ACCOUNT}/keys/${k2}` });
    assert.deepEqual(forgotten, [k1, k2]);
    await admin.deleteServiceAccount(ADMIN, { name: ACCOUNT });
    assert.deepEqual(forgotten.slice(2).sort(), [k1, k3].sort());
    assert.deepEqual(events, forgotten.map((keyId) => ({ type: 'service-account-key-revoked', keyId })));
  });

  it('a key is found only under its own account; key types filter the list', async () => {
    const { admin } = setup();
    await admin.createServiceAccount(ADMIN, { name: 'projects/proj', accountId: 'robot-01' });
    await admin.createServiceAccount(ADMIN, { name: 'projects/proj', accountId: 'robot-02' });
    const other = 'projects/proj/serviceAccounts/robot-02@proj.iam.gserviceaccount.com';
    const k = (await admin.createKey(ADMIN, { name: ACCOUNT, origin: 'http://h' })).key;
    await failsWith(admin.getKey(ADMIN, { name: `${other}/keys/${k.keyId}` }), 'KEY_NOT_FOUND');
    await failsWith(admin.disableKey(ADMIN, { name: `${other}/keys/${k.keyId}` }), 'KEY_NOT_FOUND');
    await failsWith(admin.getKey(ADMIN, { name: `${ACCOUNT}/keys/not-hex` }), 'INVALID_FIELD', 'name');
    assert.deepEqual((await admin.listKeys(ADMIN, { name: ACCOUNT })).map((x) => x.keyId), [k.keyId]);
    assert.deepEqual(await admin.listKeys(ADMIN, { name: ACCOUNT, keyTypes: ['SYSTEM_MANAGED'] }), []);
    assert.equal((await admin.listKeys(ADMIN, { name: ACCOUNT, keyTypes: ['USER_MANAGED'] })).length, 1);
    await failsWith(admin.listKeys(ADMIN, { name: ACCOUNT, keyTypes: ['ALL'] }), 'INVALID_FIELD', 'key_types[0]');
  });

  it('lists page by page; only the admin may manage accounts, keys and project policies', async () => {
    const { admin } = setup();
    for (let i = 1; i <= 3; i++) await admin.createServiceAccount(ADMIN, { name: 'projects/proj', accountId: `robot-0${i}` });
    const first = await admin.listServiceAccounts(ADMIN, { name: 'projects/proj', pageSize: 2 });
    assert.deepEqual(first.accounts.map((a) => a.accountId), ['robot-01', 'robot-02']);
    const second = await admin.listServiceAccounts(ADMIN, { name: 'projects/proj', pageSize: 2, pageToken: first.nextPageToken });
    assert.deepEqual(second.accounts.map((a) => a.accountId), ['robot-03']);
    assert.equal(second.nextPageToken, '');

    const robot: Principal = { kind: 'service-account', email: EMAIL, project: 'proj' };
    await admin.setProjectIamPolicy(ADMIN, { resource: 'projects/proj', policy: { bindings: [{ role: 'roles/owner', members: [`serviceAccount:${EMAIL}`] }] } });
    for (const [call, permission] of [
      [() => admin.createServiceAccount(robot, { name: 'projects/proj', accountId: 'robot-09' }), 'iam.serviceAccounts.create'],
      [() => admin.createKey(robot, { name: ACCOUNT, origin: 'http://h' }), 'iam.serviceAccountKeys.create'],
      [() => admin.listServiceAccounts(robot, { name: 'projects/proj' }), 'iam.serviceAccounts.list'],
      [() => admin.setProjectIamPolicy(robot, { resource: 'projects/proj', policy: {} }), 'resourcemanager.projects.setIamPolicy'],
    ] as const) {
      await assert.rejects(call(), (e: unknown) => e instanceof ApiError && e.kind === 'PERMISSION_DENIED' && e.message.includes(`"${permission}"`));
    }
  });
});

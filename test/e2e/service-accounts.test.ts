import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import iot from '@google-cloud/iot';
import { GoogleAuth } from 'google-auth-library';
import { readSignerKey, selfSignedJwt } from '../../src/cli/credentials.js';
import { rejectsWith } from '../support/iot-client.js';
import { run } from '../support/processes.js';
import { apiClaims, hs256, rs256, unsigned } from '../support/sa-jwt.js';
import { api, runCli, startServer, type StartedServer } from '../support/server.js';

/**
 * Service accounts end to end (docs/compat.md C-SA-*, C-IAM-EVAL): keys Bridgehead issued, used by
 * the real @google-cloud/iot client (REST) through a GoogleAuth and through
 * GOOGLE_APPLICATION_CREDENTIALS, by Python's way of exchanging a key for an access token at
 * token_uri, and by the CLI; roles enforced; disabled keys refused.
 */

const P = 'proj-sa';
const L = 'us-central1';
const REG = `projects/${P}/locations/${L}/registries/reg-sa`;
const PY_SCRIPT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../test/e2e/sa_token_exchange.py');

type Client = InstanceType<typeof iot.v1.DeviceManagerClient>;

describe('service accounts through Google\'s clients', () => {
  let server: StartedServer;
  let dir: string;
  const clients: Client[] = [];

  before(async () => {
    server = await startServer();
    dir = mkdtempSync(join(tmpdir(), 'bridgehead-sa-'));
    await admin('POST', `/v1/projects/${P}/locations/${L}/registries`, { id: 'reg-sa' });
    await admin('POST', `/v1/${REG}/devices`, { id: 'dev-1' });
    await admin('POST', `/v1/${REG}/devices`, { id: 'dev-2' });
  });
  after(async () => {
    for (const c of clients) await c.close();
    await server.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  /** An admin call that must succeed. */
  async function admin(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
    const r = await api(server, method, path, body);
    assert.ok(r.status === 200, `${method} ${path}: ${r.status} ${JSON.stringify(r.json)}`);
    return r.json;
  }

  /** A service account with project roles and one key, its key file written to disk. */
  async function account(id: string, roles: string[]): Promise<{ email: string; keyFile: string; keyId: string }> {
    const created = await admin('POST', `/v1/projects/${P}/serviceAccounts`, { accountId: id, roles });
    const email = String(created.email);
    const key = await admin('POST', `/v1/projects/${P}/serviceAccounts/${email}/keys`, {});
    const keyFile = join(dir, `${id}.json`);
    writeFileSync(keyFile, Buffer.from(String(key.privateKeyData), 'base64'), { mode: 0o600 });
    return { email, keyFile, keyId: String(key.name).split('/').pop()! };
  }

  function client(auth?: GoogleAuth): Client {
    const url = new URL(server.api);
    const c = new iot.v1.DeviceManagerClient({ apiEndpoint: url.hostname, port: Number(url.port), protocol: 'http', fallback: true, ...(auth ? { auth } : {}) });
    clients.push(c);
    return c;
  }

  /** A raw call with a bearer credential; the reason header says why a refusal happened. */
  async function bearer(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; reason: string | null; json: Record<string, unknown> }> {
    const res = await fetch(`${server.api}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, reason: res.headers.get('x-bridgehead-error-reason'), json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }

  it('a viewer key in a GoogleAuth can list and read but not create; testIamPermissions answers from its roles', async () => {
    const viewer = await account('viewer-01', ['roles/cloudiot.viewer']);
    const c = client(new GoogleAuth({ keyFile: viewer.keyFile, scopes: ['https://www.googleapis.com/auth/cloud-platform'] }));
    const [devices] = await c.listDevices({ parent: REG }, { autoPaginate: false });
    assert.deepEqual(devices.map((d) => d.id), ['dev-1', 'dev-2']);
    const [registries] = await c.listDeviceRegistries({ parent: `projects/${P}/locations/${L}` }, { autoPaginate: false });
    assert.deepEqual(registries.map((r) => r.id), ['reg-sa']);
    await rejectsWith(c.createDevice({ parent: REG, device: { id: 'dev-new' } }), 'PERMISSION_DENIED', /cloudiot\.devices\.create/);
    await rejectsWith(c.createDeviceRegistry({ parent: `projects/${P}/locations/${L}`, deviceRegistry: { id: 'reg-new' } }), 'PERMISSION_DENIED', /cloudiot\.registries\.create/);
    await rejectsWith(c.getIamPolicy({ resource: REG }), 'PERMISSION_DENIED', /cloudiot\.registries\.getIamPolicy/);
    const [granted] = await c.testIamPermissions({
      resource: REG,
      permissions: ['cloudiot.devices.get', 'cloudiot.devices.create', 'cloudiot.devices.updateConfig', 'cloudiot.registries.list'],
    });
    assert.deepEqual(granted.permissions, ['cloudiot.devices.get', 'cloudiot.registries.list']);
    assert.equal((await api(server, 'GET', `/v1/${REG}/devices/dev-new`)).status, 404, 'nothing was created');
  });

  it('a deviceController key from GOOGLE_APPLICATION_CREDENTIALS pushes config but cannot delete; disabling the key stops it at once', async () => {
    const controller = await account('controller-01', ['roles/cloudiot.deviceController']);
    const saved = process.env.GOOGLE_APPLICATION_CREDENTIALS;
    process.env.GOOGLE_APPLICATION_CREDENTIALS = controller.keyFile;
    try {
      // No credentials in the code: Application Default Credentials find the key file.
      const c = client();
      const [config] = await c.modifyCloudToDeviceConfig({ name: `${REG}/devices/dev-1`, binaryData: Buffer.from('on') });
      assert.equal(Number(config.version), 2);
      await rejectsWith(c.deleteDevice({ name: `${REG}/devices/dev-1` }), 'PERMISSION_DENIED', /cloudiot\.devices\.delete/);
      await rejectsWith(c.updateDevice({ device: { name: `${REG}/devices/dev-1`, blocked: true }, updateMask: { paths: ['blocked'] } }), 'PERMISSION_DENIED');

      await admin('POST', `/v1/projects/${P}/serviceAccounts/${controller.email}/keys/${controller.keyId}:disable`, {});
      // The client reuses the JWT it signed (Bridgehead had cached it verified): refused all the same.
      await rejectsWith(c.getDevice({ name: `${REG}/devices/dev-1` }), 'UNAUTHENTICATED', /disabled/);
      await admin('POST', `/v1/projects/${P}/serviceAccounts/${controller.email}/keys/${controller.keyId}:enable`, {});
      const [again] = await c.getDevice({ name: `${REG}/devices/dev-1` });
      assert.equal(again.id, 'dev-1');
    } finally {
      if (saved === undefined) delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
      else process.env.GOOGLE_APPLICATION_CREDENTIALS = saved;
    }
    assert.equal((await api(server, 'GET', `/v1/${REG}/devices/dev-1`)).status, 200, 'the device survived');
  });

  it('Python\'s way: the key is exchanged at token_uri for an access token, revoked when the key is disabled', async () => {
    const exchanger = await account('exchanger-01', ['roles/cloudiot.viewer']);
    const keyFile = JSON.parse(readFileSync(exchanger.keyFile, 'utf8')) as { token_uri: string };
    assert.equal(keyFile.token_uri, `${server.api}/token`);
    const r = await run('python3', [PY_SCRIPT, exchanger.keyFile, server.api, `/v1/${REG}/devices`]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { token_status: number; token: Record<string, unknown>; api_status: number; api: { devices?: { id: string }[] } };
    assert.equal(out.token_status, 200, JSON.stringify(out.token));
    assert.deepEqual(Object.keys(out.token).sort(), ['access_token', 'expires_in', 'token_type']);
    assert.equal(out.token.token_type, 'Bearer');
    assert.equal(out.token.expires_in, 3600);
    assert.equal(out.api_status, 200);
    assert.deepEqual(out.api.devices?.map((d) => d.id), ['dev-1', 'dev-2']);

    const accessToken = String(out.token.access_token);
    assert.equal((await bearer(accessToken, 'POST', `/v1/${REG}/devices`, { id: 'dev-x' })).status, 403);
    await admin('POST', `/v1/projects/${P}/serviceAccounts/${exchanger.email}/keys/${exchanger.keyId}:disable`, {});
    const refused = await bearer(accessToken, 'GET', `/v1/${REG}/devices`);
    assert.equal(refused.status, 401);
    assert.equal(refused.reason, 'ACCESS_TOKEN_REVOKED');
    // And the key cannot be exchanged again while disabled.
    const again = await run('python3', [PY_SCRIPT, exchanger.keyFile, server.api, `/v1/${REG}/devices`]);
    const denied = JSON.parse(again.stdout) as { token_status: number; token: { error: string; error_description: string } };
    assert.equal(denied.token_status, 400);
    assert.equal(denied.token.error, 'invalid_grant');
    assert.match(denied.token.error_description, /disabled/);
  });

  it('the token endpoint answers in OAuth\'s error format, naming what is wrong', async () => {
    const post = async (body: string, type = 'application/x-www-form-urlencoded') => {
      const res = await fetch(`${server.api}/token`, { method: 'POST', headers: { 'content-type': type }, body });
      return { status: res.status, json: (await res.json()) as { error?: string; error_description?: string; access_token?: string } };
    };
    const grant = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
    assert.deepEqual((await post('grant_type=client_credentials')).json.error, 'unsupported_grant_type');
    assert.deepEqual((await post('')).json.error, 'invalid_request');
    assert.deepEqual((await post(`grant_type=${encodeURIComponent(grant)}`)).json, { error: 'invalid_request', error_description: 'Missing required parameter: assertion.' });
    const none = await post(`grant_type=${encodeURIComponent(grant)}&assertion=${unsigned({ kid: 'k' }, { iss: 'x' })}`);
    assert.equal(none.status, 400);
    assert.equal(none.json.error, 'invalid_grant');
    assert.match(none.json.error_description!, /"none" is not accepted/);

    const scoped = await account('scoped-01', []);
    const key = readSignerKey(readFileSync(scoped.keyFile, 'utf8'), scoped.keyFile);
    const nowS = Math.floor(Date.now() / 1000);
    const claims = { iss: scoped.email, aud: `${server.api}/token`, iat: nowS, exp: nowS + 3600 };
    const wrongScope = await post(`grant_type=${encodeURIComponent(grant)}&assertion=${rs256({ kid: scoped.keyId }, { ...claims, scope: 'email' }, key.private_key)}`);
    assert.equal(wrongScope.json.error, 'invalid_scope');
    const json = await post(JSON.stringify({ grant_type: grant, assertion: rs256({ kid: scoped.keyId }, { ...claims, scope: 'https://www.googleapis.com/auth/cloudiot' }, key.private_key) }), 'application/json');
    assert.equal(json.status, 200, JSON.stringify(json.json));
    assert.match(json.json.access_token!, /^bh1\./);
  });

  it('forged bearer JWTs are refused with the reason: alg none, HS256 keyed with the public key, another account\'s key', async () => {
    const victim = await account('victim-01', ['roles/cloudiot.admin']);
    const attacker = await account('attacker-01', []);
    const nowS = Math.floor(Date.now() / 1000);
    const path = `/v1/${REG}/devices`;
    const cases: [string, string][] = [
      [unsigned({ kid: victim.keyId }, apiClaims(victim.email, nowS)), 'JWT_ALG_NOT_ALLOWED'],
      [hs256({ kid: victim.keyId }, apiClaims(victim.email, nowS), 'any-secret-including-the-public-key-pem'), 'JWT_ALG_NOT_ALLOWED'],
      [(() => {
        const key = readSignerKey(readFileSync(attacker.keyFile, 'utf8'), attacker.keyFile);
        return selfSignedJwt({ ...key, client_email: victim.email }, nowS);
      })(), 'JWT_WRONG_ISSUER'],
      [(() => {
        const key = readSignerKey(readFileSync(attacker.keyFile, 'utf8'), attacker.keyFile);
        return selfSignedJwt({ ...key, private_key_id: victim.keyId, client_email: victim.email }, nowS);
      })(), 'JWT_BAD_SIGNATURE'],
      [selfSignedJwt(readSignerKey(readFileSync(victim.keyFile, 'utf8'), victim.keyFile), nowS - 7200), 'JWT_EXPIRED'],
      [selfSignedJwt(readSignerKey(readFileSync(victim.keyFile, 'utf8'), victim.keyFile), nowS + 3600), 'JWT_NOT_YET_VALID'],
    ];
    for (const [token, reason] of cases) {
      const r = await bearer(token, 'DELETE', `${path}/dev-2`);
      assert.equal(r.status, 401, reason);
      assert.equal(r.reason, reason);
      assert.equal((r.json.error as { status: string }).status, 'UNAUTHENTICATED');
    }
    assert.equal((await api(server, 'GET', `${path}/dev-2`)).status, 200, 'nothing was deleted');
  });

  it('the CLI authenticates with --key-file and is held to the key\'s roles; keys create writes a 0600 key file', async () => {
    const env = { BRIDGEHEAD_API: server.api };
    const created = await runCli(['service-accounts', 'create', 'cli-viewer-01', '--role', 'roles/cloudiot.viewer', '--project', P, '--token', server.token, '--format', 'json'], { env });
    assert.equal(created.code, 0, created.stderr);
    const out = join(dir, 'cli-viewer.json');
    const key = await runCli(['service-accounts', 'keys', 'create', 'cli-viewer-01', '--output', out, '--project', P, '--token', server.token], { env });
    assert.equal(key.code, 0, key.stderr);
    assert.match(key.stderr, /^Created key \[[0-9a-f]{40}\] of type \[json\] as \[.*cli-viewer\.json\] for \[cli-viewer-01@proj-sa\.iam\.gserviceaccount\.com\]\.$/m);
    assert.equal(statSync(out).mode & 0o777, 0o600);
    assert.equal((JSON.parse(readFileSync(out, 'utf8')) as { type: string }).type, 'service_account');

    // The project comes from the key file when --project is not given.
    const listed = await runCli(['devices', 'list', '--registry', 'reg-sa', '--key-file', out, '--format', 'json'], { env });
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual((JSON.parse(listed.stdout) as { devices: { id: string }[] }).devices.map((d) => d.id), ['dev-1', 'dev-2']);
    const viaEnv = await runCli(['registries', 'list', '--format', 'json'], { env: { ...env, GOOGLE_APPLICATION_CREDENTIALS: out } });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    const denied = await runCli(['devices', 'delete', 'dev-2', '--registry', 'reg-sa', '--key-file', out], { env });
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /^ERROR: \(PERMISSION_DENIED\) Permission "cloudiot\.devices\.delete" denied/m);
    const noAdmin = await runCli(['service-accounts', 'create', 'sneaky-01', '--role', 'roles/owner', '--key-file', out], { env });
    assert.equal(noAdmin.code, 1);
    assert.match(noAdmin.stderr, /iam\.serviceAccounts\.create/);
    const both = await runCli(['registries', 'list', '--key-file', out, '--token', server.token], { env });
    assert.equal(both.code, 2);

    const listedKeys = await runCli(['service-accounts', 'keys', 'list', 'cli-viewer-01', '--project', P, '--token', server.token], { env });
    const keyId = /^([0-9a-f]{40}) /m.exec(listedKeys.stdout)?.[1];
    assert.ok(keyId, listedKeys.stdout);
    const disabled = await runCli(['service-accounts', 'keys', 'disable', 'cli-viewer-01', keyId, '--project', P, '--token', server.token], { env });
    assert.equal(disabled.code, 0, disabled.stderr);
    const after = await runCli(['registries', 'list', '--key-file', out], { env });
    assert.equal(after.code, 1);
    assert.match(after.stderr, /UNAUTHENTICATED.*disabled/);
    const deleted = await runCli(['service-accounts', 'delete', 'cli-viewer-01', '--project', P, '--token', server.token], { env });
    assert.equal(deleted.code, 0, deleted.stderr);
  });

  it('a deleted account takes its grants along: the same name again starts with no rights', async () => {
    const first = await account('reborn-01', ['roles/cloudiot.viewer']);
    const policy = await admin('POST', `/v1/${REG}:getIamPolicy`, {});
    await admin('POST', `/v1/${REG}:setIamPolicy`, {
      policy: { bindings: [{ role: 'roles/cloudiot.editor', members: [`serviceAccount:${first.email}`] }], etag: policy.etag },
    });
    await admin('DELETE', `/v1/projects/${P}/serviceAccounts/${first.email}`);
    const token = selfSignedJwt(readSignerKey(readFileSync(first.keyFile, 'utf8'), first.keyFile), Math.floor(Date.now() / 1000));
    assert.equal((await bearer(token, 'GET', `/v1/${REG}/devices`)).reason, 'JWT_UNKNOWN_KEY');
    const second = await account('reborn-01', []);
    const again = selfSignedJwt(readSignerKey(readFileSync(second.keyFile, 'utf8'), second.keyFile), Math.floor(Date.now() / 1000));
    const r = await bearer(again, 'GET', `/v1/${REG}/devices`);
    assert.equal(r.status, 403, 'neither the project nor the registry grant survived');
    assert.deepEqual((await admin('POST', `/v1/${REG}:getIamPolicy`, {})).bindings, undefined);
  });

  it('reading the event log needs pubsub.subscriptions.consume on the project', async () => {
    const reader = await account('reader-01', ['roles/cloudiot.viewer']);
    const token = selfSignedJwt(readSignerKey(readFileSync(reader.keyFile, 'utf8'), reader.keyFile), Math.floor(Date.now() / 1000));
    const path = `/v1/projects/${P}/topics/telemetry/messages`;
    const denied = await bearer(token, 'GET', path);
    assert.equal(denied.status, 403);
    assert.match(String((denied.json.error as { message: string }).message), /pubsub\.subscriptions\.consume/);
    const policy = await admin('POST', `/v1/projects/${P}:getIamPolicy`, {});
    const bindings = [...((policy.bindings ?? []) as unknown[]), { role: 'roles/pubsub.subscriber', members: [`serviceAccount:${reader.email}`] }];
    await admin('POST', `/v1/projects/${P}:setIamPolicy`, { policy: { bindings, etag: policy.etag } });
    const allowed = await bearer(token, 'GET', path);
    assert.equal(allowed.status, 200, JSON.stringify(allowed.json));
    assert.deepEqual(allowed.json.messages, []);
  });

  it('the IAM Admin API shapes: accounts and keys listed as Google lists them, errors named', async () => {
    await account('shape-01', []);
    const list = await admin('GET', `/v1/projects/${P}/serviceAccounts?pageSize=2`);
    assert.equal((list.accounts as unknown[]).length, 2);
    assert.equal(typeof list.nextPageToken, 'string');
    const email = `shape-01@${P}.iam.gserviceaccount.com`;
    const keys = await admin('GET', `/v1/projects/-/serviceAccounts/${email}/keys`);
    const [k] = keys.keys as Record<string, unknown>[];
    assert.deepEqual(Object.keys(k!).sort(), ['keyAlgorithm', 'keyOrigin', 'keyType', 'name', 'validAfterTime', 'validBeforeTime']);
    assert.equal(k!.keyAlgorithm, 'KEY_ALG_RSA_2048');
    assert.ok(!JSON.stringify(keys).includes('privateKeyData'), 'the private key is never shown again');
    const missing = await api(server, 'GET', `/v1/projects/${P}/serviceAccounts/ghost-01@${P}.iam.gserviceaccount.com`);
    assert.equal(missing.status, 404);
    const badId = await api(server, 'POST', `/v1/projects/${P}/serviceAccounts`, { accountId: 'x' });
    assert.equal(badId.status, 400);
    const wrongVerb = await api(server, 'PATCH', `/v1/projects/${P}/serviceAccounts/${email}`, {});
    assert.equal(wrongVerb.status, 501);
    const unauth = await fetch(`${server.api}/v1/projects/${P}/serviceAccounts`);
    assert.equal(unauth.status, 401);
  });
});

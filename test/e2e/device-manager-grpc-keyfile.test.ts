import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { JsonLinesChild, type ChildLine } from '../support/json-lines-child.js';
import { api, cliEnv, runCli, startServer, type StartedServer } from '../support/server.js';
import { deviceManagerScenarioSteps } from './device-manager-scenario.js';

/**
 * The headline proof, "endpoint change": a backend whose only change is
 * `new DeviceManagerClient({ apiEndpoint, port })` runs the Device Manager scenario (every method,
 * the IAM ones included, and the error cases) in @google-cloud/iot's default gRPC mode against
 * `--api-tls-listen`, authenticated by a key file that Bridgehead issued, found through
 * GOOGLE_APPLICATION_CREDENTIALS, with Bridgehead's CA in GRPC_DEFAULT_SSL_ROOTS_FILE_PATH. Those
 * are read by the libraries from the environment, so the backend is a child process
 * (test/support/grpc-keyfile-backend.ts) reporting each step; the roles it holds are enforced
 * over gRPC as over REST, and a disabled key stops it.
 */

const BACKEND = resolve(dirname(fileURLToPath(import.meta.url)), '../support/grpc-keyfile-backend.js');
const P = 'proj-e2e';
const L = 'us-central1';

/** The backend child with `keyFile` as its Application Default Credentials and the server's CA trusted for gRPC. */
function backend(server: StartedServer, keyFile: string, args: string[]): JsonLinesChild {
  const port = new URL(String(server.info.apiTls)).port;
  return new JsonLinesChild(process.execPath, [BACKEND, args[0]!, port, ...args.slice(1)], {
    env: cliEnv({ GOOGLE_APPLICATION_CREDENTIALS: keyFile, GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: server.info.caFile }),
    timeoutMs: 120_000,
  });
}

/** Runs the CLI against `server` with the admin token; it must succeed. */
async function cli(server: StartedServer, args: string[]): Promise<string> {
  const r = await runCli([...args, '--project', P, '--token', server.token], { env: { BRIDGEHEAD_API: server.api } });
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

describe('Device Manager scenario over gRPC with a Bridgehead-issued key file in GOOGLE_APPLICATION_CREDENTIALS (TLS port)', () => {
  let server: StartedServer;
  let dir: string;
  let child: JsonLinesChild;
  let keyFile: string;

  before(async () => {
    server = await startServer({ args: ['--api-tls-listen', '127.0.0.1:0'] });
    dir = mkdtempSync(join(tmpdir(), 'bridgehead-keyfile-'));
    keyFile = join(dir, 'backend-admin.json');
    // Issued the way an operator does it: the CLI, a project-wide role at creation.
    await cli(server, ['service-accounts', 'create', 'backend-admin-01', '--role', 'roles/cloudiot.admin']);
    await cli(server, ['service-accounts', 'keys', 'create', 'backend-admin-01', '--output', keyFile]);
    child = backend(server, keyFile, ['scenario']);
  });
  after(async () => {
    await child.stop();
    await server.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the key file is Google\'s service_account format, for the account holding roles/cloudiot.admin on the project', async () => {
    const key = JSON.parse(readFileSync(keyFile, 'utf8')) as Record<string, string>;
    assert.equal(key.type, 'service_account');
    assert.equal(key.client_email, `backend-admin-01@${P}.iam.gserviceaccount.com`);
    assert.equal(key.token_uri, `${server.api}/token`);
    const policy = await api(server, 'POST', `/v1/projects/${P}:getIamPolicy`, {});
    assert.deepEqual(policy.json.bindings, [{ role: 'roles/cloudiot.admin', members: [`serviceAccount:${key.client_email}`] }]);
  });

  // The names only: the steps themselves run in the child.
  for (const { name } of deviceManagerScenarioSteps(() => assert.fail('steps run in the child'), { requiresCredentials: true })) {
    it(name, async () => {
      const line = await child.next((l) => l.step === name, `report of step "${name}"`);
      assert.equal(line.ok, true, String(line.error));
    });
  }

  it('the backend finished every step and exited cleanly', async () => {
    await child.next((l) => l.done === true, 'end of the scenario');
    assert.equal(await child.exited, 0, child.stderr());
  });
});

describe('roles over gRPC with Bridgehead-issued key files', () => {
  const REG = `projects/${P}/locations/${L}/registries/reg-roles`;
  let server: StartedServer;
  let dir: string;
  const children: JsonLinesChild[] = [];

  before(async () => {
    server = await startServer({ args: ['--api-tls-listen', '127.0.0.1:0'] });
    dir = mkdtempSync(join(tmpdir(), 'bridgehead-keyfile-roles-'));
    await admin('POST', `/v1/projects/${P}/locations/${L}/registries`, { id: 'reg-roles' });
    await admin('POST', `/v1/${REG}/devices`, { id: 'dev-1' });
  });
  after(async () => {
    for (const c of children) await c.stop();
    await server.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  async function admin(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
    const r = await api(server, method, path, body);
    assert.equal(r.status, 200, `${method} ${path}: ${JSON.stringify(r.json)}`);
    return r.json;
  }

  /** An account with project-wide `role` and a key, issued through the REST API. */
  async function account(id: string, role: string): Promise<{ email: string; keyFile: string; keyId: string }> {
    const email = String((await admin('POST', `/v1/projects/${P}/serviceAccounts`, { accountId: id, roles: [role] })).email);
    const key = await admin('POST', `/v1/projects/${P}/serviceAccounts/${email}/keys`, {});
    const keyFile = join(dir, `${id}.json`);
    writeFileSync(keyFile, Buffer.from(String(key.privateKeyData), 'base64'), { mode: 0o600 });
    return { email, keyFile, keyId: String(key.name).split('/').pop()! };
  }

  function calls(keyFile: string, list: unknown[]): JsonLinesChild {
    const c = backend(server, keyFile, ['calls', JSON.stringify(list)]);
    children.push(c);
    return c;
  }

  const result = (c: JsonLinesChild, i: number): Promise<ChildLine> => c.next((l) => l.call === i, `result of call ${i}`);
  const ids = (v: unknown): unknown[] => (v as { id: string }[]).map((x) => x.id);

  it('a viewer key lists and reads but cannot create (PERMISSION_DENIED naming the permission); disabled, it stops working', async () => {
    const viewer = await account('viewer-grpc-01', 'roles/cloudiot.viewer');
    const c = calls(viewer.keyFile, [
      { method: 'listDeviceRegistries', request: { parent: `projects/${P}/locations/${L}` } },
      { method: 'listDevices', request: { parent: REG } },
      { method: 'getDevice', request: { name: `${REG}/devices/dev-1` } },
      { method: 'createDevice', request: { parent: REG, device: { id: 'dev-new' } } },
      { method: 'createDeviceRegistry', request: { parent: `projects/${P}/locations/${L}`, deviceRegistry: { id: 'reg-new' } } },
      { method: 'testIamPermissions', request: { resource: REG, permissions: ['cloudiot.devices.list', 'cloudiot.devices.create', 'cloudiot.devices.updateConfig'] } },
      { pause: 'key-disabled' },
      { method: 'listDevices', request: { parent: REG } },
    ]);
    const [registries, devices, device, create, createRegistry, granted] = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => result(c, i)));
    assert.deepEqual([registries!.ok, ids(registries!.value)], [true, ['reg-roles']]);
    assert.deepEqual([devices!.ok, ids(devices!.value)], [true, ['dev-1']]);
    assert.equal((device!.value as { id: string }).id, 'dev-1');
    assert.equal(create!.status, 'PERMISSION_DENIED');
    assert.match(String(create!.message), /Permission "cloudiot\.devices\.create" denied/);
    assert.equal(createRegistry!.status, 'PERMISSION_DENIED');
    assert.match(String(createRegistry!.message), /cloudiot\.registries\.create/);
    assert.deepEqual((granted!.value as { permissions: string[] }).permissions, ['cloudiot.devices.list']);
    assert.equal((await api(server, 'GET', `/v1/${REG}/devices/dev-new`)).status, 404, 'nothing was created');

    await c.next((l) => l.paused === 'key-disabled', 'pause');
    // Disabled through the CLI; the backend's client reuses the JWT it signed, which Bridgehead had verified and cached.
    await cli(server, ['service-accounts', 'keys', 'disable', 'viewer-grpc-01', viewer.keyId]);
    c.send('go');
    const refused = await result(c, 7);
    assert.equal(refused.status, 'UNAUTHENTICATED');
    assert.match(String(refused.message), /disabled/);
    await c.next((l) => l.done === true, 'end');
  });

  it('a deviceController key pushes config but cannot delete or patch the device', async () => {
    const controller = await account('controller-grpc-01', 'roles/cloudiot.deviceController');
    const name = `${REG}/devices/dev-1`;
    const c = calls(controller.keyFile, [
      { method: 'modifyCloudToDeviceConfig', request: { name, binaryData: Buffer.from('on').toString('base64') } },
      { method: 'deleteDevice', request: { name } },
      { method: 'updateDevice', request: { device: { name, blocked: true }, updateMask: { paths: ['blocked'] } } },
    ]);
    const [config, del, patch] = await Promise.all([0, 1, 2].map((i) => result(c, i)));
    assert.equal(config!.ok, true, String(config!.message));
    assert.deepEqual(config!.value, { ...(config!.value as object), version: '2', binaryData: Buffer.from('on').toString('base64') });
    assert.equal(del!.status, 'PERMISSION_DENIED');
    assert.match(String(del!.message), /cloudiot\.devices\.delete/);
    assert.equal(patch!.status, 'PERMISSION_DENIED');
    assert.match(String(patch!.message), /cloudiot\.devices\.update/);
    const stored = await admin('GET', `/v1/${name}`);
    assert.equal(stored.blocked, undefined, 'the device was neither deleted nor patched');
    assert.deepEqual([(stored.config as { version: string }).version, (stored.config as { binaryData: string }).binaryData], ['2', 'b24=']);
  });
});

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { mintDeviceJwt } from '../../src/adapters/crypto/device-jwt.js';
import { connectDevice, connectRefused, emitter, endQuietly, Inbox } from '../support/mqtt-clients.js';
import { makeDeviceKeys, type DeviceKeys } from '../support/pki.js';
import type { ProcessResult as Run } from '../support/processes.js';
import { runCli, startServer, type StartedServer } from '../support/server.js';

/**
 * The gcloud IoT quickstart typed as `bridgehead` commands against the real server: a registry, a
 * device with two keys, one key rotated with `devices credentials delete` + `create` while the
 * device stays connected over MQTT with the other, a config pushed and read back with
 * `configs get-value`, a gateway bound with `devices gateways bind`. Output is read as --format
 * json; the text renderings belong to test/cli.
 */

const PROJECT = 'quickstart-proj';
const REGION = 'europe-west1';
const REG = 'my-registry';
const REG_NAME = `projects/${PROJECT}/locations/${REGION}/registries/${REG}`;
const DEV_NAME = `${REG_NAME}/devices/my-device`;

let server: StartedServer;
let dir: string;
const open: MqttClient[] = [];

const auth = (): string[] => ['--api', server.api, '--token', server.token];
/** What a gcloud user has as properties: the project and region. */
const scoped = (): string[] => [...auth(), '--project', PROJECT, '--region', REGION];

/** Runs the CLI with stdin not a terminal (as in any script). */
const cli = (args: string[]): Promise<Run> => runCli(args, { cwd: dir });

async function ok(args: string[]): Promise<Run> {
  const r = await cli(args);
  assert.equal(r.code, 0, `bridgehead ${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
  return r;
}

async function json<T = Record<string, unknown>>(args: string[]): Promise<T> {
  return JSON.parse((await ok([...args, '--format', 'json'])).stdout) as T;
}

/** A usage error: exit 2, nothing on stdout, stderr matching every pattern. */
async function usage(args: string[], ...patterns: RegExp[]): Promise<void> {
  const r = await cli(args);
  assert.equal(r.code, 2, `expected exit 2 from bridgehead ${args.join(' ')}, got ${r.code}:\n${r.stdout}${r.stderr}`);
  assert.equal(r.stdout, '');
  for (const p of patterns) assert.match(r.stderr, p);
}

interface Credential {
  publicKey: { format: string; key: string };
  expirationTime?: string;
}

const keysOf = async (args: string[]): Promise<string[]> =>
  ((await json<{ credentials?: Credential[] }>(['devices', 'credentials', 'list', ...args])).credentials ?? []).map((c) => c.publicKey.key.trim());

function pem(name: string, k: DeviceKeys): string {
  const path = join(dir, `${name}_public.pem`);
  writeFileSync(path, k.publicKeyPem);
  return path;
}

const jwtFor = (k: DeviceKeys): Promise<string> => mintDeviceJwt({ privateKeyPem: k.privateKeyPem, alg: k.alg, audience: PROJECT });

before(async () => {
  server = await startServer();
  dir = mkdtempSync(join(tmpdir(), 'bridgehead-gcloud-session-'));
});

after(async () => {
  await Promise.all(open.map((c) => endQuietly(c)));
  await server.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('a gcloud quickstart session with bridgehead', () => {
  test('registry, device with two keys, rotation while connected, config get-value, gateway binding', async () => {
    const [keyA, keyB, keyA2, keyC, keyD] = await Promise.all([1, 2, 3, 4, 5].map(() => makeDeviceKeys('ES256')));
    const [a, b, a2, c, d] = [pem('a', keyA!), pem('b', keyB!), pem('a2', keyA2!), pem('c', keyC!), pem('d', keyD!)];

    const reg = await json<{ name: string }>(['registries', 'create', REG, ...scoped()]);
    assert.equal(reg.name, REG_NAME);

    const created = await json<{ id: string; name: string; credentials: Credential[] }>([
      'devices', 'create', 'my-device', '--registry', REG, ...scoped(),
      '--public-key', `path=${a},type=es256`, '--public-key', `path=${b},type=es256`,
    ]);
    assert.equal(created.id, 'my-device');
    // Names in responses carry the numeric ID, as Cloud IoT's did; the CLI takes either.
    assert.match(created.name, new RegExp(`^${REG_NAME}/devices/\\d+$`));
    assert.deepEqual(await keysOf(['--device', 'my-device', '--registry', REG, ...scoped()]), [keyA!.publicKeyPem.trim(), keyB!.publicKeyPem.trim()]);

    // The device connects with key B and listens for configurations.
    const device = await connectDevice(server, DEV_NAME, await jwtFor(keyB!));
    open.push(device);
    let closed = false;
    emitter(device).once('close', () => (closed = true));
    const inbox = new Inbox(device);
    await device.subscribeAsync('/devices/my-device/config', { qos: 1 });

    // Rotate key A: delete index 0, add its replacement. With stdin not a terminal no question is asked.
    const afterDelete = await json<{ credentials: Credential[] }>(['devices', 'credentials', 'delete', '0', '--device', 'my-device', '--registry', REG, ...scoped()]);
    assert.deepEqual(afterDelete.credentials.map((k) => k.publicKey.key.trim()), [keyB!.publicKeyPem.trim()]);
    // A full name instead of --registry/--project/--region.
    const added = await json<{ index: number; expirationTime: string }>([
      'devices', 'credentials', 'create', '--device', DEV_NAME, ...auth(), '--path', a2, '--type', 'es256', '--expiration-time', '2030-01-01T00:00:00Z',
    ]);
    assert.equal(added.index, 1);
    assert.equal(Date.parse(added.expirationTime), Date.parse('2030-01-01T00:00:00Z'));
    assert.deepEqual(await keysOf(['--device', DEV_NAME, ...auth()]), [keyB!.publicKeyPem.trim(), keyA2!.publicKeyPem.trim()]);

    // A third key fits; a fourth is refused with what to do, and nothing changes.
    await ok(['devices', 'credentials', 'create', '--device', 'my-device', '--registry', REG_NAME, ...auth(), '--path', c, '--type', 'es256']);
    const full = await cli(['devices', 'credentials', 'create', '--device', 'my-device', '--registry', REG, ...scoped(), '--path', d, '--type', 'es256']);
    assert.equal(full.code, 1, full.stderr);
    assert.match(full.stderr, /already has 3 credentials.*bridgehead devices credentials delete INDEX --device my-device --registry my-registry/);
    assert.equal((await keysOf(['--device', DEV_NAME, ...auth()])).length, 3);
    await ok(['devices', 'credentials', 'delete', '2', '--quiet', '--device', DEV_NAME, ...auth()]);

    await ok(['devices', 'credentials', 'update', '1', '--device', DEV_NAME, ...auth(), '--expiration-time', '2031-06-01T00:00:00Z']);
    const described = await json<Credential>(['devices', 'credentials', 'describe', '1', '--device', DEV_NAME, ...auth()]);
    assert.equal(described.publicKey.key.trim(), keyA2!.publicKeyPem.trim());
    assert.equal(Date.parse(described.expirationTime!), Date.parse('2031-06-01T00:00:00Z'));
    const missing = await cli(['devices', 'credentials', 'describe', '5', '--device', DEV_NAME, ...auth()]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /has 2 credentials \(indexes 0-1\); there is no credential 5/);

    // The device, still on key B, receives a new config pushed through the CLI.
    await ok(['devices', 'configs', 'update', '--device', 'my-device', '--registry', REG, ...scoped(), '--config-data', 'fan: on']);
    for (;;) {
      const m = await inbox.next();
      if (m.payload.toString() === 'fan: on') break;
    }
    assert.equal(closed, false, 'the device on key B was disconnected by the rotation of key A');
    // State needs no Pub/Sub route (telemetry without one is refused: docs/compat.md C-HTTP-NO-ROUTE).
    await device.publishAsync('/devices/my-device/state', 'still here', { qos: 1 });
    const states = await json<{ deviceStates: { binaryData: string }[] }>(['devices', 'states', 'list', '--device', DEV_NAME, ...auth()]);
    assert.equal(Buffer.from(states.deviceStates[0]!.binaryData, 'base64').toString(), 'still here');

    const value = await ok(['devices', 'configs', 'get-value', '--device', DEV_NAME, ...auth()]);
    assert.equal(value.stdout, 'fan: on\n');
    const config = await json<{ version: string; binaryData: string }>(['devices', 'configs', 'get-value', 'my-device', '--registry', REG, ...scoped()]);
    assert.equal(Buffer.from(config.binaryData, 'base64').toString(), 'fan: on');
    assert.equal(config.version, '2');

    // The deleted key no longer opens a connection; its replacement does.
    const refused = await connectRefused(server, DEV_NAME, await jwtFor(keyA!));
    assert.ok(refused instanceof Error);
    assert.equal(closed, false);
    const rotated = await connectDevice(server, DEV_NAME, await jwtFor(keyA2!));
    open.push(rotated);

    // Gateways: create, bind with gcloud's spelling (full names work for both), list.
    await ok(['devices', 'create', 'my-gateway', '--registry', REG, ...scoped(), '--device-type', 'gateway', '--auth-method', 'association-only', '--public-key', `path=${c},type=es256`]);
    await ok(['devices', 'create', 'my-sensor', '--registry', REG, ...scoped()]);
    await ok(['devices', 'gateways', 'bind', '--gateway', `${REG_NAME}/devices/my-gateway`, '--device', 'my-sensor', ...auth()]);
    const bound = await json<{ devices?: { id: string }[] }>(['devices', 'gateways', 'list-bound-devices', '--gateway', 'my-gateway', '--registry', REG_NAME, ...auth()]);
    assert.deepEqual(bound.devices?.map((x) => x.id), ['my-sensor']);
    // The older top-level spelling is kept.
    const alias = await json<{ devices?: { id: string }[] }>(['gateways', 'list-bound-devices', '--gateway', 'my-gateway', '--registry', REG, ...scoped()]);
    assert.deepEqual(alias.devices?.map((x) => x.id), ['my-sensor']);
    const gateways = await json<{ devices?: { id: string }[] }>(['gateways', 'list', '--registry', REG_NAME, ...auth()]);
    assert.deepEqual(gateways.devices?.map((x) => x.id), ['my-gateway']);
    const plain = await json<{ devices?: { id: string }[] }>(['devices', 'list', '--registry', REG_NAME, ...auth(), '--device-type', 'non-gateway']);
    assert.deepEqual(plain.devices?.map((x) => x.id), ['my-device', 'my-sensor']);

    await ok(['devices', 'gateways', 'unbind', '--gateway', 'my-gateway', '--device', `${REG_NAME}/devices/my-sensor`, ...auth()]);
    // No terminal on stdin: delete goes ahead without asking.
    await ok(['devices', 'delete', `${REG_NAME}/devices/my-sensor`, ...auth()]);
    const describeGone = await cli(['devices', 'describe', `${REG_NAME}/devices/my-sensor`, ...auth()]);
    assert.equal(describeGone.code, 1);
    assert.match(describeGone.stderr, /NOT_FOUND/);
  });

  test('full names, flags and misspelt commands: errors say what to type', async () => {
    const described = await json<{ id: string; name: string }>(['devices', 'describe', DEV_NAME, ...auth()]);
    assert.equal(described.id, 'my-device');
    // The name the API answers with (numeric ID) is accepted back.
    assert.equal((await json<{ id: string }>(['devices', 'describe', described.name, ...auth()])).id, 'my-device');
    await usage(['devices', 'describe', DEV_NAME, ...auth(), '--registry', 'other-registry'], /registry "my-registry"/, /--registry "other-registry"/);
    await usage(['devices', 'describe', DEV_NAME, ...auth(), '--region', 'us-central1'], /--region "us-central1"/, /region "europe-west1"/);
    await usage(['devices', 'describe', 'my-device', ...scoped()], /--registry is required/);
    await usage(['devices', 'describe', 'projects/p/registries/r', ...scoped()], /projects\/PROJECT\/locations\/REGION\/registries\/REGISTRY\/devices\/DEVICE/);
    await usage(['device', 'list', '--registry', REG, ...scoped()], /Did you mean: bridgehead devices list \.\.\./);
    await usage(['devices', 'bind', '--gateway', 'g', '--device', 'd'], /Did you mean: bridgehead devices gateways bind/);
    await usage(['credentials', 'list'], /bridgehead devices credentials list/);
    await usage(['devices', 'gateways', 'list', '--registry', REG], /Did you mean: bridgehead gateways list \.\.\./);
    await usage(['devices', 'credentials', 'create', '--device', 'x', '--path', 'k.pem', '--type', 'rsa', ...scoped()], /--type/, /--type es256/);
    await usage(['devices', 'credentials', 'describe', 'first', '--device', DEV_NAME, ...auth()], /INDEX must be/);
    await usage(['devices', 'create', 'x', '--registry', REG, ...scoped(), '--public-key', 'a.pem'], /--public-key/, /For example: --public-key path=/);
    await usage(['devices', 'list', '--registry', REG, ...scoped(), '--device-type', 'sensor'], /--device-type must be one of gateway, non-gateway, got "sensor"/);
  });
});

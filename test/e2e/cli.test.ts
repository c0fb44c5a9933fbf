import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeProtectedHeader, importSPKI, jwtVerify } from 'jose';
import type { ProcessResult as Run } from '../support/processes.js';
import { runCli, startServer, type StartedServer } from '../support/server.js';

/** The admin CLI as a user runs it: a child process talking to a real server over REST. */

let server: StartedServer;
let dir: string;
let keys: string;

/** Runs the CLI without any BRIDGEHEAD_* variables from the outer environment, in a scratch cwd. */
const run = (args: string[], env: Record<string, string> = {}, cwd = dir): Promise<Run> => runCli(args, { env, cwd });

const globals = (): string[] => ['--api', server.api, '--token', server.token, '--project', 'p1'];

/** Runs an API command with the global options; expects success. */
async function ok(...args: string[]): Promise<Run> {
  const r = await run([...args, ...globals()]);
  assert.equal(r.code, 0, `bridgehead ${args.join(' ')} failed (${r.code}):\n${r.stderr}`);
  return r;
}

/** Same, with --format json, returning the parsed document. */
async function json(...args: string[]): Promise<Record<string, unknown>> {
  const r = await ok(...args, '--format', 'json');
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/** Runs an API command that must fail with `status`, exit 1 and the message on stderr. */
async function fails(status: string, ...args: string[]): Promise<Run> {
  const r = await run([...args, ...globals()]);
  assert.equal(r.code, 1, `expected exit 1, got ${r.code}:\n${r.stdout}${r.stderr}`);
  assert.match(r.stderr, new RegExp(`^ERROR: \\(${status}\\) \\S`, 'm'));
  assert.equal(r.stdout, '');
  return r;
}

function ids(doc: Record<string, unknown>, key: string): string[] {
  return ((doc[key] ?? []) as { id: string }[]).map((x) => x.id);
}

before(async () => {
  server = await startServer();
  dir = mkdtempSync(join(tmpdir(), 'bridgehead-cli-'));
  keys = join(dir, 'keys');
});

after(async () => {
  await server.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('bridgehead admin CLI against a running server', () => {
  test('keys generate writes ES256 and RS256 key files', async () => {
    const [ec, rsa] = await Promise.all([
      run(['keys', 'generate', '--alg', 'ES256', '--out-dir', keys]),
      run(['keys', 'generate', '--alg', 'rs256', '--out-dir', keys, '--name', 'dev-rsa', '--certificate', '--format', 'json']),
    ]);
    assert.equal(ec.code, 0, ec.stderr);
    assert.match(ec.stdout, /ec_public\.pem.*type=es256/);
    assert.equal(rsa.code, 0, rsa.stderr);
    const files = JSON.parse(rsa.stdout) as Record<string, string>;
    assert.deepEqual(files, {
      alg: 'RS256',
      privateKey: join(keys, 'dev-rsa_private.pem'),
      publicKey: join(keys, 'dev-rsa_public.pem'),
      certificate: join(keys, 'dev-rsa_cert.pem'),
    });
    for (const f of ['ec_private.pem', 'ec_public.pem', 'dev-rsa_private.pem', 'dev-rsa_public.pem', 'dev-rsa_cert.pem']) {
      assert.ok(existsSync(join(keys, f)), f);
    }
    assert.equal(statSync(join(keys, 'ec_private.pem')).mode & 0o777, 0o600);
    assert.equal(statSync(join(keys, 'dev-rsa_private.pem')).mode & 0o777, 0o600);
    assert.match(readFileSync(join(keys, 'ec_public.pem'), 'utf8'), /^-----BEGIN PUBLIC KEY-----/);
    assert.match(readFileSync(join(keys, 'dev-rsa_cert.pem'), 'utf8'), /^-----BEGIN CERTIFICATE-----/);

    const again = await run(['keys', 'generate', '--alg', 'ES256', '--out-dir', keys]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^ERROR: refusing to overwrite .*ec_private\.pem/);
  });

  test('registries create, list (all pages), describe, update', async () => {
    const created = await json(
      'registries', 'create', 'reg1',
      '--event-notification-config', 'topic=projects/p1/topics/telemetry',
      '--event-notification-config', 'topic=alerts,subfolder=alerts',
      '--state-pubsub-topic', 'state',
      '--enable-mqtt-config', '--no-enable-http-config', '--log-level', 'info',
    );
    assert.equal(created.id, 'reg1');
    assert.equal(created.name, 'projects/p1/locations/us-central1/registries/reg1');
    assert.deepEqual(created.eventNotificationConfigs, [
      { pubsubTopicName: 'projects/p1/topics/telemetry' },
      { pubsubTopicName: 'projects/p1/topics/alerts', subfolderMatches: 'alerts' },
    ]);
    assert.deepEqual(created.stateNotificationConfig, { pubsubTopicName: 'projects/p1/topics/state' });
    assert.deepEqual(created.httpConfig, { httpEnabledState: 'HTTP_DISABLED' });
    assert.equal(created.logLevel, 'INFO');

    const text = await ok('registries', 'create', 'reg2');
    assert.match(text.stderr, /Created registry \[reg2\]\./);
    assert.match(text.stdout, /^id: reg2$/m);
    await fails('ALREADY_EXISTS', 'registries', 'create', 'reg1');

    const listed = await json('registries', 'list', '--page-size', '1');
    assert.deepEqual(ids(listed, 'deviceRegistries').sort(), ['reg1', 'reg2']);
    assert.equal(listed.nextPageToken, undefined);
    const table = await ok('registries', 'list');
    assert.match(table.stdout, /^ID\s+LOCATION\s+MQTT_ENABLED\s+HTTP_ENABLED$/m);
    assert.match(table.stdout, /^reg1\s+us-central1\s+MQTT_ENABLED\s+HTTP_DISABLED$/m);

    const described = await json('registries', 'describe', 'reg1');
    assert.deepEqual(described, created);

    const updated = await json('registries', 'update', 'reg1', '--no-enable-mqtt-config', '--enable-http-config', '--log-level', 'debug');
    assert.deepEqual(updated.mqttConfig, { mqttEnabledState: 'MQTT_DISABLED' });
    assert.deepEqual(updated.httpConfig, { httpEnabledState: 'HTTP_ENABLED' });
    assert.equal(updated.logLevel, 'DEBUG');
    // Not in the mask: untouched.
    assert.deepEqual(updated.eventNotificationConfigs, created.eventNotificationConfigs);
    await json('registries', 'update', 'reg1', '--enable-mqtt-config');

    const nothing = await run(['registries', 'update', 'reg1', ...globals()]);
    assert.equal(nothing.code, 2);
    assert.match(nothing.stderr, /nothing to update/);
  });

  let numId = '';

  test('devices create with keys, list, describe (by ID and numId), update', async () => {
    const device = await json(
      'devices', 'create', 'dev1', '--registry', 'reg1',
      '--public-key', `path=${join(keys, 'ec_public.pem')},type=es256`,
      '--public-key', `path=${join(keys, 'dev-rsa_cert.pem')},type=rsa-x509-pem,expiration-time=2040-01-01T00:00:00Z`,
      '--metadata', 'site=lab,floor=2',
      '--log-level', 'error',
    );
    numId = String(device.numId);
    assert.match(numId, /^\d+$/);
    assert.equal(device.id, 'dev1');
    assert.equal(device.name, `projects/p1/locations/us-central1/registries/reg1/devices/${numId}`);
    const creds = device.credentials as { publicKey: { format: string; key: string }; expirationTime: string }[];
    assert.deepEqual(creds.map((c) => c.publicKey.format), ['ES256_PEM', 'RSA_X509_PEM']);
    assert.equal(creds[0]!.publicKey.key, readFileSync(join(keys, 'ec_public.pem'), 'utf8'));
    assert.equal(new Date(creds[1]!.expirationTime).toISOString(), '2040-01-01T00:00:00.000Z');
    assert.deepEqual(device.metadata, { site: 'lab', floor: '2' });
    assert.equal(device.logLevel, 'ERROR');
    assert.equal((device.config as { version: string }).version, '1');

    await json('devices', 'create', 'dev2', '--registry', 'reg1', '--public-key', `path=${join(keys, 'dev-rsa_public.pem')},type=rs256`);

    const listed = await json('devices', 'list', '--registry', 'reg1', '--page-size', '1');
    assert.deepEqual(ids(listed, 'devices').sort(), ['dev1', 'dev2']);
    const one = await json('devices', 'list', '--registry', 'reg1', '--device-ids', 'dev2,nope');
    assert.deepEqual(ids(one, 'devices'), ['dev2']);
    const byNum = await json('devices', 'list', '--registry', 'reg1', '--device-num-ids', numId);
    assert.deepEqual(ids(byNum, 'devices'), ['dev1']);
    const table = await ok('devices', 'list', '--registry', 'reg1');
    assert.match(table.stdout, /^ID\s+NUM_ID\s+BLOCKED\s+GATEWAY_TYPE$/m);
    assert.match(table.stdout, new RegExp(`^dev1\\s+${numId}\\b`, 'm'));

    const described = await json('devices', 'describe', 'dev1', '--registry', 'reg1');
    assert.equal(described.numId, numId);
    assert.ok(String(described.name).endsWith(`/devices/${numId}`));
    const byNumId = await json('devices', 'describe', numId, '--registry', 'reg1');
    assert.equal(byNumId.id, 'dev1');
    const yaml = await ok('devices', 'describe', 'dev1', '--registry', 'reg1');
    assert.match(yaml.stdout, new RegExp(`^numId: '${numId}'$`, 'm'));
    assert.match(yaml.stdout, /^ {6}key: \|\n {8}-----BEGIN PUBLIC KEY-----$/m);

    const updated = await json('devices', 'update', 'dev1', '--registry', 'reg1', '--metadata', 'site=roof', '--log-level', 'none');
    assert.deepEqual(updated.metadata, { site: 'roof' });
    assert.equal(updated.logLevel, 'NONE');
    assert.equal((updated.credentials as unknown[]).length, 2);

    // gcloud's --metadata-from-file: values read from files, beside --metadata, in the update mask.
    writeFileSync(join(dir, 'notes.txt'), 'line one\nline two\n');
    const fromFile = await json('devices', 'update', 'dev1', '--registry', 'reg1', '--metadata', 'site=roof', '--metadata-from-file=notes=notes.txt');
    assert.deepEqual(fromFile.metadata, { site: 'roof', notes: 'line one\nline two\n' });
    const created = await json('devices', 'create', 'dev-from-file', '--registry', 'reg1', '--metadata-from-file', 'notes=notes.txt');
    assert.deepEqual(created.metadata, { notes: 'line one\nline two\n' });
    await ok('devices', 'delete', 'dev-from-file', '--registry', 'reg1', '--quiet');
    const both = await run(['devices', 'update', 'dev1', '--registry', 'reg1', '--metadata', 'notes=x', '--metadata-from-file', 'notes=notes.txt', ...globals()]);
    assert.equal(both.code, 2, both.stderr);
    assert.match(both.stderr, /metadata key "notes" is given in both --metadata and --metadata-from-file/);
  });

  test('devices block and unblock', async () => {
    const blocked = await json('devices', 'block', 'dev1', '--registry', 'reg1');
    assert.equal(blocked.blocked, true);
    const table = await ok('devices', 'list', '--registry', 'reg1');
    assert.match(table.stdout, /^dev1\s+\d+\s+True\b/m);
    const unblocked = await json('devices', 'unblock', 'dev1', '--registry', 'reg1');
    assert.equal(unblocked.blocked, undefined);
    const again = await json('devices', 'update', 'dev1', '--registry', 'reg1', '--blocked');
    assert.equal(again.blocked, true);
    await json('devices', 'update', 'dev1', '--registry', 'reg1', '--no-blocked');
  });

  test('configs update and list, states list', async () => {
    // The server allows one config update per device per second (spec §3.5): each device is updated once.
    const v2 = await json('devices', 'configs', 'update', 'dev1', '--registry', 'reg1', '--config-data', '{"fan":"on"}');
    assert.equal(v2.version, '2');
    assert.equal(Buffer.from(String(v2.binaryData), 'base64').toString(), '{"fan":"on"}');
    const file = join(dir, 'config.bin');
    writeFileSync(file, Buffer.from([0, 1, 2, 255]));
    const other = await json('devices', 'configs', 'update', 'dev2', '--registry', 'reg1', '--config-file', file, '--version-to-update', '1');
    assert.equal(other.version, '2');
    assert.deepEqual([...Buffer.from(String(other.binaryData), 'base64')], [0, 1, 2, 255]);
    await fails('FAILED_PRECONDITION', 'devices', 'configs', 'update', 'dev1', '--registry', 'reg1', '--config-data', 'x', '--version-to-update', '1');

    const all = await json('devices', 'configs', 'list', 'dev1', '--registry', 'reg1');
    assert.deepEqual((all.deviceConfigs as { version: string }[]).map((c) => c.version), ['2', '1']);
    const latest = await json('devices', 'configs', 'list', 'dev1', '--registry', 'reg1', '--limit', '1');
    assert.deepEqual((latest.deviceConfigs as { version: string }[]).map((c) => c.version), ['2']);
    const table = await ok('devices', 'configs', 'list', 'dev1', '--registry', 'reg1');
    assert.match(table.stdout, /^VERSION\s+CLOUD_UPDATE_TIME\s+DEVICE_ACK_TIME\s+DATA$/m);
    assert.match(table.stdout, /^2\s+\S+\s+\{"fan":"on"\}$/m);
    const binary = await ok('devices', 'configs', 'list', 'dev2', '--registry', 'reg1');
    assert.match(binary.stdout, /^2\s+\S+\s+AAEC\/w==$/m);

    assert.deepEqual(await json('devices', 'states', 'list', 'dev1', '--registry', 'reg1'), {});
    const states = await ok('devices', 'states', 'list', 'dev1', '--registry', 'reg1');
    assert.equal(states.stdout, '');
    assert.match(states.stderr, /Listed 0 states\./);
  });

  test('commands send to a device that is not connected fails with FAILED_PRECONDITION', async () => {
    await fails('FAILED_PRECONDITION', 'devices', 'commands', 'send', 'dev1', '--registry', 'reg1', '--command-data', 'reboot');
    await fails('FAILED_PRECONDITION', 'devices', 'commands', 'send', 'dev1', '--registry', 'reg1', '--command-data', 'reboot', '--subfolder', 'ops');
  });

  test('gateways bind, list-bound-devices, unbind', async () => {
    const gw = await json('devices', 'create', 'gateway1', '--registry', 'reg1', '--device-type', 'gateway', '--auth-method', 'association-only');
    assert.deepEqual(gw.gatewayConfig, { gatewayType: 'GATEWAY', gatewayAuthMethod: 'ASSOCIATION_ONLY' });

    const bound = await ok('gateways', 'bind', '--registry', 'reg1', '--gateway', 'gateway1', '--device', 'dev1');
    assert.match(bound.stderr, /Bound device \[dev1\] to gateway \[gateway1\]\./);
    const list = await json('gateways', 'list-bound-devices', '--registry', 'reg1', '--gateway', 'gateway1');
    assert.deepEqual(ids(list, 'devices'), ['dev1']);
    const gateways = await json('gateways', 'list', '--registry', 'reg1');
    assert.deepEqual(ids(gateways, 'devices'), ['gateway1']);
    const onlyGateways = await json('devices', 'list', '--registry', 'reg1', '--device-type', 'gateway');
    assert.deepEqual(ids(onlyGateways, 'devices'), ['gateway1']);

    assert.deepEqual(await json('gateways', 'unbind', '--registry', 'reg1', '--gateway', 'gateway1', '--device', 'dev1'), {});
    assert.deepEqual(ids(await json('gateways', 'list-bound-devices', '--registry', 'reg1', '--gateway', 'gateway1'), 'devices'), []);
    await fails('NOT_FOUND', 'gateways', 'bind', '--registry', 'reg1', '--gateway', 'gateway1', '--device', 'ghost');

    // gcloud's synopsis: (--device=DEVICE : --device-region --device-registry) (--gateway=GATEWAY : --gateway-region --gateway-registry).
    const scoped = ['--device=dev1', '--device-region=us-central1', '--device-registry=reg1', '--gateway=gateway1', '--gateway-region=us-central1', '--gateway-registry=reg1'];
    const gbound = await ok('devices', 'gateways', 'bind', ...scoped);
    assert.match(gbound.stderr, /Bound device \[dev1\] to gateway \[gateway1\]\./);
    assert.deepEqual(ids(await json('gateways', 'list-bound-devices', '--registry', 'reg1', '--gateway', 'gateway1'), 'devices'), ['dev1']);
    await ok('devices', 'gateways', 'unbind', ...scoped);
    assert.deepEqual(ids(await json('gateways', 'list-bound-devices', '--registry', 'reg1', '--gateway', 'gateway1'), 'devices'), []);
    const apart = await run(['devices', 'gateways', 'bind', '--device=dev1', '--device-registry=reg1', '--gateway=gateway1', '--gateway-registry=reg2', ...globals()]);
    assert.equal(apart.code, 2, apart.stderr);
    assert.match(apart.stderr, /--device-registry "reg1" conflicts with --gateway-registry "reg2"/);
  });

  test('jwt mint produces a device JWT that verifies against the public key', async () => {
    for (const [alg, priv, pub] of [
      ['ES256', 'ec_private.pem', 'ec_public.pem'],
      ['RS256', 'dev-rsa_private.pem', 'dev-rsa_public.pem'],
    ] as const) {
      const r = await run(['jwt', 'mint', '--private-key', join(keys, priv), '--alg', alg, '--project', 'p1', '--expires-in', '600']);
      assert.equal(r.code, 0, r.stderr);
      const token = r.stdout.trim();
      assert.equal(decodeProtectedHeader(token).alg, alg);
      const { payload } = await jwtVerify(token, await importSPKI(readFileSync(join(keys, pub), 'utf8'), alg), { audience: 'p1' });
      assert.equal(payload.exp! - payload.iat!, 600);
    }
    const wrong = await run(['jwt', 'mint', '--private-key', join(keys, 'ec_private.pem'), '--alg', 'RS256', '--project', 'p1']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /^ERROR: .*RS256 needs an RSA key/m);
    const noProject = await run(['jwt', 'mint', '--private-key', join(keys, 'ec_private.pem'), '--alg', 'ES256']);
    assert.equal(noProject.code, 2);
  });

  test('API errors exit 1 with ERROR: (STATUS) message', async () => {
    const badToken = await run(['registries', 'list', '--api', server.api, '--token', 'wrong-token', '--project', 'p1']);
    assert.equal(badToken.code, 1);
    assert.match(badToken.stderr, /^ERROR: \(UNAUTHENTICATED\) /m);
    await fails('INVALID_ARGUMENT', 'devices', 'create', '1-starts-with-a-digit', '--registry', 'reg1');
    await fails('ALREADY_EXISTS', 'devices', 'create', 'dev1', '--registry', 'reg1');
    await fails('NOT_FOUND', 'devices', 'describe', 'ghost', '--registry', 'reg1');
  });

  test('usage errors exit 2', async () => {
    const cases: string[][] = [
      ['devices', 'create', 'dev9'], // no --registry
      ['registries', 'list', '--format', 'xml'],
      ['registries', 'list', '--page-size', '0'],
      ['devices', 'create', 'dev9', '--registry', 'reg1', '--public-key', 'path=x,type=ed25519'],
      ['devices', 'create', 'dev9', '--registry', 'reg1', '--metadata', 'novalue'],
      ['devices', 'configs', 'update', 'dev1', '--registry', 'reg1'], // neither --config-data nor --config-file
      ['devices', 'configs', 'update', 'dev1', '--registry', 'reg1', '--config-data', 'a', '--config-file', 'b'],
      ['registries', 'describe'], // missing ID
      ['registries', 'frobnicate'],
      ['devices'],
    ];
    // Independent runs that change nothing: concurrently, to keep the suite quick.
    const [results, noProject, noToken, help] = await Promise.all([
      Promise.all(cases.map((args) => run([...args, ...globals()]))),
      run(['registries', 'list', '--api', server.api, '--token', server.token]),
      run(['registries', 'list', '--api', server.api, '--project', 'p1']),
      run(['devices', 'create', '--help']),
    ]);
    cases.forEach((args, i) => {
      const r = results[i]!;
      assert.equal(r.code, 2, `${args.join(' ')} -> ${r.code}\n${r.stderr}`);
      assert.notEqual(r.stderr, '', args.join(' '));
    });
    assert.equal(noProject.code, 2);
    assert.match(noProject.stderr, /--project is required/);
    assert.equal(noToken.code, 2);
    assert.match(noToken.stderr, /no admin token/);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--public-key <spec>/);
  });

  test('environment variables and ./data/admin-token stand in for the flags', async () => {
    const cwd = join(dir, 'work');
    mkdirSync(join(cwd, 'data'), { recursive: true });
    writeFileSync(join(cwd, 'data', 'admin-token'), `${server.token}\n`);
    const r = await run(['registries', 'list', '--format', 'json'], { BRIDGEHEAD_API: server.api, BRIDGEHEAD_PROJECT: 'p1' }, cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(ids(JSON.parse(r.stdout) as Record<string, unknown>, 'deviceRegistries').sort(), ['reg1', 'reg2']);
    const other = await run(['registries', 'list', '--format', 'json'], { BRIDGEHEAD_API: server.api, BRIDGEHEAD_PROJECT: 'p2', BRIDGEHEAD_ADMIN_TOKEN: server.token });
    assert.equal(other.code, 0, other.stderr);
    assert.deepEqual(ids(JSON.parse(other.stdout) as Record<string, unknown>, 'deviceRegistries'), []);
    const region = await run(['registries', 'list', '--format', 'json', '--region', 'europe-west1'], { BRIDGEHEAD_API: server.api, BRIDGEHEAD_PROJECT: 'p1' }, cwd);
    assert.deepEqual(ids(JSON.parse(region.stdout) as Record<string, unknown>, 'deviceRegistries'), []);
  });

  test('an unreachable server is reported with its URL', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const r = await run(['registries', 'list', '--api', `http://127.0.0.1:${port}`, '--token', 't', '--project', 'p1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^ERROR: could not reach the Bridgehead API at http://127\\.0\\.0\\.1:${port} \\(.*ECONNREFUSED`, 'm'));
  });

  test('deletes: devices, then the registry', async () => {
    const r = await run(['registries', 'delete', 'reg1', ...globals()]);
    assert.equal(r.code, 1, 'a registry with devices cannot be deleted');
    assert.match(r.stderr, /^ERROR: \([A-Z_]+\) /m);
    for (const d of ['dev1', 'dev2', 'gateway1']) {
      const del = await ok('devices', 'delete', d, '--registry', 'reg1');
      assert.match(del.stderr, new RegExp(`Deleted device \\[${d}\\]\\.`));
    }
    assert.deepEqual(await json('devices', 'list', '--registry', 'reg1'), {});
    assert.deepEqual(await json('registries', 'delete', 'reg1'), {});
    await ok('registries', 'delete', 'reg2');
    await fails('NOT_FOUND', 'registries', 'describe', 'reg1');
    assert.deepEqual(ids(await json('registries', 'list'), 'deviceRegistries'), []);
  });
});

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ProcessResult as Run } from '../support/processes.js';
import { runCli, startServer, type StartedServer } from '../support/server.js';

/**
 * gcloud-style output and settings against a running server: `bridgehead config set` replaces
 * --project/--region/--api, then --format yaml|value(...)|table(...), --filter, --limit and
 * --page-size as a `gcloud iot` user types them.
 */

let server: StartedServer;
let dir: string;
let xdg: string;

/** The CLI with only the admin token in the environment: everything else must come from the user config. */
const run = (args: string[], env: Record<string, string> = {}): Promise<Run> =>
  runCli(args, { env: { XDG_CONFIG_HOME: xdg, HOME: dir, BRIDGEHEAD_ADMIN_TOKEN: server.token, ...env }, cwd: dir });

async function ok(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const r = await run(args, env);
  assert.equal(r.code, 0, `bridgehead ${args.join(' ')} failed (${r.code}):\n${r.stdout}${r.stderr}`);
  return r;
}

async function usage(args: string[], stderr: RegExp): Promise<Run> {
  const r = await run(args);
  assert.equal(r.code, 2, `expected exit 2 from bridgehead ${args.join(' ')}, got ${r.code}:\n${r.stdout}${r.stderr}`);
  assert.match(r.stderr, stderr);
  assert.equal(r.stdout, '');
  return r;
}

before(async () => {
  server = await startServer();
  dir = mkdtempSync(join(tmpdir(), 'bridgehead-cli-formats-'));
  xdg = join(dir, 'xdg');
  mkdirSync(xdg);
});

after(async () => {
  await server.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('bridgehead config, --format, --filter and --limit against a running server', () => {
  test('config set project/region/endpoint, stored 0600 under XDG_CONFIG_HOME', async () => {
    const set = await ok(['config', 'set', 'project', 'fmt-proj']);
    assert.match(set.stderr, /Updated property \[project\]/);
    await ok(['config', 'set', 'region', 'europe-west1']);
    await ok(['config', 'set', 'endpoint', server.api]);
    const file = join(xdg, 'bridgehead', 'config.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { project: 'fmt-proj', region: 'europe-west1', endpoint: server.api });
    assert.equal((await ok(['config', 'get', 'region'])).stdout, 'europe-west1\n');
    assert.deepEqual(JSON.parse((await ok(['config', 'list', '--format', 'json'])).stdout), { project: 'fmt-proj', region: 'europe-west1', endpoint: server.api });
    await usage(['config', 'set', 'zone', 'x'], /unknown config key "zone"; the keys are project, region, endpoint, key-file/);
  });

  test('commands without --project/--region/--api use the settings', async () => {
    const created = await ok(['registries', 'create', 'reg1', '--format', 'value(name)']);
    assert.equal(created.stdout, 'projects/fmt-proj/locations/europe-west1/registries/reg1\n');
    const devices = [
      ['dev-0'],
      ['dev-1', '--metadata', 'site=berlin'],
      ['dev-2', '--blocked'],
      ['dev-3', '--metadata', 'site=berlin,rack=7'],
      ['gw-1', '--device-type', 'gateway'],
    ];
    await Promise.all(devices.map(([id, ...flags]) => ok(['devices', 'create', id!, '--registry', 'reg1', ...flags])));
  });

  test('devices list --format value(id) --filter id~... --limit 2', async () => {
    const r = await ok(['devices', 'list', '--registry', 'reg1', '--format', 'value(id)', '--filter', 'id~^dev-[0-2]$', '--limit', '2']);
    assert.equal(r.stdout, 'dev-0\ndev-1\n');
    // One device per page: paging must still go on until two have matched.
    const paged = await ok(['devices', 'list', '--registry', 'reg1', '--format', 'value(id)', '--filter', 'id~^dev-[1-3]$', '--limit', '2', '--page-size', '1']);
    assert.equal(paged.stdout, 'dev-1\ndev-2\n');
    const all = await ok(['devices', 'list', '--registry', 'reg1', '--format', 'value(id)', '--page-size', '2']);
    assert.equal(all.stdout, 'dev-0\ndev-1\ndev-2\ndev-3\ngw-1\n');
  });

  test('a filter on fields the list does not fetch by default (metadata) still works', async () => {
    const r = await ok(['devices', 'list', '--registry', 'reg1', '--filter', 'metadata.site=berlin AND NOT metadata.rack:*', '--format', 'value(id,metadata)']);
    assert.equal(r.stdout, 'dev-1\tsite=berlin\n');
    const blocked = await ok(['devices', 'list', '--registry', 'reg1', '--filter', 'blocked=true OR gatewayConfig.gatewayType=GATEWAY', '--format', 'table(id,blocked,gatewayConfig.gatewayType)']);
    assert.equal(blocked.stdout, 'ID     BLOCKED  GATEWAY_TYPE\ndev-2  True     NON_GATEWAY\ngw-1            GATEWAY\n');
    const none = await ok(['devices', 'list', '--registry', 'reg1', '--filter', 'id=nothing']);
    assert.equal(none.stdout, '');
    assert.match(none.stderr, /Listed 0 devices/);
  });

  test('registries describe --format yaml; lists in yaml are --- documents', async () => {
    const r = await ok(['registries', 'describe', 'reg1', '--format', 'yaml']);
    assert.match(r.stdout, /^id: reg1\n/);
    assert.match(r.stdout, /^name: projects\/fmt-proj\/locations\/europe-west1\/registries\/reg1$/m);
    assert.doesNotMatch(r.stdout, /^---/m);
    const device = await ok(['devices', 'describe', 'dev-3', '--registry', 'reg1', '--format', 'yaml']);
    assert.match(device.stdout, /^id: dev-3\n/);
    assert.match(device.stdout, /^metadata:\n {2}site: berlin\n {2}rack: '7'$/m);
    const list = await ok(['devices', 'list', '--registry', 'reg1', '--format', 'yaml', '--filter', 'id:dev-0 OR id:gw']);
    const docs = list.stdout.split(/^---\n/m);
    assert.equal(docs[0], '', list.stdout);
    assert.deepEqual(
      docs.slice(1).map((d) => /^id: (.*)$/m.exec(d)?.[1]),
      ['dev-0', 'gw-1'],
    );
    assert.match(docs[2]!, /^gatewayConfig:\n {2}gatewayType: GATEWAY/m);
  });

  test('json keeps the API document, narrowed by --filter', async () => {
    const doc = JSON.parse((await ok(['devices', 'list', '--registry', 'reg1', '--format', 'json', '--filter', 'metadata.site:BERL'])).stdout) as { devices: { id: string }[] };
    assert.deepEqual(
      doc.devices.map((d) => d.id),
      ['dev-1', 'dev-3'],
    );
  });

  test('flags and environment variables win over the settings; unset falls back to the default', async () => {
    const flag = await ok(['registries', 'list', '--region', 'us-central1', '--format', 'value(id)']);
    assert.equal(flag.stdout, '');
    const env = await ok(['registries', 'list', '--format', 'value(id)'], { BRIDGEHEAD_REGION: 'us-central1' });
    assert.equal(env.stdout, '');
    assert.equal((await ok(['registries', 'list', '--format', 'value(id)'])).stdout, 'reg1\n');
    await ok(['config', 'unset', 'region']);
    assert.equal((await ok(['registries', 'list', '--format', 'value(id)'])).stdout, '');
    const get = await ok(['config', 'get', 'region']);
    assert.equal(get.stdout, '');
    assert.match(get.stderr, /\(unset\)/);
    await ok(['config', 'set', 'region', 'europe-west1']);
  });

  test('config set key-file: commands authenticate with the service-account key, no token anywhere', async () => {
    const keyFile = join(dir, 'viewer.json');
    await ok(['service-accounts', 'create', 'viewer', '--role', 'roles/cloudiot.viewer']);
    await ok(['service-accounts', 'keys', 'create', 'viewer', '--output', keyFile]);
    await ok(['config', 'set', 'key-file', 'viewer.json']);
    assert.equal((await ok(['config', 'get', 'key-file'])).stdout, `${keyFile}\n`);
    const noToken = await runCli(['registries', 'list', '--format', 'value(id)'], { env: { XDG_CONFIG_HOME: xdg, HOME: dir }, cwd: dir });
    assert.equal(noToken.code, 0, noToken.stderr);
    assert.equal(noToken.stdout, 'reg1\n');
    // A viewer may not create: the request really went out with the key's identity.
    const denied = await runCli(['registries', 'create', 'reg2'], { env: { XDG_CONFIG_HOME: xdg, HOME: dir }, cwd: dir });
    assert.equal(denied.code, 1, denied.stderr);
    assert.match(denied.stderr, /^ERROR: \(PERMISSION_DENIED\)/m);
    // The admin token from the environment still ranks above the key-file setting.
    assert.equal((await ok(['registries', 'create', 'reg2', '--format', 'value(id)'])).stdout, 'reg2\n');
    await ok(['config', 'unset', 'key-file']);
  });

  test('a bad --filter or --format is a usage error (exit 2) naming the flag, the position or an example', async () => {
    const filter = await usage(['devices', 'list', '--registry', 'reg1', '--filter', 'id=dev-0 AND (blocked=true'], /--filter/);
    assert.match(filter.stderr, /at position 27: "\(" at position 14 is not closed/);
    await usage(['devices', 'list', '--registry', 'reg1', '--filter', 'id~['], /--filter.*at position 4: bad regular expression/);
    await usage(['registries', 'describe', 'reg1', '--format', 'xml'], /--format.*e\.g\. --format 'value\(id\)'/);
    await usage(['registries', 'describe', 'reg1', '--format', 'value()'], /--format value needs fields, e\.g\./);
    await usage(['devices', 'list', '--registry', 'reg1', '--limit', '0'], /--limit must be at least 1/);
  });
});

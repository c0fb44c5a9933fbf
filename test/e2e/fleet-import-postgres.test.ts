import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { acquireImportLock } from '../../src/adapters/store/postgres/pg-offline-lock.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';
import { api, runCli, startServer, type StartedServer } from '../support/server.js';

/**
 * `bridgehead import` / `export --store postgres://…`: the fleet formats, numIds and refusals of
 * the data-directory version (fleet-import*.test.ts), on the PostgreSQL store several nodes share.
 * The offline rule (docs/compat.md C-IMPORT-OFFLINE) holds through the database: an import refuses
 * while a server uses it, naming it, and a server does not start while an import writes.
 */

const PROJECT = 'pg-fleet';
const REG = `projects/${PROJECT}/locations/us-central1/registries/plant`;
const numIdOf = (i: number): string => String(3_141_000_000_000_000 + i * 11);
const lines = (records: unknown[]): string => `${records.map((r) => JSON.stringify(r)).join('\n')}\n`;
const FLEET = lines([
  { kind: 'registry', name: REG },
  { kind: 'device', registry: REG, id: 'gw-1', numId: numIdOf(1), gatewayConfig: { gatewayType: 'GATEWAY', gatewayAuthMethod: 'ASSOCIATION_ONLY' } },
  ...[2, 3, 4].map((i) => ({ kind: 'device', registry: REG, id: `sensor-${i}`, numId: numIdOf(i), metadata: { n: String(i) } })),
  { kind: 'binding', registry: REG, gatewayId: 'gw-1', deviceId: 'sensor-2' },
]);

describe('fleet import and export on a PostgreSQL store', { timeout: 60_000 }, () => {
  let pg: TestPostgres;
  let dir: string;
  let fleet: string;
  const servers: StartedServer[] = [];
  before(async () => {
    pg = await startPostgres({ fast: true });
    dir = mkdtempSync(join(tmpdir(), 'bridgehead-fleet-pg-'));
    fleet = join(dir, 'fleet.jsonl');
    writeFileSync(fleet, FLEET);
  });
  after(async () => {
    for (const s of servers) await s.cleanup();
    await pg?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const exportOf = async (url: string): Promise<string> => {
    const r = await runCli(['export', '--store', url]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };

  it('imports into an empty database with numIds kept; a server on it finds devices by numId; export round-trips; a re-run changes nothing', async () => {
    const url = await pg.createDatabase();
    const dry = await runCli(['import', fleet, '--store', url, '--dry-run', '--quiet']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /dry run: 1 registries \(1 would be created, 0 existing\), 4 devices \(4 would be created, 0 unchanged\); nothing written/);
    assert.equal(await exportOf(url), '', 'the dry run wrote nothing');

    const first = await runCli(['import', fleet, '--store', url, '--quiet']);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /4 devices created, 0 unchanged, 1 bindings created/);
    const exported = await exportOf(url);
    assert.equal(exported.split('\n').filter((l) => l.includes('"kind":"device"')).length, 4);
    for (const i of [1, 2, 3, 4]) assert.ok(exported.includes(`"numId":"${numIdOf(i)}"`), `numId of device ${i} kept`);

    // The export is an import file: into a second database it gives the same export.
    const copy = join(dir, 'copy.jsonl');
    writeFileSync(copy, exported);
    const other = await pg.createDatabase();
    assert.equal((await runCli(['import', copy, '--store', other, '--quiet'])).code, 0);
    assert.equal(await exportOf(other), exported, 'lossless round trip');

    const again = await runCli(['import', fleet, '--store', url, '--quiet']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /0 devices created, 4 unchanged, 0 bindings created, 1 unchanged/);

    const server = await startServer({ args: ['--store', url] });
    servers.push(server);
    const byNumId = await api(server, 'GET', `/v1/${REG}/devices/${numIdOf(3)}`);
    assert.equal(byNumId.status, 200, JSON.stringify(byNumId.json));
    assert.equal(byNumId.json.id, 'sensor-3');
    const bound = await api(server, 'GET', `/v1/${REG}/devices?gatewayListOptions.associationsGatewayId=gw-1`);
    assert.deepEqual((bound.json.devices as Array<{ id: string }>).map((d) => d.id), ['sensor-2']);
    assert.equal(await server.stop(), 0);
  });

  it('refuses while a server uses the database, naming its process, and writes nothing; export still works; after the server stops the import succeeds', async () => {
    const url = await pg.createDatabase();
    const server = await startServer({ args: ['--store', url] });
    servers.push(server);
    const refused = await runCli(['import', fleet, '--store', url, '--quiet']);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, new RegExp(`is in use by bridgehead server \\(process ${server.process.pid} on `));
    const listed = await api(server, 'GET', `/v1/projects/${PROJECT}/locations/us-central1/registries`);
    assert.deepEqual(listed.json.deviceRegistries ?? [], [], 'nothing was written');
    assert.equal(await exportOf(url), '', 'an export runs beside the server');
    assert.equal(await server.stop(), 0);
    const imported = await runCli(['import', fleet, '--store', url, '--quiet']);
    assert.equal(imported.code, 0, imported.stderr);
  });

  it('a server does not start while an import holds the database; it starts once the import is over', async () => {
    const url = await pg.createDatabase();
    const lock = await acquireImportLock(url, 'the test database');
    try {
      await assert.rejects(startServer({ args: ['--store', url] }), (e: Error) => {
        assert.match(e.message, /exited with 2 before listening/);
        assert.match(e.message, /bridgehead import \(process \d+ on [^)]+\) is writing to it; start the server once it has finished/);
        return true;
      });
    } finally {
      await lock.release();
    }
    const server = await startServer({ args: ['--store', url] });
    servers.push(server);
    assert.equal(await server.stop(), 0);
  });

  it('a numId collision with a device already in the database refuses the import and names both devices', async () => {
    const url = await pg.createDatabase();
    const seed = join(dir, 'seed.jsonl');
    const other = `projects/${PROJECT}/locations/us-central1/registries/other`;
    writeFileSync(seed, lines([{ kind: 'registry', name: other }, { kind: 'device', registry: other, id: 'squatter', numId: numIdOf(3) }]));
    assert.equal((await runCli(['import', seed, '--store', url, '--quiet'])).code, 0);
    const r = await runCli(['import', fleet, '--store', url, '--quiet']);
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.stderr, new RegExp(`device "sensor-3": numId ${numIdOf(3)} is already used by device "squatter"`));
    assert.ok(!(await exportOf(url)).includes(REG), 'nothing of the refused import was written');
  });

  it('refuses --store with --data-dir, and a URL that is not PostgreSQL', async () => {
    const both = await runCli(['import', fleet, '--store', 'postgres://127.0.0.1/x', '--data-dir', dir]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /give --store or --data-dir, not both/);
    const mysql = await runCli(['export', '--store', 'mysql://127.0.0.1/x']);
    assert.equal(mysql.code, 2);
    assert.match(mysql.stderr, /--store wants a PostgreSQL URL/);
  });
});

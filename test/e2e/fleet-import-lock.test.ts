import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { api, runCli, startServer, type StartedServer } from '../support/server.js';

/** docs/compat.md C-IMPORT-OFFLINE: an import refuses a data directory a running server holds. */

describe('bridgehead import and a running server', () => {
  let server: StartedServer | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'bridgehead-import-lock-'));
  after(async () => {
    await server?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('exits 2 naming the server’s PID and writes nothing; after the server stops the same import succeeds', async () => {
    const dataDir = join(dir, 'data');
    server = await startServer({ dataDir });
    const file = join(dir, 'fleet.jsonl');
    writeFileSync(file, `${JSON.stringify({ kind: 'registry', name: 'projects/lock-proj/locations/us-central1/registries/imported' })}\n`);
    const refused = await runCli(['import', file, '--data-dir', dataDir]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, new RegExp(`process ${server.process.pid}`));
    const listed = await api(server, 'GET', '/v1/projects/lock-proj/locations/us-central1/registries');
    assert.deepEqual(listed.json.deviceRegistries ?? [], [], 'nothing was written');
    assert.equal(await server.stop(), 0);
    const imported = await runCli(['import', file, '--data-dir', dataDir]);
    assert.equal(imported.code, 0, imported.stderr);
  });
});

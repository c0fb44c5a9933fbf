import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeDeviceKeys } from '../support/pki.js';
import { runCli, startServer, type StartedServer } from '../support/server.js';

/**
 * docs/compat.md C-DEVICE-ETAG: devices and registries carry their revision as an HTTP ETag, and a PATCH with
 * If-Match writes only if the device has not changed since; the CLI's credential edits use it, so
 * two edits at the same moment keep both keys.
 */

const PROJECT = 'etag-proj';
const LOC = `/v1/projects/${PROJECT}/locations/us-central1`;
const REG = 'etag-reg';
const DEV = `${LOC}/registries/${REG}/devices/dev-1`;

let server: StartedServer;
let dir: string;

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown>; etag: string | null; reason: string | null }> {
  const res = await fetch(`${server.api}${path}`, {
    method,
    headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {}, etag: res.headers.get('etag'), reason: res.headers.get('x-bridgehead-error-reason') };
}

before(async () => {
  server = await startServer();
  dir = mkdtempSync(join(tmpdir(), 'bridgehead-etag-'));
  assert.equal((await call('POST', `${LOC}/registries`, { id: REG })).status, 200);
  assert.equal((await call('POST', `${LOC}/registries/${REG}/devices`, { id: 'dev-1' })).status, 200);
});

after(async () => {
  await server?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('device ETag and If-Match', () => {
  test('GET and PATCH answer the revision as an ETag; a PATCH with a stale If-Match is 409 ETAG_MISMATCH and changes nothing', async () => {
    const read = await call('GET', DEV);
    assert.match(read.etag ?? '', /^"r\d+"$/);
    const first = await call('PATCH', `${DEV}?updateMask=metadata`, { metadata: { a: '1' } }, { 'if-match': read.etag! });
    assert.equal(first.status, 200, JSON.stringify(first.json));
    assert.notEqual(first.etag, read.etag, 'the write moved the revision');
    // Another client still holding the first read:
    const stale = await call('PATCH', `${DEV}?updateMask=metadata`, { metadata: { b: '2' } }, { 'if-match': read.etag! });
    assert.equal(stale.status, 409);
    assert.equal(stale.reason, 'ETAG_MISMATCH');
    assert.equal((stale.json.error as { status: string }).status, 'ABORTED');
    assert.deepEqual((await call('GET', DEV)).json.metadata, { a: '1' }, 'the stale write changed nothing');
    // The weak form, `*` and no header at all are accepted; a malformed one is refused.
    assert.equal((await call('PATCH', `${DEV}?updateMask=metadata`, { metadata: { c: '3' } }, { 'if-match': `W/${first.etag!}` })).status, 200);
    assert.equal((await call('PATCH', `${DEV}?updateMask=logLevel`, { logLevel: 'DEBUG' }, { 'if-match': '*' })).status, 200);
    const bad = await call('PATCH', `${DEV}?updateMask=logLevel`, { logLevel: 'ERROR' }, { 'if-match': 'yesterday' });
    assert.equal(bad.status, 400);
    assert.equal((await call('PATCH', `${DEV}?updateMask=logLevel`, { logLevel: 'ERROR' })).status, 200);
  });

  test('registries carry an ETag too: a stale If-Match on PATCH is 409 ETAG_MISMATCH', async () => {
    const read = await call('GET', `${LOC}/registries/${REG}`);
    assert.match(read.etag ?? '', /^"r\d+"$/);
    const first = await call('PATCH', `${LOC}/registries/${REG}?updateMask=logLevel`, { logLevel: 'ERROR' }, { 'if-match': read.etag! });
    assert.equal(first.status, 200, JSON.stringify(first.json));
    const stale = await call('PATCH', `${LOC}/registries/${REG}?updateMask=logLevel`, { logLevel: 'DEBUG' }, { 'if-match': read.etag! });
    assert.equal(stale.status, 409);
    assert.equal(stale.reason, 'ETAG_MISMATCH');
    assert.equal((await call('GET', `${LOC}/registries/${REG}`)).json.logLevel, 'ERROR');
  });

  test('two `devices credentials create` at the same moment keep both keys (the loser re-reads and appends)', async () => {
    const keys = await Promise.all([makeDeviceKeys('ES256', { fresh: true }), makeDeviceKeys('ES256', { fresh: true }), makeDeviceKeys('ES256', { fresh: true })]);
    const files = keys.map((k, i) => {
      const f = join(dir, `k${i}.pem`);
      writeFileSync(f, k.publicKeyPem);
      return f;
    });
    const cli = (file: string) =>
      runCli(['devices', 'credentials', 'create', '--device', 'dev-1', '--registry', REG, '--path', file, '--type', 'es256', '--api', server.api, '--token', server.token, '--project', PROJECT, '--format', 'json']);
    for (let round = 0; round < 3; round++) {
      assert.equal((await call('PATCH', `${DEV}?updateMask=credentials`, { credentials: [] })).status, 200);
      const results = await Promise.all(files.map(cli));
      for (const r of results) assert.equal(r.code, 0, r.stderr);
      const stored = ((await call('GET', DEV)).json.credentials as { publicKey: { key: string } }[]).map((c) => c.publicKey.key.trim());
      assert.deepEqual(stored.sort(), keys.map((k) => k.publicKeyPem.trim()).sort(), `round ${round}: every key kept`);
    }
  });
});

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeCa } from '../support/pki.js';
import { api, runCli, startServer, type StartedServer } from '../support/server.js';

/**
 * The gcloud iot commands the CLI gained last: registries' IAM policy commands, registries
 * credentials (CA certificates) and devices configs describe, against the real server. Binding
 * edits are read-modify-writes conditional on the policy's etag; two at the same moment both land.
 */

const PROJECT = 'iam-proj';
const REG = 'iam-reg';
const LOC = `/v1/projects/${PROJECT}/locations/us-central1`;
const VIEWER = 'roles/cloudiot.viewer';

let server: StartedServer;
let dir: string;

interface Policy {
  etag?: string;
  bindings?: { role: string; members: string[] }[];
}

const cli = (...args: string[]) => runCli([...args, '--api', server.api, '--token', server.token, '--project', PROJECT]);

async function cliJson<T>(...args: string[]): Promise<T> {
  const r = await cli(...args, '--format', 'json');
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

const members = (p: Policy, role: string): string[] => [...(p.bindings?.find((b) => b.role === role)?.members ?? [])].sort();

before(async () => {
  server = await startServer();
  dir = mkdtempSync(join(tmpdir(), 'bridgehead-cli-iam-'));
  assert.equal((await api(server, 'POST', `${LOC}/registries`, { id: REG })).status, 200);
  assert.equal((await api(server, 'POST', `${LOC}/registries/${REG}/devices`, { id: 'dev-1' })).status, 200);
});

after(async () => {
  await server?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('registries IAM policy commands', () => {
  test('add-iam-policy-binding, get-iam-policy shows it, remove-iam-policy-binding takes it away', async () => {
    const alice = 'user:alice@example.com';
    const added = await cliJson<Policy>('registries', 'add-iam-policy-binding', REG, `--member=${alice}`, `--role=${VIEWER}`);
    assert.deepEqual(members(added, VIEWER), [alice]);
    const got = await cliJson<Policy>('registries', 'get-iam-policy', REG);
    assert.deepEqual(members(got, VIEWER), [alice]);
    assert.equal(typeof got.etag, 'string');
    // Adding it again changes nothing (no new etag).
    const again = await cliJson<Policy>('registries', 'add-iam-policy-binding', REG, `--member=${alice}`, `--role=${VIEWER}`);
    assert.equal(again.etag, got.etag);
    // A full registry name works too.
    const removed = await cliJson<Policy>('registries', 'remove-iam-policy-binding', `projects/${PROJECT}/locations/us-central1/registries/${REG}`, `--member=${alice}`, `--role=${VIEWER}`);
    assert.deepEqual(members(removed, VIEWER), []);
    assert.deepEqual(members(await cliJson<Policy>('registries', 'get-iam-policy', REG), VIEWER), []);
    // Removing what is not there is an error, as with gcloud.
    const missing = await cli('registries', 'remove-iam-policy-binding', REG, `--member=${alice}`, `--role=${VIEWER}`);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /not found/);
  });

  test('a malformed --member is a usage error (exit 2) with an example', async () => {
    const r = await cli('registries', 'add-iam-policy-binding', REG, '--member=alice@example.com', `--role=${VIEWER}`);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--member=serviceAccount:/);
  });

  test('set-iam-policy from a JSON file; a stale etag in the file is refused (ABORTED)', async () => {
    const file = join(dir, 'policy.json');
    writeFileSync(file, JSON.stringify({ bindings: [{ role: 'roles/cloudiot.editor', members: ['group:ops@example.com'] }] }));
    const set = await cliJson<Policy>('registries', 'set-iam-policy', REG, file);
    assert.deepEqual(members(set, 'roles/cloudiot.editor'), ['group:ops@example.com']);
    assert.deepEqual(members(await cliJson<Policy>('registries', 'get-iam-policy', REG), 'roles/cloudiot.editor'), ['group:ops@example.com']);
    const stale = join(dir, 'stale.json');
    writeFileSync(stale, JSON.stringify({ etag: 'AAAA', bindings: [] }));
    const r = await cli('registries', 'set-iam-policy', REG, stale);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /ABORTED/);
    const yaml = join(dir, 'policy.yaml');
    writeFileSync(yaml, 'bindings:\n- role: roles/cloudiot.viewer\n  members: [user:a@example.com]\n');
    const y = await cli('registries', 'set-iam-policy', REG, yaml);
    assert.equal(y.code, 2);
    assert.match(y.stderr, /only JSON/);
  });

  test('two add-iam-policy-binding at the same moment both end up in the policy (3 rounds)', async () => {
    for (let round = 0; round < 3; round++) {
      const pair = [`user:a${round}@example.com`, `user:b${round}@example.com`];
      const results = await Promise.all(pair.map((m) => cli('registries', 'add-iam-policy-binding', REG, `--member=${m}`, `--role=${VIEWER}`)));
      for (const r of results) assert.equal(r.code, 0, r.stderr);
      const now = members(await cliJson<Policy>('registries', 'get-iam-policy', REG), VIEWER);
      for (const m of pair) assert.ok(now.includes(m), `round ${round}: ${m} kept, policy has ${now.join(', ')}`);
    }
  });
});

describe('registries credentials', () => {
  test('create (CA certificate) / list / describe / delete / clear', async () => {
    const cas = await Promise.all([makeCa({ subject: { commonName: 'ca-one' } }), makeCa({ subject: { commonName: 'ca-two' } })]);
    const files = cas.map((ca, i) => {
      const f = join(dir, `ca${i}.pem`);
      writeFileSync(f, ca.certificatePem);
      return f;
    });
    for (const [i, f] of files.entries()) {
      const created = await cliJson<{ index: number }>('registries', 'credentials', 'create', REG, '--path', f);
      assert.equal(created.index, i);
    }
    const table = await cli('registries', 'credentials', 'list', REG);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /INDEX\s+FORMAT\s+SUBJECT\s+EXPIRY/);
    assert.match(table.stdout, /X509_CERTIFICATE_PEM.*ca-one/);
    assert.match(table.stdout, /ca-two/);
    type Listed = { credentials: { publicKeyCertificate: { certificate: string } }[] };
    const listed = (await cliJson<Listed>('registries', 'credentials', 'list', REG)).credentials;
    assert.deepEqual(listed.map((c) => c.publicKeyCertificate.certificate.trim()), cas.map((c) => c.certificatePem.trim()));
    const one = await cliJson<{ publicKeyCertificate: { certificate: string } }>('registries', 'credentials', 'describe', REG, '1');
    assert.equal(one.publicKeyCertificate.certificate.trim(), cas[1]!.certificatePem.trim());
    const absent = await cli('registries', 'credentials', 'describe', REG, '5');
    assert.equal(absent.code, 1);
    assert.match(absent.stderr, /indexes 0-1/);

    assert.equal((await cli('registries', 'credentials', 'delete', REG, '0', '--quiet')).code, 0);
    const left = (await cliJson<Listed>('registries', 'credentials', 'list', REG)).credentials;
    assert.deepEqual(left.map((c) => c.publicKeyCertificate.certificate.trim()), [cas[1]!.certificatePem.trim()]);
    const reg = await api(server, 'GET', `${LOC}/registries/${REG}`);
    assert.equal((reg.json.credentials as unknown[]).length, 1, 'the registry itself holds the one certificate left');

    assert.equal((await cli('registries', 'credentials', 'clear', REG, '-q')).code, 0);
    assert.deepEqual((await cliJson<Listed>('registries', 'credentials', 'list', REG)).credentials ?? [], []);
  });
});

describe('registries credentials create under contention (If-Match, C-DEVICE-ETAG)', () => {
  const REG2 = 'etag-reg';
  const PATH = `${LOC}/registries/${REG2}`;
  async function call(method: string, body?: unknown, headers: Record<string, string> = {}, query = ''): Promise<{ status: number; etag: string | null; json: Record<string, unknown> }> {
    const res = await fetch(`${server.api}${PATH}${query}`, {
      method,
      headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, etag: res.headers.get('etag'), json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }

  before(async () => {
    assert.equal((await api(server, 'POST', `${LOC}/registries`, { id: REG2 })).status, 200);
  });

  test('two `registries credentials create` at the same moment keep both certificates (3 rounds)', async () => {
    const cas = await Promise.all([0, 1].map((i) => makeCa({ subject: { commonName: `race-${i}` } })));
    const files = cas.map((ca, i) => {
      const f = join(dir, `race${i}.pem`);
      writeFileSync(f, ca.certificatePem);
      return f;
    });
    for (let round = 0; round < 3; round++) {
      assert.equal((await call('PATCH', { credentials: [] }, {}, '?updateMask=credentials')).status, 200);
      const results = await Promise.all(files.map((f) => cli('registries', 'credentials', 'create', REG2, '--path', f, '--format', 'json')));
      for (const r of results) assert.equal(r.code, 0, r.stderr);
      const stored = ((await call('GET')).json.credentials as { publicKeyCertificate: { certificate: string } }[]).map((c) => c.publicKeyCertificate.certificate.trim());
      assert.deepEqual(stored.sort(), cas.map((c) => c.certificatePem.trim()).sort(), `round ${round}: both kept`);
    }
  });
});

describe('devices configs describe', () => {
  test('shows the latest configuration with its version and data', async () => {
    const dev = ['--registry', REG];
    // One update (the server allows one per second per device): the device's config goes from version 1 to 2.
    const r = await cli('devices', 'configs', 'update', 'dev-1', ...dev, '--config-data', 'second');
    assert.equal(r.code, 0, r.stderr);
    const c = await cliJson<{ version: string; cloudUpdateTime: string; binaryData: string }>('devices', 'configs', 'describe', 'dev-1', ...dev);
    assert.equal(c.version, '2');
    assert.equal(Buffer.from(c.binaryData, 'base64').toString(), 'second');
    assert.match(c.cloudUpdateTime, /^\d{4}-\d{2}-\d{2}T/);
    const text = await cli('devices', 'configs', 'describe', '--device', 'dev-1', ...dev);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /version/);
  });
});

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { KEYS } from '../../src/config/schema.js';
import { CLI } from '../support/server.js';
import { checkWithServer, listenPorts } from './server-accepts.js';

/**
 * deploy/systemd (docs/deploy.md "Cluster on VMs"): the unit of a cluster node keeps the single-node
 * unit's hardening, waits for the network, reads its settings from a required environment file, and
 * `systemd-analyze verify` accepts it; the example environment file holds only settings the server
 * reads, and the real CLI accepts them together with the unit's own.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const UNIT = join(ROOT, 'deploy/systemd/bridgehead-cluster.service');
const SINGLE = join(ROOT, 'deploy/bridgehead.service');
const ENV_EXAMPLE = join(ROOT, 'deploy/systemd/cluster.env.example');
const hasSystemdAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

/** `Key=value` lines of a unit (later lines of one key kept in order). */
function settings(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) out.set(m[1]!, [...(out.get(m[1]!) ?? []), m[2]!]);
  }
  return out;
}

/** NAME=value lines of an environment file. */
function envFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

const unit = settings(readFileSync(UNIT, 'utf8'));
const one = (k: string): string | undefined => unit.get(k)?.[0];
/** The unit's Environment= assignments. */
const unitEnv = Object.fromEntries((unit.get('Environment') ?? []).map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]));

test('the cluster unit waits for the network, needs its environment file and keeps trying while a dependency is not up', () => {
  assert.ok(unit.get('After')?.some((v) => v.split(/\s+/).includes('network-online.target')));
  assert.ok(unit.get('Wants')?.some((v) => v.split(/\s+/).includes('network-online.target')));
  assert.deepEqual(unit.get('EnvironmentFile'), ['/etc/bridgehead/cluster.env'], 'one file, required (no leading -)');
  assert.match(one('ExecStart') ?? '', /\/bridgehead serve$/);
  assert.equal(one('Restart'), 'on-failure');
  assert.equal(one('RestartPreventExitStatus'), '2', 'a configuration error is not retried');
  assert.equal(one('StartLimitIntervalSec'), '0', 'restarts are never given up while PostgreSQL or NATS is coming up');
});

test('the cluster unit keeps every setting of the single-node unit, hardening included', () => {
  const single = settings(readFileSync(SINGLE, 'utf8'));
  // What differs on purpose: the unit's description, its settings file, restart pace, and TLS by credentials (no reload).
  const own = new Set(['Description', 'EnvironmentFile', 'ExecReload', 'RestartSec', 'Environment']);
  for (const [key, values] of single) {
    if (own.has(key)) continue;
    for (const v of values) assert.ok(unit.get(key)?.includes(v), `${key}=${v}`);
  }
  assert.deepEqual(unitEnv.BRIDGEHEAD_DATA_DIR, '/var/lib/bridgehead');
});

test("the TLS files are the unit's credentials, which the dynamic user can read", () => {
  const creds = new Map((unit.get('LoadCredential') ?? []).map((c) => [c.slice(0, c.indexOf(':')), c.slice(c.indexOf(':') + 1)]));
  const dir = `/run/credentials/${basename(UNIT)}`;
  for (const name of ['BRIDGEHEAD_TLS_CERT', 'BRIDGEHEAD_TLS_KEY']) {
    const path = unitEnv[name] ?? '';
    assert.equal(dirname(path), dir, `${name} is in the unit's credentials directory`);
    assert.match(creds.get(basename(path)) ?? '', /^\/etc\/bridgehead\/tls\/\S+\.pem$/, `${name}: a credential loads it`);
  }
});

test('systemd-analyze verify accepts the cluster unit', { skip: hasSystemdAnalyze ? false : 'systemd-analyze is not installed' }, () => {
  // verify checks that ExecStart's program exists: point it at this checkout's build for the check.
  const dir = mkdtempSync(join(tmpdir(), 'bridgehead-unit-'));
  try {
    const file = join(dir, basename(UNIT));
    const text = readFileSync(UNIT, 'utf8');
    assert.match(text, /^ExecStart=\S+ serve$/m);
    writeFileSync(file, text.replace(/^ExecStart=\S+ serve$/m, `ExecStart=${process.execPath} ${CLI} serve`));
    const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    // verify reports unknown or misspelt settings as warnings and still exits 0.
    assert.equal(r.stderr.split('\n').filter((l) => l.includes(basename(UNIT))).join('\n'), '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the example environment file sets a cluster node with settings the server reads, and the server accepts them', async () => {
  const example = envFile(readFileSync(ENV_EXAMPLE, 'utf8'));
  const known = new Set(KEYS.map((k) => k.env));
  assert.deepEqual(Object.keys(example).filter((n) => !known.has(n)), [], 'variables the schema does not read');
  for (const n of ['BRIDGEHEAD_STORE', 'BRIDGEHEAD_NATS', 'BRIDGEHEAD_NODE_ID', 'BRIDGEHEAD_ADMIN_TOKEN']) assert.ok(example[n], n);
  for (const [n, v] of Object.entries(example)) if (n.endsWith('_LISTEN')) assert.ok(listenPorts(v, n).length > 0);
  // Environment files override the unit's Environment= lines: the server sees both, the file winning.
  const verdict = await checkWithServer({ args: ['serve'], env: { ...unitEnv, ...example } });
  assert.equal(verdict.code, 2, verdict.stderr);
  assert.ok(verdict.poisonReported, verdict.stderr);
  assert.deepEqual(verdict.problems, []);
});

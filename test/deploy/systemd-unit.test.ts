import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { CLI } from '../support/server.js';

/**
 * deploy/bridgehead.service (docs/compat.md C-SERVER-SYSTEMD): `systemd-analyze verify` accepts it, and
 * the hardening and reload settings an operator relies on are there.
 */

const UNIT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../deploy/bridgehead.service');
const hasSystemdAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

/** `Key=value` lines of the unit (later lines of one key kept in order). */
function settings(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) out.set(m[1]!, [...(out.get(m[1]!) ?? []), m[2]!]);
  }
  return out;
}

test('the unit carries the hardening, the state directory, reload by SIGHUP and restart on failure', () => {
  const s = settings(readFileSync(UNIT, 'utf8'));
  const one = (k: string): string | undefined => s.get(k)?.[0];
  assert.equal(one('DynamicUser'), 'yes');
  assert.equal(one('StateDirectory'), 'bridgehead');
  assert.equal(one('ProtectSystem'), 'strict');
  assert.equal(one('ProtectHome'), 'yes');
  assert.equal(one('NoNewPrivileges'), 'yes');
  assert.equal(one('PrivateTmp'), 'yes');
  assert.equal(one('CapabilityBoundingSet'), 'CAP_NET_BIND_SERVICE');
  assert.equal(one('AmbientCapabilities'), 'CAP_NET_BIND_SERVICE');
  assert.equal(one('RestrictAddressFamilies'), 'AF_INET AF_INET6 AF_UNIX');
  assert.equal(one('SystemCallFilter'), '@system-service');
  assert.equal(one('ExecReload'), '/bin/kill -HUP $MAINPID');
  assert.equal(one('Restart'), 'on-failure');
  assert.equal(one('RestartPreventExitStatus'), '2', 'a configuration error is not retried');
  assert.match(one('ExecStart') ?? '', /\/bridgehead serve$/);
  assert.equal(s.get('Environment')?.includes('BRIDGEHEAD_DATA_DIR=/var/lib/bridgehead'), true);
});

test('systemd-analyze verify accepts the unit', { skip: hasSystemdAnalyze ? false : 'systemd-analyze is not installed' }, () => {
  // verify checks that ExecStart's program exists: point it at this checkout's build for the check.
  const dir = mkdtempSync(join(tmpdir(), 'bridgehead-unit-'));
  try {
    const unit = join(dir, 'bridgehead.service');
    const text = readFileSync(UNIT, 'utf8');
    assert.match(text, /^ExecStart=\S+ serve$/m);
    writeFileSync(unit, text.replace(/^ExecStart=\S+ serve$/m, `ExecStart=${process.execPath} ${CLI} serve`));
    const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    // verify reports unknown or misspelt settings as warnings and still exits 0.
    assert.equal(r.stderr.split('\n').filter((l) => l.includes('bridgehead.service')).join('\n'), '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

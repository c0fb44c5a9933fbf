import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { run } from '../support/processes.js';

/**
 * The published package (docs/compat.md C-SERVER-PACKAGE): `npm pack` holds the built server, and
 * `npx bridgehead serve` from the installed tarball starts it.
 *
 * SLOW-ish (~10 s, bounded at 90 s): npm installs the tarball's dependencies (from npm's cache when it
 * has them, else from the registry). Install scripts are skipped and better-sqlite3's addon, built
 * for this checkout, is copied in: compiling SQLite from source takes over a minute on a 2-core machine,
 * and what is under test is this package's files and bin, not better-sqlite3's build.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const dir = mkdtempSync(join(tmpdir(), 'bridgehead-pack-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('npm pack, install the tarball, npx bridgehead serve prints the listening line', { timeout: 90_000 }, async () => {
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  // dist/ is built (this test runs from it): no prepack build here.
  const packed = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir, '--json'], { cwd: ROOT, timeoutMs: 30_000 });
  assert.equal(packed.code, 0, packed.stderr);
  const [manifest] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  const files = manifest!.files.map((f) => f.path);
  assert.ok(files.includes('dist/src/cli/main.js'), 'the bin is in the tarball');
  assert.ok(files.includes('dist/src/main/server.js'));
  assert.ok(files.includes('deploy/bridgehead.service'));
  assert.ok(files.includes('dist/console/index.html') && files.some((f) => /^dist\/console\/assets\/main-\w+\.js$/.test(f)), 'the web console is in the tarball');
  assert.deepEqual(files.filter((f) => f.startsWith('dist/test/') || f.startsWith('src/') || f.endsWith('.map')), [], 'no tests, sources or maps');
  const tarball = join(dir, manifest!.filename);
  assert.equal(manifest!.filename, `bridgehead-${version}.tgz`);

  const app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'pack-test-app', private: true }));
  const installed = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', tarball], { cwd: app, timeoutMs: 60_000 });
  assert.equal(installed.code, 0, installed.stderr);

  const addon = join('better-sqlite3', 'build', 'Release', 'better_sqlite3.node');
  const theirs = JSON.parse(readFileSync(join(app, 'node_modules', 'better-sqlite3', 'package.json'), 'utf8')) as { version: string };
  const ours = JSON.parse(readFileSync(join(ROOT, 'node_modules', 'better-sqlite3', 'package.json'), 'utf8')) as { version: string };
  assert.equal(theirs.version, ours.version, 'the installed better-sqlite3 is the one the addon was built for');
  mkdirSync(dirname(join(app, 'node_modules', addon)), { recursive: true });
  copyFileSync(join(ROOT, 'node_modules', addon), join(app, 'node_modules', addon));
  assert.ok(existsSync(join(app, 'node_modules', '.bin', 'bridgehead')), 'npm linked the bin');

  const dataDir = join(dir, 'data');
  const npx = spawn('npx', ['--no-install', 'bridgehead', 'serve', '--data-dir', dataDir, '--api-listen', '127.0.0.1:0', '--mqtt-listen', '127.0.0.1:0'], {
    cwd: app,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  npx.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((res) => npx.once('exit', (code) => res(code)));
  let serverPid: number | undefined;
  try {
    const line = await new Promise<Record<string, unknown>>((res, rej) => {
      createInterface({ input: npx.stdout }).on('line', (l) => {
        if (!l.startsWith('{')) return;
        const parsed = JSON.parse(l) as Record<string, unknown>;
        if (parsed.event === 'listening') res(parsed);
      });
      void exited.then((code) => rej(new Error(`npx bridgehead serve exited with ${code}:\n${stderr}`)));
    });
    serverPid = line.pid as number;
    assert.match(String(line.api), /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(line.dataDir, dataDir);
    const health = await fetch(`${String(line.api)}/healthz`);
    assert.equal(health.status, 200);
    // The server itself, not npx: `npm exec` runs the bin under `sh -c` and forwards no signal,
    // so a SIGTERM to npx would orphan the server (README "Quickstart": run the bin directly).
    process.kill(line.pid as number, 'SIGTERM');
    assert.equal(await exited, 0, stderr);
    serverPid = undefined;
  } finally {
    if (serverPid !== undefined) {
      try {
        process.kill(serverPid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    npx.kill('SIGKILL');
  }
});

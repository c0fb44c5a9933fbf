import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { run, type ProcessResult } from '../support/processes.js';
import { CLI, cliEnv } from '../support/server.js';

/**
 * The admin commands share `bridgehead`'s entry point with `serve`, but must not pay for loading
 * the server: its module graph (fastify, better-sqlite3, pino, mqtt-packet, ...) took most of a
 * second, and the admin CLI runs once per command. These tests run the built CLI with hooks that
 * record every module it loads (./module-trace-hooks.ts).
 */

const HOOKS = new URL('./module-trace-hooks.js', import.meta.url).href;
/** dist/, so that our modules read as `src/cli/main.js`. */
const DIST = fileURLToPath(new URL('../../', import.meta.url));

/** What the admin path may load: the CLI itself, the pure domain, commander and Node's built-ins. */
const ADMIN_ALLOWED = [/^src\/cli\//, /^src\/domain\//, /^commander$/, /^node:/];

let dir: string;
let traces = 0;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'bridgehead-lean-'));
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** `node:x` as is, a package by its name, one of ours by its path under dist/. */
function label(url: string): string {
  if (!url.startsWith('file:')) return url;
  const path = fileURLToPath(url);
  const pkg = /[/\\]node_modules[/\\]((?:@[^/\\]+[/\\])?[^/\\]+)/.exec(path);
  if (pkg) return pkg[1]!.replace(/\\/g, '/');
  return path.startsWith(DIST) ? path.slice(DIST.length).replace(/\\/g, '/') : path;
}

/** Runs the built CLI and returns its result with the modules it loaded (deduplicated labels). */
async function traced(args: string[]): Promise<{ result: ProcessResult; modules: Set<string> }> {
  const traceFile = join(dir, `trace-${++traces}.txt`);
  writeFileSync(traceFile, '');
  const registration = `import { register } from 'node:module'; register(${JSON.stringify(HOOKS)}, { data: ${JSON.stringify({ traceFile })} });`;
  const result = await run(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(registration)}`, CLI, ...args], {
    env: cliEnv(),
    cwd: dir,
  });
  const modules = new Set(readFileSync(traceFile, 'utf8').split('\n').filter((l) => l !== '').map(label));
  // Without this, a trace that silently recorded nothing would pass every "does not load" check.
  assert.ok(modules.has('src/cli/main.js'), `the trace saw no CLI modules: ${[...modules].join(', ')}\n${result.stderr}`);
  return { result, modules };
}

function assertAdminPathIsLean(modules: Set<string>): void {
  const extra = [...modules].filter((m) => !ADMIN_ALLOWED.some((re) => re.test(m)));
  assert.deepEqual(extra, [], 'admin commands loaded modules beyond src/cli, src/domain and commander: import them inside the action that needs them');
}

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

describe('the CLI entry point loads only what the command needs', () => {
  test('registering every command (what any admin command loads before it runs) stays within the CLI', async () => {
    const { result, modules } = await traced(['registries', 'list', '--help']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^Usage: bridgehead registries list \[options\]/);
    for (const m of ['src/cli/serve-command.js', 'src/cli/commands/keys.js', 'src/cli/commands/jwt.js', 'src/cli/commands/events.js']) {
      assert.ok(modules.has(m), `${m} registers its commands, so it is loaded`);
    }
    assertAdminPathIsLean(modules);
  });

  test('an API command, run to its request, stays within the CLI', async () => {
    const port = await closedPort();
    const { result, modules } = await traced(['registries', 'list', '--api', `http://127.0.0.1:${port}`, '--token', 't', '--project', 'p1']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^ERROR: could not reach the Bridgehead API .*ECONNREFUSED/m);
    assertAdminPathIsLean(modules);
  });

  test('jwt mint loads jose when it runs (and the trace sees modules imported on demand)', async () => {
    const key = join(dir, 'ec_private.pem');
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(key, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const { result, modules } = await traced(['jwt', 'mint', '--private-key', key, '--alg', 'ES256', '--project', 'p1']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    assert.ok(modules.has('jose'));
    assert.ok(modules.has('src/adapters/crypto/device-jwt.js'));
    assert.ok(!modules.has('src/main/server.js'));
  });

  test('serve --help lists every serve option without loading the server', async () => {
    const { result, modules } = await traced(['serve', '--help']);
    assert.equal(result.code, 0, result.stderr);
    for (const flag of [
      '--config <file>',
      '--data-dir <dir>',
      '--api-listen <host:port>',
      '--admin-token <token>',
      '--log-level <level>',
      '--mqtt-listen <host:port>',
      '--mqtt-plain-listen <host:port>',
      '--tls-cert <file>',
      '--tls-key <file>',
      '--tls-hostname <name>',
      '--mqtt-max-msgs-per-sec <n>',
      '--mqtt-max-connections <n>',
      '--event-log-sync <mode>',
    ]) {
      assert.ok(result.stdout.includes(flag), `serve --help lacks ${flag}:\n${result.stdout}`);
    }
    assertAdminPathIsLean(modules);
  });

  test('serve with an invalid configuration exits 2 before loading the server', async () => {
    const { result, modules } = await traced(['serve', '--data-dir', join(dir, 'data'), '--admin-token', 'short']);
    assert.equal(result.code, 2);
    // One JSON log line, like every other server line.
    const line = JSON.parse(result.stderr) as { level: number; msg: string };
    assert.equal(line.level, 60);
    assert.match(line.msg, /^invalid configuration: adminToken: /);
    assert.ok(modules.has('src/config/loader.js'));
    assert.ok(!modules.has('src/main/server.js'));
  });

  test('bridgehead --help lists serve and every admin command group', async () => {
    const { result } = await traced(['--help']);
    assert.equal(result.code, 0, result.stderr);
    for (const command of ['serve', 'registries', 'devices', 'gateways', 'keys', 'jwt', 'events']) {
      assert.match(result.stdout, new RegExp(`^ {2}${command} `, 'm'), `bridgehead --help lacks ${command}:\n${result.stdout}`);
    }
  });
});

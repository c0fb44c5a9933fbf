import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { run, type ProcessResult } from '../support/processes.js';
import { CLI, startServer, TEST_TOKEN } from '../support/server.js';

/**
 * The server as a service (issue 11): `npm start` passes signals to the server, one server per data
 * directory, and startup failures that end in one JSON line naming the setting, its value and the fix
 * (exit 2), never a stack trace.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const LOOPBACK = ['--api-listen', '127.0.0.1:0', '--mqtt-listen', '127.0.0.1:0', '--log-level', 'info', '--admin-token', TEST_TOKEN];

const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'bridgehead-service-'));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

/** Every stderr line must be a JSON log line; returns them parsed. */
function logLines(stderr: string): LogLine[] {
  return stderr
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as LogLine;
      } catch {
        assert.fail(`a stderr line that is not JSON: ${l}`);
      }
    });
}

/** A server start that must fail: exit 2, no listening line, and a last line naming `setting`. */
async function failsToStart(args: string[], opts: { uid?: number } = {}): Promise<{ result: ProcessResult; last: LogLine }> {
  const result = opts.uid === undefined ? await run(process.execPath, [CLI, 'serve', ...args]) : await runAs(opts.uid, [CLI, 'serve', ...args]);
  assert.equal(result.code, 2, `exit code ${result.code}:\n${result.stderr}`);
  assert.equal(result.stdout, '', 'no listening line');
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  const lines = logLines(result.stderr);
  const last = lines[lines.length - 1]!;
  assert.equal(last.level, 60, 'fatal');
  assert.equal(last.exitCode, 2);
  return { result, last };
}

function runAs(uid: number, args: string[]): Promise<ProcessResult> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, args, { uid, gid: uid, stdio: ['ignore', 'pipe', 'pipe'], cwd: '/' });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', rej);
    child.on('close', (code, signal) => res({ code, signal, stdout, stderr }));
  });
}

/** The parsed `listening` line of a child that prints other lines too (npm's banner). */
function listeningLine(child: ChildProcess, stderr: () => string): Promise<Record<string, unknown>> {
  return new Promise((res, rej) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (parsed.event === 'listening') res(parsed);
    });
    child.once('exit', (code) => rej(new Error(`exited with ${code} before listening:\n${stderr()}`)));
  });
}

const processAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const portOpen = (url: string): Promise<boolean> =>
  new Promise((res) => {
    const { hostname, port } = new URL(url);
    const s = connect(Number(port), hostname);
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
  });

const occupy = (): Promise<Server> =>
  new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => res(s));
  });

describe('npm start', () => {
  it('runs the built server directly: SIGTERM to the npm process stops the server and closes its ports', { timeout: 60_000 }, async () => {
    const dataDir = tempDir();
    const npm = spawn('npm', ['start', '--', '--data-dir', dataDir, ...LOOPBACK], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: false });
    let stderr = '';
    npm.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const npmExited = new Promise<number | null>((res) => npm.once('exit', (code, signal) => res(code ?? (signal ? -1 : null))));
    let serverPid: number | undefined;
    try {
      const info = await listeningLine(npm, () => stderr);
      serverPid = info.pid as number;
      assert.equal(typeof serverPid, 'number');
      assert.notEqual(serverPid, npm.pid, 'the server is a child of npm');
      assert.ok(await portOpen(info.api as string));
      assert.doesNotMatch(stderr, /building/, 'an up-to-date build is not rebuilt');

      npm.kill('SIGTERM');
      await npmExited;
      // The server is not npm's child process for us: its exit is seen by its PID going away.
      const deadline = Date.now() + 10_000;
      while (processAlive(serverPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal(processAlive(serverPid), false, `server ${serverPid} outlived npm`);
      assert.equal(await portOpen(info.api as string), false, 'the API port is closed');
      assert.equal(existsSync(join(dataDir, 'bridgehead.lock')), false, 'the data-dir lock is released');
      const lines = logLines(stderr.split('\n').filter((l) => l.startsWith('{')).join('\n'));
      assert.ok(lines.some((l) => l.msg === 'stopping' && l.signal === 'SIGTERM'), stderr);
      assert.ok(lines.some((l) => l.msg === 'stopped'), stderr);
    } finally {
      npm.kill('SIGKILL');
      // A failed assertion must not leave the server behind: it holds this test's pipes open.
      if (serverPid !== undefined && processAlive(serverPid)) process.kill(serverPid, 'SIGKILL');
      npm.stdout!.destroy();
      npm.stderr!.destroy();
    }
  });
});

describe('one server per data directory', () => {
  it('a second server on the same data dir exits 2 naming the holder; a dead holder\'s lock is taken over', { timeout: 30_000 }, async () => {
    const dataDir = tempDir();
    const first = await startServer({ dataDir });
    let third: Awaited<ReturnType<typeof startServer>> | undefined;
    try {
      assert.equal(readFileSync(join(dataDir, 'bridgehead.lock'), 'utf8').trim(), String(first.process.pid));
      const { last } = await failsToStart(['--data-dir', dataDir, ...LOOPBACK]);
      assert.equal(last.setting, 'dataDir');
      assert.equal(last.msg, `dataDir ${dataDir} is in use by process ${first.process.pid}; stop that server first, or choose another directory with --data-dir`);

      // SIGKILL leaves the lock file behind: its PID is dead, so the next server takes it.
      await first.kill();
      assert.ok(existsSync(join(dataDir, 'bridgehead.lock')));
      third = await startServer({ dataDir });
      assert.equal(readFileSync(join(dataDir, 'bridgehead.lock'), 'utf8').trim(), String(third.process.pid));
      assert.equal(await third.stop(), 0, third.stderr());
      assert.equal(existsSync(join(dataDir, 'bridgehead.lock')), false);
    } finally {
      await first.kill();
      await third?.kill();
    }
  });
});

describe('startup failures: one line naming the setting, the value and the fix; exit 2', () => {
  it('an MQTT port in use', async () => {
    const busy = await occupy();
    try {
      const port = (busy.address() as { port: number }).port;
      const { last } = await failsToStart(['--data-dir', tempDir(), '--api-listen', '127.0.0.1:0', '--mqtt-listen', `127.0.0.1:${port}`]);
      assert.equal(last.msg, `mqttListen 127.0.0.1:${port} is in use; free the port or choose another with --mqtt-listen`);
      assert.equal(last.setting, 'mqttListen');
      assert.equal(last.value, `127.0.0.1:${port}`);
    } finally {
      busy.close();
    }
  });

  it('the API port in use, and the data dir lock released for the next try', async () => {
    const busy = await occupy();
    const dataDir = tempDir();
    try {
      const port = (busy.address() as { port: number }).port;
      const { last } = await failsToStart(['--data-dir', dataDir, '--api-listen', `127.0.0.1:${port}`, '--mqtt-listen', '127.0.0.1:0']);
      assert.equal(last.msg, `apiListen 127.0.0.1:${port} is in use; free the port or choose another with --api-listen`);
      assert.equal(existsSync(join(dataDir, 'bridgehead.lock')), false);
    } finally {
      busy.close();
    }
  });

  it('a data dir that cannot be created', async () => {
    const file = join(tempDir(), 'a-file');
    writeFileSync(file, 'x');
    const dataDir = join(file, 'data');
    const { last } = await failsToStart(['--data-dir', dataDir, ...LOOPBACK]);
    assert.equal(last.setting, 'dataDir');
    assert.match(last.msg, new RegExp(`^dataDir ${dataDir} has a path component that is not a directory; .*--data-dir`));
  });

  it('a read-only data dir', async (t) => {
    const parent = tempDir();
    chmodSync(parent, 0o755);
    const dataDir = join(parent, 'ro');
    mkdirSync(dataDir, { mode: 0o555 });
    chmodSync(dataDir, 0o555);
    // root writes anywhere: the server runs as nobody for this one.
    const asNobody = process.getuid?.() === 0;
    if (asNobody && !readableByOthers(ROOT)) return t.skip('the checkout is not readable by nobody');
    const { last } = await failsToStart(['--data-dir', dataDir, ...LOOPBACK], asNobody ? { uid: 65534 } : {});
    assert.equal(last.setting, 'dataDir');
    assert.match(last.msg, new RegExp(`^dataDir ${dataDir} is not readable and writable \\(EACCES\\); give the server's user a writable directory with --data-dir`));
  });

  it('an unreadable or bad --tls-cert / --tls-key', async () => {
    const dir = tempDir();
    const missing = await failsToStart(['--data-dir', dir, ...LOOPBACK, '--tls-cert', join(dir, 'none.pem'), '--tls-key', join(dir, 'none-key.pem')]);
    assert.match(missing.last.msg, new RegExp(`tlsCert ${dir}/none\\.pem: cannot read it \\(ENOENT\\); give readable PEM files`));
    writeFileSync(join(dir, 'bad.pem'), 'not a certificate');
    writeFileSync(join(dir, 'bad-key.pem'), 'not a key');
    const bad = await failsToStart(['--data-dir', dir, ...LOOPBACK, '--tls-cert', join(dir, 'bad.pem'), '--tls-key', join(dir, 'bad-key.pem')]);
    assert.match(bad.last.msg, /tlsCert .*bad\.pem: not a PEM certificate/);
    assert.equal(existsSync(join(dir, 'registry.db')), false, 'nothing was opened');
  });

  it('a bad configuration: every problem on one JSON line', async () => {
    const { last } = await failsToStart(['--data-dir', tempDir(), '--api-listen', 'nonsense', '--log-level', 'loud']);
    assert.deepEqual(
      (last.problems as string[]).map((p) => p.split(':')[0]),
      ['apiListen', 'logLevel'],
    );
    assert.match(last.msg, /^invalid configuration: apiListen: expected HOST:PORT .*; logLevel: expected one of/);
  });
});

function readableByOthers(path: string): boolean {
  let p = path;
  for (;;) {
    // o+rx on every directory up to the checkout.
    if ((statSync(p).mode & 0o005) !== 0o005) return false;
    const up = dirname(p);
    if (up === p) return true;
    p = up;
  }
}

import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startNats, type TestNats } from './nats.js';
import { startPostgres, type TestPostgres } from './postgres.js';
import { run, type ProcessResult } from './processes.js';

/**
 * BRIDGEHEAD_TEST_BACKEND=postgres (or cluster) runs every server a test starts on a real
 * PostgreSQL (and NATS JetStream): one database server (and one nats-server) per test process,
 * one database (and one subject prefix) per data directory, so a server restarted on its data
 * directory finds its data again. Unset: the embedded defaults. `.ci/run` runs a set of e2e files
 * in each mode.
 */
const BACKEND = process.env.BRIDGEHEAD_TEST_BACKEND ?? 'embedded';
let sharedPostgres: Promise<TestPostgres> | undefined;
let sharedNats: Promise<TestNats> | undefined;
const databases = new Map<string, string>();

async function backendArgs(dataDir: string): Promise<string[]> {
  if (BACKEND === 'embedded') return [];
  if (BACKEND !== 'postgres' && BACKEND !== 'cluster') throw new Error(`BRIDGEHEAD_TEST_BACKEND: expected embedded, postgres or cluster, got ${BACKEND}`);
  sharedPostgres ??= startPostgres({ fast: true }).then((pg) => {
    process.once('exit', () => pg.cleanupSync());
    return pg;
  });
  const pg = await sharedPostgres;
  let url = databases.get(dataDir);
  if (url === undefined) {
    url = await pg.createDatabase();
    databases.set(dataDir, url);
  }
  if (BACKEND === 'postgres') return ['--store', url];
  sharedNats ??= startNats().then((nats) => {
    process.once('exit', () => nats.cleanupSync());
    return nats;
  });
  const nats = await sharedNats;
  // The database's name is unique per data directory: a prefix of its own keeps servers apart on the one nats-server.
  return ['--store', url, '--nats', nats.url, '--nats-prefix', new URL(url).pathname.slice(1)];
}

/** Path of the built CLI entry point (tests run from dist/test/...). */
export const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

/** The environment for a CLI child: this one without its BRIDGEHEAD_* variables, plus `extra`. */
export const cliEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BRIDGEHEAD_'))),
  ...extra,
});

/** Runs the CLI to completion as a user would, in `cwd`, with cliEnv(`env`). */
export const runCli = (args: readonly string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Promise<ProcessResult> =>
  run(process.execPath, [CLI, ...args], { env: cliEnv(opts.env), cwd: opts.cwd });

export interface StartedServer {
  process: ChildProcess;
  /** The parsed `listening` line. */
  info: { api: string; dataDir: string; database: string; mqtt: string[]; mqttPlain: string[]; caFile: string; eventLog: string; [k: string]: unknown };
  api: string;
  token: string;
  dataDir: string;
  stderr: () => string;
  /** The last 50 lines the server wrote on stdout (its log), for a failing test's message. */
  recentLog: () => string;
  /** SIGTERM and wait; resolves to the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
  /** Stops and removes the data dir (unless kept for a restart). */
  cleanup(): Promise<void>;
}

export const TEST_TOKEN = 'test-admin-token-0123456789abcdef';

/**
 * Starts the built server as a real process on port 0 and waits for its `listening` line.
 */
export async function startServer(
  opts: { dataDir?: string; args?: string[]; env?: NodeJS.ProcessEnv; token?: string | null; logLevel?: string } = {},
): Promise<StartedServer> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'bridgehead-test-'));
  const token = opts.token === null ? undefined : (opts.token ?? TEST_TOKEN);
  // Every listener on an ephemeral loopback port, so that test servers never collide.
  const args = [
    CLI,
    'serve',
    '--data-dir',
    dataDir,
    '--api-listen',
    '127.0.0.1:0',
    '--mqtt-listen',
    '127.0.0.1:0',
    '--mqtt-plain-listen',
    '127.0.0.1:0',
    '--log-level',
    opts.logLevel ?? 'warn',
    ...(token ? ['--admin-token', token] : []),
    // A test that chose its store itself (the cluster harness, the PostgreSQL e2e) keeps it.
    ...((opts.args ?? []).includes('--store') ? [] : await backendArgs(dataDir)),
    ...(opts.args ?? []),
  ];
  // BRIDGEHEAD_SERVER_NODE_ARGS: node flags for the server only (e.g. --cpu-prof when profiling a bench).
  const nodeArgs = (process.env.BRIDGEHEAD_SERVER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const child = spawn(process.execPath, [...nodeArgs, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  let err = '';
  const recent: string[] = [];
  // BRIDGEHEAD_SERVER_STDOUT_FILE: every line the server prints is also appended there (e.g. with --trace-gc).
  const stdoutFile = process.env.BRIDGEHEAD_SERVER_STDOUT_FILE;
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const info = await new Promise<StartedServer['info']>((res, rej) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      if (stdoutFile !== undefined) appendFileSync(stdoutFile, `${line}\n`);
      recent.push(line);
      if (recent.length > 50) recent.shift();
      try {
        const parsed = JSON.parse(line) as { event?: string };
        if (parsed.event === 'listening') res(parsed as StartedServer['info']);
      } catch {
        // not our line
      }
    });
    void exited.then((code) => rej(new Error(`server exited with ${code} before listening:\n${err}`)));
  });
  let stopped = false;
  const server: StartedServer = {
    process: child,
    info,
    api: info.api,
    token: token ?? '',
    dataDir,
    stderr: () => err,
    recentLog: () => recent.join('\n'),
    async stop() {
      if (!stopped) child.kill('SIGTERM');
      stopped = true;
      return exited;
    },
    async kill() {
      if (!stopped) child.kill('SIGKILL');
      stopped = true;
      await exited;
    },
    async cleanup() {
      await server.stop();
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return server;
}

/** fetch against the admin API with the bearer token. */
export async function api(server: StartedServer, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${server.api}${path}`, {
    method,
    headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

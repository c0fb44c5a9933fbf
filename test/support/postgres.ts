import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './pubsub.js';

/**
 * A real PostgreSQL server for one test file: `initdb` into a temp dir, `postgres` on a free
 * loopback port, trust authentication. PostgreSQL refuses to run as root, so under root (CI, this
 * machine) both run as the `postgres` user the Debian package creates. Durability settings stay
 * on unless `fast` is asked for (contract tests): with fsync off, `stop('kill')` loses committed
 * data, even tables, so kill tests use a durable server (or CHECKPOINT before the kill).
 */
export interface TestPostgres {
  /** `postgres://postgres@127.0.0.1:PORT/postgres`. */
  url: string;
  port: number;
  /** A fresh, empty database on this server; returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** SIGKILL (or a fast shutdown) of the server; `start()` brings it back on the same port and data. */
  stop(mode?: 'kill' | 'fast'): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and removes its data. */
  cleanup(): Promise<void>;
  /** For a process 'exit' handler: SIGKILL and remove the data, synchronously. */
  cleanupSync(): void;
}

/** Under root, the uid and gid to run PostgreSQL's programs with (the Debian package's `postgres` user). */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  if (!Number.isInteger(uid) || uid <= 0) throw new Error('running as root and there is no postgres user: install the postgresql package');
  return { uid, gid };
}

function binary(name: string): string {
  // Debian keeps the server programs off PATH, under /usr/lib/postgresql/VERSION/bin.
  const r = spawnSync('sh', ['-c', `ls -d /usr/lib/postgresql/*/bin/${name} 2>/dev/null | sort -V | tail -1; command -v ${name}`], { encoding: 'utf8' });
  const path = r.stdout.trim().split('\n').find((l) => l !== '');
  if (!path) throw new Error(`${name} not found: install the postgresql package (.ci/run does)`);
  return path;
}

let counter = 0;

export async function startPostgres(opts: { fast?: boolean } = {}): Promise<TestPostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'bh-pg-'));
  const data = join(dir, 'data');
  const user = postgresUser();
  if (user) chownSync(dir, user.uid, user.gid);
  const init = spawnSync(binary('initdb'), ['-D', data, '--auth=trust', '-U', 'postgres', '-N', '-E', 'UTF8', '--locale=C'], { encoding: 'utf8', ...user });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const port = await freePort();
  const settings = ['-c', 'listen_addresses=127.0.0.1', '-c', `port=${port}`, '-c', `unix_socket_directories=${dir}`, '-c', 'max_connections=200'];
  if (opts.fast) settings.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  let child: ChildProcess | undefined;
  let output = '';

  const start = async (): Promise<void> => {
    // After a SIGKILL the old backends hold the shared memory until they notice: retry a while.
    for (let attempt = 0; ; attempt++) {
      try {
        return await startOnce();
      } catch (e) {
        if (attempt >= 20 || !/already in use|lock file|shared memory/i.test(String(e))) throw e;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  };

  const startOnce = async (): Promise<void> => {
    output = '';
    const c = spawn(binary('postgres'), ['-D', data, ...settings], { stdio: ['ignore', 'pipe', 'pipe'], ...user });
    child = c;
    c.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    c.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    // A test process must be able to exit with the server still up (a server shared by a whole file is
    // stopped from a process 'exit' handler): neither the child nor its pipes keep the event loop alive.
    c.unref();
    (c.stdout as unknown as { unref(): void }).unref();
    (c.stderr as unknown as { unref(): void }).unref();
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (c.exitCode !== null) throw new Error(`postgres exited with ${c.exitCode}: ${output}`);
      const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
      try {
        await client.connect();
        await client.end();
        return;
      } catch {
        await client.end().catch(() => undefined);
        if (Date.now() > deadline) throw new Error(`postgres did not accept connections within 20 s: ${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };

  const stop = async (mode: 'kill' | 'fast' = 'fast'): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    // Waited for, so held again: an unref'd child would let the loop end before its 'exit'.
    c.ref();
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    // SIGINT is PostgreSQL's fast shutdown; SIGKILL of the postmaster leaves its backends to notice
    // and exit, and a restart recovers from the WAL.
    c.kill(mode === 'kill' ? 'SIGKILL' : 'SIGINT');
    await exited;
  };

  await start();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    url,
    port,
    async createDatabase(name) {
      const db = name ?? `t${process.pid}_${++counter}`;
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${db}"`);
      } finally {
        await client.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${db}`;
    },
    stop,
    start,
    async cleanup() {
      await stop('fast');
      rmSync(dir, { recursive: true, force: true });
    },
    cleanupSync() {
      child?.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

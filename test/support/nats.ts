import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './pubsub.js';

/**
 * A real `nats-server -js` for one test file, on a free loopback port with its JetStream store in
 * a temp dir. `stop('kill')` then `start()` restarts it on the same port and store (the restart
 * tests); the data survives what JetStream had synced.
 */
export interface TestNats {
  /** `nats://127.0.0.1:PORT`. */
  url: string;
  port: number;
  stop(mode?: 'kill' | 'term'): Promise<void>;
  start(): Promise<void>;
  /** Freezes the server (SIGSTOP): every request waits until the returned thaw() (SIGCONT). */
  freeze(): () => void;
  cleanup(): Promise<void>;
  /** For a process 'exit' handler: SIGKILL and remove the store, synchronously. */
  cleanupSync(): void;
}

function binary(): string {
  const r = spawnSync('sh', ['-c', 'command -v nats-server || ls /usr/sbin/nats-server 2>/dev/null'], { encoding: 'utf8' });
  const path = r.stdout.trim().split('\n')[0];
  if (!path) throw new Error('nats-server not found: install the nats-server package (.ci/run does)');
  return path;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function startNats(): Promise<TestNats> {
  const dir = mkdtempSync(join(tmpdir(), 'bh-nats-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  let output = '';

  const start = async (): Promise<void> => {
    const c = spawn(binary(), ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir, '-n', `bh-test-${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    c.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    c.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    // A test process must be able to exit with the server still up (a server shared by a whole file is
    // stopped from a process 'exit' handler): neither the child nor its pipes keep the event loop alive.
    c.unref();
    (c.stdout as unknown as { unref(): void }).unref();
    (c.stderr as unknown as { unref(): void }).unref();
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (c.exitCode !== null) throw new Error(`nats-server exited with ${c.exitCode}: ${output}`);
      // The port opens once JetStream is up (the server enables it before accepting clients).
      if (/Server is ready/.test(output) && (await accepts(port))) return;
      if (Date.now() > deadline) throw new Error(`nats-server not ready within 15 s: ${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const stop = async (mode: 'kill' | 'term' = 'term'): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    output = '';
    // Waited for, so held again: an unref'd child would let the loop end before its 'exit'.
    c.ref();
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill(mode === 'kill' ? 'SIGKILL' : 'SIGTERM');
    await exited;
  };

  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    stop,
    start,
    freeze() {
      const c = child;
      if (!c) throw new Error('nats-server is not running');
      c.kill('SIGSTOP');
      return () => c.kill('SIGCONT');
    },
    async cleanup() {
      await stop('term');
      rmSync(dir, { recursive: true, force: true });
    },
    cleanupSync() {
      child?.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { parseAllDocuments } from 'yaml';
import { freePort } from '../support/pubsub.js';

/**
 * deploy/k8s/nats.yaml's server configuration, run for real: three nats-servers started from it on
 * loopback (only addresses, ports and directories rewritten) form a JetStream cluster that takes a
 * stream with the replicas the Bridgehead Deployment asks for, and a publish to it is acknowledged.
 */

const K8S = resolve(dirname(fileURLToPath(import.meta.url)), '../../../deploy/k8s');
const bin = spawnSync('sh', ['-c', 'command -v nats-server || ls /usr/sbin/nats-server'], { encoding: 'utf8' }).stdout.trim().split('\n')[0];

function manifests(file: string): Array<Record<string, unknown>> {
  const docs = parseAllDocuments(readFileSync(join(K8S, file), 'utf8'));
  return (Array.isArray(docs) ? docs : [docs]).map((d) => d.toJS() as Record<string, unknown>);
}

/** `p`, or a rejection naming `what` after 5 s: no call may hold the test past its cleanup. */
async function bounded<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within 5 s`)), 5_000)))]);
  } finally {
    clearTimeout(timer);
  }
}

interface DeploymentEnv {
  spec: { template: { spec: { containers: Array<{ env: Array<{ name: string; value?: string }> }> } } };
}

test("three nats-servers from nats.yaml form a JetStream cluster that stores a stream with the Deployment's replicas", { skip: bin ? false : 'nats-server is not installed', timeout: 45_000 }, async () => {
  const conf = (manifests('nats.yaml').find((o) => o.kind === 'ConfigMap')?.data as Record<string, string>)['nats.conf']!;
  const deployment = manifests('bridgehead-deployment.yaml').find((o) => o.kind === 'Deployment') as unknown as DeploymentEnv;
  const replicas = Number(deployment.spec.template.spec.containers[0]!.env.find((e) => e.name === 'BRIDGEHEAD_JETSTREAM_REPLICAS')?.value);
  assert.equal(replicas, 3);

  const dir = mkdtempSync(join(tmpdir(), 'bridgehead-nats-cluster-'));
  const ports: number[] = [];
  for (let i = 0; i < 9; i++) ports.push(await freePort());
  const client = (i: number): number => ports[i]!;
  const route = (i: number): number => ports[3 + i]!;
  const monitor = (i: number): number => ports[6 + i]!;
  const children: ChildProcess[] = [];
  const output = ['', '', ''];
  const ready: Promise<void>[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const mine = conf
        .replace('listen: 0.0.0.0:4222', `listen: 127.0.0.1:${client(i)}`)
        .replace('http: 0.0.0.0:8222', `http: 127.0.0.1:${monitor(i)}`)
        .replace('listen: 0.0.0.0:6222', `listen: 127.0.0.1:${route(i)}`)
        .replace(/store_dir: \S+/, `store_dir: ${join(dir, `data${i}`)}`)
        .replace(/pid_file: \S+/, `pid_file: ${join(dir, `${i}.pid`)}`)
        .replace(/nats:\/\/nats-(\d)\.nats:6222/g, (_m, n: string) => `nats://127.0.0.1:${route(Number(n))}`);
      // Everything that names the pod's network or volumes was rewritten: nothing binds outside loopback.
      assert.doesNotMatch(mine, /0\.0\.0\.0|\.nats:|store_dir: \/data\b/);
      const file = join(dir, `nats-${i}.conf`);
      writeFileSync(file, mine);
      const child = spawn(bin!, ['-c', file], { env: { ...process.env, POD_NAME: `nats-${i}` }, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      ready.push(
        bounded(
          new Promise<void>((res, rej) => {
            const take = (d: Buffer): void => {
              output[i] += d.toString();
              if (output[i]!.includes('Server is ready')) res();
            };
            child.stdout!.on('data', take);
            child.stderr!.on('data', take);
            child.once('close', (code) => rej(new Error(`nats-${i} exited with ${code}: ${output[i]}`)));
          }),
          `nats-${i} ready`,
        ),
      );
    }
    await Promise.all(ready);
    const connecting = connect({ servers: [0, 1, 2].map((i) => `nats://127.0.0.1:${client(i)}`), timeout: 4_000, maxReconnectAttempts: 10 });
    // A connection that comes too late must still be closed, or it keeps the test process alive.
    connecting.then(
      (late) => {
        if (children.length === 0) void late.close();
      },
      () => undefined,
    );
    const nc = await bounded(connecting, 'connect');
    try {
      // JetStream answers only once the three servers have routed to each other and elected a meta
      // leader (a second or two): until then its API times out or refuses a replicated stream.
      // Retried, bounded by this deadline (and every call by its own timeout).
      const deadline = Date.now() + 25_000;
      let jsm: JetStreamManager | undefined;
      for (;;) {
        try {
          jsm ??= await bounded(jetstreamManager(nc, { timeout: 3_000 }), 'JetStream');
          await bounded(jsm.streams.add({ name: 'bh_deploy-check', subjects: ['bh.ev.deploy-check.>'], num_replicas: replicas }), 'stream add');
          break;
        } catch (e) {
          if (Date.now() > deadline) throw new Error(`no replicated stream within 25 s: ${(e as Error).message}\n${output.join('\n---\n').slice(-4000)}`);
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      const ack = await bounded(jetstream(nc, { timeout: 3_000 }).publish('bh.ev.deploy-check.telemetry', new TextEncoder().encode('x')), 'publish');
      assert.equal(ack.seq, 1);
      const info = await bounded(jsm.streams.info('bh_deploy-check'), 'stream info');
      assert.equal(info.config.num_replicas, replicas);
      assert.equal(info.cluster?.name, 'bridgehead');
      assert.equal((info.cluster?.replicas ?? []).length, replicas - 1, 'a leader and its followers');
    } finally {
      await bounded(nc.close(), 'close').catch(() => undefined);
    }
  } finally {
    await Promise.all(
      children.splice(0).map(
        (c) =>
          new Promise<void>((res) => {
            if (c.exitCode !== null || c.signalCode !== null) return res();
            c.once('exit', () => res());
            c.kill('SIGKILL');
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  }
});

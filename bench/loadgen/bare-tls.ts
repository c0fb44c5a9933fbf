import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createCertificateAuthority, issueTlsServerCertificate } from '../../src/adapters/crypto/key-pairs.js';
import type { BenchFleet } from './devices.js';
import type { BenchTarget, HeapStats } from './target.js';

/** What connect-storm.ts measures a server by. */
export type StormTarget = Pick<BenchTarget, 'pid' | 'tls' | 'collectGarbage' | 'stop'> & { name: string };

/**
 * Starts bare-tls-server.js (the floor: TLS and a canned CONNACK, nothing else) with a server
 * certificate of the kind Bridgehead makes for itself, the bench's GC hook preloaded, and
 * `nodeArgs` (profiling, heap snapshots) as Bridgehead gets them.
 */
export function startBareTls(nodeArgs: readonly string[] = []): Promise<StormTarget> {
  return startFloor('bare Node TLS', 'bare-tls-server.js', () => [], nodeArgs);
}

/**
 * Starts floor-device-server.js (TLS, the CONNECT parsed, the JWT checked against the device's
 * row in SQLite: what any JWT device broker must do on Node) for `devices` devices of `fleet`.
 */
export function startDeviceFloor(fleet: BenchFleet, devices: number, nodeArgs: readonly string[] = []): Promise<StormTarget> {
  return startFloor(
    'Node floor',
    'floor-device-server.js',
    (dir) => {
      writeFileSync(join(dir, 'es256.pem'), fleet.keys.ES256.publicKeyPem);
      writeFileSync(join(dir, 'rs256.pem'), fleet.keys.RS256.publicKeyPem);
      return [join(dir, 'es256.pem'), join(dir, 'rs256.pem'), String(devices)];
    },
    nodeArgs,
  );
}

/**
 * The device floor as a target of the MQTT bench's connect phase (connects and idle memory only:
 * it has no plain port, no registry to provision and no config path).
 */
export async function startConnectFloor(fleet: BenchFleet, devices: number, nodeArgs: readonly string[] = []): Promise<BenchTarget> {
  const f = await startDeviceFloor(fleet, devices, nodeArgs);
  return {
    ...f,
    name: 'Node floor',
    version: 'Node floor (TLS + CONNECT + JWT + device row, bench/loadgen/floor-device-server.ts)',
    plain: f.tls,
    configIsApi: false,
    provision: async () => undefined,
    configTrigger: () => {
      throw new Error('the connect floor has no config path');
    },
    stderr: () => '',
  };
}

/** A started floor server, with what its first stdout line said beyond port and pid. */
type StartedFloor = StormTarget & { info: { plainPort?: number; dir?: string } };

/**
 * Starts floor-telemetry-server.js (QoS 1 PUBLISH acknowledged after a durable SQLite commit,
 * nothing else) as a target of the bench's telemetry phases, TLS and plain TCP.
 */
export async function startTelemetryFloor(nodeArgs: readonly string[] = []): Promise<BenchTarget & { dir: string }> {
  const f = await startFloor('Node floor', 'floor-telemetry-server.js', () => [], nodeArgs);
  if (f.info.plainPort === undefined || f.info.dir === undefined) throw new Error('the telemetry floor did not name its plain port and data dir');
  return {
    ...f,
    name: 'Node floor',
    version: 'Node floor (durable QoS 1, bench/loadgen/floor-telemetry-server.ts)',
    plain: { transport: 'plain', host: '127.0.0.1', port: f.info.plainPort },
    dir: f.info.dir,
    configIsApi: false,
    provision: async () => undefined,
    configTrigger: () => {
      throw new Error('the telemetry floor has no config path');
    },
    stderr: () => '',
  };
}

async function startFloor(name: string, file: string, extraArgs: (dir: string) => string[], nodeArgs: readonly string[]): Promise<StartedFloor> {
  const dir = mkdtempSync(join(tmpdir(), 'bridgehead-bench-bare-tls-'));
  const ca = await createCertificateAuthority({ subject: { commonName: 'Bridgehead bench CA' } });
  const cert = await issueTlsServerCertificate({ privateKeyPem: ca.privateKeyPem, certificatePem: ca.certificatePem });
  writeFileSync(join(dir, 'server.pem'), cert.certificatePem);
  writeFileSync(join(dir, 'server.key'), cert.privateKeyPem, { mode: 0o600 });
  const readyFile = join(dir, 'ready');
  const hook = fileURLToPath(new URL('./gc-hook.js', import.meta.url));
  const script = fileURLToPath(new URL(`./${file}`, import.meta.url));
  const child = spawn(process.execPath, [...nodeArgs, script, join(dir, 'server.pem'), join(dir, 'server.key'), ...extraArgs(dir)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NODE_OPTIONS: `--expose-gc --import=${hook}`, BENCH_GC_HOOK_READY_FILE: readyFile },
  });
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const first = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} server did not start within 10 s`)), 10_000);
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve(line);
    });
    child.once('exit', (code) => reject(new Error(`${name} server exited with ${String(code)}`)));
  });
  const { port, pid, ...info } = JSON.parse(first) as { port: number; pid: number; plainPort?: number; dir?: string };
  const statsFile = `${readyFile}.stats`;
  return {
    name,
    pid,
    info,
    tls: { transport: 'tls', host: '127.0.0.1', port, caPem: ca.certificatePem, servername: 'localhost' },
    collectGarbage: async (): Promise<HeapStats | null> => {
      if (!existsSync(readyFile)) return null;
      rmSync(statsFile, { force: true });
      child.kill('SIGUSR2');
      const until = Date.now() + 5_000;
      while (!existsSync(statsFile)) {
        if (Date.now() > until) return null;
        await sleep(20);
      }
      return JSON.parse(readFileSync(statsFile, 'utf8')) as HeapStats;
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      process.removeListener('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { api, startServer, type StartedServer } from '../../test/support/server.js';
import { BENCH_LOCATION, BENCH_PROJECT, BENCH_REGISTRY, deviceId, type BenchFleet } from './devices.js';
import type { BenchTarget, HeapStats } from './target.js';

const SERVER_ARGS = [
  '--mqtt-listen',
  '127.0.0.1:0',
  '--mqtt-plain-listen',
  '127.0.0.1:0',
  // The default is Google's 100 msgs/s per connection; the throughput rows need it off.
  '--mqtt-max-msgs-per-sec',
  '0',
];

function firstUrl(value: unknown, field: string): URL {
  const first = Array.isArray(value) ? (value as unknown[])[0] : undefined;
  if (typeof first !== 'string') throw new Error(`Bridgehead's listening line has no "${field}" entry (is the MQTT bridge built?)`);
  return new URL(first);
}

/** Starts the built server (dist/src/cli/main.js) with its MQTT listeners on loopback port 0. */
export async function startBridgehead(fleet: BenchFleet): Promise<BenchTarget> {
  const extra = (process.env.BENCH_BRIDGEHEAD_ARGS ?? '').split(' ').filter((a) => a !== '');
  const hookDir = mkdtempSync(join(tmpdir(), 'bridgehead-bench-gc-'));
  const readyFile = join(hookDir, 'ready');
  const hook = fileURLToPath(new URL('./gc-hook.js', import.meta.url));
  const env: NodeJS.ProcessEnv =
    process.env.BENCH_GC_HOOK === '0'
      ? {}
      : { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --expose-gc --import=${hook}`.trim(), BENCH_GC_HOOK_READY_FILE: readyFile };
  let server: StartedServer;
  try {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('Bridgehead did not print its listening line within 60 s')), 60_000);
    });
    try {
      server = await Promise.race([startServer({ args: [...SERVER_ARGS, ...extra], env }), timeout]);
    } finally {
      clearTimeout(timer);
    }
  } catch (e) {
    rmSync(hookDir, { recursive: true, force: true });
    throw e;
  }
  // If the bench process ends abruptly (watchdog, Ctrl-C), the server and its files go with it.
  const killOnExit = (): void => {
    server.process.kill('SIGKILL');
    rmSync(server.dataDir, { recursive: true, force: true });
    rmSync(hookDir, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);
  let stopped = false;
  let exitNote = '';
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const timer = setTimeout(() => server.process.kill('SIGKILL'), 10_000);
    const code = await server.stop();
    await server.cleanup(); // removes the data dir
    clearTimeout(timer);
    if (code !== 0) exitNote = `exited with ${String(code)} on SIGTERM`;
    process.removeListener('exit', killOnExit);
    rmSync(hookDir, { recursive: true, force: true });
  };
  const statsFile = `${readyFile}.stats`;
  const collectGarbage = async (): Promise<HeapStats | null> => {
    const pid = server.process.pid;
    // Only once the hook has installed its handler: SIGUSR2 would otherwise end the server.
    if (pid === undefined || !existsSync(readyFile) || readFileSync(readyFile, 'utf8') !== String(pid)) return null;
    rmSync(statsFile, { force: true });
    server.process.kill('SIGUSR2');
    const until = Date.now() + 5_000;
    while (!existsSync(statsFile)) {
      if (Date.now() > until) return null;
      await sleep(20);
    }
    return parseHeapStats(readFileSync(statsFile, 'utf8'));
  };
  try {
    const info = server.info;
    const tls = firstUrl(info.mqtt, 'mqtt');
    const plain = firstUrl(info.mqttPlain, 'mqttPlain');
    if (typeof info.caFile !== 'string') throw new Error('Bridgehead\'s listening line has no "caFile"');
    const caPem = readFileSync(info.caFile, 'utf8');
    const pid = server.process.pid;
    if (pid === undefined) throw new Error('Bridgehead has no pid');
    const version = typeof info.version === 'string' ? info.version : 'dist build';
    const registryPath = `/v1/projects/${BENCH_PROJECT}/locations/${BENCH_LOCATION}/registries`;
    return {
      name: 'Bridgehead',
      version: `bridgehead ${version}`,
      pid,
      tls: { transport: 'tls', host: tls.hostname, port: Number(tls.port), caPem, servername: 'localhost' },
      plain: { transport: 'plain', host: plain.hostname, port: Number(plain.port) },
      configIsApi: true,
      admin: { api: server.api, token: server.token, registryPath: `${registryPath}/${BENCH_REGISTRY}` },
      provision: (count) => provision(server, registryPath, fleet, count),
      collectGarbage,
      configTrigger: () => ({ kind: 'rest', devicesUrl: `${server.api}${registryPath}/${BENCH_REGISTRY}/devices/`, token: server.token }),
      stop,
      stderr: () => (exitNote === '' ? server.stderr() : `${exitNote}\n${server.stderr()}`),
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** The bench registry (telemetry goes to a topic, so events are accepted) and devices 1..count, each with both keys. */
export async function provision(server: StartedServer, registryPath: string, fleet: BenchFleet, count: number): Promise<void> {
  const reg = await api(server, 'POST', registryPath, {
    id: BENCH_REGISTRY,
    eventNotificationConfigs: [{ pubsubTopicName: `projects/${BENCH_PROJECT}/topics/telemetry` }],
  });
  if (reg.status !== 200 && reg.status !== 409) throw new Error(`create registry: HTTP ${reg.status} ${JSON.stringify(reg.json)}`);
  const credentials = [
    { publicKey: { format: 'ES256_PEM', key: fleet.keys.ES256.publicKeyPem } },
    { publicKey: { format: 'RSA_PEM', key: fleet.keys.RS256.publicKeyPem } },
  ];
  let next = 1;
  const lane = async (): Promise<void> => {
    while (next <= count) {
      const id = deviceId(next);
      next += 1;
      const res = await api(server, 'POST', `${registryPath}/${BENCH_REGISTRY}/devices`, { id, credentials });
      if (res.status !== 200 && res.status !== 409) throw new Error(`create device ${id}: HTTP ${res.status} ${JSON.stringify(res.json)}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, lane));
}

function parseHeapStats(text: string): HeapStats | null {
  const v: unknown = JSON.parse(text);
  if (typeof v !== 'object' || v === null) return null;
  const { newSpace, heapUsed, heapTotal, external } = v as Record<string, unknown>;
  return typeof newSpace === 'number' && typeof heapUsed === 'number' && typeof heapTotal === 'number' && typeof external === 'number'
    ? { newSpace, heapUsed, heapTotal, external }
    : null;
}

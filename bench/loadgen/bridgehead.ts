import { readFileSync } from 'node:fs';
import { api, startServer, type StartedServer } from '../../test/support/server.js';
import { BENCH_LOCATION, BENCH_PROJECT, BENCH_REGISTRY, deviceId, type BenchFleet } from './devices.js';
import type { BenchTarget } from './target.js';

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
  const server: StartedServer = await startServer({ args: [...SERVER_ARGS, ...extra] });
  const killOnExit = (): void => {
    server.process.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const done = server.cleanup();
    const timer = setTimeout(() => server.process.kill('SIGKILL'), 10_000);
    await done;
    clearTimeout(timer);
    process.removeListener('exit', killOnExit);
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
      provision: (count) => provision(server, registryPath, fleet, count),
      configTrigger: () => ({ kind: 'rest', devicesUrl: `${server.api}${registryPath}/${BENCH_REGISTRY}/devices/`, token: server.token }),
      stop,
      stderr: () => server.stderr(),
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** The bench registry (telemetry goes to a topic, so events are accepted) and devices 1..count, each with both keys. */
async function provision(server: StartedServer, registryPath: string, fleet: BenchFleet, count: number): Promise<void> {
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

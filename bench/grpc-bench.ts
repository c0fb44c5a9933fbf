import { cpus } from 'node:os';
import { iotClient, iotGrpcClient, iotGrpcTlsClient, type DeviceManagerClient } from '../test/support/iot-client.js';
import { adminCall, fmtCount, fmtMs, fmtRate, now, pool, summarize, table, type BenchContext, type BenchSection } from './lib.js';

/**
 * The Device Manager through @google-cloud/iot in each of its modes against one server: REST
 * (fallback), gRPC on the plaintext listener and gRPC on the TLS port (where gRPC streams are
 * relayed to grpc-js), with plain fetch on REST as the floor. Two calls a backend makes all day:
 * getDevice, and listDevices of one 100-device page.
 */

const PROJECT = 'bench-grpc';
const LOCATION = 'us-central1';
const REGISTRY = 'grpc-registry';
const DEVICES = 100;
const CONCURRENCY = 16;
const GETS = 4_000;
const LISTS = 400;
const WARMUP = 100;

const registry = `projects/${PROJECT}/locations/${LOCATION}/registries/${REGISTRY}`;

interface Transport {
  label: string;
  getDevice(name: string): Promise<unknown>;
  listDevices(): Promise<unknown>;
  close(): Promise<void>;
}

function gaxTransport(label: string, client: DeviceManagerClient): Transport {
  return {
    label,
    getDevice: (name) => client.getDevice({ name }),
    listDevices: async () => {
      const [devices] = await client.listDevices({ parent: registry, pageSize: DEVICES }, { autoPaginate: false });
      if (devices.length !== DEVICES) throw new Error(`${label}: listDevices returned ${devices.length} devices, not ${DEVICES}`);
    },
    close: () => client.close(),
  };
}

function fetchTransport(ctx: BenchContext): Transport {
  return {
    label: 'REST, fetch',
    getDevice: (name) => adminCall(ctx, 'GET', `/v1/${name}`),
    listDevices: () => adminCall(ctx, 'GET', `/v1/${registry}/devices?pageSize=${DEVICES}`),
    close: async () => undefined,
  };
}

export const grpcBench: BenchSection = {
  name: 'grpc',
  summary: `getDevice and listDevices (${DEVICES} per page) per second over REST and gRPC (h2c, TLS), ${CONCURRENCY} in flight`,
  serverArgs: ['--grpc-listen', '127.0.0.1:0', '--grpc-anonymous', '--api-tls-listen', '127.0.0.1:0'],
  async run(ctx) {
    await adminCall(ctx, 'POST', `/v1/projects/${PROJECT}/locations/${LOCATION}/registries`, { id: REGISTRY });
    await pool(DEVICES, 8, async (i) => {
      await adminCall(ctx, 'POST', `/v1/${registry}/devices`, { id: `dev-${String(i).padStart(4, '0')}`, metadata: { site: `site-${i % 8}` } });
    });
    const names = Array.from({ length: DEVICES }, (_, i) => `${registry}/devices/dev-${String(i).padStart(4, '0')}`);

    const transports = [
      fetchTransport(ctx),
      gaxTransport('REST, @google-cloud/iot', iotClient(ctx.server)),
      gaxTransport('gRPC h2c, @google-cloud/iot', iotGrpcClient(ctx.server)),
      gaxTransport('gRPC TLS port, @google-cloud/iot', iotGrpcTlsClient(ctx.server)),
    ];
    const rows: string[][] = [];
    try {
      for (const t of transports) {
        await pool(WARMUP, CONCURRENCY, async (i) => void (await t.getDevice(names[i % DEVICES]!)));
        for (const [call, count, run] of [
          ['getDevice', GETS, (i: number) => t.getDevice(names[i % DEVICES]!)],
          ['listDevices', LISTS, () => t.listDevices()],
        ] as const) {
          ctx.signal.throwIfAborted();
          const t0 = now();
          const latencies = await pool(count, CONCURRENCY, async (i) => void (await run(i)));
          const seconds = (now() - t0) / 1000;
          const s = summarize(latencies);
          rows.push([t.label, call, fmtCount(s.count), fmtRate(s.count / seconds), fmtMs(s.p50), fmtMs(s.p99)]);
        }
      }
    } finally {
      for (const t of transports) await t.close();
    }
    ctx.print(`gRPC and REST: ${fmtCount(DEVICES)} devices, ${CONCURRENCY} calls in flight, client and server on the same machine`);
    ctx.print(`(${cpus().length} CPUs shared by the client, the server and whatever else runs there: compare rows, not machines)`);
    for (const line of table(['client', 'call', 'calls', 'rate', 'p50', 'p99'], rows)) ctx.print(`  ${line}`);
  },
};

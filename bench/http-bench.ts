import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { caOf, createDevice, createRegistry, devicePath, type TestDevice } from '../test/support/fleet.js';
import type { StartedServer } from '../test/support/server.js';
import { fmtCount, fmtMs, fmtRate, pool, table, type BenchContext, type BenchSection } from './lib.js';
import { Histogram } from './loadgen/histogram.js';
import type { HttpGroupResult, HttpLoadGroup, HttpLoadJob, HttpLoadMessage } from './loadgen/http-child.js';
import { cpuMs, machineBusyMs } from './loadgen/proc.js';

/**
 * The HTTP device bridge under load (issue 10, spec §7): 100 ES256 devices, each with one JWT
 * minted up front and sent with every request, publish telemetry with :publishEvent over HTTP/1.1
 * keep-alive (one connection per device, one request in flight on it), first on the plaintext
 * listener, then over TLS; 2 s of warm-up, then 10 s measured. Reports requests per second
 * answered 200, latency, and the server's CPU time per 1,000 requests (from /proc). Then one
 * device per listener sending one request a second on a new connection each time, next to one
 * that keeps its connection, for what the handshake costs a sparse device. The load comes from
 * a child process; on a small machine client and server share the CPUs, which the client's CPU
 * column shows, and 'other cores' is what the rest of the machine took meanwhile (noise).
 */

const REG = 'reg-httpbench';
const DEVICES = 100;
const WARMUP_MS = 2_000;
const MEASURE_MS = 10_000;
/**
 * A device's requests start at least this far apart: 100/s at most, so that over the whole section
 * (both listeners, warm-up included) no device comes near its 6,000 events a minute (429).
 */
const MIN_INTERVAL_MS = 10;
const SPARSE_INTERVAL_MS = 1_000;
const SPARSE_MS = 6_000;
/** A typical small telemetry message. */
const PAYLOAD_BYTES = 100;

interface Measured {
  windowMs: number;
  groups: HttpGroupResult[];
  serverCpuMs: number;
  loadgenCpuMs: number;
  /** The rest of the machine's busy time (other processes): noise that the figures suffered. */
  otherCpuMs: number;
}

/** Runs one load job in a child process and reads both processes' CPU time over its measurement window. */
async function runLoad(server: StartedServer, job: HttpLoadJob, signal: AbortSignal): Promise<Measured> {
  const child: ChildProcess = fork(fileURLToPath(new URL('./loadgen/http-child.js', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
  const serverPid = server.process.pid ?? -1;
  const kill = (): void => void child.kill('SIGKILL');
  signal.addEventListener('abort', kill, { once: true });
  try {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const measured = await new Promise<Measured>((resolve, reject) => {
      let s0 = 0;
      let c0 = 0;
      let m0 = 0;
      child.on('message', (m: HttpLoadMessage) => {
        if (m.type === 'ready') child.send(job);
        else if (m.type === 'measuring') {
          s0 = cpuMs(serverPid) ?? Number.NaN;
          c0 = cpuMs(child.pid ?? -1) ?? Number.NaN;
          m0 = machineBusyMs() ?? Number.NaN;
        } else if (m.type === 'measured') {
          const serverCpuMs = (cpuMs(serverPid) ?? Number.NaN) - s0;
          const loadgenCpuMs = (cpuMs(child.pid ?? -1) ?? Number.NaN) - c0;
          const otherCpuMs = Math.max(0, (machineBusyMs() ?? Number.NaN) - m0 - serverCpuMs - loadgenCpuMs);
          resolve({ windowMs: m.windowMs, groups: m.groups, serverCpuMs, loadgenCpuMs, otherCpuMs });
        } else if (m.type === 'failed') reject(new Error(`http load generator: ${m.error}`));
      });
      void exited.then(() => reject(new Error('http load generator exited before reporting')));
    });
    await exited;
    return measured;
  } finally {
    signal.removeEventListener('abort', kill);
    kill();
  }
}

const statusLine = (r: HttpGroupResult): string =>
  Object.entries(r.statuses)
    .filter(([status]) => status !== '200')
    .map(([status, n]) => `${status}×${fmtCount(n)}`)
    .concat(r.errors > 0 ? [`socket errors×${fmtCount(r.errors)} (${r.firstError ?? ''})`] : [])
    .join(', ') || '0';

function latencyCells(r: HttpGroupResult): string[] {
  const h = new Histogram();
  h.merge(r.latency);
  return [fmtMs(h.quantile(0.5) / 1e6), fmtMs(h.quantile(0.99) / 1e6), fmtMs(h.max / 1e6)];
}

export const httpBench: BenchSection = {
  name: 'http',
  summary: `${DEVICES} devices, HTTP publishEvent over keep-alive, plaintext then TLS: req/s, latency, server CPU per 1,000 requests`,
  serverArgs: ['--http-bridge-plain-listen', '127.0.0.1:0', '--http-bridge-listen', '127.0.0.1:0'],
  async run(ctx: BenchContext) {
    const { server, print } = ctx;
    const plain = server.info.httpBridgePlain;
    const tls = server.info.httpBridge;
    if (typeof plain !== 'string' || typeof tls !== 'string') throw new Error(`the server reports no HTTP bridge listeners: ${JSON.stringify(server.info)}`);
    const origin = (u: string): string => new URL(u).origin;
    const ca = caOf(server).toString('utf8');

    await createRegistry(server, REG);
    const devices: TestDevice[] = new Array<TestDevice>(DEVICES);
    await pool(DEVICES, 8, async (i) => {
      devices[i] = await createDevice(server, REG, `http-dev-${String(i + 1).padStart(3, '0')}`);
    });
    const targets = await Promise.all(devices.map(async (d) => ({ path: `${devicePath(REG, d.id)}:publishEvent`, jwt: await d.jwt({ expiresInSeconds: 3_600 }) })));
    const body = JSON.stringify({ binaryData: Buffer.alloc(PAYLOAD_BYTES, 0x42).toString('base64') });

    print(`== HTTP device bridge: publishEvent, ${DEVICES} ES256 devices, one JWT each reused for every request ==`);
    print(
      `each device one HTTP/1.1 keep-alive connection, one request in flight, at most ${1000 / MIN_INTERVAL_MS}/s (limit 6,000/min); ${PAYLOAD_BYTES}-byte payload; ` +
        `${WARMUP_MS / 1000} s warm-up, ${MEASURE_MS / 1000} s measured; load from a child process`,
    );
    const rows: string[][] = [];
    let failures = 0;
    for (const [label, url] of [
      ['plaintext', plain],
      ['TLS', tls],
    ] as const) {
      ctx.signal.throwIfAborted();
      const group: HttpLoadGroup = { label, origin: origin(url), ca, devices: targets, connection: 'keep-alive', minIntervalMs: MIN_INTERVAL_MS };
      const m = await runLoad(server, { groups: [group], body, warmupMs: WARMUP_MS, measureMs: MEASURE_MS }, ctx.signal);
      const r = m.groups[0]!;
      const ok = r.statuses['200'] ?? 0;
      const notOk = Object.values(r.statuses).reduce((a, b) => a + b, 0) - ok + r.errors;
      failures += notOk;
      const seconds = m.windowMs / 1000;
      rows.push([
        `${label} keep-alive`,
        fmtCount(ok),
        fmtRate(ok / seconds),
        ...latencyCells(r),
        ok > 0 ? fmtMs((m.serverCpuMs * 1000) / ok) : '-',
        `${(m.serverCpuMs / m.windowMs).toFixed(2)}`,
        `${(m.loadgenCpuMs / m.windowMs).toFixed(2)}`,
        `${(m.otherCpuMs / m.windowMs).toFixed(2)}`,
        statusLine(r),
      ]);
    }
    for (const line of table(['listener', '200s', '200/s', 'p50', 'p99', 'max', 'server CPU / 1,000', 'server cores', 'client cores', 'other cores', 'not 200'], rows)) print(`  ${line}`);

    // Four devices at once, one request a second each: too little load to disturb one another.
    const sparse: HttpLoadGroup[] = (
      [
        ['plaintext', plain, 'new'],
        ['plaintext', plain, 'keep-alive'],
        ['TLS', tls, 'new'],
        ['TLS', tls, 'keep-alive'],
      ] as const
    ).map(([label, url, connection], i) => ({
      label: `${label}, ${connection === 'new' ? 'new connection each' : 'keep-alive'}`,
      origin: origin(url),
      ca,
      devices: [targets[i]!],
      connection,
      minIntervalMs: SPARSE_INTERVAL_MS,
    }));
    const m = await runLoad(server, { groups: sparse, body, warmupMs: 1_000, measureMs: SPARSE_MS }, ctx.signal);
    print();
    print(`one device per row, one request a second for ${SPARSE_MS / 1000} s (new connections: full handshake, no TLS session resumption)`);
    for (const line of table(
      ['sparse device', '200s', 'p50', 'p99', 'max', 'not 200'],
      m.groups.map((r) => {
        failures += Object.values(r.statuses).reduce((a, b) => a + b, 0) - (r.statuses['200'] ?? 0) + r.errors;
        return [r.label, fmtCount(r.statuses['200'] ?? 0), ...latencyCells(r), statusLine(r)];
      }),
    ))
      print(`  ${line}`);
    if (failures > 0) print(`  WARNING: ${fmtCount(failures)} requests were not answered 200 (see "not 200"); the figures above count only 200s`);
  },
};

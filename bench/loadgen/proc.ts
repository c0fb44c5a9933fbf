import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, release, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

/** Resident set size of a process in bytes, from /proc/<pid>/status (VmRSS); null if unreadable. */
export function rssBytes(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] === undefined ? null : Number(m[1]) * 1024;
  } catch {
    return null;
  }
}

/** User + system CPU time of a process (all its threads) in milliseconds; null if unreadable. */
export function cpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name (which may itself hold spaces).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    const ticksPerSecond = 100; // USER_HZ on every Linux that ships a /proc
    return Number.isFinite(utime) && Number.isFinite(stime) ? ((utime + stime) * 1000) / ticksPerSecond : null;
  } catch {
    return null;
  }
}

/**
 * A reading once it has settled: samples every intervalMs and returns the median of the last
 * `window` samples as soon as they lie within `tolerance` of each other (or the median of the last
 * ones at the deadline). A one-off spike from a GC or a late allocation does not move a median.
 */
export async function settledValue(
  sample: () => Promise<number>,
  opts: { intervalMs?: number; window?: number; tolerance?: number; maxWaitMs?: number } = {},
): Promise<{ value: number; samples: number[]; settled: boolean }> {
  const intervalMs = opts.intervalMs ?? 250;
  const window = opts.window ?? 5;
  const tolerance = opts.tolerance ?? 0.01;
  const until = Date.now() + (opts.maxWaitMs ?? 8_000);
  const samples: number[] = [];
  for (;;) {
    samples.push(await sample());
    const last = samples.slice(-window);
    if (last.length === window) {
      const lo = Math.min(...last);
      const hi = Math.max(...last);
      if ((hi - lo) / Math.max(1, Math.abs(hi)) <= tolerance) return { value: median(last), samples, settled: true };
      if (Date.now() >= until) return { value: median(last), samples, settled: false };
    }
    await sleep(intervalMs);
  }
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/** A TCP port free on 127.0.0.1 right now (for servers that cannot listen on port 0 and report it). */
export async function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface MachineFacts {
  cpuModel: string;
  cpuCount: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  openssl: string;
}

export function machineFacts(): MachineFacts {
  const list = cpus();
  return {
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    cpuCount: list.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    openssl: process.versions.openssl ?? 'unknown',
  };
}

/**
 * CPU time of the whole machine spent in tasks (user, nice, system) or stolen by the hypervisor,
 * in ms, all CPUs; null off Linux. Interrupt and softirq time is left out: on loopback most of it
 * is the benchmark's own traffic, which no process is charged for.
 */
export function machineBusyMs(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    if (f.length < 8 || f.some((x) => !Number.isFinite(x))) return null;
    const [user = 0, nice = 0, system = 0, , , , , steal = 0] = f;
    return ((user + nice + system + steal) * 1000) / 100;
  } catch {
    return null;
  }
}

export interface CpuShares {
  /** Cores, averaged over the window. */
  server: number | null;
  loadgen: number | null;
  /** Everything else on the machine (other processes, and kernel work not charged to either). */
  other: number | null;
}

/** Samples server, load-generator (this process, all threads) and machine CPU time; `read()` gives the shares since start. */
export class CpuMeter {
  private readonly t0 = performance.now();
  private readonly s0: number | null;
  private readonly l0: number | null;
  private readonly m0: number | null;

  constructor(private readonly serverPid: number) {
    this.s0 = cpuMs(serverPid);
    this.l0 = cpuMs(process.pid);
    this.m0 = machineBusyMs();
  }

  read(): CpuShares {
    const wall = performance.now() - this.t0;
    const d = (a: number | null, b: number | null): number | null => (a === null || b === null || wall <= 0 ? null : (b - a) / wall);
    const server = d(this.s0, cpuMs(this.serverPid));
    const loadgen = d(this.l0, cpuMs(process.pid));
    const machine = d(this.m0, machineBusyMs());
    const other = machine === null || server === null || loadgen === null ? null : Math.max(0, machine - server - loadgen);
    return { server, loadgen, other };
  }
}

/**
 * Waits (at most maxMs) until the rest of the machine is quiet: other processes using less than
 * `threshold` cores over a 500 ms window. Returns the last reading (cores) so the caller can say
 * how busy the machine still was; null when /proc is not readable.
 */
export const waitForQuiet = (serverPid: number, maxMs: number, threshold = 0.15): Promise<number | null> => waitForCpuBelow(serverPid, 'other', maxMs, threshold);

/** Waits (at most maxMs) until the server itself uses less than `threshold` cores over a 500 ms window. */
export const waitForIdleServer = (serverPid: number, maxMs: number, threshold = 0.1): Promise<number | null> => waitForCpuBelow(serverPid, 'server', maxMs, threshold);

async function waitForCpuBelow(serverPid: number, which: 'server' | 'other', maxMs: number, threshold: number): Promise<number | null> {
  const until = Date.now() + maxMs;
  for (;;) {
    const meter = new CpuMeter(serverPid);
    await sleep(500);
    const cores = meter.read()[which];
    if (cores === null || cores < threshold || Date.now() >= until) return cores;
  }
}

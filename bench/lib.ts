import type { StartedServer } from '../test/support/server.js';

/**
 * What every bench section shares: the section contract that run.ts drives, timing and percentile
 * helpers, a bounded worker pool and a plain-text table. Sections print figures; they are not
 * tests, but they do fail loudly when the server answers wrongly, so that a figure is never
 * computed over errors.
 */

export interface BenchContext {
  /** The built server, started once by run.ts for every selected section. */
  server: StartedServer;
  /** Aborts when the whole run's time budget is spent; pass it to every request. */
  signal: AbortSignal;
  /** Writes one line of the report. */
  print(line?: string): void;
}

export interface BenchSection {
  /** What a user names on the command line to select the section. */
  name: string;
  summary: string;
  /**
   * Extra `bridgehead serve` flags the section needs (for instance an MQTT listener). run.ts merges
   * the flags of every selected section into a single server start.
   */
  serverArgs?: readonly string[];
  /**
   * The section starts servers of its own and leaves ctx.server alone (the MQTT and gateway
   * benches): run.ts then does not report that server's memory after it.
   */
  ownServers?: boolean;
  run(ctx: BenchContext): Promise<void>;
}

/**
 * The selected sections' server flags for one server start: each flag with the values after it
 * forms a group, and a group given by several sections is kept once (`--a 0 --b 0` keeps both
 * zeros, which deduplicating single arguments would not).
 */
export function mergeServerArgs(sections: readonly Pick<BenchSection, 'serverArgs'>[]): string[] {
  const groups: string[][] = [];
  for (const s of sections) {
    let current: string[] | undefined;
    for (const arg of s.serverArgs ?? []) {
      if (arg.startsWith('--') || current === undefined) {
        current = [arg];
        groups.push(current);
      } else {
        current.push(arg);
      }
    }
  }
  const seen = new Set<string>();
  const merged: string[] = [];
  for (const g of groups) {
    const key = g.join('\0');
    if (seen.has(key)) continue;
    seen.add(key);
    merged.push(...g);
  }
  return merged;
}

/** Milliseconds since an arbitrary origin, sub-millisecond resolution. */
export const now = (): number => performance.now();

/** Nearest-rank percentile (p in 0..100) of an unsorted sample; NaN for an empty one. */
export function percentile(sample: readonly number[], p: number): number {
  if (sample.length === 0) return Number.NaN;
  const sorted = [...sample].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export function summarize(sample: readonly number[]): LatencySummary {
  return { count: sample.length, p50: percentile(sample, 50), p99: percentile(sample, 99), max: percentile(sample, 100) };
}

/**
 * Runs `task(i)` for i in 0..count-1 with at most `concurrency` in flight and returns each call's
 * latency in ms. The first failure stops new tasks and is rethrown once the in-flight ones settle.
 */
export async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < count) {
      const i = next++;
      const t0 = now();
      try {
        await task(i);
      } catch (e) {
        failure ??= e;
        return;
      }
      latencies.push(now() - t0);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  if (failure !== undefined) throw failure;
  return latencies;
}

/** Per-request cap: a stuck request must not eat the whole run's budget silently. */
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * One admin API call with the bearer token. Any status other than 200 is an error carrying the
 * server's answer: a benchmark over failed requests would report nonsense.
 */
export async function adminCall<T = Record<string, unknown>>(
  ctx: BenchContext,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(`${ctx.server.api}${path}`, {
    method,
    headers: { authorization: `Bearer ${ctx.server.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 500)}`);
  return (text ? JSON.parse(text) : {}) as T;
}

// ---- formatting ----

export const fmtMs = (ms: number): string => (Number.isNaN(ms) ? '-' : ms < 10 ? `${ms.toFixed(2)} ms` : ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(2)} s`);
export const fmtRate = (perSecond: number): string => `${perSecond >= 100 ? Math.round(perSecond) : perSecond.toFixed(1)}/s`;
export const fmtCount = (n: number): string => n.toLocaleString('en-US');

/** A fixed-width text table: first column left-aligned, the others right-aligned (they hold figures). */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

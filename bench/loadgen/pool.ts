import { Worker } from 'node:worker_threads';
import { Histogram } from './histogram.js';
import type {
  AttachJob,
  AttachResult,
  CloseResult,
  ConfigJob,
  ConfigResult,
  ConnectJob,
  ConnectResult,
  Job,
  JobRequest,
  JobResult,
  TelemetryJob,
  TelemetryResult,
  WorkerMessage,
} from './jobs.js';

type Tally = Array<{ message: string; count: number }>;
type Mark = 'measure-start' | 'measure-end';

interface Pending {
  resolve: (r: JobResult) => void;
  reject: (e: Error) => void;
  onMark?: (name: Mark) => void;
  timer: NodeJS.Timeout;
}

/** Grace on top of a job's own deadline before the main thread gives up on a worker. */
const JOB_GRACE_MS = 15_000;

/**
 * The main thread's handle on the load-generator worker thread(s). With more than one worker,
 * a job's devices (and its concurrency) are split between them and the results merged.
 */
export class LoadGenerator {
  private readonly workers: Worker[];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private dead: Error | null = null;

  private constructor(workers: Worker[]) {
    this.workers = workers;
    for (const w of workers) {
      w.on('message', (m: WorkerMessage) => this.onMessage(m));
      w.on('error', (e: Error) => this.failAll(e));
      w.on('exit', (code) => {
        if (code !== 0) this.failAll(new Error(`load-generator worker exited with ${code}`));
      });
    }
  }

  static start(count: number): LoadGenerator {
    const url = new URL('./worker.js', import.meta.url);
    return new LoadGenerator(Array.from({ length: Math.max(1, count) }, () => new Worker(url)));
  }

  get size(): number {
    return this.workers.length;
  }

  async connect(job: Omit<ConnectJob, 'kind'>): Promise<ConnectResult> {
    const n = this.workers.length;
    const results = await Promise.all(
      this.workers.map((_, i) =>
        this.request(
          i,
          {
            ...job,
            kind: 'connect',
            logins: job.logins.filter((_l, k) => k % n === i),
            concurrency: Math.max(1, Math.round(job.concurrency / n)),
          },
          job.deadlineMs + job.connectTimeoutMs,
        ),
      ),
    );
    const rs = results.filter((r): r is ConnectResult => r.kind === 'connect');
    const latency = new Histogram();
    for (const r of rs) latency.merge(r.latency);
    return {
      kind: 'connect',
      attempted: sum(rs, (r) => r.attempted),
      ok: sum(rs, (r) => r.ok),
      failed: sum(rs, (r) => r.failed),
      elapsedMs: Math.max(...rs.map((r) => r.elapsedMs)),
      errors: mergeTallies(rs.map((r) => r.errors)),
      tlsProtocol: rs.find((r) => r.tlsProtocol !== null)?.tlsProtocol ?? null,
      cipher: rs.find((r) => r.cipher !== null)?.cipher ?? null,
      latency: latency.snapshot(),
      initialConfigs: sum(rs, (r) => r.initialConfigs),
    };
  }

  /** `onMark` sees worker 0's measurement-window edges (to sample server CPU over the same window). */
  async telemetry(job: Omit<TelemetryJob, 'kind'>, onMark?: (name: Mark) => void): Promise<TelemetryResult> {
    const budget = job.warmupMs + job.durationMs + job.drainMs;
    const results = await Promise.all(
      this.workers.map((_, i) =>
        this.request(i, { ...job, kind: 'telemetry', maxMessages: Math.ceil(job.maxMessages / this.workers.length) }, budget, i === 0 ? onMark : undefined),
      ),
    );
    const rs = results.filter((r): r is TelemetryResult => r.kind === 'telemetry');
    const latency = new Histogram();
    for (const r of rs) latency.merge(r.latency);
    return {
      kind: 'telemetry',
      connections: sum(rs, (r) => r.connections),
      measuredAcks: sum(rs, (r) => r.measuredAcks),
      measuredMs: sum(rs, (r) => r.measuredMs) / Math.max(1, rs.length),
      totalAcks: sum(rs, (r) => r.totalAcks),
      unacked: sum(rs, (r) => r.unacked),
      strayAcks: sum(rs, (r) => r.strayAcks),
      lostConnections: sum(rs, (r) => r.lostConnections),
      lostReasons: mergeTallies(rs.map((r) => r.lostReasons)),
      latency: latency.snapshot(),
      loadgenElu: sum(rs, (r) => r.loadgenElu) / Math.max(1, rs.length),
      gatewayErrors: mergeTallies(rs.map((r) => r.gatewayErrors)),
    };
  }

  async config(job: Omit<ConfigJob, 'kind'>): Promise<ConfigResult> {
    const n = this.workers.length;
    const results = await Promise.all(
      this.workers.map((_, i) =>
        this.request(
          i,
          {
            ...job,
            kind: 'config',
            samples: Math.ceil(job.samples / n),
            concurrency: Math.max(1, Math.round(job.concurrency / n)),
            trigger: job.trigger.kind === 'mqtt' ? { ...job.trigger, login: { ...job.trigger.login, clientId: `${job.trigger.login.clientId}-${i}` } } : job.trigger,
          },
          job.deadlineMs + job.sampleTimeoutMs,
        ),
      ),
    );
    const rs = results.filter((r): r is ConfigResult => r.kind === 'config');
    const latency = new Histogram();
    for (const r of rs) latency.merge(r.latency);
    return {
      kind: 'config',
      samples: sum(rs, (r) => r.samples),
      timeouts: sum(rs, (r) => r.timeouts),
      httpErrors: mergeTallies(rs.map((r) => r.httpErrors)),
      latency: latency.snapshot(),
      elapsedMs: Math.max(...rs.map((r) => r.elapsedMs)),
    };
  }

  /**
   * Gateways attach their devices (bench/loadgen/gateway-phases.ts); with several workers, the
   * gateways are dealt out among them. `onMark` sees worker 0's edges of the attach window.
   */
  async attach(job: Omit<AttachJob, 'kind'>, onMark?: (name: Mark) => void): Promise<AttachResult> {
    const n = this.workers.length;
    const results = await Promise.all(
      this.workers.map((_, i) =>
        this.request(
          i,
          { ...job, kind: 'attach', gateways: job.gateways.filter((_g, k) => k % n === i) },
          job.deadlineMs + job.connectTimeoutMs + job.attachTimeoutMs,
          i === 0 ? onMark : undefined,
        ),
      ),
    );
    const rs = results.filter((r): r is AttachResult => r.kind === 'attach');
    const latency = new Histogram();
    for (const r of rs) latency.merge(r.latency);
    return {
      kind: 'attach',
      gateways: sum(rs, (r) => r.gateways),
      connected: sum(rs, (r) => r.connected),
      connectErrors: mergeTallies(rs.map((r) => r.connectErrors)),
      attempted: sum(rs, (r) => r.attempted),
      attached: sum(rs, (r) => r.attached),
      refused: sum(rs, (r) => r.refused),
      timedOut: sum(rs, (r) => r.timedOut),
      totalsMs: rs.flatMap((r) => r.totalsMs),
      latency: latency.snapshot(),
      gatewayErrors: mergeTallies(rs.map((r) => r.gatewayErrors)),
    };
  }

  async close(group: string): Promise<CloseResult> {
    const results = await Promise.all(this.workers.map((_, i) => this.request(i, { kind: 'close', group }, 10_000)));
    return { kind: 'close', closed: sum(results, (r) => (r.kind === 'close' ? r.closed : 0)) };
  }

  /** Ends the worker threads (their sockets go with them). */
  async terminate(): Promise<void> {
    this.failAll(new Error('load generator terminated'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private request(worker: number, job: Job, budgetMs: number, onMark?: (name: Mark) => void): Promise<JobResult> {
    const w = this.workers[worker];
    if (w === undefined) return Promise.reject(new Error(`no worker ${worker}`));
    if (this.dead !== null) return Promise.reject(this.dead);
    const id = this.nextId;
    this.nextId += 1;
    return new Promise<JobResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`load-generator ${job.kind} job missed its ${budgetMs + JOB_GRACE_MS} ms deadline`));
      }, budgetMs + JOB_GRACE_MS);
      this.pending.set(id, { resolve, reject, timer, ...(onMark === undefined ? {} : { onMark }) });
      const req: JobRequest = { id, job };
      w.postMessage(req);
    });
  }

  private onMessage(m: WorkerMessage): void {
    const p = this.pending.get(m.id);
    if (p === undefined) return;
    if (m.type === 'mark') {
      p.onMark?.(m.name);
      return;
    }
    this.pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.type === 'result') p.resolve(m.result);
    else p.reject(new Error(m.message));
  }

  private failAll(e: Error): void {
    this.dead ??= e;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(e);
    }
  }
}

function sum<T>(xs: readonly T[], f: (x: T) => number): number {
  return xs.reduce((n, x) => n + f(x), 0);
}

function mergeTallies(tallies: readonly Tally[]): Tally {
  const counts = new Map<string, number>();
  for (const t of tallies) for (const { message, count } of t) counts.set(message, (counts.get(message) ?? 0) + count);
  return [...counts.entries()].map(([message, count]) => ({ message, count })).sort((a, b) => b.count - a.count).slice(0, 5);
}

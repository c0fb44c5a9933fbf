import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Histogram, type HistogramSnapshot } from './histogram.js';

/**
 * The load generator of the `http` bench, in a process of its own so that its event loop, GC and
 * TLS work do not delay the timings the parent takes (on a 2-core machine the two still share
 * CPUs). Runs groups of simulated devices, each device a closed loop of HTTP publishEvent
 * requests, one in flight at a time, no faster than one per `minIntervalMs`, on an Agent of its
 * own with at most one socket: kept alive between requests, or a new connection per request
 * (then without TLS session resumption, as a constrained device that keeps no session cache).
 * Started with `fork` (advanced serialization: histograms are typed arrays); takes its job as the first IPC message and answers over IPC.
 */

export interface HttpDeviceTarget {
  /** Request path of the device's :publishEvent. */
  path: string;
  /** The device's JWT, minted once and sent with every request, as real devices do. */
  jwt: string;
}

export interface HttpLoadGroup {
  label: string;
  /** http://host:port or https://host:port */
  origin: string;
  /** PEM of the CA to trust for https. */
  ca?: string;
  devices: HttpDeviceTarget[];
  connection: 'keep-alive' | 'new';
  /** Least time between the starts of a device's requests (pacing under the per-device rate limit). */
  minIntervalMs: number;
}

export interface HttpLoadJob {
  groups: HttpLoadGroup[];
  /** Request body (JSON) shared by every request. */
  body: string;
  warmupMs: number;
  measureMs: number;
}

export interface HttpGroupResult {
  label: string;
  /** Answers by HTTP status, requests that completed inside the measurement window. */
  statuses: Record<string, number>;
  /** Requests that failed without an answer (socket errors), inside the window. */
  errors: number;
  firstError?: string;
  /** Latency (ns) of the 200 answers completed inside the window. */
  latency: HistogramSnapshot;
}

export type HttpLoadMessage =
  | { type: 'ready' }
  /** The warm-up is over; the measurement window starts now. */
  | { type: 'measuring' }
  /** The window is over; requests still in flight are not counted. */
  | { type: 'measured'; windowMs: number; groups: HttpGroupResult[] }
  | { type: 'failed'; error: string };

const send = (m: HttpLoadMessage): void => void process.send?.(m);

/** One request on `agent`; resolves to the status once the answer has been read to its end. */
function post(group: HttpLoadGroup, agent: HttpAgent, device: HttpDeviceTarget, body: string): Promise<number> {
  const url = new URL(group.origin);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path: device.path,
        agent,
        headers: { authorization: `Bearer ${device.jwt}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
        res.once('error', reject);
      },
    );
    req.once('error', reject);
    req.end(body);
  });
}

function agentFor(group: HttpLoadGroup): HttpAgent {
  const keepAlive = group.connection === 'keep-alive';
  if (group.origin.startsWith('https:')) {
    // maxCachedSessions 0 with new connections: a full handshake each time, no resumption.
    return new HttpsAgent({ keepAlive, maxSockets: 1, ca: group.ca, ...(keepAlive ? {} : { maxCachedSessions: 0 }) });
  }
  return new HttpAgent({ keepAlive, maxSockets: 1 });
}

async function run(job: HttpLoadJob): Promise<void> {
  let windowStart = Number.POSITIVE_INFINITY;
  let windowEnd = Number.POSITIVE_INFINITY;
  let stopped = false;
  const results = job.groups.map((g) => ({ label: g.label, statuses: {} as Record<string, number>, errors: 0, firstError: undefined as string | undefined, hist: new Histogram() }));
  const agents: HttpAgent[] = [];

  const loops = job.groups.flatMap((group, gi) => {
    const result = results[gi]!;
    return group.devices.map(async (device) => {
      const agent = agentFor(group);
      agents.push(agent);
      while (!stopped) {
        const t0 = performance.now();
        let status: number | undefined;
        let error: unknown;
        try {
          status = await post(group, agent, device, job.body);
        } catch (e) {
          error = e;
        }
        const t1 = performance.now();
        if (t1 >= windowStart && t1 <= windowEnd) {
          if (status === undefined) {
            result.errors += 1;
            result.firstError ??= error instanceof Error ? error.message : String(error);
          } else {
            result.statuses[status] = (result.statuses[status] ?? 0) + 1;
            if (status === 200) result.hist.record((t1 - t0) * 1e6);
          }
        }
        const wait = group.minIntervalMs - (performance.now() - t0);
        if (wait > 0 && !stopped) await sleep(wait);
      }
    });
  });

  await sleep(job.warmupMs);
  windowStart = performance.now();
  windowEnd = windowStart + job.measureMs;
  send({ type: 'measuring' });
  await sleep(job.measureMs);
  const windowMs = performance.now() - windowStart;
  windowEnd = windowStart + windowMs;
  stopped = true;
  send({ type: 'measured', windowMs, groups: results.map(({ hist, firstError, ...r }): HttpGroupResult => ({ ...r, ...(firstError === undefined ? {} : { firstError }), latency: hist.snapshot() })) });
  await Promise.all(loops);
  for (const a of agents) a.destroy();
}

process.once('message', (job: HttpLoadJob) => {
  run(job).then(
    () => process.disconnect?.(),
    (e: unknown) => {
      send({ type: 'failed', error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
      process.disconnect?.();
    },
  );
});
send({ type: 'ready' });

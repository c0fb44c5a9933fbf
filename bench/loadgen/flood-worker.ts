import { parentPort, workerData } from 'node:worker_threads';
import { openStalled, STALL_KINDS, type StallKind, type StalledSocket, type StallTargets } from '../../test/support/stalled-sockets.js';

/**
 * The flood of the `flood` bench, in a worker thread of its own so that opening thousands of
 * sockets (and their TLS handshakes) does not run on the event loop that times the healthy
 * device. Opens `perKind` stalled sockets of every kind, interleaved, at most `concurrency`
 * opening at once, then reports each close by the server. Sockets still open at `deadlineMs`
 * are destroyed and reported as such.
 */

export interface FloodJob {
  targets: { plain: string; tls: string; ca: string; hello: Uint8Array };
  perKind: number;
  concurrency: number;
  /** Sockets opened per second at most (undefined: as fast as the concurrency allows). */
  perSecond?: number;
  /** Ms after the start at which sockets still open are given up on. */
  deadlineMs: number;
}

export type FloodMessage =
  | { type: 'opened'; count: number; failed: number; ms: number }
  | { type: 'closed'; kind: StallKind; afterMs: number }
  | { type: 'done'; stillOpen: Record<StallKind, number> };

const job = workerData as FloodJob;
const port = parentPort!;
const targets: StallTargets = { ...job.targets, hello: Buffer.from(job.targets.hello) };

async function main(): Promise<void> {
  const t0 = Date.now();
  const kinds: StallKind[] = [];
  for (let i = 0; i < job.perKind; i++) kinds.push(...STALL_KINDS);
  const open: StalledSocket[] = [];
  const pending = new Set<StalledSocket>();
  let failed = 0;
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < kinds.length) {
      const i = next++;
      const kind = kinds[i]!;
      if (job.perSecond !== undefined) {
        const wait = t0 + (i * 1000) / job.perSecond - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      try {
        const s = await openStalled(kind, targets);
        open.push(s);
        pending.add(s);
        void s.closed.then((afterMs) => {
          // Not one we gave up on and destroyed ourselves.
          if (!pending.delete(s)) return;
          port.postMessage({ type: 'closed', kind, afterMs } satisfies FloodMessage);
        });
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, lane));
  port.postMessage({ type: 'opened', count: open.length, failed, ms: Date.now() - t0 } satisfies FloodMessage);
  const deadline = t0 + job.deadlineMs;
  while (pending.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const stillOpen = Object.fromEntries(STALL_KINDS.map((k) => [k, 0])) as Record<StallKind, number>;
  const left = [...pending];
  pending.clear();
  for (const s of left) {
    stillOpen[s.kind]++;
    s.destroy();
  }
  port.postMessage({ type: 'done', stillOpen } satisfies FloodMessage);
}

void main();

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { EmbeddedLogSink } from '../src/adapters/sinks/embedded-log/embedded-log-sink.js';
import type { Synchronous } from '../src/adapters/sinks/embedded-log/log-schema.js';
import type { SinkMessage } from '../src/services/ports.js';

/**
 * Throughput of the embedded log sink, main thread vs worker-thread commits.
 *
 *   npm run build && node dist/bench/sink-bench.js [seconds-per-case] [payload-bytes] [work-us] [batch|devices]
 *
 * A "batch" is N single-message append calls made in one event-loop turn (N devices publishing
 * QoS 1 at once); the bench waits for all N, then repeats, so batch 1 measures commit latency.
 * Besides msgs/s it reports the main thread's busy time per message (event-loop utilisation),
 * which is what the MQTT bridge loses to the sink, and the worst event-loop delay. `work-us`
 * burns that much main-thread CPU per message, standing in for MQTT parsing and TLS. In `devices`
 * mode the batch size is instead the number of concurrent devices, each awaiting its own append
 * before sending the next (an open stream: batches form from whatever arrives during a commit).
 */

const seconds = Number(process.argv[2] ?? 2);
const payloadBytes = Number(process.argv[3] ?? 100);
const workUs = Number(process.argv[4] ?? 0);
const mode = process.argv[5] === 'devices' ? 'devices' : 'batch';

const attributes = Object.freeze({
  deviceId: 'dev-000001',
  deviceNumId: '2794855512345678',
  deviceRegistryId: 'bench-registry',
  deviceRegistryLocation: 'us-central1',
  projectId: 'bench-project',
  subFolder: 'telemetry',
});

function burn(us: number): void {
  const end = performance.now() + us / 1000;
  while (performance.now() < end);
}

interface Result {
  msgsPerSec: number;
  mainUsPerMsg: number;
  maxDelayMs: number;
  commits: number;
}

async function runCase(writerThread: boolean, synchronous: Synchronous, batch: number): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'sink-bench-'));
  const sink = EmbeddedLogSink.open(join(dir, 'events.db'), { writerThread, synchronous, maxBatch: 2000 });
  // Socket reads hand the bridge slices of a larger buffer; do the same.
  const chunk = Buffer.alloc(64 * 1024, 7);
  const msg = (): SinkMessage => ({
    topic: 'projects/bench-project/topics/telemetry',
    attributes,
    data: chunk.subarray(0, payloadBytes),
    publishTime: Date.now(),
  });
  // Warm up (JIT, file growth).
  for (let i = 0; i < 20; i++) await Promise.all(Array.from({ length: batch }, () => sink.append([msg()])));
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const elu0 = performance.eventLoopUtilization();
  const start = performance.now();
  const commits0 = sink.diagnostics().commits;
  let sent = 0;
  const end = start + seconds * 1000;
  if (mode === 'batch') {
    while (performance.now() < end) {
      const calls: Promise<string[]>[] = new Array(batch);
      for (let i = 0; i < batch; i++) {
        if (workUs > 0) burn(workUs);
        calls[i] = sink.append([msg()]);
      }
      await Promise.all(calls);
      sent += batch;
    }
  } else {
    // `batch` independent devices, each with one QoS 1 message in flight at a time.
    const device = async (): Promise<void> => {
      while (performance.now() < end) {
        if (workUs > 0) burn(workUs);
        await sink.append([msg()]);
        sent++;
      }
    };
    await Promise.all(Array.from({ length: batch }, device));
  }
  const elapsed = performance.now() - start;
  const elu = performance.eventLoopUtilization(elu0);
  delay.disable();
  const commits = sink.diagnostics().commits - commits0;
  await sink.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    msgsPerSec: (sent / elapsed) * 1000,
    mainUsPerMsg: (elu.active * 1000) / sent - workUs,
    maxDelayMs: delay.max / 1e6,
    commits,
  };
}

process.stdout.write(`${mode} mode, payload ${payloadBytes} B, ${seconds} s per case, ${workUs} us main-thread work per message\n`);
process.stdout.write('writer   sync    batch    msgs/s   main-us/msg (sink only)   max-loop-delay-ms   commits\n');
for (const synchronous of ['FULL', 'NORMAL'] as const) {
  for (const batch of [1, 100, 1000]) {
    for (const writerThread of [false, true]) {
      const r = await runCase(writerThread, synchronous, batch);
      process.stdout.write(
        [
          (writerThread ? 'worker' : 'inline').padEnd(8),
          synchronous.padEnd(7),
          String(batch).padStart(5),
          r.msgsPerSec.toFixed(0).padStart(9),
          r.mainUsPerMsg.toFixed(2).padStart(12),
          r.maxDelayMs.toFixed(1).padStart(26),
          String(r.commits).padStart(14),
        ].join(' ') + '\n',
      );
    }
  }
}

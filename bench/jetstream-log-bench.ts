import { performance } from 'node:perf_hooks';
import { jetstreamManager } from '@nats-io/jetstream';
import { decodeEnvelope } from '../src/adapters/jetstream/message-envelope.js';
import type { SinkMessage } from '../src/services/ports.js';
import { startNats } from '../test/support/nats.js';
import { openJetStreamLog } from '../test/adapters/jetstream/jetstream-fixture.js';

/**
 * The JetStream telemetry log on a local nats-server (file storage, R1):
 *
 *   npm run build && node dist/bench/jetstream-log-bench.js [messages] [payload-bytes]
 *
 * - append: QoS 1-like load, 1,000 single-message appends per event-loop turn, awaited, repeated.
 * - read: the log's strategy (up to 8 STREAM.MSG.GET next_by_subj, then an ephemeral filtered
 *   consumer + one no-wait pull for the rest) against one get per message, on a topic
 *   interleaved 1:1 with another topic of the same project stream.
 * - count, seqBefore, headSeq: one call each, repeated.
 */

const total = Number(process.argv[2] ?? 20_000);
const payloadBytes = Number(process.argv[3] ?? 100);
const TOPIC = 'projects/bench/topics/main';
const OTHER = 'projects/bench/topics/other';
const attributes = Object.freeze({ deviceId: 'dev-000001', deviceNumId: '2794855512345678', deviceRegistryId: 'reg', projectId: 'bench' });

const message = (topic: string, i: number): SinkMessage => ({ topic, attributes, data: new Uint8Array(payloadBytes).fill(i & 0xff), publishTime: 1_700_000_000_000 + i });

async function timed(label: string, runs: number, fn: () => Promise<unknown>): Promise<number> {
  await fn();
  const t = performance.now();
  for (let i = 0; i < runs; i++) await fn();
  const ms = (performance.now() - t) / runs;
  console.log(`${label.padEnd(44)} ${ms.toFixed(2)} ms`);
  return ms;
}

async function main(): Promise<void> {
  const nats = await startNats();
  const j = await openJetStreamLog(nats.url, { timeoutMs: 10_000 });
  try {
    const batch = 1_000;
    const t = performance.now();
    for (let done = 0; done < total; done += batch) {
      await Promise.all(Array.from({ length: batch }, (_v, k) => j.sink.append([message((done + k) % 2 === 0 ? TOPIC : OTHER, done + k)])));
    }
    const s = (performance.now() - t) / 1000;
    console.log(`append ${total} x ${payloadBytes} B, ${batch} calls per turn: ${Math.round(total / s)} msgs/s`);

    const jsm = await jetstreamManager(j.nc);
    const stream = j.streams.names.streamOf(TOPIC);
    const subject = j.streams.names.subjectOf(TOPIC);
    const mid = Math.floor(total / 2);
    await timed('read 500 (log.read: 8 gets, consumer + pull)', 20, async () => {
      const page = await j.log.read(TOPIC, mid, 500);
      if (page.length !== 500) throw new Error(`read ${page.length}`);
    });
    await timed('read 500 (500 x MSG.GET next_by_subj)', 5, async () => {
      let seq = mid + 1;
      for (let n = 0; n < 500; n++) {
        const m = await jsm.streams.getMessage(stream, { seq, next_by_subj: subject } as unknown as { seq: number });
        if (!m) throw new Error('missing');
        decodeEnvelope(m.data);
        seq = m.seq + 1;
      }
    });
    await timed('read 1 (log.read: 1 get)', 50, () => j.log.read(TOPIC, mid, 1));
    await timed('read 100 at the head, nothing new (log.read)', 50, () => j.log.read(TOPIC, total, 100));
    await timed('read 20 (log.read: 8 gets, consumer + pull)', 50, () => j.log.read(TOPIC, mid, 20));
    await timed('read 1 (MSG.GET next_by_subj)', 50, () => jsm.streams.getMessage(stream, { seq: mid, next_by_subj: subject } as unknown as { seq: number }));
    await timed('count (consumer num_pending)', 50, () => j.log.count(TOPIC, mid));
    await timed(`seqBefore (binary search over ${total})`, 20, () => j.log.seqBefore(TOPIC, 1_700_000_000_000 + mid));
    await timed('headSeq (stream info)', 50, () => j.log.headSeq(TOPIC));
  } finally {
    await j.close();
    await nats.cleanup();
  }
}

await main();

/**
 * The long run of the MQTT fast codec's differential check (test/support/mqtt-codec-differential.ts):
 * BENCH_CODEC_FUZZ_INPUTS seeded inputs (default 2,000,000; seed BENCH_CODEC_FUZZ_SEED) through
 * the packet reader and through mqtt-packet, compared packet by packet. Prints the counts, each
 * documented difference, and every mismatch (there must be none). No server: pure code.
 */
import { pathToFileURL } from 'node:url';
import { newDifferentialStats, runDifferential } from '../test/support/mqtt-codec-differential.js';
import { fmtCount, now, type BenchSection } from './lib.js';

const num = (name: string, fallback: number): number => {
  const v = Number(process.env[name]);
  return Number.isSafeInteger(v) && v > 0 ? v : fallback;
};

/** Inputs per slice: the run yields to the event loop (and checks its budget) between slices. */
const SLICE = 50_000;

export async function runCodecFuzz(opts: { signal?: AbortSignal; print?: (line?: string) => void } = {}): Promise<void> {
  const print = opts.print ?? ((line = ''): void => console.log(line));
  const total = num('BENCH_CODEC_FUZZ_INPUTS', 2_000_000);
  const seed = num('BENCH_CODEC_FUZZ_SEED', 0x20c0dec);
  print(`== codec-fuzz: MQTT fast codec vs mqtt-packet 9.0.2, ${fmtCount(total)} inputs, seed 0x${seed.toString(16)} ==`);
  const stats = newDifferentialStats();
  const t0 = now();
  for (let done = 0, slice = 0; done < total; done += SLICE, slice++) {
    if (opts.signal?.aborted === true) {
      print(`  stopped after ${fmtCount(done)} inputs: time budget spent`);
      break;
    }
    // Each slice its own seed, so that a run stopped early is a prefix of the full one.
    runDifferential(Math.min(SLICE, total - done), seed + slice, stats);
    await new Promise((resolve) => setImmediate(resolve));
  }
  const secs = (now() - t0) / 1000;
  print(`  inputs ${fmtCount(stats.inputs)} in ${secs.toFixed(1)} s (${fmtCount(Math.round(stats.inputs / secs))}/s); packets decoded ${fmtCount(stats.packets)}; inputs refused ${fmtCount(stats.refused)}`);
  print(`  identical outcomes ${fmtCount(stats.same)}`);
  print(
    `  documented differences (mqtt-packet wrong, fast path per spec): reads past the packet end ${fmtCount(stats.differences['reads-past-end'])}, ` +
      `invalid UTF-8 / U+0000 topic ${fmtCount(stats.differences['invalid-utf8-topic'])}, extra bytes in a fixed-size packet ${fmtCount(stats.differences['extra-bytes'])}`,
  );
  print(`  MISMATCHES ${fmtCount(stats.mismatches)}${stats.mismatches === 0 ? '' : ' (bugs):'}`);
  for (const e of stats.examples) print(`    ${e.slice(0, 2000)}`);
}

export const codecFuzzBench: BenchSection = {
  name: 'codec-fuzz',
  summary: 'MQTT fast codec vs mqtt-packet: 2,000,000 differential inputs, prints mismatches',
  ownServers: true,
  run: (ctx) => runCodecFuzz({ signal: ctx.signal, print: ctx.print }),
};

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runCodecFuzz().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, platform, arch, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type StartedServer } from '../test/support/server.js';
import { authBench } from './auth-bench.js';
import { clusterBench } from './cluster-bench.js';
import { codecFuzzBench } from './codec-fuzz-bench.js';
import { consoleBench } from './console-bench.js';
import { fleetBench } from './fleet-bench.js';
import { floodBench } from './flood-bench.js';
import { fuzzBench } from './fuzz-bench.js';
import { gatewayBench } from './gateway-bench.js';
import { grpcBench } from './grpc-bench.js';
import { httpBench } from './http-bench.js';
import { fmtMs, mergeServerArgs, now, type BenchSection } from './lib.js';
import { mqttBench } from './mqtt-bench.js';
import { pubsubBench } from './pubsub-bench.js';
import { registryBench } from './registry-bench.js';

/**
 * `npm run bench [section...]`: starts the built server on loopback with a throw-away data dir,
 * runs the selected sections (all by default) in order, prints their figures, and cleans up.
 * A section is a module exporting a BenchSection; add it to SECTIONS to make it selectable.
 */

const SECTIONS: readonly BenchSection[] = [registryBench, grpcBench, mqttBench, codecFuzzBench, gatewayBench, authBench, fuzzBench, floodBench, pubsubBench, httpBench, fleetBench, clusterBench, consoleBench];

/**
 * The whole run's budget; requests are aborted once it is spent, and the process ends soon after.
 * Every section bounds itself; this backstops a stuck run, and fits all of them (the MQTT bench
 * alone takes about 2 minutes, the flood bench 2.5, the cluster bench more).
 */
const BUDGET_MS = 25 * 60_000;
/** Grace after the budget for aborts and cleanup before the watchdog ends the process outright. */
const WATCHDOG_GRACE_MS = 30_000;

function usage(): string {
  return [
    'usage: npm run bench [-- section...]',
    '',
    'sections (default: all, in this order):',
    ...SECTIONS.map((s) => `  ${s.name.padEnd(12)} ${s.summary}`),
  ].join('\n');
}

function selectSections(argv: readonly string[]): readonly BenchSection[] {
  // Names may come as separate arguments or comma-separated, so `registry,mqtt` works too.
  const names = argv.flatMap((a) => a.split(',')).filter((a) => a !== '');
  if (names.length === 0) return SECTIONS;
  const unknown = names.filter((n) => !SECTIONS.some((s) => s.name === n));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown section ${unknown.map((n) => JSON.stringify(n)).join(', ')}\n${usage()}\n`);
    process.exit(2);
  }
  return SECTIONS.filter((s) => names.includes(s.name));
}

/** The server's resident memory from /proc (Linux); undefined where that is not readable. */
function rssMiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  const sections = selectSections(argv);
  const print = (line = ''): void => void process.stdout.write(`${line}\n`);

  const cpuList = cpus();
  print(`Bridgehead bench: node ${process.version}, ${platform()} ${arch()}, ${cpuList.length} CPU × ${cpuList[0]?.model.trim() ?? 'unknown'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM`);

  const root = mkdtempSync(join(tmpdir(), 'bridgehead-bench-'));
  let server: StartedServer | undefined;
  let cleaned = false;
  const cleanup = async (): Promise<void> => {
    if (cleaned) return;
    cleaned = true;
    try {
      await server?.stop();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  };
  // Ctrl-C must not leave a server process or a data dir behind.
  let interrupted = false;
  process.once('SIGINT', () => {
    interrupted = true;
    void cleanup().finally(() => process.exit(130));
  });
  const watchdog = setTimeout(() => {
    process.stderr.write('bench: time budget exceeded, stopping\n');
    void server?.kill().finally(() => {
      rmSync(root, { recursive: true, force: true });
      process.exit(1);
    });
  }, BUDGET_MS + WATCHDOG_GRACE_MS);
  watchdog.unref();

  try {
    const serverArgs = mergeServerArgs(sections);
    // startServer binds 127.0.0.1:0: loopback only, a free port.
    server = await startServer({ dataDir: join(root, 'data'), args: serverArgs });
    print(`server: ${server.api}, SQLite at ${server.info.database}`);
    const signal = AbortSignal.timeout(BUDGET_MS);
    for (const section of sections) {
      print();
      const t0 = now();
      await section.run({ server, signal, print });
      const rss = section.ownServers === true ? undefined : rssMiB(server.process.pid);
      print(`  section "${section.name}" took ${fmtMs(now() - t0)}${rss === undefined ? '' : `; server RSS ${rss.toFixed(0)} MiB`}`);
    }
    const code = await server.stop();
    if (code !== 0) {
      process.stderr.write(`bench: the server exited with ${String(code)} on SIGTERM\n${server.stderr()}`);
      return 1;
    }
    return 0;
  } catch (e) {
    // Requests in flight fail when Ctrl-C stops the server; that is not worth a stack trace.
    if (interrupted) return 130;
    process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    if (server) process.stderr.write(`server stderr:\n${server.stderr()}\n`);
    return 1;
  } finally {
    await cleanup();
    clearTimeout(watchdog);
  }
}

process.exitCode = await main();

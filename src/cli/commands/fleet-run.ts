import { existsSync, mkdirSync, readFileSync, createWriteStream, rmSync, type WriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { acquireDataDirLock, DataDirLockedError } from '../../main/data-dir-lock.js';
import { join, resolve } from 'node:path';
import { once } from 'node:events';
import { NodeKeyInspector } from '../../adapters/crypto/key-inspector.js';
import { MemoryStore } from '../../adapters/store/memory/memory-store.js';
import { SqliteStore } from '../../adapters/store/sqlite/sqlite-store.js';
import { isApiError } from '../../domain/errors.js';
import { isGateway, registryName, type Registry } from '../../domain/model.js';
import { parseRegistryName } from '../../domain/names.js';
import { conflictsWithStore, planImport, runImport, type FleetProblem } from '../../services/fleet-import.js';
import type { Store } from '../../services/ports.js';
import { bindingLine, deviceLine, readFleetText, registryLine, type ReadResult } from './fleet-json.js';
import { Progress } from './fleet-progress.js';

/** Problems printed before "and N more". */
const MAX_PROBLEMS_SHOWN = 50;

/** Exit codes: 2 for input the import refuses (problems, conflicts), as for other usage errors. */
export const EXIT_INPUT = 2;

export interface ImportFlags {
  dataDir?: string;
  store?: string;
  dryRun?: boolean;
  registry?: string;
  quiet?: boolean;
}

export interface ExportFlags {
  dataDir?: string;
  store?: string;
  out?: string;
  registry?: string[];
}

const databaseOf = (dataDir: string | undefined): string => join(resolve(dataDir ?? 'data'), 'registry.db');

/** --store: a PostgreSQL URL, and not with --data-dir (which one was meant is unknowable); undefined = the data directory. */
function postgresStoreOf(flags: { store?: string; dataDir?: string }): { url: string; shown: string } | undefined | Error {
  if (flags.store === undefined) return undefined;
  if (flags.dataDir !== undefined) return new Error('give --store or --data-dir, not both');
  let u: URL;
  try {
    u = new URL(flags.store);
  } catch {
    return new Error('--store wants a PostgreSQL URL, e.g. --store postgres://user:password@host:5432/bridgehead');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') return new Error('--store wants a PostgreSQL URL, e.g. --store postgres://user:password@host:5432/bridgehead');
  if (u.password) u.password = '***';
  return { url: flags.store, shown: u.toString() };
}

/** The PostgreSQL store for the CLI: no server presence (an import holds the import lock instead, an export needs none). */
async function openPgStore(url: string, role: 'import' | 'export'): Promise<Store> {
  const { PgStore } = await import('../../adapters/store/postgres/pg-store.js');
  return PgStore.open(url, { presence: 'none', applicationName: `bridgehead ${role}`, max: 4 });
}

function printProblems(problems: readonly FleetProblem[]): void {
  const shown = problems.slice(0, MAX_PROBLEMS_SHOWN);
  process.stderr.write(`import refused, nothing written: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n`);
  for (const p of shown) process.stderr.write(`  ${p.where}${p.field ? ` ${p.field}` : ''}: ${p.message}\n`);
  if (problems.length > shown.length) process.stderr.write(`  ... and ${problems.length - shown.length} more\n`);
}

export async function runImportCommand(files: readonly string[], flags: ImportFlags): Promise<number> {
  const progress = new Progress(process.stderr, 'records', flags.quiet);
  let defaultRegistry: string | undefined;
  try {
    defaultRegistry = flags.registry === undefined ? undefined : registryName(parseRegistryName(flags.registry, '--registry'));
  } catch {
    process.stderr.write(`--registry wants a full registry name, e.g. --registry projects/my-project/locations/us-central1/registries/my-registry\n`);
    return EXIT_INPUT;
  }
  const read: ReadResult = { records: [], problems: [] };
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      read.problems.push({ where: file, field: undefined, message: `cannot read: ${(e as Error).message}` });
      continue;
    }
    readFleetText(file, text, defaultRegistry, read);
  }

  const postgres = postgresStoreOf(flags);
  if (postgres instanceof Error) {
    process.stderr.write(`${postgres.message}\n`);
    return EXIT_INPUT;
  }
  const database = databaseOf(flags.dataDir);
  let store: Store;
  // An import must not run next to a server on the same data directory (docs/compat.md
  // C-IMPORT-OFFLINE): it takes the server's exclusive lock (C-SERVER-LOCK); on PostgreSQL, the
  // import lock every server's store holds shared (pg-offline-lock.ts).
  let lock: { release(): unknown } | undefined;
  if (postgres) {
    if (!flags.dryRun) {
      const { acquireImportLock, StoreInUseError } = await import('../../adapters/store/postgres/pg-offline-lock.js');
      try {
        lock = await acquireImportLock(postgres.url, postgres.shown);
      } catch (e) {
        if (!(e instanceof StoreInUseError)) throw e;
        process.stderr.write(`${e.message}\n`);
        return EXIT_INPUT;
      }
    }
    try {
      store = await openPgStore(postgres.url, 'import');
    } catch (e) {
      await lock?.release();
      throw e;
    }
  } else if (flags.dryRun) store = existsSync(database) ? SqliteStore.openReadOnly(database) : new MemoryStore();
  else {
    const dir = resolve(flags.dataDir ?? 'data');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    try {
      lock = acquireDataDirLock(dir);
    } catch (e) {
      if (!(e instanceof DataDirLockedError)) throw e;
      process.stderr.write(`${e.message}\n`);
      return EXIT_INPUT;
    }
    store = SqliteStore.open(database);
  }
  try {
    progress.begin('checking', read.records.length, 'records');
    const plan = await planImport(read.records, {
      keys: new NodeKeyInspector(),
      now: Date.now(),
      storedRegistry: (key) => store.getRegistry(key),
      onRecord: (n) => progress.update(n),
    });
    progress.end(read.records.length);
    const problems = [...read.problems, ...plan.problems];
    let stored = { registries: 0, devices: 0 };
    if (problems.length === 0) {
      progress.begin('comparing with the data directory', plan.devices, 'devices');
      const comparison = await conflictsWithStore(store, plan, (n) => progress.update(n));
      problems.push(...comparison.problems);
      stored = { registries: comparison.registriesStored, devices: comparison.devicesUnchanged };
      progress.end(plan.devices);
    }
    if (problems.length > 0) {
      printProblems(problems);
      return EXIT_INPUT;
    }
    if (flags.dryRun) {
      // The counts the real run would print: what the store holds identically is skipped there.
      process.stdout.write(
        `dry run: ${plan.registries.length} registries (${plan.registries.length - stored.registries} would be created, ${stored.registries} existing), ` +
          `${plan.devices} devices (${plan.devices - stored.devices} would be created, ${stored.devices} unchanged); nothing written\n`,
      );
      return 0;
    }
    const writing = new Progress(process.stderr, 'devices', flags.quiet);
    writing.begin('importing', plan.devices);
    const started = Date.now();
    const outcomes = await runImport(store, plan, (_outcome, done) => writing.update(done), (done) => writing.update(done));
    writing.end(plan.devices);
    // After the bar's last line, so that a terminal shows them whole.
    for (const o of outcomes) {
      process.stdout.write(
        `${o.name}: ${o.registryCreated ? 'created' : 'existing'}, ${o.devicesCreated} devices created, ${o.devicesSkipped} unchanged, ` +
          `${o.bindingsCreated} bindings created, ${o.bindingsSkipped} unchanged\n`,
      );
    }
    const seconds = (Date.now() - started) / 1000;
    const created = outcomes.reduce((n, o) => n + o.devicesCreated, 0);
    process.stdout.write(`imported ${created} devices (${plan.devices - created} unchanged) in ${seconds.toFixed(1)} s, ${Math.round(plan.devices / Math.max(seconds, 0.001))} devices/s\n`);
    return 0;
  } catch (e) {
    if (isApiError(e) && e.kind === 'FAILED_PRECONDITION') {
      process.stderr.write(`${e.message}\n`);
      return EXIT_INPUT;
    }
    throw e;
  } finally {
    await store.close();
    await lock?.release();
  }
}

/** Writes lines to a stream, waiting when its buffer is full. */
class LineWriter {
  private pending: string[] = [];
  private size = 0;

  constructor(private readonly out: NodeJS.WritableStream) {}

  async line(s: string): Promise<void> {
    this.pending.push(s);
    this.size += s.length;
    if (this.size > 1 << 20) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const chunk = `${this.pending.join('\n')}\n`;
    this.pending = [];
    this.size = 0;
    // A stream that failed between two flushes emits neither 'drain' nor another 'error': waiting
    // for one would hang. (once() rejects on an 'error' that comes while it waits.)
    const failed = (this.out as Writable).errored;
    if (failed) throw failed;
    if (!this.out.write(chunk)) await once(this.out, 'drain');
  }
}

/** The --out file, open: a path that cannot be written fails here, before anything is read. */
async function openOut(path: string): Promise<WriteStream> {
  const file = createWriteStream(path);
  await once(file, 'open');
  return file;
}

/** Ends the file and waits until it is closed; rejects with the first write error. */
async function closeOut(file: WriteStream): Promise<void> {
  if (file.errored) throw file.errored;
  if (!file.closed) {
    file.end();
    await once(file, 'close');
  }
  if (file.errored) throw file.errored;
}

const PAGE = 1000;

export async function runExportCommand(flags: ExportFlags): Promise<number> {
  const postgres = postgresStoreOf(flags);
  if (postgres instanceof Error) {
    process.stderr.write(`${postgres.message}\n`);
    return EXIT_INPUT;
  }
  const database = databaseOf(flags.dataDir);
  if (!postgres && !existsSync(database)) {
    process.stderr.write(`no registry store at ${database}: give --data-dir, the directory the server runs with\n`);
    return EXIT_INPUT;
  }
  let wanted: Set<string> | undefined;
  try {
    wanted = flags.registry?.length ? new Set(flags.registry.map((r) => registryName(parseRegistryName(r, '--registry')))) : undefined;
  } catch {
    process.stderr.write(`--registry wants a full registry name, e.g. --registry projects/my-project/locations/us-central1/registries/my-registry\n`);
    return EXIT_INPUT;
  }
  // Read-only: an export may run next to the server (WAL readers see one consistent snapshot per read;
  // on PostgreSQL, each page is one statement's snapshot).
  const store = postgres ? await openPgStore(postgres.url, 'export') : SqliteStore.openReadOnly(database);
  let file: WriteStream | undefined;
  let complete = false;
  const progress = new Progress(process.stderr, 'devices', !flags.out);
  try {
    const registries: Registry[] = [];
    for (let after: string | undefined; ; ) {
      const page = await store.listAllRegistries(after, 100);
      registries.push(...page.items.filter((r) => !wanted || wanted.has(registryName(r))));
      if (page.next === undefined) break;
      after = page.next;
    }
    // Before the file is created: a refused export leaves no empty file behind.
    for (const name of wanted ?? []) {
      if (!registries.some((r) => registryName(r) === name)) {
        process.stderr.write(`registry ${name} not found\n`);
        return EXIT_INPUT;
      }
    }
    if (flags.out) {
      try {
        file = await openOut(flags.out);
      } catch (e) {
        process.stderr.write(`export failed, nothing written: cannot write ${flags.out}: ${(e as Error).message}\n`);
        return 1;
      }
    }
    const out = new LineWriter(file ?? process.stdout);
    let devices = 0;
    progress.begin('exporting', 0);
    for (const r of registries) {
      await out.line(registryLine(r));
      const gateways: string[] = [];
      for (let after: string | undefined; ; ) {
        const page = await store.listDevices(r, {}, after, PAGE);
        for (const d of page.items) {
          await out.line(deviceLine(d));
          if (isGateway(d)) gateways.push(d.numId);
        }
        devices += page.items.length;
        progress.update(devices);
        if (page.next === undefined) break;
        after = page.next;
      }
      for (const gw of gateways) {
        const gateway = await store.getDeviceByNumId(gw);
        for (let after: string | undefined; ; ) {
          const page = await store.listDevices(r, { boundToGateway: gw }, after, PAGE);
          for (const d of page.items) await out.line(bindingLine(registryName(r), gateway!.id, d.id));
          if (page.next === undefined) break;
          after = page.next;
        }
      }
    }
    await out.flush();
    progress.end(devices);
    if (file) {
      try {
        await closeOut(file);
      } catch (e) {
        process.stderr.write(`export failed: cannot write ${flags.out}: ${(e as Error).message}\n`);
        return 1;
      }
      // Only now: a success line before the data is on disk would be a lie if the close failed.
      process.stderr.write(`exported ${registries.length} registries, ${devices} devices to ${flags.out}\n`);
    }
    complete = true;
    return 0;
  } catch (e) {
    if (file && file.errored) {
      process.stderr.write(`export failed: cannot write ${flags.out}: ${(e as Error).message}\n`);
      return 1;
    }
    throw e;
  } finally {
    await store.close();
    if (file && !complete) {
      // A partial export looks like a whole one to the import that reads it later: remove it.
      file.destroy();
      if (!file.closed) await once(file, 'close');
      rmSync(flags.out!, { force: true });
    }
  }
}

import type { Command } from 'commander';
import type { ExportFlags, ImportFlags } from './fleet-run.js';

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/**
 * `bridgehead import` and `bridgehead export` (docs/fleet-format.md): offline against the data
 * directory or the PostgreSQL store (--store), through the Store port, not through the API. The work is loaded inside the actions,
 * so that the other commands do not pay for the store's module graph (test/cli/lean-entry.test.ts).
 */
export function registerFleet(program: Command): void {
  program
    .command('import')
    .description('import registries, devices (numIds kept) and bindings into the data directory; stop the server first')
    .argument('<file...>', 'fleet files: JSON Lines (bridgehead export), gcloud `... list --format=json` output, Cloud IoT API list responses')
    .option('--data-dir <dir>', 'data directory of the server (default ./data)')
    .option('--store <url>', 'the servers\' PostgreSQL store (postgres://…) instead of a data directory; stop every server using it first')
    .option('--registry <name>', 'registry (projects/P/locations/L/registries/R) of devices that do not name one, as in `gcloud iot devices list` output')
    .option('--dry-run', 'check everything, write nothing')
    .option('--quiet', 'no progress on stderr')
    .action(async (files: string[], flags: ImportFlags) => {
      const { runImportCommand } = await import('./fleet-run.js');
      process.exitCode = await runImportCommand(files, flags);
    });
  program
    .command('export')
    .description('write registries, devices and bindings as JSON Lines (may run while the server runs)')
    .option('--data-dir <dir>', 'data directory of the server (default ./data)')
    .option('--store <url>', 'the servers\' PostgreSQL store (postgres://…) instead of a data directory')
    .option('--out <file>', 'output file (default stdout)')
    .option('--registry <name>', 'only this registry (projects/P/locations/L/registries/R); repeatable', collect)
    .action(async (flags: ExportFlags) => {
      const { runExportCommand } = await import('./fleet-run.js');
      process.exitCode = await runExportCommand(flags);
    });
}

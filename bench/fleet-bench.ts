import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../test/support/processes.js';
import { CLI, cliEnv } from '../test/support/server.js';
import { fmtCount, fmtMs, fmtRate, now, table, type BenchSection } from './lib.js';

/**
 * `bridgehead import` of a 100,000-device fleet into an empty data directory, as a migration runs
 * it (the CLI as a process: reading, checking every key, one transaction per registry), then the
 * re-run that finds everything in place, and `bridgehead export` of the result. The server run.ts
 * started is not involved: an import runs offline.
 */

const DEVICES = 100_000;
const REGISTRIES = 2;
const PROJECT = 'bench-fleet';
const LOCATION = 'us-central1';
const TIMEOUT_MS = 5 * 60_000;

const regName = (r: number): string => `projects/${PROJECT}/locations/${LOCATION}/registries/fleet-${r}`;

function fleetFile(path: string): void {
  // A few keys shared by every device: the import still parses and checks each device's key.
  const keys = [
    { format: 'ES256_PEM', key: generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'pem' }).toString() },
    { format: 'RSA_PEM', key: generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString() },
  ];
  const lines: string[] = [];
  for (let r = 0; r < REGISTRIES; r++) {
    lines.push(JSON.stringify({ kind: 'registry', name: regName(r), eventNotificationConfigs: [{ pubsubTopicName: `projects/${PROJECT}/topics/events-${r}` }] }));
  }
  for (let i = 0; i < DEVICES; i++) {
    const r = i % REGISTRIES;
    lines.push(
      JSON.stringify({
        kind: 'device',
        registry: regName(r),
        id: `dev-${String(i).padStart(6, '0')}`,
        numId: String(2_500_000_000_000_000 + i),
        credentials: [{ publicKey: keys[i % keys.length], expirationTime: '1970-01-01T00:00:00Z' }],
        metadata: { site: `site-${i % 16}` },
        config: { version: String(1 + (i % 4)), cloudUpdateTime: '2023-01-01T00:00:00Z', binaryData: Buffer.from(`config-${i}`).toString('base64') },
      }),
    );
  }
  writeFileSync(path, `${lines.join('\n')}\n`);
}

export const fleetBench: BenchSection = {
  name: 'fleet',
  summary: `bridgehead import of ${fmtCount(DEVICES)} devices into an empty data dir, the idempotent re-run, and export`,
  async run(ctx) {
    const dir = mkdtempSync(join(tmpdir(), 'bridgehead-fleet-bench-'));
    try {
      const file = join(dir, 'fleet.jsonl');
      fleetFile(file);
      const dataDir = join(dir, 'data');
      const cli = async (label: string, args: string[]): Promise<string[]> => {
        const t0 = now();
        const r = await run(process.execPath, [CLI, ...args], { env: cliEnv(), timeoutMs: TIMEOUT_MS });
        const ms = now() - t0;
        if (r.code !== 0) throw new Error(`${label} exited ${r.code}: ${r.stderr}`);
        const writeRate = /(\d+) devices\/s/.exec(r.stdout)?.[1];
        return [label, fmtMs(ms), fmtRate(DEVICES / (ms / 1000)), writeRate === undefined ? '-' : `${fmtCount(Number(writeRate))}/s`];
      };
      const rows = [
        await cli('import (empty data dir)', ['import', file, '--data-dir', dataDir, '--quiet']),
        await cli('import again (all unchanged)', ['import', file, '--data-dir', dataDir, '--quiet']),
        await cli('export', ['export', '--data-dir', dataDir, '--out', join(dir, 'out.jsonl')]),
      ];
      for (const line of table(['fleet', 'wall time', 'devices/s (whole command)', 'write phase'], rows)) ctx.print(line);
      ctx.print(`  (${fmtCount(DEVICES)} devices in ${REGISTRIES} registries, file ${(statSync(file).size / 2 ** 20).toFixed(0)} MiB; the whole command includes reading and checking every key)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

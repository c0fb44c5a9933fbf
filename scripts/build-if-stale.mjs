#!/usr/bin/env node
// `npm start`'s prestart: runs tsc only when a source is newer than its build (docs/compat.md C-SERVER-START),
// and the console bundle only when a file under console/ is newer than dist/console/index.html (C-CONSOLE).
// A fresh checkout (no dist/) builds; an unchanged one starts at once instead of spending ~18 s in tsc.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// Whether some .ts under src/ (or tsconfig.json) is newer than its .js under dist/src/, or has none.
function stale(srcDir, outDir, configTime) {
  for (const entry of readdirSync(srcDir, { withFileTypes: true })) {
    const source = join(srcDir, entry.name);
    if (entry.isDirectory()) {
      if (stale(source, join(outDir, entry.name), configTime)) return true;
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
      const output = join(outDir, entry.name.replace(/\.ts$/, '.js'));
      if (!existsSync(output)) return true;
      const built = statSync(output).mtimeMs;
      if (built < statSync(source).mtimeMs || built < configTime) return true;
    }
  }
  return false;
}

/** The newest mtime of any file under `dir` (0 for none). */
function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

function consoleStale() {
  const index = join(root, 'dist', 'console', 'index.html');
  if (!existsSync(join(root, 'console'))) return false;
  if (!existsSync(index)) return true;
  const built = statSync(index).mtimeMs;
  return newest(join(root, 'console')) > built || statSync(join(root, 'scripts', 'build-console.mjs')).mtimeMs > built;
}

const configTime = statSync(join(root, 'tsconfig.json')).mtimeMs;
const fresh = existsSync(join(root, 'dist', 'src'));
if (stale(join(root, 'src'), join(root, 'dist', 'src'), configTime)) {
  process.stderr.write(!fresh ? 'bridgehead: building (no dist/ yet)\n' : 'bridgehead: sources changed since the last build; building\n');
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
if (consoleStale()) {
  process.stderr.write('bridgehead: building the web console\n');
  const result = spawnSync(process.execPath, [join(root, 'scripts', 'build-console.mjs')], { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}

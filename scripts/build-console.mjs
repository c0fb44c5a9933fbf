#!/usr/bin/env node
// Bundles the web console (console/src, Preact + TSX) into dist/console (docs/compat.md C-CONSOLE):
// content-hashed assets under assets/ with a precompressed .gz beside each, and an index.html
// that names them. esbuild does it in well under a second; the server serves the result as is.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { gzipSync, constants } from 'node:zlib';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'console');
const assets = join(out, 'assets');

const result = await build({
  entryPoints: [join(root, 'console', 'src', 'main.tsx')],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  outdir: assets,
  write: false,
  metafile: false,
  legalComments: 'none',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
});

rmSync(assets, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });
const names = [];
for (const file of result.outputFiles) {
  writeFileSync(file.path, file.contents);
  writeFileSync(`${file.path}.gz`, gzipSync(file.contents, { level: constants.Z_BEST_COMPRESSION }));
  names.push(basename(file.path));
}
const script = names.find((n) => n.endsWith('.js'));
const style = names.find((n) => n.endsWith('.css'));
if (!script) throw new Error('esbuild produced no script');
const index = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Bridgehead console</title>
${style ? `<link rel="stylesheet" href="/console/assets/${style}">\n` : ''}<script type="module" src="/console/assets/${script}"></script>
</head>
<body>
<div id="app"></div>
<noscript>The Bridgehead console needs JavaScript.</noscript>
</body>
</html>
`;
writeFileSync(join(out, 'index.html'), index);
writeFileSync(join(out, 'index.html.gz'), gzipSync(index, { level: constants.Z_BEST_COMPRESSION }));
process.stdout.write(`console: ${names.join(', ')} -> ${out}\n`);

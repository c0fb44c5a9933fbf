import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import type { KeyAlg } from '../../adapters/crypto/key-pairs.js';
import { group, leaf, printer, run, UsageError } from '../context.js';
import { formatTable, type JsonObject } from '../output.js';

/** `bridgehead keys generate`: device key pairs in the files Google's guides name (rsa_private.pem, ec_public.pem). */

export function parseAlg(text: string): KeyAlg {
  const alg = text.toUpperCase();
  if (alg !== 'RS256' && alg !== 'ES256') throw new InvalidArgumentError('--alg must be RS256 or ES256.');
  return alg;
}

/** The files `keys generate` writes, by role. */
export function keyFileNames(outDir: string, name: string, certificate: boolean): { privateKey: string; publicKey: string; certificate?: string } {
  const files = { privateKey: join(outDir, `${name}_private.pem`), publicKey: join(outDir, `${name}_public.pem`) };
  return certificate ? { ...files, certificate: join(outDir, `${name}_cert.pem`) } : files;
}

function write(path: string, text: string, mode: number, force: boolean): void {
  writeFileSync(path, text, { mode, flag: force ? 'w' : 'wx' });
  chmodSync(path, mode); // an overwritten file keeps its old mode otherwise
}

export function registerKeys(program: Command): void {
  const keys = group(program, 'keys', 'device key pairs');

  leaf(keys, 'generate', 'generate a device key pair (and optionally a self-signed certificate)')
    .requiredOption('--alg <alg>', 'RS256 (RSA 2048) or ES256 (EC P-256)', parseAlg)
    .requiredOption('--out-dir <dir>', 'directory for the PEM files (created if missing)')
    .option('--name <name>', 'file name prefix (default rsa for RS256, ec for ES256)')
    .option('--certificate', 'also write NAME_cert.pem, a self-signed X.509 certificate (for rsa-x509-pem / es256-x509-pem)')
    .option('--common-name <cn>', 'certificate subject CN (default "unused", as in Google\'s guides)')
    .option('--force', 'overwrite existing files')
    .action(
      run(async (cmd) => {
        const out = printer(cmd);
        const o = cmd.opts<{ alg: KeyAlg; outDir: string; name?: string; certificate?: boolean; commonName?: string; force?: boolean }>();
        const name = o.name ?? (o.alg === 'RS256' ? 'rsa' : 'ec');
        if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new UsageError('--name may only hold letters, digits, ".", "_" and "-".');
        const files = keyFileNames(o.outDir, name, o.certificate === true);
        const existing = Object.values(files).filter((f) => existsSync(f));
        if (existing.length > 0 && o.force !== true) throw new Error(`refusing to overwrite ${existing.join(', ')} (use --force).`);

        // Lazily: @peculiar/x509 and its polyfills are a large share of the CLI's start-up otherwise.
        const { generateKeyPair } = await import('../../adapters/crypto/key-pairs.js');
        const pair = await generateKeyPair(o.alg, {
          certificate: o.certificate === true,
          ...(o.commonName === undefined ? {} : { commonName: o.commonName }),
        });
        mkdirSync(o.outDir, { recursive: true });
        write(files.privateKey, pair.privateKeyPem, 0o600, o.force === true);
        write(files.publicKey, pair.publicKeyPem, 0o644, o.force === true);
        if (files.certificate !== undefined && pair.certificatePem !== undefined) {
          write(files.certificate, pair.certificatePem, 0o644, o.force === true);
        }

        const doc: JsonObject = { alg: o.alg, ...files };
        const type = o.alg === 'RS256' ? 'rs256' : 'es256';
        const rows: JsonObject[] = [
          { file: files.privateKey, role: 'private key (keep on the device)' },
          { file: files.publicKey, role: `public key: --public-key path=${files.publicKey},type=${type}` },
        ];
        if (files.certificate !== undefined) {
          rows.push({ file: files.certificate, role: `certificate: --public-key path=${files.certificate},type=${type === 'rs256' ? 'rsa' : 'es256'}-x509-pem` });
        }
        out.value(formatTable(rows, [{ header: 'FILE', value: 'file' }, { header: 'USE', value: 'role' }]).trimEnd(), doc);
      }),
    );
}

import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext, type SecureContext, type TlsOptions } from 'node:tls';
import type { SniEntry } from '../../config/tls-sni.js';
import { createCertificateAuthority, issueTlsServerCertificate, LOCAL_SERVER_NAMES } from '../crypto/key-pairs.js';

export interface TlsMaterial {
  cert: string;
  key: string;
  /** The CA devices must trust, when Bridgehead made it. */
  caFile: string | undefined;
  /** Per-name certificates (`--tls-sni`), by lower-case host name (`*.domain` for wildcards). */
  sni: ReadonlyMap<string, { cert: string; key: string }>;
}

const MIN_TLS_VERSION = 'TLSv1.2';

/**
 * The certificate options of every TLS listener (MQTT and API): the default certificate, and an
 * SNICallback answering a ClientHello that names a `--tls-sni` host (exactly, or one label under a
 * `*.domain` entry) with that host's certificate; any other name, or none, gets the default.
 */
export function tlsServerOptions(material: TlsMaterial): Pick<TlsOptions, 'cert' | 'key' | 'minVersion' | 'SNICallback'> {
  const contexts = new Map<string, SecureContext>();
  for (const [host, { cert, key }] of material.sni) contexts.set(host, createSecureContext({ cert, key, minVersion: MIN_TLS_VERSION }));
  const base = { cert: material.cert, key: material.key, minVersion: MIN_TLS_VERSION } as const;
  if (contexts.size === 0) return base;
  return {
    ...base,
    SNICallback: (servername, done) => done(null, secureContextFor(contexts, servername)),
  };
}

/** The `--tls-sni` context for a ClientHello's server name; undefined: the listener's default certificate. */
export function secureContextFor<T>(contexts: ReadonlyMap<string, T>, servername: string): T | undefined {
  const name = servername.toLowerCase();
  const exact = contexts.get(name);
  if (exact !== undefined) return exact;
  const dot = name.indexOf('.');
  return dot > 0 ? contexts.get(`*${name.slice(dot)}`) : undefined;
}

/**
 * The MQTT bridge's TLS certificate: the operator's (`--tls-cert`/`--tls-key`) or, by default, a
 * local CA and server certificate generated into `<dataDir>/tls` on first start and reissued
 * when asked for names it does not cover; plus the `--tls-sni` certificates (checked by the config).
 */
export async function ensureTlsMaterial(
  dataDir: string,
  opts: { certFile?: string; keyFile?: string; hostnames: readonly string[]; sni?: readonly SniEntry[] },
): Promise<TlsMaterial> {
  const sni = new Map((opts.sni ?? []).map((e) => [e.host, { cert: readFileSync(e.certFile, 'utf8'), key: readFileSync(e.keyFile, 'utf8') }] as const));
  return { ...(await defaultCertificate(dataDir, opts)), sni };
}

async function defaultCertificate(dataDir: string, opts: { certFile?: string; keyFile?: string; hostnames: readonly string[] }): Promise<Omit<TlsMaterial, 'sni'>> {
  if (opts.certFile && opts.keyFile) {
    return { cert: readFileSync(opts.certFile, 'utf8'), key: readFileSync(opts.keyFile, 'utf8'), caFile: undefined };
  }
  const dir = join(dataDir, 'tls');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caFile = join(dir, 'ca.pem');
  const caKeyFile = join(dir, 'ca-key.pem');
  const certFile = join(dir, 'server.pem');
  const keyFile = join(dir, 'server-key.pem');
  let ca: { certificatePem: string; privateKeyPem: string };
  if (existsSync(caFile) && existsSync(caKeyFile)) {
    ca = { certificatePem: readFileSync(caFile, 'utf8'), privateKeyPem: readFileSync(caKeyFile, 'utf8') };
  } else {
    ca = await createCertificateAuthority({ subject: { commonName: 'Bridgehead local CA', organization: 'Bridgehead' } });
    writeFileSync(caKeyFile, ca.privateKeyPem, { mode: 0o600 });
    writeFileSync(caFile, ca.certificatePem, { mode: 0o644 });
  }
  const wanted = [...LOCAL_SERVER_NAMES, ...opts.hostnames];
  if (existsSync(certFile) && existsSync(keyFile) && covers(readFileSync(certFile, 'utf8'), wanted)) {
    return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), caFile };
  }
  const server = await issueTlsServerCertificate(ca, opts.hostnames);
  writeFileSync(keyFile, server.privateKeyPem, { mode: 0o600 });
  writeFileSync(certFile, server.certificatePem, { mode: 0o644 });
  return { cert: server.certificatePem, key: server.privateKeyPem, caFile };
}

function covers(pem: string, names: readonly string[]): boolean {
  try {
    const cert = new X509Certificate(pem);
    if (cert.validTo && Date.parse(cert.validTo) < Date.now() + 7 * 24 * 3600 * 1000) return false;
    return names.every((n) => (n.includes(':') || /^\d+\.\d+\.\d+\.\d+$/.test(n) ? cert.checkIP(n) !== undefined : cert.checkHost(n) !== undefined));
  } catch {
    return false;
  }
}

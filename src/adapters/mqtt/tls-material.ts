import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext, type SecureContext, type Server as TlsServer, type TlsOptions } from 'node:tls';
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
 * What a reload changes in place for every listener built from one TlsMaterial: the servers whose
 * default certificate it swaps (setSecureContext), and the `--tls-sni` contexts their SNICallbacks
 * read at each handshake.
 */
interface LiveCertificates {
  servers: Set<TlsServer>;
  sniContexts: Map<string, SecureContext>;
}

const live = new WeakMap<TlsMaterial, LiveCertificates>();

function sniContexts(material: TlsMaterial): Map<string, SecureContext> {
  const contexts = new Map<string, SecureContext>();
  for (const [host, { cert, key }] of material.sni) contexts.set(host, createSecureContext({ cert, key, minVersion: MIN_TLS_VERSION }));
  return contexts;
}

function liveCertificates(material: TlsMaterial): LiveCertificates {
  let state = live.get(material);
  if (!state) {
    state = { servers: new Set(), sniContexts: sniContexts(material) };
    live.set(material, state);
  }
  return state;
}

/**
 * The certificate options of every TLS listener (MQTT and API): the default certificate, and an
 * SNICallback answering a ClientHello that names a `--tls-sni` host (exactly, or one label under a
 * `*.domain` entry) with that host's certificate; any other name, or none, gets the default.
 * A listener passes its server to followCertificates so that reloadTlsMaterial reaches it.
 */
export function tlsServerOptions(material: TlsMaterial): Pick<TlsOptions, 'cert' | 'key' | 'minVersion' | 'SNICallback'> {
  const state = liveCertificates(material);
  const base = { cert: material.cert, key: material.key, minVersion: MIN_TLS_VERSION } as const;
  if (state.sniContexts.size === 0) return base;
  return {
    ...base,
    SNICallback: (servername, done) => done(null, secureContextFor(state.sniContexts, servername)),
  };
}

/** Registers a TLS server built with tlsServerOptions(material): a reload swaps its certificate. */
export function followCertificates(material: TlsMaterial, server: TlsServer): void {
  const state = liveCertificates(material);
  state.servers.add(server);
  server.once('close', () => state.servers.delete(server));
}

/**
 * SIGHUP: `next` (read from disk again) replaces the certificates of `material` in every server that
 * follows it. New handshakes get the new certificates; established connections keep theirs. Every
 * context is built before anything changes, so a bad certificate or a key that does not match
 * throws and leaves the old certificates in place.
 */
export function reloadTlsMaterial(material: TlsMaterial, next: TlsMaterial): void {
  if (next.sni.size !== material.sni.size || [...material.sni.keys()].some((h) => !next.sni.has(h))) {
    throw new Error('the --tls-sni host names differ from the running ones; a restart changes them');
  }
  createSecureContext({ cert: next.cert, key: next.key, minVersion: MIN_TLS_VERSION });
  const contexts = sniContexts(next);
  const state = liveCertificates(material);
  material.cert = next.cert;
  material.key = next.key;
  material.caFile = next.caFile;
  material.sni = next.sni;
  state.sniContexts = contexts;
  for (const server of state.servers) server.setSecureContext({ cert: next.cert, key: next.key, minVersion: MIN_TLS_VERSION });
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

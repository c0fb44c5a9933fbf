import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCertificateAuthority, issueTlsServerCertificate, LOCAL_SERVER_NAMES } from '../crypto/key-pairs.js';

export interface TlsMaterial {
  cert: string;
  key: string;
  /** The CA devices must trust, when Bridgehead made it. */
  caFile: string | undefined;
}

/**
 * The MQTT bridge's TLS certificate: the operator's (`--tls-cert`/`--tls-key`) or, by default, a
 * local CA and server certificate generated into `<dataDir>/tls` on first start and reissued
 * when asked for names it does not cover.
 */
export async function ensureTlsMaterial(dataDir: string, opts: { certFile?: string; keyFile?: string; hostnames: readonly string[] }): Promise<TlsMaterial> {
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

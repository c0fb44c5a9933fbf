import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';

const FIX = 'give readable PEM files: --tls-cert the certificate (chain first), --tls-key its private key';

/**
 * Checks `--tls-cert`/`--tls-key` the way a TLS listener will use them: both readable, a PEM
 * certificate, a PEM private key, the key the certificate's. Problems go into `problems`.
 */
export function checkTlsFiles(certFile: string, keyFile: string, problems: string[]): void {
  const read = (file: string, setting: string): string | undefined => {
    try {
      return readFileSync(file, 'utf8');
    } catch (e) {
      problems.push(`${setting} ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); ${FIX}`);
      return undefined;
    }
  };
  const certPem = read(certFile, 'tlsCert');
  const keyPem = read(keyFile, 'tlsKey');
  if (certPem === undefined || keyPem === undefined) return;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (e) {
    problems.push(`tlsCert ${certFile}: not a PEM certificate (${(e as Error).message}); ${FIX}`);
    return;
  }
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (e) {
    problems.push(`tlsKey ${keyFile}: not a PEM private key (${(e as Error).message}); ${FIX}`);
    return;
  }
  if (!cert.checkPrivateKey(key)) problems.push(`tlsKey ${keyFile}: does not match the certificate ${certFile}; give the key the certificate was issued for`);
}

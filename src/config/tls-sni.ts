import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** One `--tls-sni HOST=CERTFILE,KEYFILE`: the certificate a TLS client naming HOST (by SNI) gets. */
export interface SniEntry {
  /** A DNS name, or `*.example.com` for one label under example.com. */
  host: string;
  certFile: string;
  keyFile: string;
}

const FIX = 'give HOST=CERTFILE,KEYFILE with a readable PEM certificate naming HOST and its private key';

/** DNS labels of letters, digits and hyphens; an optional leading `*.` (and then at least two labels). */
const HOST = /^(?:\*\.(?=[^.]+\.[^.]))?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/**
 * The entries of `tlsSni` from a config file (array of strings or {host, certFile, keyFile}), the
 * environment (`a=c.pem,k.pem;b=c2.pem,k2.pem`; commas between entries work too, as an entry
 * starts at the token with `=`) or repeated flags. File paths may not contain `,`, `;` or `=`.
 */
function tokens(value: unknown): unknown[] {
  if (value === undefined || value === '') return [];
  const items = Array.isArray(value) ? value : [value];
  const out: unknown[] = [];
  for (const item of items) {
    if (typeof item !== 'string') {
      out.push(item);
      continue;
    }
    let current: string | undefined;
    for (const t of item.split(/[;,]/).map((s) => s.trim()).filter((s) => s !== '')) {
      if (t.includes('=') || current === undefined) {
        if (current !== undefined) out.push(current);
        current = t;
      } else {
        // CERT's KEY, or a stray third token, which the shape check then reports with its entry.
        current = `${current},${t}`;
      }
    }
    if (current !== undefined) out.push(current);
  }
  return out;
}

function shape(value: unknown, name: string, problems: string[]): SniEntry | undefined {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const { host, certFile, keyFile } = value as Record<string, unknown>;
    if (typeof host === 'string' && typeof certFile === 'string' && typeof keyFile === 'string' && HOST.test(host) && certFile !== '' && keyFile !== '') {
      return { host: host.toLowerCase(), certFile, keyFile };
    }
    problems.push(`${name}: expected {"host": DNS name, "certFile": path, "keyFile": path}, got ${JSON.stringify(value)}; ${FIX}`);
    return undefined;
  }
  const m = typeof value === 'string' ? /^([^=]*)=([^,]+),([^,]+)$/.exec(value) : null;
  if (!m) {
    problems.push(`${name}: expected HOST=CERTFILE,KEYFILE, got ${JSON.stringify(value)}; ${FIX}`);
    return undefined;
  }
  const host = m[1]!.trim();
  if (!HOST.test(host)) {
    problems.push(`${name}: ${JSON.stringify(host)} in ${JSON.stringify(value)} is not a DNS host name (or *.domain); ${FIX}`);
    return undefined;
  }
  return { host: host.toLowerCase(), certFile: m[2]!, keyFile: m[3]! };
}

function readPem(file: string, what: string, name: string, value: string, problems: string[]): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    problems.push(`${name}: cannot read ${what} ${file} of ${JSON.stringify(value)} (${(e as Error).message}); ${FIX}`);
    return undefined;
  }
}

/** Whether `cert` is good for `host`; a wildcard host needs a certificate good for any name it stands for. */
export function certificateNames(cert: X509Certificate, host: string): boolean {
  const probe = host.startsWith('*.') ? `sni-probe.${host.slice(2)}` : host;
  return cert.checkHost(probe) !== undefined;
}

/**
 * Parses and checks `tlsSni`: host shape, both files readable, key matching the certificate, the
 * certificate naming the host, no host twice. Problems go into `problems` (the config's list).
 */
export function parseTlsSni(value: unknown, problems: string[]): SniEntry[] {
  const entries: SniEntry[] = [];
  tokens(value).forEach((raw, i) => {
    const name = `tlsSni[${i}]`;
    const entry = shape(raw, name, problems);
    if (!entry) return;
    const shown = typeof raw === 'string' ? raw : `${entry.host}=${entry.certFile},${entry.keyFile}`;
    if (entries.some((e) => e.host === entry.host)) {
      problems.push(`${name}: ${entry.host} is given twice; give one certificate per host name`);
      return;
    }
    const certPem = readPem(entry.certFile, 'certificate', name, shown, problems);
    const keyPem = readPem(entry.keyFile, 'private key', name, shown, problems);
    if (certPem === undefined || keyPem === undefined) return;
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(certPem);
    } catch (e) {
      problems.push(`${name}: ${entry.certFile} is not a PEM certificate (${(e as Error).message}); ${FIX}`);
      return;
    }
    try {
      if (!cert.checkPrivateKey(createPrivateKey(keyPem))) {
        problems.push(`${name}: the private key ${entry.keyFile} does not match the certificate ${entry.certFile}; give the key the certificate was issued for`);
        return;
      }
    } catch (e) {
      problems.push(`${name}: ${entry.keyFile} is not a PEM private key (${(e as Error).message}); ${FIX}`);
      return;
    }
    if (!certificateNames(cert, entry.host)) {
      problems.push(
        `${name}: the certificate ${entry.certFile} does not name ${entry.host} (subject ${JSON.stringify(cert.subject.replace(/\n/g, ', '))}, SANs ${JSON.stringify(cert.subjectAltName ?? 'none')}); give a certificate whose SANs include ${entry.host}`,
      );
      return;
    }
    entries.push(entry);
  });
  return entries;
}

// @peculiar/x509 resolves its algorithm providers through tsyringe, which needs the Reflect
// metadata polyfill loaded first; ES modules evaluate imports in order, so this line must stay first.
import 'reflect-metadata';
import { LruCache } from '../../domain/lru-cache.js';
import * as x509 from '@peculiar/x509';
import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { ApiError } from '../../domain/errors.js';
import { PUBLIC_KEY_FORMATS, type PublicKeyFormat, type X509Details } from '../../domain/model.js';
import type { KeyInspector } from '../../services/ports.js';

export type DeviceJwtAlg = 'RS256' | 'ES256';

/** Shared from the cache: treat as immutable. */
export interface DeviceVerificationKey {
  readonly alg: DeviceJwtAlg;
  /** A public key, ready for JWT signature verification. */
  readonly key: KeyObject;
}

/** Far above any real key or certificate; keeps a hostile request from feeding OpenSSL megabytes. */
const MAX_PEM_CHARS = 64 * 1024;
const CACHE_ENTRIES = 1000;

interface FormatRule {
  labels: readonly string[];
  alg: DeviceJwtAlg;
  certificate: boolean;
}

const FORMAT_RULES: Readonly<Record<PublicKeyFormat, FormatRule>> = {
  // PKCS#1 `RSA PUBLIC KEY` is not what the spec names, but older device tooling emits it and the
  // key is the same, so refusing it would only push users to re-encode.
  RSA_PEM: { labels: ['PUBLIC KEY', 'RSA PUBLIC KEY'], alg: 'RS256', certificate: false },
  ES256_PEM: { labels: ['PUBLIC KEY'], alg: 'ES256', certificate: false },
  RSA_X509_PEM: { labels: ['CERTIFICATE'], alg: 'RS256', certificate: true },
  ES256_X509_PEM: { labels: ['CERTIFICATE'], alg: 'ES256', certificate: true },
};

// Module-wide so the REST services and the MQTT bridge share one cache. Only successes are
// cached: errors name the caller's field, and stored credentials were validated on the way in.
const deviceKeyCache = new LruCache<DeviceVerificationKey>(CACHE_ENTRIES);
const certificateCache = new LruCache<ParsedCertificate>(CACHE_ENTRIES);
const detailsCache = new LruCache<Readonly<X509Details>>(CACHE_ENTRIES);

interface ParsedCertificate {
  node: X509Certificate;
  notBefore: number;
  notAfter: number;
}

/**
 * The public key a device credential verifies JWTs with, and the algorithm it verifies.
 * Throws INVALID_ARGUMENT naming `field` when the PEM does not parse or does not match `format`.
 */
export function parseDeviceVerificationKey(
  format: PublicKeyFormat,
  pem: string,
  field = 'public_key.key',
): DeviceVerificationKey {
  const cacheKey = `${format}\n${pem}`;
  const cached = deviceKeyCache.get(cacheKey);
  if (cached !== undefined) return cached;

  const rule = (PUBLIC_KEY_FORMATS as readonly string[]).includes(format) ? FORMAT_RULES[format] : undefined;
  if (rule === undefined) throw invalid(field, `unsupported public key format ${String(format)}`);
  const block = singlePemBlock(pem, field, rule.labels, `${format} ${rule.certificate ? 'certificate' : 'key'}`);
  let key: KeyObject;
  try {
    key = rule.certificate ? new X509Certificate(block.text).publicKey : createPublicKey({ key: block.text, format: 'pem' });
  } catch (e) {
    const what = rule.certificate ? 'X.509 certificate' : 'public key';
    throw invalid(field, `${format} ${what} could not be parsed: ${reason(e)}`, e);
  }
  requireKeyFor(rule.alg, key, field, format);
  const result: DeviceVerificationKey = { alg: rule.alg, key };
  deviceKeyCache.set(cacheKey, result);
  return result;
}

export class NodeKeyInspector implements KeyInspector {
  checkDeviceKey(format: PublicKeyFormat, pem: string, field: string): void {
    parseDeviceVerificationKey(format, pem, field);
  }

  /**
   * X509Details formats (our answer to spec U20):
   * - issuer/subject: RFC 4514 — RDNs most-specific first ("CN=my-ca,O=Acme,C=US"), comma-joined
   *   without spaces, multi-valued RDNs joined by '+', special characters backslash-escaped;
   *   attribute names as @peculiar/x509 abbreviates them (CN, O, OU, C, L, ST, DC, E, ...).
   * - signatureAlgorithm: Go crypto/x509 names ("SHA256-RSA", "SHA256-RSAPSS", "ECDSA-SHA256").
   * - publicKeyType: "RSA" or "EC" (nothing else passes the §4.4 key check).
   */
  inspectCertificate(pem: string, field: string): X509Details {
    const cached = detailsCache.get(pem);
    if (cached !== undefined) return { ...cached };
    const parsed = parseCertificateOrThrow(pem, field);
    const key = parsed.node.publicKey;
    const keyDetails = key.asymmetricKeyDetails;
    let publicKeyType: 'RSA' | 'EC';
    if (key.asymmetricKeyType === 'rsa' && (keyDetails?.modulusLength ?? 0) >= 2048) {
      publicKeyType = 'RSA';
    } else if (key.asymmetricKeyType === 'ec' && keyDetails?.namedCurve === 'prime256v1') {
      publicKeyType = 'EC';
    } else {
      throw invalid(
        field,
        `registry certificate must hold an RSA key of at least 2048 bits or an EC P-256 key; it holds ${describeKey(key)}`,
      );
    }
    let peculiar: x509.X509Certificate;
    try {
      peculiar = new x509.X509Certificate(parsed.node.raw);
    } catch (e) {
      throw invalid(field, `X.509 certificate could not be parsed: ${reason(e)}`, e);
    }
    const details: X509Details = {
      issuer: rfc4514(peculiar.issuerName),
      subject: rfc4514(peculiar.subjectName),
      startTime: parsed.notBefore,
      expiryTime: parsed.notAfter,
      signatureAlgorithm: signatureAlgorithmName(peculiar),
      publicKeyType,
    };
    detailsCache.set(pem, details);
    return { ...details };
  }

  isSignedBy(devicePem: string, caPem: string, at: number): boolean {
    const device = parseCertificate(devicePem);
    const ca = parseCertificate(caPem);
    if (device === undefined || ca === undefined) return false;
    if (at < ca.notBefore || at > ca.notAfter) return false;
    try {
      return device.node.checkIssued(ca.node) && device.node.verify(ca.node.publicKey);
    } catch {
      // OpenSSL throws rather than answering false for some key/signature combinations.
      return false;
    }
  }
}

function parseCertificate(pem: string): ParsedCertificate | undefined {
  try {
    return parseCertificateOrThrow(pem, 'certificate');
  } catch {
    return undefined;
  }
}

function parseCertificateOrThrow(pem: string, field: string): ParsedCertificate {
  const cached = certificateCache.get(pem);
  if (cached !== undefined) return cached;
  const block = singlePemBlock(pem, field, ['CERTIFICATE'], 'X509_CERTIFICATE_PEM certificate');
  let node: X509Certificate;
  try {
    node = new X509Certificate(block.text);
  } catch (e) {
    throw invalid(field, `X.509 certificate could not be parsed: ${reason(e)}`, e);
  }
  // Node 20's validFrom/validTo are display strings ("Jan  1 00:00:00 2024 GMT"); V8 parses
  // that shape, and it only ever has second precision anyway.
  const notBefore = Date.parse(node.validFrom);
  const notAfter = Date.parse(node.validTo);
  if (Number.isNaN(notBefore) || Number.isNaN(notAfter)) {
    throw invalid(field, `X.509 certificate has an unreadable validity period`);
  }
  const parsed: ParsedCertificate = { node, notBefore, notAfter };
  certificateCache.set(pem, parsed);
  return parsed;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;

/**
 * Exactly one PEM block with an expected label. Text outside the block is tolerated (RFC 7468
 * explanatory text, e.g. `openssl x509 -text` output); a second block is not, because node would
 * silently read only the first and the user would never learn the rest was ignored.
 */
function singlePemBlock(
  pem: unknown,
  field: string,
  labels: readonly string[],
  what: string,
): { label: string; text: string } {
  if (typeof pem !== 'string' || pem.trim() === '') throw invalid(field, `${what} is empty`);
  if (pem.length > MAX_PEM_CHARS) throw invalid(field, `${what} is longer than ${MAX_PEM_CHARS} characters`);
  const blocks = [...pem.matchAll(PEM_BLOCK)];
  const first = blocks[0];
  if (first === undefined) throw invalid(field, `${what} is not PEM: expected -----BEGIN ${labels[0]}-----`);
  if (blocks.length > 1) throw invalid(field, `${what} holds ${blocks.length} PEM blocks; expected exactly one`);
  const label = first[1] ?? '';
  if (label !== first[3]) throw invalid(field, `${what} has mismatched PEM BEGIN/END labels`);
  if (!labels.includes(label)) {
    const hint = label.includes('PRIVATE') ? ' (this is a private key: register the public key only)' : '';
    throw invalid(field, `${what} must be ${labels.map((l) => `"${l}"`).join(' or ')} PEM, got "${label}"${hint}`);
  }
  return { label, text: first[0] };
}

function requireKeyFor(alg: DeviceJwtAlg, key: KeyObject, field: string, format: string): void {
  if (alg === 'RS256') {
    // Keys under 2048 bits are accepted on purpose: fleets provisioned years ago still carry
    // them and Cloud IoT took them; the 2048-bit floor of §4.4 applies to registry CAs only.
    if (key.asymmetricKeyType !== 'rsa') throw invalid(field, `${format} requires an RSA key, got ${describeKey(key)}`);
    return;
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw invalid(field, `${format} requires an EC P-256 (prime256v1) key, got ${describeKey(key)}`);
  }
}

function describeKey(key: KeyObject): string {
  const type = key.asymmetricKeyType ?? 'unknown';
  const details = key.asymmetricKeyDetails;
  if (type === 'rsa' || type === 'rsa-pss') return `an ${type.toUpperCase()} ${details?.modulusLength ?? '?'}-bit key`;
  if (type === 'ec') return `an EC key on curve ${details?.namedCurve ?? 'unknown'}`;
  return `an ${type} key`;
}

const RFC4514_SPECIAL = /[,+"\\<>;=]/g;

function escapeValue(value: string): string {
  let out = value.replace(RFC4514_SPECIAL, (c) => `\\${c}`).replace(/\0/g, '\\00');
  if (out.startsWith('#') || out.startsWith(' ')) out = `\\${out}`;
  if (out.endsWith(' ') && out.length > 1) out = `${out.slice(0, -1)}\\ `;
  return out;
}

/** RFC 4514 orders RDNs last-encoded first, the reverse of the DER sequence. */
function rfc4514(name: x509.Name): string {
  return name
    .toJSON()
    .map((rdn) =>
      Object.entries(rdn)
        .flatMap(([type, values]) => values.map((v) => `${type}=${escapeValue(v)}`))
        .join('+'),
    )
    .reverse()
    .join(',');
}

const HASH_NAMES: Readonly<Record<string, string>> = {
  'SHA-1': 'SHA1',
  'SHA-256': 'SHA256',
  'SHA-384': 'SHA384',
  'SHA-512': 'SHA512',
};

/** Go crypto/x509 SignatureAlgorithm.String() spellings; an unrecognised algorithm shows its OID. */
function signatureAlgorithmName(cert: x509.X509Certificate): string {
  let alg: unknown;
  try {
    alg = cert.signatureAlgorithm;
  } catch {
    return 'UNKNOWN';
  }
  // The library types this as WebCrypto's Algorithm, which this DOM-less build cannot see.
  const name = stringProp(alg, 'name') ?? 'UNKNOWN';
  const hashProp: unknown = typeof alg === 'object' && alg !== null ? (alg as { hash?: unknown }).hash : undefined;
  const hashName = typeof hashProp === 'string' ? hashProp : stringProp(hashProp, 'name');
  const hash = hashName === undefined ? undefined : HASH_NAMES[hashName];
  switch (name) {
    case 'RSASSA-PKCS1-v1_5':
      return hash === undefined ? 'RSA' : `${hash}-RSA`;
    case 'RSA-PSS':
      return hash === undefined ? 'RSAPSS' : `${hash}-RSAPSS`;
    case 'ECDSA':
      return hash === undefined ? 'ECDSA' : `ECDSA-${hash}`;
    default:
      return name;
  }
}

function stringProp(value: unknown, prop: string): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v: unknown = (value as Record<string, unknown>)[prop];
  return typeof v === 'string' ? v : undefined;
}

function invalid(field: string, problem: string, cause?: unknown): ApiError {
  return new ApiError('INVALID_ARGUMENT', `Invalid ${field}: ${problem}`, { field, cause });
}

function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

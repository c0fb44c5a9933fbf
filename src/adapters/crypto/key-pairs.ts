// @peculiar/x509 resolves its algorithm providers through tsyringe, which needs the Reflect
// metadata polyfill loaded first; ES modules evaluate imports in order, so this line must stay first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPrivateKey, createPublicKey, KeyObject, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';

// Node 20 has no KeyObject.toCryptoKey and @peculiar/x509 signs through WebCrypto only.
x509.cryptoProvider.set(webcrypto);

export type KeyAlg = 'RS256' | 'ES256';

export interface GeneratedKeyPair {
  /** PKCS#8 (`-----BEGIN PRIVATE KEY-----`). */
  privateKeyPem: string;
  /** SPKI (`-----BEGIN PUBLIC KEY-----`): what `RSA_PEM` / `ES256_PEM` credentials hold. */
  publicKeyPem: string;
  /** Self-signed X.509 wrapping the public key, when asked for. */
  certificatePem?: string;
}

export interface CertifiedKeyPair {
  privateKeyPem: string;
  publicKeyPem: string;
  certificatePem: string;
}

/** Who signs a certificate: a CA's private key and certificate (any PEM node reads). */
export interface CertificateSigner {
  privateKeyPem: string;
  /** Absent: self-signed, so `privateKeyPem` must belong to the certified public key. */
  certificatePem?: string;
}

export interface DistinguishedName {
  commonName: string;
  organization?: string;
  organizationalUnit?: string;
  country?: string;
}

export interface CertificateParams {
  subject: DistinguishedName;
  /** Default: one minute ago, so a peer whose clock lags slightly still accepts it. */
  notBefore?: Date;
  /** Default: notBefore + 10 years for a CA, + 1 year otherwise. */
  notAfter?: Date;
  /** Hex; random when absent. */
  serialNumber?: string;
  /** basicConstraints CA:TRUE (critical) and keyCertSign/cRLSign. */
  isCa?: boolean;
  /** Subject alternative names; each entry is classified as an IP address or a DNS name. */
  altNames?: readonly string[];
  extendedKeyUsages?: readonly ('serverAuth' | 'clientAuth')[];
}

const DAY_MS = 86_400_000;
const SKEW_MS = 60_000;

// RS256 / ES256 are the only JWT algorithms Cloud IoT verifies (spec §4.1), so the same two key
// shapes serve for device keys, CAs and the bridge's TLS certificates.
const RSA_ALG: webcrypto.RsaHashedKeyGenParams = {
  name: 'RSASSA-PKCS1-v1_5',
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: 'SHA-256',
};
const EC_ALG: webcrypto.EcKeyGenParams & webcrypto.EcdsaParams = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

/** Generates an RSA-2048 or EC P-256 key pair, optionally with a self-signed certificate. */
export async function generateKeyPair(
  alg: KeyAlg,
  opts: { certificate?: boolean; commonName?: string } = {},
): Promise<GeneratedKeyPair> {
  const pair = await webcrypto.subtle.generateKey(alg === 'RS256' ? RSA_ALG : EC_ALG, true, ['sign', 'verify']);
  const privateKeyPem = exportPem(pair.privateKey, 'pkcs8');
  const publicKeyPem = exportPem(pair.publicKey, 'spki');
  if (opts.certificate !== true) return { privateKeyPem, publicKeyPem };
  // 'unused' mirrors Google's documented `openssl req -x509 ... -subj "/CN=unused"` device certs.
  const certificatePem = await issueCertificate(
    publicKeyPem,
    { subject: { commonName: opts.commonName ?? 'unused' } },
    { privateKeyPem },
  );
  return { privateKeyPem, publicKeyPem, certificatePem };
}

/**
 * Certifies `publicKeyPem` (SPKI, or anything node's createPublicKey reads) with `signer`.
 * RSA signers sign SHA256-RSA, P-256 signers ECDSA-SHA256. Returns the certificate PEM.
 */
export async function issueCertificate(
  publicKeyPem: string,
  params: CertificateParams,
  signer: CertificateSigner,
): Promise<string> {
  const signingKeyObject = createPrivateKey(signer.privateKeyPem);
  const signAlg = signingAlgorithmOf(signingKeyObject);
  const signingKey = await webcrypto.subtle.importKey(
    'pkcs8',
    signingKeyObject.export({ type: 'pkcs8', format: 'der' }),
    signAlg,
    false,
    ['sign'],
  );
  const subjectKeyObject = createPublicKey(publicKeyPem);
  const publicKey = await webcrypto.subtle.importKey(
    'spki',
    subjectKeyObject.export({ type: 'spki', format: 'der' }),
    publicKeyAlgorithmOf(subjectKeyObject),
    true,
    ['verify'],
  );
  const issuerCert = signer.certificatePem === undefined ? undefined : new x509.X509Certificate(signer.certificatePem);
  const subjectName = toName(params.subject);

  const notBefore = params.notBefore ?? new Date(Date.now() - SKEW_MS);
  const validityDays = params.isCa === true ? 3650 : 365;
  const notAfter = params.notAfter ?? new Date(notBefore.getTime() + validityDays * DAY_MS);

  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(params.isCa === true, undefined, true),
    new x509.KeyUsagesExtension(keyUsages(params.isCa === true, subjectKeyObject), true),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
  ];
  // OpenSSL matches the authority key identifier against the issuer's subject key identifier, so
  // copy the CA's own SKID (a CA made elsewhere may not use the SHA-1 method) when it has one.
  const issuerKeyId = issuerCert?.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  extensions.push(
    issuerKeyId === undefined
      ? await x509.AuthorityKeyIdentifierExtension.create(issuerCert?.publicKey ?? publicKey)
      : new x509.AuthorityKeyIdentifierExtension(issuerKeyId),
  );
  if (params.extendedKeyUsages !== undefined && params.extendedKeyUsages.length > 0) {
    extensions.push(new x509.ExtendedKeyUsageExtension(params.extendedKeyUsages.map((u) => x509.ExtendedKeyUsage[u])));
  }
  if (params.altNames !== undefined && params.altNames.length > 0) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(
        params.altNames.map((n) => ({ type: isIP(n) === 0 ? ('dns' as const) : ('ip' as const), value: n })),
      ),
    );
  }

  const cert = await x509.X509CertificateGenerator.create({
    subject: subjectName,
    issuer: issuerCert?.subjectName ?? subjectName,
    publicKey,
    signingKey,
    signingAlgorithm: signAlg,
    notBefore,
    notAfter,
    extensions,
    ...(params.serialNumber === undefined ? {} : { serialNumber: params.serialNumber }),
  });
  return cert.toString('pem') + '\n';
}

/** A self-signed CA (CA:TRUE) with a fresh key. */
export async function createCertificateAuthority(
  opts: { alg?: KeyAlg; subject?: DistinguishedName; notBefore?: Date; notAfter?: Date } = {},
): Promise<CertifiedKeyPair> {
  const keys = await generateKeyPair(opts.alg ?? 'ES256');
  const certificatePem = await issueCertificate(
    keys.publicKeyPem,
    {
      subject: opts.subject ?? { commonName: 'Bridgehead CA' },
      isCa: true,
      ...validity(opts),
    },
    { privateKeyPem: keys.privateKeyPem },
  );
  return { privateKeyPem: keys.privateKeyPem, publicKeyPem: keys.publicKeyPem, certificatePem };
}

/** A fresh key certified by `ca` (a device certificate, or a TLS certificate when given altNames). */
export async function issueLeafCertificate(
  ca: Required<CertificateSigner>,
  opts: Omit<CertificateParams, 'isCa'> & { alg?: KeyAlg },
): Promise<CertifiedKeyPair> {
  const keys = await generateKeyPair(opts.alg ?? 'ES256');
  const { alg: _alg, ...params } = opts;
  const certificatePem = await issueCertificate(keys.publicKeyPem, params, ca);
  return { privateKeyPem: keys.privateKeyPem, publicKeyPem: keys.publicKeyPem, certificatePem };
}

/** Names every local client can reach the bridge by; the TLS server certificate always covers them. */
export const LOCAL_SERVER_NAMES: readonly string[] = ['localhost', '127.0.0.1', '::1'];

/** A TLS server certificate for the bridges, valid for LOCAL_SERVER_NAMES plus `extraNames`. */
export async function issueTlsServerCertificate(
  ca: Required<CertificateSigner>,
  extraNames: readonly string[] = [],
  opts: { alg?: KeyAlg; commonName?: string; notBefore?: Date; notAfter?: Date } = {},
): Promise<CertifiedKeyPair> {
  const altNames = [...new Set([...LOCAL_SERVER_NAMES, ...extraNames])];
  return issueLeafCertificate(ca, {
    alg: opts.alg ?? 'ES256',
    subject: { commonName: opts.commonName ?? extraNames[0] ?? 'localhost' },
    altNames,
    extendedKeyUsages: ['serverAuth'],
    ...validity(opts),
  });
}

function validity(opts: { notBefore?: Date; notAfter?: Date }): { notBefore?: Date; notAfter?: Date } {
  return {
    ...(opts.notBefore === undefined ? {} : { notBefore: opts.notBefore }),
    ...(opts.notAfter === undefined ? {} : { notAfter: opts.notAfter }),
  };
}

function exportPem(key: webcrypto.CryptoKey, type: 'pkcs8' | 'spki'): string {
  const keyObject = KeyObject.from(key);
  return keyObject.export({ type, format: 'pem' }).toString();
}

function signingAlgorithmOf(
  key: KeyObject,
): webcrypto.RsaHashedImportParams | (webcrypto.EcKeyImportParams & webcrypto.EcdsaParams) {
  if (key.asymmetricKeyType === 'rsa') return { name: RSA_ALG.name, hash: 'SHA-256' };
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return EC_ALG;
  throw new Error(`unsupported key for certificates: ${key.asymmetricKeyType ?? 'unknown'} (RSA or EC P-256 only)`);
}

const WEBCRYPTO_CURVES: Readonly<Record<string, string>> = {
  prime256v1: 'P-256',
  secp384r1: 'P-384',
  secp521r1: 'P-521',
};

// Certifying is wider than signing: tests need certificates around keys Cloud IoT refuses
// (P-384, short RSA) to prove that the inspector refuses them.
function publicKeyAlgorithmOf(key: KeyObject): webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams {
  if (key.asymmetricKeyType === 'rsa') return { name: RSA_ALG.name, hash: 'SHA-256' };
  const curve = WEBCRYPTO_CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
  if (key.asymmetricKeyType === 'ec' && curve !== undefined) return { name: 'ECDSA', namedCurve: curve };
  throw new Error(`unsupported key to certify: ${key.asymmetricKeyType ?? 'unknown'} (RSA or NIST EC only)`);
}

function keyUsages(isCa: boolean, subjectKey: KeyObject): x509.KeyUsageFlags {
  const { digitalSignature, keyEncipherment, keyCertSign, cRLSign } = x509.KeyUsageFlags;
  if (isCa) return digitalSignature | keyCertSign | cRLSign;
  // TLS 1.2 RSA key exchange needs keyEncipherment on an RSA server key.
  return subjectKey.asymmetricKeyType === 'rsa' ? digitalSignature | keyEncipherment : digitalSignature;
}

/** Most significant first (C, O, OU, CN), as `openssl req -subj` writes it, so RFC 4514 reads "CN=...,O=...". */
function toName(dn: DistinguishedName): x509.Name {
  // Typed values: the library reads a plain string starting with '#' as hex-encoded DER.
  const value = (v: string): x509.JsonAttributeObject =>
    x509.Name.isPrintableString(v) ? { printableString: v } : { utf8String: v };
  const rdns: x509.JsonNameParams = [];
  if (dn.country !== undefined) rdns.push({ C: [value(dn.country)] });
  if (dn.organization !== undefined) rdns.push({ O: [value(dn.organization)] });
  if (dn.organizationalUnit !== undefined) rdns.push({ OU: [value(dn.organizationalUnit)] });
  rdns.push({ CN: [value(dn.commonName)] });
  return new x509.Name(rdns);
}

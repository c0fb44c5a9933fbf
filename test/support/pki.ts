import {
  createCertificateAuthority,
  generateKeyPair,
  issueCertificate,
  type CertifiedKeyPair,
  type DistinguishedName,
  type GeneratedKeyPair,
  type KeyAlg,
} from '../../src/adapters/crypto/key-pairs.js';

export type { KeyAlg };

export interface DeviceKeys extends CertifiedKeyPair {
  alg: KeyAlg;
  /** The PublicKeyFormat values that register this key: raw SPKI and the certificate. */
  rawFormat: 'RSA_PEM' | 'ES256_PEM';
  certFormat: 'RSA_X509_PEM' | 'ES256_X509_PEM';
}

export interface TestCa extends CertifiedKeyPair {
  alg: KeyAlg;
}

// RSA-2048 generation costs ~100-300 ms; tests that do not care which RSA key they get share
// one per process. EC P-256 is a few milliseconds, so every EC key is fresh.
let sharedRsa: Promise<GeneratedKeyPair> | undefined;

async function keyPair(alg: KeyAlg, fresh: boolean): Promise<GeneratedKeyPair> {
  if (alg === 'ES256' || fresh) return generateKeyPair(alg);
  sharedRsa ??= generateKeyPair('RS256');
  return sharedRsa;
}

function formats(alg: KeyAlg): Pick<DeviceKeys, 'rawFormat' | 'certFormat'> {
  return alg === 'RS256'
    ? { rawFormat: 'RSA_PEM', certFormat: 'RSA_X509_PEM' }
    : { rawFormat: 'ES256_PEM', certFormat: 'ES256_X509_PEM' };
}

/**
 * A device key pair with a self-signed certificate (what a device without a registry CA uses).
 * `fresh: true` forces a distinct RSA key, e.g. for "wrong key" tests.
 */
export async function makeDeviceKeys(
  alg: KeyAlg = 'ES256',
  opts: { fresh?: boolean; commonName?: string } = {},
): Promise<DeviceKeys> {
  const keys = await keyPair(alg, opts.fresh === true);
  const certificatePem = await issueCertificate(
    keys.publicKeyPem,
    { subject: { commonName: opts.commonName ?? 'unused' } },
    { privateKeyPem: keys.privateKeyPem },
  );
  return { alg, ...formats(alg), privateKeyPem: keys.privateKeyPem, publicKeyPem: keys.publicKeyPem, certificatePem };
}

/** A self-signed registry CA; EC P-256 unless asked otherwise. */
export async function makeCa(
  opts: { alg?: KeyAlg; subject?: DistinguishedName; notBefore?: Date; notAfter?: Date } = {},
): Promise<TestCa> {
  const alg = opts.alg ?? 'ES256';
  const ca = await createCertificateAuthority({
    alg,
    subject: opts.subject ?? { commonName: 'test-ca', organization: 'Bridgehead Tests' },
    ...(opts.notBefore === undefined ? {} : { notBefore: opts.notBefore }),
    ...(opts.notAfter === undefined ? {} : { notAfter: opts.notAfter }),
  });
  return { alg, ...ca };
}

/** A device key whose certificate is signed directly by `ca`. */
export async function makeDeviceCertSignedBy(
  ca: TestCa,
  alg: KeyAlg = 'ES256',
  opts: { fresh?: boolean; commonName?: string; notBefore?: Date; notAfter?: Date } = {},
): Promise<DeviceKeys> {
  const keys = await keyPair(alg, opts.fresh === true);
  const certificatePem = await issueCertificate(
    keys.publicKeyPem,
    {
      subject: { commonName: opts.commonName ?? 'device' },
      ...(opts.notBefore === undefined ? {} : { notBefore: opts.notBefore }),
      ...(opts.notAfter === undefined ? {} : { notAfter: opts.notAfter }),
    },
    { privateKeyPem: ca.privateKeyPem, certificatePem: ca.certificatePem },
  );
  return { alg, ...formats(alg), privateKeyPem: keys.privateKeyPem, publicKeyPem: keys.publicKeyPem, certificatePem };
}

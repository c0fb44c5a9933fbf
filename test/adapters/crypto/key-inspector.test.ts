import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyPairKeyObjectResult } from 'node:crypto';
import { describe, test } from 'node:test';
import { NodeKeyInspector, parseDeviceVerificationKey } from '../../../src/adapters/crypto/key-inspector.js';
import { issueCertificate } from '../../../src/adapters/crypto/key-pairs.js';
import type { PublicKeyFormat } from '../../../src/domain/model.js';
import { makeCa, makeDeviceCertSignedBy, makeDeviceKeys } from '../../support/pki.js';
import { assertApiError } from '../../support/assertions.js';

const inspector = new NodeKeyInspector();
const FIELD = 'device.credentials[0].public_key.key';

const rsa = await makeDeviceKeys('RS256');
const ec = await makeDeviceKeys('ES256');

function pems(pair: KeyPairKeyObjectResult): { publicPem: string; privatePem: string } {
  return {
    publicPem: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privatePem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

const p384 = pems(generateKeyPairSync('ec', { namedCurve: 'secp384r1' }));
const rsa1024 = pems(generateKeyPairSync('rsa', { modulusLength: 1024 }));
const ed25519 = pems(generateKeyPairSync('ed25519'));
const rsaPss = pems(generateKeyPairSync('rsa-pss', { modulusLength: 2048 }));
const p384Cert = await issueCertificate(p384.publicPem, { subject: { commonName: 'p384' } }, { privateKeyPem: ec.privateKeyPem });
const rsa1024Cert = await issueCertificate(
  rsa1024.publicPem,
  { subject: { commonName: 'short' }, isCa: true },
  { privateKeyPem: rsa1024.privatePem },
);

function assertInvalid(fn: () => unknown, field: string, pattern?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assertApiError(e, 'INVALID_ARGUMENT', field, pattern);
    assert.ok(e.message.includes(field), `message names the field: ${e.message}`);
    return true;
  });
}

describe('checkDeviceKey accepts matching keys', () => {
  const cases: [PublicKeyFormat, string, string][] = [
    ['RSA_PEM', 'SPKI RSA', rsa.publicKeyPem],
    ['RSA_PEM', 'PKCS#1 RSA PUBLIC KEY', createPublicKey(rsa.publicKeyPem).export({ type: 'pkcs1', format: 'pem' }).toString()],
    ['RSA_PEM', 'RSA-1024 (old fleets)', rsa1024.publicPem],
    ['ES256_PEM', 'SPKI P-256', ec.publicKeyPem],
    ['RSA_X509_PEM', 'RSA certificate', rsa.certificatePem],
    ['ES256_X509_PEM', 'P-256 certificate', ec.certificatePem],
    ['ES256_PEM', 'CRLF line endings', ec.publicKeyPem.replace(/\n/g, '\r\n')],
    ['ES256_X509_PEM', 'explanatory text around the block', `Subject: CN=unused\n${ec.certificatePem}\ntrailer\n`],
  ];
  for (const [format, what, pem] of cases) {
    test(`${format}: ${what}`, () => {
      assert.doesNotThrow(() => inspector.checkDeviceKey(format, pem, FIELD));
    });
  }
});

describe('checkDeviceKey refuses mismatches and garbage with INVALID_ARGUMENT naming the field', () => {
  const pkcs8 = ec.privateKeyPem;
  const rsaPkcs1Private = createPrivateKey(rsa.privateKeyPem).export({ type: 'pkcs1', format: 'pem' }).toString();
  const truncated = ec.publicKeyPem.replace(/\n[A-Za-z0-9+/=]+\n-----END/, '\n-----END');
  const cases: [PublicKeyFormat, string, string, RegExp?][] = [
    ['RSA_PEM', 'EC key', ec.publicKeyPem, /requires an RSA key, got an EC key/],
    ['RSA_PEM', 'Ed25519 key', ed25519.publicPem, /requires an RSA key/],
    ['RSA_PEM', 'RSA-PSS restricted key', rsaPss.publicPem, /RSA-PSS/],
    ['ES256_PEM', 'RSA key', rsa.publicKeyPem, /P-256/],
    ['ES256_PEM', 'P-384 key', p384.publicPem, /secp384r1/],
    ['ES256_PEM', 'PKCS#1 RSA PUBLIC KEY', createPublicKey(rsa.publicKeyPem).export({ type: 'pkcs1', format: 'pem' }).toString(), /"RSA PUBLIC KEY"/],
    ['ES256_PEM', 'PKCS#8 private key', pkcs8, /private key/],
    ['RSA_PEM', 'PKCS#1 RSA private key', rsaPkcs1Private, /private key/],
    ['RSA_PEM', 'a certificate', rsa.certificatePem, /"CERTIFICATE"/],
    ['ES256_PEM', 'a certificate', ec.certificatePem, /"CERTIFICATE"/],
    ['RSA_X509_PEM', 'a bare public key', rsa.publicKeyPem, /"PUBLIC KEY"/],
    ['RSA_X509_PEM', 'an EC certificate', ec.certificatePem, /requires an RSA key/],
    ['ES256_X509_PEM', 'an RSA certificate', rsa.certificatePem, /P-256/],
    ['ES256_X509_PEM', 'a P-384 certificate', p384Cert, /secp384r1/],
    ['ES256_PEM', 'empty', '', /empty/],
    ['ES256_PEM', 'not PEM', 'hello world', /not PEM/],
    ['ES256_PEM', 'truncated body', truncated, /could not be parsed/],
    ['ES256_PEM', 'base64 garbage', '-----BEGIN PUBLIC KEY-----\nAAAA!!!!\n-----END PUBLIC KEY-----\n', /could not be parsed/],
    ['ES256_X509_PEM', 'garbage certificate', '-----BEGIN CERTIFICATE-----\nMIIBAA==\n-----END CERTIFICATE-----\n', /could not be parsed/],
    ['ES256_PEM', 'two PEM blocks', ec.publicKeyPem + ec.publicKeyPem, /2 PEM blocks/],
    ['ES256_PEM', 'mismatched labels', ec.publicKeyPem.replace('END PUBLIC KEY', 'END CERTIFICATE'), /mismatched/],
    ['UNSPECIFIED_PUBLIC_KEY_FORMAT' as PublicKeyFormat, 'unknown format', ec.publicKeyPem, /unsupported public key format/],
  ];
  for (const [format, what, pem, pattern] of cases) {
    test(`${format}: ${what}`, () => {
      assertInvalid(() => inspector.checkDeviceKey(format, pem, FIELD), FIELD, pattern);
    });
  }

  test('a very long input is refused before parsing', () => {
    assertInvalid(() => inspector.checkDeviceKey('ES256_PEM', 'A'.repeat(100_000), FIELD), FIELD, /longer than/);
  });
});

describe('parseDeviceVerificationKey', () => {
  test('gives the JWT algorithm and a public KeyObject for each format', () => {
    const cases: [PublicKeyFormat, string, 'RS256' | 'ES256', 'rsa' | 'ec'][] = [
      ['RSA_PEM', rsa.publicKeyPem, 'RS256', 'rsa'],
      ['RSA_X509_PEM', rsa.certificatePem, 'RS256', 'rsa'],
      ['ES256_PEM', ec.publicKeyPem, 'ES256', 'ec'],
      ['ES256_X509_PEM', ec.certificatePem, 'ES256', 'ec'],
    ];
    for (const [format, pem, alg, type] of cases) {
      const parsed = parseDeviceVerificationKey(format, pem);
      assert.equal(parsed.alg, alg);
      assert.equal(parsed.key.type, 'public');
      assert.equal(parsed.key.asymmetricKeyType, type);
      assert.ok(parsed.key.equals(createPublicKey(pem)));
    }
  });

  test('caches by PEM text', () => {
    const a = parseDeviceVerificationKey('ES256_PEM', ec.publicKeyPem);
    const b = parseDeviceVerificationKey('ES256_PEM', ec.publicKeyPem);
    assert.equal(a, b);
  });

  test('a cached success does not make the same PEM pass under another format', () => {
    parseDeviceVerificationKey('ES256_PEM', ec.publicKeyPem);
    assertInvalid(() => parseDeviceVerificationKey('RSA_PEM', ec.publicKeyPem, 'k'), 'k');
  });

  test('defaults the error field to public_key.key', () => {
    assertInvalid(() => parseDeviceVerificationKey('ES256_PEM', 'junk'), 'public_key.key');
  });
});

describe('inspectCertificate', () => {
  const notBefore = new Date('2024-01-01T00:00:00Z');
  const notAfter = new Date('2034-01-01T00:00:00Z');

  test('extracts the details of an EC CA', async () => {
    const ca = await makeCa({ subject: { commonName: 'my-ca', organization: 'Acme', country: 'US' }, notBefore, notAfter });
    assert.deepEqual(inspector.inspectCertificate(ca.certificatePem, 'credentials[0]'), {
      issuer: 'CN=my-ca,O=Acme,C=US',
      subject: 'CN=my-ca,O=Acme,C=US',
      startTime: notBefore.getTime(),
      expiryTime: notAfter.getTime(),
      signatureAlgorithm: 'ECDSA-SHA256',
      publicKeyType: 'EC',
    });
  });

  test('extracts the details of an RSA CA', async () => {
    const ca = await makeCa({ alg: 'RS256', subject: { commonName: 'rsa-ca' } });
    const details = inspector.inspectCertificate(ca.certificatePem, 'f');
    assert.equal(details.signatureAlgorithm, 'SHA256-RSA');
    assert.equal(details.publicKeyType, 'RSA');
    assert.equal(details.subject, 'CN=rsa-ca');
  });

  test('issuer differs from subject for a certificate signed by another CA', async () => {
    const root = await makeCa({ subject: { commonName: 'root', organization: 'Acme' } });
    const leaf = await makeDeviceCertSignedBy(root, 'RS256', { commonName: 'sub' });
    const details = inspector.inspectCertificate(leaf.certificatePem, 'f');
    assert.equal(details.issuer, 'CN=root,O=Acme');
    assert.equal(details.subject, 'CN=sub');
    assert.equal(details.signatureAlgorithm, 'ECDSA-SHA256');
    assert.equal(details.publicKeyType, 'RSA');
  });

  test('escapes RFC 4514 special characters', async () => {
    const ca = await makeCa({ subject: { commonName: ' a,b+c=d ', organization: '#x' } });
    assert.equal(inspector.inspectCertificate(ca.certificatePem, 'f').subject, 'CN=\\ a\\,b\\+c\\=d\\ ,O=\\#x');
  });

  test('accepts an expired CA (adding devices fails later, registering it does not)', async () => {
    const ca = await makeCa({ notBefore: new Date('2010-01-01T00:00:00Z'), notAfter: new Date('2011-01-01T00:00:00Z') });
    assert.equal(inspector.inspectCertificate(ca.certificatePem, 'f').expiryTime, Date.UTC(2011, 0, 1));
  });

  test('refuses keys weaker than RSA-2048 or other than P-256', () => {
    assertInvalid(() => inspector.inspectCertificate(rsa1024Cert, 'cred'), 'cred', /RSA 1024-bit/);
    assertInvalid(() => inspector.inspectCertificate(p384Cert, 'cred'), 'cred', /secp384r1/);
  });

  test('refuses garbage and non-certificates', () => {
    for (const pem of ['', 'nope', ec.publicKeyPem, ec.privateKeyPem, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----']) {
      assertInvalid(() => inspector.inspectCertificate(pem, 'registry.credentials[2]'), 'registry.credentials[2]');
    }
  });
});

const now = Date.now();
const ca = await makeCa();
const rsaCa = await makeCa({ alg: 'RS256', subject: { commonName: 'rsa-ca' } });

describe('isSignedBy', () => {
  test('true for device certificates signed by the CA, any key mix', async () => {
    for (const [issuer, alg] of [[ca, 'ES256'], [ca, 'RS256'], [rsaCa, 'ES256'], [rsaCa, 'RS256']] as const) {
      const device = await makeDeviceCertSignedBy(issuer, alg);
      assert.equal(inspector.isSignedBy(device.certificatePem, issuer.certificatePem, now), true, `${issuer.alg}/${alg}`);
    }
  });

  test('false for a self-signed device certificate', () => {
    assert.equal(inspector.isSignedBy(ec.certificatePem, ca.certificatePem, now), false);
  });

  test("false for another CA's device certificate", async () => {
    const device = await makeDeviceCertSignedBy(rsaCa);
    assert.equal(inspector.isSignedBy(device.certificatePem, ca.certificatePem, now), false);
  });

  test('false for a CA with the same name but another key', async () => {
    const impostor = await makeCa();
    const device = await makeDeviceCertSignedBy(impostor);
    assert.equal(inspector.isSignedBy(device.certificatePem, ca.certificatePem, now), false);
  });

  test('false when the CA is outside its validity at `at`', async () => {
    const notBefore = new Date('2024-01-01T00:00:00Z');
    const notAfter = new Date('2025-01-01T00:00:00Z');
    const shortCa = await makeCa({ notBefore, notAfter });
    const device = await makeDeviceCertSignedBy(shortCa);
    assert.equal(inspector.isSignedBy(device.certificatePem, shortCa.certificatePem, Date.UTC(2024, 5, 1)), true);
    assert.equal(inspector.isSignedBy(device.certificatePem, shortCa.certificatePem, notAfter.getTime() + 1000), false);
    assert.equal(inspector.isSignedBy(device.certificatePem, shortCa.certificatePem, notBefore.getTime() - 1000), false);
  });

  test('false for garbage on either side', () => {
    assert.equal(inspector.isSignedBy('junk', ca.certificatePem, now), false);
    assert.equal(inspector.isSignedBy(ec.certificatePem, 'junk', now), false);
    assert.equal(inspector.isSignedBy(ec.publicKeyPem, ca.certificatePem, now), false);
  });
});

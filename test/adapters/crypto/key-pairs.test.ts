import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import * as tls from 'node:tls';
import { NodeKeyInspector } from '../../../src/adapters/crypto/key-inspector.js';
import {
  createCertificateAuthority,
  generateKeyPair,
  issueCertificate,
  issueLeafCertificate,
  issueTlsServerCertificate,
  LOCAL_SERVER_NAMES,
} from '../../../src/adapters/crypto/key-pairs.js';

const inspector = new NodeKeyInspector();

describe('generateKeyPair', () => {
  test('RS256: RSA-2048, PKCS#8 private, SPKI public, no certificate unless asked', async () => {
    const keys = await generateKeyPair('RS256');
    assert.match(keys.privateKeyPem, /^-----BEGIN PRIVATE KEY-----\n/);
    assert.match(keys.publicKeyPem, /^-----BEGIN PUBLIC KEY-----\n/);
    assert.equal(keys.certificatePem, undefined);
    const pub = createPublicKey(keys.publicKeyPem);
    assert.equal(pub.asymmetricKeyType, 'rsa');
    assert.equal(pub.asymmetricKeyDetails?.modulusLength, 2048);
    assert.equal(pub.asymmetricKeyDetails?.publicExponent, 65537n);
    assert.ok(createPublicKey(createPrivateKey(keys.privateKeyPem)).equals(pub), 'the two halves belong together');
  });

  test('ES256: EC P-256', async () => {
    const keys = await generateKeyPair('ES256');
    const pub = createPublicKey(keys.publicKeyPem);
    assert.equal(pub.asymmetricKeyType, 'ec');
    assert.equal(pub.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.doesNotThrow(() => inspector.checkDeviceKey('ES256_PEM', keys.publicKeyPem, 'k'));
  });

  for (const alg of ['RS256', 'ES256'] as const) {
    test(`${alg}: optional self-signed certificate wraps the same key`, async () => {
      const keys = await generateKeyPair(alg, { certificate: true, commonName: 'dev-7' });
      assert.ok(keys.certificatePem !== undefined);
      const cert = new X509Certificate(keys.certificatePem);
      assert.equal(cert.subject, 'CN=dev-7');
      assert.equal(cert.issuer, 'CN=dev-7');
      assert.equal(cert.ca, false);
      assert.ok(cert.publicKey.equals(createPublicKey(keys.publicKeyPem)));
      assert.ok(cert.verify(cert.publicKey), 'self-signed');
      inspector.checkDeviceKey(alg === 'RS256' ? 'RSA_X509_PEM' : 'ES256_X509_PEM', keys.certificatePem, 'k');
    });
  }

  test("the self-signed certificate's CN defaults to Google's documented 'unused'", async () => {
    const keys = await generateKeyPair('ES256', { certificate: true });
    assert.equal(new X509Certificate(keys.certificatePem ?? '').subject, 'CN=unused');
  });
});

describe('certificate authorities and leaves', () => {
  const notBefore = new Date('2025-03-01T12:00:00Z');
  const notAfter = new Date('2035-03-01T12:00:00Z');

  for (const alg of ['RS256', 'ES256'] as const) {
    test(`${alg} CA: self-signed, CA:TRUE, chosen validity, usable as a registry credential`, async () => {
      const ca = await createCertificateAuthority({ alg, subject: { commonName: 'my-ca', organization: 'Acme' }, notBefore, notAfter });
      const cert = new X509Certificate(ca.certificatePem);
      assert.equal(cert.ca, true);
      assert.ok(cert.verify(cert.publicKey));
      assert.ok(cert.publicKey.equals(createPublicKey(ca.publicKeyPem)));
      const details = inspector.inspectCertificate(ca.certificatePem, 'f');
      assert.equal(details.subject, 'CN=my-ca,O=Acme');
      assert.equal(details.startTime, notBefore.getTime());
      assert.equal(details.expiryTime, notAfter.getTime());
      assert.equal(details.signatureAlgorithm, alg === 'RS256' ? 'SHA256-RSA' : 'ECDSA-SHA256');
    });
  }

  test('leaf: signed by the CA, not a CA itself, chosen validity', async () => {
    const ca = await createCertificateAuthority();
    const leafBefore = new Date('2026-01-01T00:00:00Z');
    const leafAfter = new Date('2026-02-01T00:00:00Z');
    const leaf = await issueLeafCertificate(ca, { subject: { commonName: 'dev-1' }, notBefore: leafBefore, notAfter: leafAfter });
    const cert = new X509Certificate(leaf.certificatePem);
    assert.equal(cert.ca, false);
    assert.equal(cert.issuer, 'CN=Bridgehead CA');
    assert.ok(cert.verify(new X509Certificate(ca.certificatePem).publicKey));
    assert.equal(Date.parse(cert.validFrom), leafBefore.getTime());
    assert.equal(Date.parse(cert.validTo), leafAfter.getTime());
    assert.equal(inspector.isSignedBy(leaf.certificatePem, ca.certificatePem, Date.now()), true);
  });

  test('issueCertificate certifies an existing public key with a given serial number', async () => {
    const ca = await createCertificateAuthority({ alg: 'RS256' });
    const subjectKey = await generateKeyPair('ES256');
    const pem = await issueCertificate(subjectKey.publicKeyPem, { subject: { commonName: 'x' }, serialNumber: '0a1b2c' }, ca);
    const cert = new X509Certificate(pem);
    assert.equal(cert.serialNumber.toLowerCase(), '0a1b2c');
    assert.ok(cert.publicKey.equals(createPublicKey(subjectKey.publicKeyPem)));
    assert.equal(inspector.inspectCertificate(pem, 'f').signatureAlgorithm, 'SHA256-RSA');
  });

  test('refuses signer keys outside RS256/ES256', async () => {
    const ed = generateKeyPairSync('ed25519');
    const privateKeyPem = ed.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const publicKeyPem = ed.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    await assert.rejects(issueCertificate(publicKeyPem, { subject: { commonName: 'ed' } }, { privateKeyPem }), /unsupported/);
  });
});

describe('TLS server certificate', () => {
  test('carries SANs for the local names and the extra hostnames and IPs', async () => {
    const ca = await createCertificateAuthority();
    const server = await issueTlsServerCertificate(ca, ['bridge.example', '10.1.2.3']);
    const cert = new X509Certificate(server.certificatePem);
    assert.deepEqual(LOCAL_SERVER_NAMES, ['localhost', '127.0.0.1', '::1']);
    assert.equal(
      cert.subjectAltName,
      'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:bridge.example, IP Address:10.1.2.3',
    );
    assert.equal(cert.subject, 'CN=bridge.example');
    assert.equal(cert.checkHost('localhost'), 'localhost');
    assert.equal(cert.checkHost('bridge.example'), 'bridge.example');
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(cert.checkIP('::1'), '::1');
    assert.equal(cert.checkHost('other.example'), undefined);
    assert.match(cert.keyUsage?.join(',') ?? '', /1\.3\.6\.1\.5\.5\.7\.3\.1/);
  });

  for (const alg of ['ES256', 'RS256'] as const) {
    test(`${alg}: a TLS client trusting the CA completes a handshake by name and by IP`, async () => {
      const ca = await createCertificateAuthority();
      const server = await issueTlsServerCertificate(ca, [], { alg });
      const srv = tls.createServer({ key: server.privateKeyPem, cert: server.certificatePem }, (socket) => socket.end('hi'));
      await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
      const { port } = srv.address() as AddressInfo;
      try {
        for (const servername of ['localhost', undefined]) {
          const reply = await new Promise<string>((resolve, reject) => {
            const socket = tls.connect({ host: '127.0.0.1', port, ca: ca.certificatePem, ...(servername === undefined ? {} : { servername }) });
            let data = '';
            socket.on('data', (d: Buffer) => (data += d.toString()));
            socket.on('end', () => resolve(data));
            socket.on('error', reject);
          });
          assert.equal(reply, 'hi');
        }
      } finally {
        await new Promise<void>((resolve) => srv.close(() => resolve()));
      }
    });
  }
});

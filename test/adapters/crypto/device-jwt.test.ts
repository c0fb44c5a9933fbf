import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, verify } from 'node:crypto';
import { describe, test } from 'node:test';
import { decodeProtectedHeader, importSPKI, jwtVerify } from 'jose';
import { mintDeviceJwt } from '../../../src/adapters/crypto/device-jwt.js';
import { parseDeviceVerificationKey } from '../../../src/adapters/crypto/key-inspector.js';
import { makeDeviceKeys } from '../../support/pki.js';
import { invalidOn } from '../../support/assertions.js';

const rsa = await makeDeviceKeys('RS256');
const ec = await makeDeviceKeys('ES256');

function segments(token: string): [string, string, string] {
  const parts = token.split('.');
  assert.equal(parts.length, 3);
  return [parts[0] ?? '', parts[1] ?? '', parts[2] ?? ''];
}

function assertInvalid(p: Promise<unknown>, field: string): Promise<void> {
  return assert.rejects(p, invalidOn(field));
}

describe('mintDeviceJwt', () => {
  for (const keys of [rsa, ec]) {
    test(`${keys.alg}: verifies with jose against the public key, with exactly aud/iat/exp`, async () => {
      const token = await mintDeviceJwt({
        privateKeyPem: keys.privateKeyPem,
        alg: keys.alg,
        audience: 'my-project',
        issuedAt: 1_700_000_000,
        expiresInSeconds: 600,
      });
      assert.deepEqual(decodeProtectedHeader(token), { alg: keys.alg, typ: 'JWT' });
      const { payload } = await jwtVerify(token, await importSPKI(keys.publicKeyPem, keys.alg), {
        audience: 'my-project',
        currentDate: new Date(1_700_000_100_000),
      });
      assert.deepEqual(payload, { aud: 'my-project', iat: 1_700_000_000, exp: 1_700_000_600 });
    });

    test(`${keys.alg}: verifies with the key the MQTT bridge derives from the certificate credential`, async () => {
      const token = await mintDeviceJwt({ privateKeyPem: keys.privateKeyPem, alg: keys.alg, audience: 'p' });
      const { alg, key } = parseDeviceVerificationKey(keys.certFormat, keys.certificatePem);
      assert.equal(alg, keys.alg);
      await jwtVerify(token, key, { audience: 'p', algorithms: [alg] });
    });
  }

  test('ES256 signature is JOSE raw R||S, 64 bytes', async () => {
    const token = await mintDeviceJwt({ privateKeyPem: ec.privateKeyPem, alg: 'ES256', audience: 'p' });
    const [header, payload, signature] = segments(token);
    const raw = Buffer.from(signature, 'base64url');
    assert.equal(raw.length, 64);
    const ok = verify(
      'sha256',
      Buffer.from(`${header}.${payload}`),
      { key: createPublicKey(ec.publicKeyPem), dsaEncoding: 'ieee-p1363' },
      raw,
    );
    assert.equal(ok, true);
  });

  test('defaults: iat = now, exp = iat + 3600', async () => {
    const before = Math.floor(Date.now() / 1000);
    const token = await mintDeviceJwt({ privateKeyPem: ec.privateKeyPem, alg: 'ES256', audience: 'p' });
    const after = Math.floor(Date.now() / 1000);
    const claims = JSON.parse(Buffer.from(segments(token)[1], 'base64url').toString()) as { iat: number; exp: number };
    assert.ok(claims.iat >= before && claims.iat <= after);
    assert.equal(claims.exp - claims.iat, 3600);
  });

  test('accepts SEC1 and PKCS#1 private keys as well as PKCS#8', async () => {
    const sec1 = createPrivateKey(ec.privateKeyPem).export({ type: 'sec1', format: 'pem' }).toString();
    const pkcs1 = createPrivateKey(rsa.privateKeyPem).export({ type: 'pkcs1', format: 'pem' }).toString();
    assert.match(sec1, /BEGIN EC PRIVATE KEY/);
    for (const [pem, keys] of [[sec1, ec], [pkcs1, rsa]] as const) {
      const token = await mintDeviceJwt({ privateKeyPem: pem, alg: keys.alg, audience: 'p' });
      await jwtVerify(token, createPublicKey(keys.publicKeyPem), { audience: 'p' });
    }
  });

  test('refuses a key that does not fit the algorithm, or garbage', async () => {
    await assertInvalid(mintDeviceJwt({ privateKeyPem: ec.privateKeyPem, alg: 'RS256', audience: 'p' }), 'privateKey');
    await assertInvalid(mintDeviceJwt({ privateKeyPem: rsa.privateKeyPem, alg: 'ES256', audience: 'p' }), 'privateKey');
    await assertInvalid(mintDeviceJwt({ privateKeyPem: ec.publicKeyPem, alg: 'ES256', audience: 'p' }), 'privateKey');
    await assertInvalid(mintDeviceJwt({ privateKeyPem: 'junk', alg: 'ES256', audience: 'p' }), 'privateKey');
  });

  test('refuses non-integer times and an empty audience', async () => {
    const base = { privateKeyPem: ec.privateKeyPem, alg: 'ES256' as const, audience: 'p' };
    await assertInvalid(mintDeviceJwt({ ...base, issuedAt: 1.5 }), 'issuedAt');
    await assertInvalid(mintDeviceJwt({ ...base, expiresInSeconds: Number.NaN }), 'expiresInSeconds');
    await assertInvalid(mintDeviceJwt({ ...base, audience: '' }), 'audience');
  });

  test('can mint already-expired tokens for negative tests', async () => {
    const token = await mintDeviceJwt({ ...{ privateKeyPem: ec.privateKeyPem, alg: 'ES256' as const, audience: 'p' }, issuedAt: 1000, expiresInSeconds: 60 });
    await assert.rejects(jwtVerify(token, createPublicKey(ec.publicKeyPem), { audience: 'p' }), /exp/);
  });
});

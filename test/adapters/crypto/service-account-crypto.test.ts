import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { NodeServiceAccountCrypto } from '../../../src/adapters/crypto/service-account-crypto.js';
import { rs256, rsaPair } from '../../support/sa-jwt.js';

const crypto = new NodeServiceAccountCrypto();

describe('NodeServiceAccountCrypto', () => {
  test('new key pairs are RSA 2048, PKCS#8 and SPKI PEM, and sign what the public half verifies', async () => {
    const pair = await crypto.newRsaKeyPair();
    assert.match(pair.privateKeyPem, /^-----BEGIN PRIVATE KEY-----\n/);
    assert.match(pair.publicKeyPem, /^-----BEGIN PUBLIC KEY-----\n/);
    const jwt = crypto.decodeJwt(rs256({ kid: 'k' }, { a: 1 }, pair.privateKeyPem))!;
    assert.equal(crypto.verifyRs256(jwt, pair.publicKeyPem), true);
    assert.equal(crypto.verifyRs256(jwt, rsaPair().publicKeyPem), false);
  });

  test('decodes canonical compact JWTs only; an empty signature still decodes (for the alg check)', () => {
    const pair = rsaPair();
    const token = rs256({ kid: 'k' }, { iss: 'x' }, pair.privateKeyPem);
    const [h, p, s] = token.split('.') as [string, string, string];
    assert.deepEqual(crypto.decodeJwt(token)?.header, { alg: 'RS256', typ: 'JWT', kid: 'k' });
    assert.equal(crypto.decodeJwt(`${h}.${p}.`)?.signature.length, 0);
    for (const bad of [`${h}.${p}`, `${h}.${p}.${s}.x`, `${h}=.${p}.${s}`, `${h}.${p}.${s.replace(/-/g, '+')}+`, `.${p}.${s}`, `${h}.bm90IGpzb24.${s}`, `${h}.${p}.${s}${'A'.repeat(16 * 1024)}`]) {
      assert.equal(crypto.decodeJwt(bad), undefined, bad.slice(0, 60));
    }
  });

  test('a key that is not RSA, or not a key, verifies nothing', () => {
    const pair = rsaPair();
    const jwt = crypto.decodeJwt(rs256({ kid: 'k' }, {}, pair.privateKeyPem))!;
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    assert.equal(crypto.verifyRs256(jwt, ec), false);
    assert.equal(crypto.verifyRs256(jwt, 'not a pem'), false);
  });

  test('random identifiers have the promised shapes', () => {
    assert.match(crypto.randomHex(20), /^[0-9a-f]{40}$/);
    assert.match(crypto.randomDigits(21), /^[1-9]\d{20}$/);
    assert.match(crypto.randomToken(), /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(crypto.randomToken(), crypto.randomToken());
  });
});

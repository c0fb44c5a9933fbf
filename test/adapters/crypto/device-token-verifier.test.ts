import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { DeviceTokenVerifier } from '../../../src/adapters/crypto/device-token-verifier.js';
import type { DeviceCredential } from '../../../src/domain/model.js';
import { signRawJwt, type RawJwtOptions } from '../../support/mqtt-jwt.js';
import { makeDeviceKeys, type DeviceKeys } from '../../support/pki.js';

/**
 * The device JWT signature check on its own (the authenticator's tests cover claims and reasons):
 * what compact JWS verification refuses besides a bad signature (RFC 7515 §4.1.11 `crit`,
 * RFC 7797 `b64`, bytes outside the base64 alphabets), the lenient encodings it accepts, and
 * that the check is synchronous.
 */

const claims = { aud: 'p', iat: 1_700_000_000, exp: 1_700_003_600 };
const v = new DeviceTokenVerifier();
let es: DeviceKeys;
let rsa: DeviceKeys;

before(async () => {
  [es, rsa] = await Promise.all([makeDeviceKeys('ES256'), makeDeviceKeys('RS256')]);
});

const cred = (k: DeviceKeys): DeviceCredential => ({ format: k.rawFormat, key: k.publicKeyPem, expirationTime: 0 });

function check(token: string, c: DeviceCredential): boolean | 'undecodable' {
  const d = v.decode(token);
  if (d === undefined) return 'undecodable';
  return v.verifySync(d as Parameters<DeviceTokenVerifier['verifySync']>[0], c);
}

const jwt = (k: DeviceKeys, o: Partial<RawJwtOptions> = {}): string => signRawJwt(claims, { alg: k.alg, key: k.privateKeyPem, ...o });

describe('DeviceTokenVerifier', () => {
  test('strict and lenient encodings verify, with the key of the header alg only', () => {
    for (const k of [es, rsa]) {
      for (const o of [{}, { padded: true }, { standardAlphabet: true }, { standardAlphabet: true, padded: true }]) {
        assert.equal(check(jwt(k, o), cred(k)), true, `${k.alg} ${JSON.stringify(o)}`);
      }
    }
    assert.equal(check(jwt(es, { dsaEncoding: 'der' }), cred(es)), true, 'DER ES256');
    assert.equal(check(jwt(es), cred(rsa)), false);
    assert.equal(check(jwt(rsa), cred(es)), false);
  });

  test('verify (the promise of the port) agrees with verifySync: good tokens, the wrong key, a tampered signature', async () => {
    for (const k of [es, rsa]) {
      const good = jwt(k, { dsaEncoding: k.alg === 'ES256' ? 'der' : undefined });
      assert.equal(await v.verify(v.decode(good)!, cred(k)), true, `${k.alg} good`);
      const other = k === es ? rsa : es;
      assert.equal(await v.verify(v.decode(good)!, cred(other)), false, `${k.alg} with the other key`);
      const [h, p, sig] = jwt(k).split('.') as [string, string, string];
      const flipped = Buffer.from(sig, 'base64url');
      flipped[flipped.length - 1]! ^= 1;
      const tampered = `${h}.${p}.${flipped.toString('base64url')}`;
      assert.equal(await v.verify(v.decode(tampered)!, cred(k)), false, `${k.alg} tampered`);
      assert.equal(check(tampered, cred(k)), false, `${k.alg} tampered, sync`);
      const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, aud: 'other' })).toString('base64url')}.${sig}`;
      assert.equal(await v.verify(v.decode(forged)!, cred(k)), false, `${k.alg} payload changed`);
    }
  });

  test('crit: only a well-formed b64 that is true is accepted (RFC 7515 §4.1.11, RFC 7797)', () => {
    const cases: Array<[string, Record<string, unknown>, boolean]> = [
      ['crit b64 true', { alg: 'ES256', crit: ['b64'], b64: true }, true],
      ['unknown extension', { alg: 'ES256', crit: ['exp'], exp: 1 }, false],
      ['empty list', { alg: 'ES256', crit: [] }, false],
      ['not a list', { alg: 'ES256', crit: 'b64', b64: true }, false],
      ['duplicates', { alg: 'ES256', crit: ['b64', 'b64'], b64: true }, false],
      ['named but absent', { alg: 'ES256', crit: ['b64'] }, false],
      ['unencoded payload', { alg: 'ES256', crit: ['b64'], b64: false }, false],
      ['b64 without crit is ignored', { alg: 'ES256', b64: false }, true],
    ];
    for (const [label, header, ok] of cases) assert.equal(check(jwt(es, { header }), cred(es)), ok, label);
  });

  test('bytes outside the base64 alphabets, impossible lengths, non-object or non-UTF-8 headers are not decoded', () => {
    const good = jwt(es);
    const [h, p, s] = good.split('.') as [string, string, string];
    const utf8Bad = Buffer.from([0x7b, 0x22, 0x61, 0x6c, 0x67, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]).toString('base64url');
    for (const token of [`${h} .${p}.${s}`, `${h}.${p}!.${s}`, `${h}.${p}.${s}*`, `${h}A.${p}.${s}`, `${Buffer.from('[1]').toString('base64url')}.${p}.${s}`, `${utf8Bad}.${p}.${s}`, `${h}.${p}.${s}.x`]) {
      assert.equal(v.decode(token), undefined, token.slice(0, 40));
    }
  });

  test('RSA keys under 2048 bits verify: key-inspector accepts them as device credentials', () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const pem = small.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const token = signRawJwt(claims, { alg: 'RS256', key: small.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() });
    assert.equal(check(token, { format: 'RSA_PEM', key: pem, expirationTime: 0 }), true);
  });

  test('a credential that does not parse refuses instead of throwing', () => {
    assert.equal(check(jwt(es), { format: 'ES256_PEM', key: 'not a key', expirationTime: 0 }), false);
  });
});

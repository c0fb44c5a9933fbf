import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { chooseCredential, CredentialChoiceError, readSignerKey, selfSignedJwt, type SignerKey } from '../../src/cli/credentials.js';
import { checkClaims, checkHeader, CLOUDIOT_AUDIENCES } from '../../src/domain/service-account-jwt.js';
import { buildKeyFile, keyFileText } from '../../src/domain/key-file.js';
import { rsaPair, type RsaPair } from '../support/sa-jwt.js';

const EMAIL = 'robot-01@proj.iam.gserviceaccount.com';
let pair: RsaPair;
let fileText: string;
before(() => {
  pair = rsaPair();
  fileText = keyFileText(
    buildKeyFile({ project: 'proj', keyId: 'a'.repeat(40), privateKeyPem: pair.privateKeyPem, email: EMAIL, uniqueId: '1'.repeat(21), tokenUri: 'http://h/token' }),
  );
});

describe('chooseCredential: flags, then BRIDGEHEAD_ADMIN_TOKEN, then GOOGLE_APPLICATION_CREDENTIALS, then ./data/admin-token', () => {
  const none = { token: undefined, keyFile: undefined } as const;
  test('typed flags win over the environment', () => {
    assert.deepEqual(chooseCredential({ token: 't', keyFile: 'k.json' }, { token: 'cli', keyFile: 'env' }, 'f'), { kind: 'admin-token', token: 't' });
    assert.deepEqual(chooseCredential({ token: 't', keyFile: 'k.json' }, { token: 'env', keyFile: 'cli' }, 'f'), { kind: 'key-file', path: 'k.json' });
    assert.deepEqual(chooseCredential({ tokenFile: 'tf', keyFile: 'k.json' }, { token: undefined, keyFile: 'env' }, 'f'), { kind: 'admin-token', tokenFile: 'tf' });
  });

  test('from the environment, the admin token before the key file; the token file last', () => {
    assert.deepEqual(chooseCredential({ token: 't', keyFile: 'k.json' }, { token: 'env', keyFile: 'env' }, 'f'), { kind: 'admin-token', token: 't' });
    assert.deepEqual(chooseCredential({ keyFile: 'k.json' }, { token: undefined, keyFile: 'env' }, 'f'), { kind: 'key-file', path: 'k.json' });
    assert.deepEqual(chooseCredential({}, none, 'f'), { kind: 'admin-token', tokenFile: 'f' });
    assert.equal(chooseCredential({}, none, undefined), undefined);
  });

  test('an admin flag and --key-file together are refused', () => {
    assert.throws(() => chooseCredential({ token: 't', keyFile: 'k' }, { token: 'cli', keyFile: 'cli' }, undefined), CredentialChoiceError);
    assert.throws(() => chooseCredential({ tokenFile: 'tf', keyFile: 'k' }, { token: undefined, keyFile: 'cli' }, undefined), CredentialChoiceError);
  });
});

describe('key files and the JWT the CLI signs', () => {
  test('readSignerKey takes Google\'s format and says what is wrong with anything else', () => {
    assert.equal(readSignerKey(fileText, 'k.json').client_email, EMAIL);
    const bad = (text: string, message: RegExp): void => assert.throws(() => readSignerKey(text, 'k.json'), (e: unknown) => e instanceof CredentialChoiceError && message.test(e.message));
    bad('{', /k\.json is not a service-account key file: it is not JSON/);
    bad('[]', /not a JSON object/);
    bad(JSON.stringify({ type: 'authorized_user', client_id: 'x' }), /"type" is "authorized_user"/);
    bad(JSON.stringify({ ...JSON.parse(fileText), private_key_id: '' }), /lacks "private_key_id"/);
  });

  test('selfSignedJwt is what google-auth-library sends, verifiable with the public key', () => {
    const key: SignerKey = readSignerKey(fileText, 'k.json');
    const token = selfSignedJwt(key, 1_900_000_000);
    const [h, p, s] = token.split('.') as [string, string, string];
    const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as unknown;
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as unknown;
    assert.deepEqual(header, { alg: 'RS256', typ: 'JWT', kid: 'a'.repeat(40) });
    assert.deepEqual(payload, { iss: EMAIL, sub: EMAIL, aud: 'https://cloudiot.googleapis.com/', iat: 1_900_000_000, exp: 1_900_003_600 });
    assert.ok(verify('sha256', Buffer.from(`${h}.${p}`), createPublicKey(pair.publicKeyPem), Buffer.from(s, 'base64url')));
    assert.deepEqual(checkHeader(header), { ok: true, kid: 'a'.repeat(40) });
    assert.equal(checkClaims(payload, { mode: 'api', email: EMAIL, audiences: CLOUDIOT_AUDIENCES, nowS: 1_900_000_000 }).ok, true);
  });

  test('a private key that does not parse is a clear error', () => {
    assert.throws(() => selfSignedJwt({ ...readSignerKey(fileText, 'k.json'), private_key: 'nope' }, 0), /cannot sign with the key file's private_key/);
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  appendCredential,
  checkCredentialIndex,
  credentialBody,
  CredentialIndexError,
  MAX_DEVICE_CREDENTIALS,
  withExpiration,
  withoutCredential,
} from '../../src/cli/bodies.js';
import type { JsonObject } from '../../src/cli/output.js';

const cred = (key: string): JsonObject => ({ publicKey: { format: 'ES256_PEM', key } });
const refused = (pattern: RegExp) => (e: unknown) => e instanceof CredentialIndexError && pattern.test(e.message);

describe('editing a device credential list', () => {
  test('credentialBody reads the file and keeps the expiration time', () => {
    const read = (p: string, what: string): string => `${what}:${p}`;
    assert.deepEqual(credentialBody({ path: 'k.pem', format: 'RSA_X509_PEM' }, read), { publicKey: { format: 'RSA_X509_PEM', key: '--path:k.pem' } });
    assert.deepEqual(credentialBody({ path: 'k.pem', format: 'ES256_PEM', expirationTime: '2030-01-01T00:00:00Z' }, read), {
      publicKey: { format: 'ES256_PEM', key: '--path:k.pem' },
      expirationTime: '2030-01-01T00:00:00Z',
    });
  });

  test('append keeps the existing keys in order and refuses a fourth with what to type', () => {
    assert.deepEqual(appendCredential([cred('a')], cred('b'), 'hint'), [cred('a'), cred('b')]);
    const full = [cred('a'), cred('b'), cred('c')];
    assert.equal(full.length, MAX_DEVICE_CREDENTIALS);
    assert.throws(() => appendCredential(full, cred('d'), 'bridgehead devices credentials delete INDEX --device d1'), refused(/already has 3 credentials.*remove one first: bridgehead devices credentials delete INDEX --device d1$/));
  });

  test('delete removes exactly one index; later ones move up', () => {
    assert.deepEqual(withoutCredential([cred('a'), cred('b'), cred('c')], 1), [cred('a'), cred('c')]);
    assert.deepEqual(withoutCredential([cred('a')], 0), []);
  });

  test('update changes only the expiration of one credential', () => {
    const list = [cred('a'), { ...cred('b'), expirationTime: '2029-01-01T00:00:00Z' }];
    assert.deepEqual(withExpiration(list, 1, '2031-01-01T00:00:00Z'), [cred('a'), { ...cred('b'), expirationTime: '2031-01-01T00:00:00Z' }]);
    assert.deepEqual(list[1], { ...cred('b'), expirationTime: '2029-01-01T00:00:00Z' }, 'the input list is not modified');
  });

  test('an index past the end names the valid range', () => {
    assert.throws(() => checkCredentialIndex([cred('a'), cred('b')], 2), refused(/has 2 credentials \(indexes 0-1\); there is no credential 2/));
    assert.throws(() => checkCredentialIndex([cred('a')], 1), refused(/has 1 credential \(indexes 0-0\)/));
    assert.throws(() => withoutCredential([], 0), refused(/has no credentials/));
    assert.throws(() => withExpiration([], 0, '2030-01-01T00:00:00Z'), refused(/has no credentials/));
  });
});

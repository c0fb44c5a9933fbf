import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { describe, test } from 'node:test';
import { ApiCallError, ConnectionError } from '../../src/cli/api-client.js';
import { DEFAULT_TOKEN_FILE, errorMessage, resolveToken, UsageError } from '../../src/cli/context.js';

describe('resolveToken', () => {
  const files: Record<string, string> = { '/t/token': ' from-file \n', [resolve(DEFAULT_TOKEN_FILE)]: 'default-file\n', '/t/empty': '\n' };
  const read = (p: string): string => {
    const v = files[p];
    if (v === undefined) throw new Error(`cannot read ${p}`);
    return v;
  };

  test('--token wins, then --token-file, then ./data/admin-token', () => {
    assert.equal(resolveToken({ token: 'flag', tokenFile: '/t/token' }, read, () => true), 'flag');
    assert.equal(resolveToken({ tokenFile: '/t/token' }, read, () => true), 'from-file');
    assert.equal(resolveToken({}, read, () => true), 'default-file');
  });

  test('no token anywhere, or an empty file, is a usage error', () => {
    assert.throws(() => resolveToken({}, read, () => false), (e: unknown) => e instanceof UsageError && /no admin token/.test(e.message));
    assert.throws(() => resolveToken({ tokenFile: '/t/empty' }, read, () => true), UsageError);
  });

  test('an unreadable --token-file is reported', () => {
    assert.throws(() => resolveToken({ tokenFile: '/t/missing' }, read, () => true), /cannot read \/t\/missing/);
  });
});

describe('errorMessage', () => {
  test('API errors print (STATUS) message', () => {
    assert.equal(errorMessage(new ApiCallError('NOT_FOUND', 'Device d9 not found.', 404)), '(NOT_FOUND) Device d9 not found.');
  });

  test('connection errors name the URL', () => {
    assert.match(errorMessage(new ConnectionError('http://127.0.0.1:9', 'ECONNREFUSED')), /Bridgehead API at http:\/\/127\.0\.0\.1:9/);
  });

  test('anything else prints its message', () => {
    assert.equal(errorMessage(new Error('boom')), 'boom');
    assert.equal(errorMessage('plain'), 'plain');
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkPageSize, decodePageToken, encodePageToken } from '../../src/domain/page-token.js';
import { invalidOn } from '../support/assertions.js';

describe('page tokens (docs/compat.md C-PAGE-TOKEN)', () => {
  test('round trip for every ID character, including the ones base64 would turn into + and /', () => {
    for (const after of ['a', 'dev-1', 'a-._+~%9', 'zzzz', '~~~~', '????', 'x'.repeat(255)]) {
      const token = encodePageToken(after);
      assert.match(token, /^[A-Za-z0-9_-]+$/, 'URL-safe and unpadded');
      assert.equal(decodePageToken(token), after);
    }
  });

  test('the encoding is the versioned prefix in base64url', () => {
    assert.equal(encodePageToken('dev-1'), Buffer.from('bh1:dev-1').toString('base64url'));
  });

  test('absent and empty tokens mean the first page', () => {
    assert.equal(decodePageToken(undefined), undefined);
    assert.equal(decodePageToken(''), undefined);
  });

  test('garbage, foreign and truncated tokens are INVALID_ARGUMENT on page_token', () => {
    const foreign = [
      'not a token',
      'abc$',
      '!!!!',
      '====',
      Buffer.from('dev-1').toString('base64url'), // no prefix: not ours
      Buffer.from('bh2:dev-1').toString('base64url'), // a future version
      Buffer.from('bh1:').toString('base64url'), // a prefix with nothing after it
      encodePageToken('dev-1').slice(0, 3),
      'A', // a single base64 character cannot decode
    ];
    for (const token of foreign) assert.throws(() => decodePageToken(token), invalidOn('page_token'), token);
  });
});

describe('checkPageSize (docs/compat.md C-LIST-ORDER)', () => {
  test('0 means the default; values up to the max pass; larger values are capped', () => {
    assert.equal(checkPageSize(0, 500, 100), 100);
    assert.equal(checkPageSize(1, 500, 100), 1);
    assert.equal(checkPageSize(500, 500, 100), 500);
    assert.equal(checkPageSize(501, 500, 100), 500);
    assert.equal(checkPageSize(1_000_000, 500, 100), 500);
  });

  test('negative and fractional sizes are INVALID_ARGUMENT on page_size', () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => checkPageSize(bad, 500, 100), invalidOn('page_size'), String(bad));
    }
  });
});

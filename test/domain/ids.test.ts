import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ErrorKind } from '../../src/domain/errors.js';
import {
  checkCommandSubfolder,
  checkMetadata,
  checkResourceId,
  checkSubfolderMatches,
  isResourceId,
  utf8Length,
} from '../../src/domain/ids.js';
import { apiErrorOn } from '../support/assertions.js';

/** Asserts an ApiError of `kind` naming `field`; the message is checked only when given. */
function throwsApi(fn: () => unknown, kind: ErrorKind, field: string | undefined, message?: RegExp): void {
  assert.throws(fn, apiErrorOn(kind, field, message));
}

const letters = (n: number): string => 'a'.repeat(n);

describe('checkResourceId (spec §2.1)', () => {
  test('length bounds: 3 and 255 characters pass, 2 and 256 fail', () => {
    assert.equal(checkResourceId(letters(3), 'device.id', 'device'), 'aaa');
    assert.equal(checkResourceId(letters(255), 'device.id', 'device'), letters(255));
    throwsApi(() => checkResourceId(letters(2), 'device.id', 'device'), 'INVALID_ARGUMENT', 'device.id', /3-255 characters/);
    throwsApi(() => checkResourceId(letters(256), 'device.id', 'device'), 'INVALID_ARGUMENT', 'device.id', /3-255 characters/);
  });

  test('the first character must be a letter', () => {
    assert.equal(checkResourceId('Zz9', 'id', 'registry'), 'Zz9');
    for (const bad of ['1ab', '-ab', '.ab', '_ab', '+ab', '~ab', '%ab']) {
      throwsApi(() => checkResourceId(bad, 'device_registry.id', 'registry'), 'INVALID_ARGUMENT', 'device_registry.id', /start with a letter/);
    }
  });

  test('every allowed punctuation mark after the first character passes; others fail', () => {
    assert.equal(checkResourceId('a-._+~%9', 'id', 'device'), 'a-._+~%9');
    for (const bad of ['ab/c', 'ab c', 'ab:c', 'ab#c', 'abé', 'ab@c']) {
      throwsApi(() => checkResourceId(bad, 'id', 'device'), 'INVALID_ARGUMENT', 'id');
    }
  });

  test('"goog" as a prefix is refused (case-sensitive), elsewhere it is fine', () => {
    throwsApi(() => checkResourceId('goog', 'device.id', 'device'), 'INVALID_ARGUMENT', 'device.id', /must not start with "goog"/);
    throwsApi(() => checkResourceId('google-dev', 'device.id', 'device'), 'INVALID_ARGUMENT', 'device.id', /must not start with "goog"/);
    assert.equal(checkResourceId('my-goog', 'device.id', 'device'), 'my-goog');
    assert.equal(checkResourceId('goo', 'device.id', 'device'), 'goo');
    // The prefix rule is written in lower case in the spec; the regex is case-sensitive everywhere else too.
    assert.equal(checkResourceId('Google', 'device.id', 'device'), 'Google');
  });

  test('missing, empty or non-string IDs are "required" and name the registry or device', () => {
    throwsApi(() => checkResourceId(undefined, 'device.id', 'device'), 'INVALID_ARGUMENT', 'device.id', /^The device ID \(device\.id\) is required\.$/);
    throwsApi(() => checkResourceId('', 'x', 'registry'), 'INVALID_ARGUMENT', 'x', /^The registry ID \(x\) is required\.$/);
    throwsApi(() => checkResourceId(42, 'x', 'registry'), 'INVALID_ARGUMENT', 'x', /required/);
  });

  test('isResourceId agrees with checkResourceId', () => {
    assert.equal(isResourceId('abc'), true);
    assert.equal(isResourceId(letters(255)), true);
    assert.equal(isResourceId('ab'), false);
    assert.equal(isResourceId(letters(256)), false);
    assert.equal(isResourceId('9abc'), false);
    assert.equal(isResourceId('googx'), false);
  });
});

describe('checkMetadata (spec §2.1 metadata limits)', () => {
  const ok = (m: Record<string, string>): void => assert.doesNotThrow(() => checkMetadata(m, 'device.metadata'));

  test('keys of 1 and 128 characters pass; 129 fails naming the key', () => {
    ok({ a: 'v' });
    ok({ [letters(128)]: '' });
    const long = letters(129);
    throwsApi(() => checkMetadata({ [long]: 'v' }, 'device.metadata'), 'INVALID_ARGUMENT', `device.metadata.${long}`, /1-128 characters/);
  });

  test('keys must start with a letter and use the allowed characters', () => {
    ok({ 'k-_.+~%9': 'v' });
    for (const bad of ['1k', '-k', 'k k', 'k/x', 'k:x', '']) {
      throwsApi(() => checkMetadata({ [bad]: 'v' }, 'device.metadata'), 'INVALID_ARGUMENT', `device.metadata.${bad}`, /Invalid metadata key/);
    }
  });

  test('a value may be 32 KiB in UTF-8 bytes, not one byte more', () => {
    ok({ k: 'x'.repeat(32 * 1024) });
    throwsApi(() => checkMetadata({ k: 'x'.repeat(32 * 1024 + 1) }, 'device.metadata'), 'INVALID_ARGUMENT', 'device.metadata.k', /32769 bytes; at most 32768/);
    // 'é' is 2 bytes: 16384 of them fill the limit exactly, and one ASCII character more goes over.
    ok({ k: 'é'.repeat(16 * 1024) });
    throwsApi(() => checkMetadata({ k: `${'é'.repeat(16 * 1024)}x` }, 'device.metadata'), 'INVALID_ARGUMENT', 'device.metadata.k');
  });

  test('500 pairs pass, 501 fail on the map field', () => {
    const pairs = (n: number): Record<string, string> => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));
    ok(pairs(500));
    throwsApi(() => checkMetadata(pairs(501), 'device.metadata'), 'INVALID_ARGUMENT', 'device.metadata', /Too many metadata entries \(501\); at most 500/);
  });

  test('keys plus values must total strictly under 256 KiB', () => {
    // Seven full 32 KiB values with 2-character keys, then an eighth pair that lands the total on
    // 262143 (passes) or 262144 (fails: "< 256 KB").
    const build = (lastValueBytes: number): Record<string, string> => {
      const m: Record<string, string> = {};
      for (let i = 0; i < 7; i++) m[`k${i}`] = 'x'.repeat(32 * 1024);
      m.k7 = 'x'.repeat(lastValueBytes);
      return m;
    };
    const underBy1 = 256 * 1024 - 1 - 7 * (32 * 1024 + 2) - 2;
    ok(build(underBy1));
    throwsApi(() => checkMetadata(build(underBy1 + 1), 'device.metadata'), 'INVALID_ARGUMENT', 'device.metadata', /total 262144 bytes/);
  });

  test('an empty map passes', () => ok({}));
});

describe('utf8Length', () => {
  test('counts 1-, 2-, 3- and 4-byte characters', () => {
    assert.equal(utf8Length(''), 0);
    assert.equal(utf8Length('a'), 1);
    assert.equal(utf8Length('é'), 2);
    assert.equal(utf8Length('€'), 3);
    assert.equal(utf8Length('😀'), 4);
    assert.equal(utf8Length('a€😀é'), Buffer.byteLength('a€😀é'));
  });
});

describe('checkSubfolderMatches', () => {
  test('empty matches everything; up to 256 bytes starting with a letter; "/" allowed inside', () => {
    assert.doesNotThrow(() => checkSubfolderMatches('', 'f'));
    assert.doesNotThrow(() => checkSubfolderMatches('alerts/high', 'f'));
    assert.doesNotThrow(() => checkSubfolderMatches(letters(256), 'f'));
    throwsApi(() => checkSubfolderMatches(letters(257), 'f'), 'INVALID_ARGUMENT', 'f');
    throwsApi(() => checkSubfolderMatches('/alerts', 'f'), 'INVALID_ARGUMENT', 'f');
    throwsApi(() => checkSubfolderMatches('1alerts', 'f'), 'INVALID_ARGUMENT', 'f');
    throwsApi(() => checkSubfolderMatches('al#erts', 'f'), 'INVALID_ARGUMENT', 'f');
  });
});

describe('checkCommandSubfolder (spec §2.1)', () => {
  test('empty, multi-level and 256 characters pass', () => {
    for (const good of ['', 'a', 'a/b/c', 'x'.repeat(256), '1-starts-with-digit', 'é']) {
      assert.doesNotThrow(() => checkCommandSubfolder(good, 'subfolder'), good);
    }
  });

  test('257 characters, "+", "#", NUL and a leading "/" fail on the subfolder field', () => {
    for (const bad of ['x'.repeat(257), 'a+b', 'a/#', 'a\0b', '/a']) {
      throwsApi(() => checkCommandSubfolder(bad, 'subfolder'), 'INVALID_ARGUMENT', 'subfolder', /at most 256 characters/);
    }
  });
});

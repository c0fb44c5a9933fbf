import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { echo, ECHO_MAX_CHARS, echoJson } from '../../src/domain/echo.js';
import { checkResourceId } from '../../src/domain/ids.js';
import { parseRegistryName } from '../../src/domain/names.js';
import { parseMask, checkReadMask } from '../../src/domain/field-mask.js';
import { ApiError } from '../../src/domain/errors.js';

/** The message of the ApiError `fn` throws. */
function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ApiError, String(e));
    return e.message;
  }
  assert.fail('expected an ApiError');
}

describe('echo: client input quoted in error messages', () => {
  test('short input is kept whole; 64 characters is the most kept', () => {
    assert.equal(echo('dev-1'), 'dev-1');
    assert.equal(echo('a'.repeat(ECHO_MAX_CHARS)), 'a'.repeat(ECHO_MAX_CHARS));
    assert.equal(echo('a'.repeat(ECHO_MAX_CHARS + 1)), `${'a'.repeat(ECHO_MAX_CHARS)}…`);
    assert.equal(echo('a'.repeat(100_000)).length, ECHO_MAX_CHARS + 1);
  });

  test('a surrogate pair at the cut is dropped whole, never halved', () => {
    const s = `${'a'.repeat(ECHO_MAX_CHARS - 1)}😀tail`;
    assert.equal(echo(s), `${'a'.repeat(ECHO_MAX_CHARS - 1)}…`);
  });

  test('a larger cut for paths', () => {
    assert.equal(echo('p'.repeat(300), 256), `${'p'.repeat(256)}…`);
  });

  test('echoJson quotes strings cut, and names containers instead of dumping them', () => {
    assert.equal(echoJson('x'), '"x"');
    assert.equal(echoJson('9'.repeat(1000)), `"${'9'.repeat(ECHO_MAX_CHARS)}…"`);
    assert.equal(echoJson(1.5), '1.5');
    assert.equal(echoJson(true), 'true');
    assert.equal(echoJson(null), 'null');
    assert.equal(echoJson(new Array(100_000).fill(1)), 'a list');
    assert.equal(echoJson({ a: 'b'.repeat(100_000) }), 'an object');
  });
});

describe('IDs, names and paths are cut in the errors that quote them', () => {
  const huge = 'a'.repeat(100_000);

  test('an invalid 100,000-character ID', () => {
    const message = messageOf(() => checkResourceId(`${huge}!`, 'device.id', 'device'));
    assert.ok(message.length < 300, `${message.length} characters`);
    assert.ok(message.includes(`"${'a'.repeat(ECHO_MAX_CHARS)}…"`), message);
  });

  test('an ID starting with goog', () => {
    assert.ok(messageOf(() => checkResourceId(`goog${huge}`, 'device.id', 'device')).length < 300);
  });

  test('an unparsable resource name', () => {
    assert.ok(messageOf(() => parseRegistryName(`projects/${huge}`, 'name')).length < 300);
  });

  test('an unknown field mask path', () => {
    assert.ok(messageOf(() => checkReadMask(parseMask(huge), ['id'], 'field_mask')).length < 300);
  });
});

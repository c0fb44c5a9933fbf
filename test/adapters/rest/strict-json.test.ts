import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_JSON_DEPTH, parseJsonBody } from '../../../src/adapters/rest/strict-json.js';
import { apiErrorOn } from '../../support/assertions.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const parse = (s: string): unknown => parseJsonBody(utf8(s));
const refused = (message: RegExp) => apiErrorOn('INVALID_ARGUMENT', undefined, message);

const nestedArrays = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);
const nestedObjects = (depth: number): string => '{"a":'.repeat(depth - 1) + '{}' + '}'.repeat(depth - 1);

describe('parseJsonBody: nesting depth (protobuf’s limit of 100)', () => {
  test('100 levels pass, 101 are refused, for arrays and objects alike', () => {
    assert.equal(JSON.stringify(parse(nestedArrays(MAX_JSON_DEPTH))), nestedArrays(MAX_JSON_DEPTH));
    assert.equal(JSON.stringify(parse(nestedObjects(MAX_JSON_DEPTH))), nestedObjects(MAX_JSON_DEPTH));
    assert.throws(() => parse(nestedArrays(MAX_JSON_DEPTH + 1)), refused(/Nesting deeper than 100 levels/));
    assert.throws(() => parse(nestedObjects(MAX_JSON_DEPTH + 1)), refused(/Nesting deeper than 100 levels/));
  });

  test('200,000 levels (under 2 MiB) are refused, not a stack overflow', () => {
    assert.throws(() => parse(nestedArrays(200_000)), refused(/Nesting deeper/));
    assert.throws(() => parse(`{"id":"x","metadata":${nestedObjects(200_000)}}`), refused(/Nesting deeper/));
  });

  test('brackets inside strings do not count', () => {
    const body = `{"a":"${'['.repeat(500)}","b":"\\"{{{{"}`;
    assert.deepEqual(parse(body), { a: '['.repeat(500), b: '"{{{{' });
  });

  test('siblings do not add up: depth is nesting, not the count of containers', () => {
    const wide = `[${new Array(5000).fill(nestedArrays(50)).join(',')}]`;
    assert.equal((parse(wide) as unknown[]).length, 5000);
  });
});

describe('parseJsonBody: duplicate names', () => {
  test('a name given twice in one object is refused', () => {
    assert.throws(() => parse('{"id":"a","id":"b"}'), refused(/^Invalid JSON payload received\. Duplicate name "id"\.$/));
  });

  test('escapes are compared decoded: "a" and "\\u0061" are the same name', () => {
    assert.throws(() => parse('{"a":1,"\\u0061":2}'), refused(/Duplicate name "a"/));
  });

  test('the message says where, by the names of the body', () => {
    assert.throws(() => parse('{"credentials":[{"publicKey":{"key":"k","key":"k"}}]}'), refused(/Duplicate name "key" at 'credentials\[0\]\.publicKey'\./));
    assert.throws(() => parse('[1,{"a":1},{"b":1,"b":2}]'), refused(/Duplicate name "b" at '\[2\]'/));
  });

  test('the same name in different objects, in a string value, or in a nested object is fine', () => {
    assert.deepEqual(parse('{"a":{"a":1},"b":[{"a":1},{"a":2}],"c":"a"}'), { a: { a: 1 }, b: [{ a: 1 }, { a: 2 }], c: 'a' });
    assert.deepEqual(parse('{"k":"id","id":"k"}'), { k: 'id', id: 'k' });
  });

  test('a 100,000-character duplicate name is quoted cut', () => {
    const name = 'n'.repeat(100_000);
    assert.throws(
      () => parse(`{"${name}":1,"${name}":2}`),
      (e: unknown) => e instanceof Error && e.message.length < 200 && e.message.includes('…'),
    );
  });
});

describe('parseJsonBody: text encoding', () => {
  test('invalid UTF-8 is refused instead of decoded to U+FFFD', () => {
    const bytes = new Uint8Array([...utf8('{"id":"'), 0xff, 0xfe, ...utf8('"}')]);
    assert.throws(() => parseJsonBody(bytes), refused(/not valid UTF-8/));
    // An overlong encoding of "/" (0xC0 0xAF).
    assert.throws(() => parseJsonBody(new Uint8Array([...utf8('{"id":"'), 0xc0, 0xaf, ...utf8('"}')])), refused(/not valid UTF-8/));
  });

  test('valid multi-byte UTF-8 passes', () => {
    assert.deepEqual(parse('{"k":"é😀"}'), { k: 'é😀' });
  });

  test('an escaped unpaired surrogate is refused; an escaped pair passes', () => {
    assert.throws(() => parse('{"k":"\\ud800"}'), refused(/unpaired UTF-16 surrogate/));
    assert.throws(() => parse('{"k":"x\\udc00"}'), refused(/unpaired UTF-16 surrogate/));
    assert.throws(() => parse('{"\\ud800":1}'), refused(/unpaired UTF-16 surrogate/));
    assert.deepEqual(parse('{"k":"\\ud83d\\ude00"}'), { k: '😀' });
    // An escaped backslash followed by "ud800" is text, not an escape.
    assert.deepEqual(parse('{"k":"\\\\ud800"}'), { k: '\\ud800' });
  });
});

describe('parseJsonBody: everything else', () => {
  test('empty and blank bodies are no body', () => {
    assert.equal(parse(''), undefined);
    assert.equal(parse(' \r\n\t'), undefined);
  });

  test('invalid JSON says so', () => {
    for (const bad of ['{', '{"a":}', '{"a" "b"}', '"unterminated', '{"a":1}x', "{'a':1}", '{"a":"\\x"}']) {
      assert.throws(() => parse(bad), refused(/^The request body is not valid JSON\.$/), bad);
    }
  });

  test('"__proto__" is parsed as a plain own member, not a prototype', () => {
    const v = parse('{"__proto__":{"polluted":true}}') as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.deepEqual(Object.keys(v), ['__proto__']);
    assert.equal((v as { polluted?: unknown }).polluted, undefined);
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compileFilter, parseFilter } from '../../../src/domain/pubsub/filter.js';
import { invalidOn } from '../../support/assertions.js';

const attrs = (o: Record<string, string>): Record<string, string> => o;

describe('Pub/Sub filter syntax: accepted filters', () => {
  const accepted: [string, string][] = [
    ['', 'empty: every message'],
    ['   ', 'blank: every message'],
    ['attributes:domain', 'has'],
    ['attributes.domain = "com"', 'equals'],
    ['attributes.domain="com"', 'equals without spaces'],
    ['attributes.domain != "com"', 'not equals'],
    ["attributes.domain = 'com'", 'single quotes'],
    ['hasPrefix(attributes.domain, "co")', 'prefix'],
    ['hasPrefix( attributes.domain ,"co" )', 'prefix with odd spacing'],
    ['NOT attributes:domain', 'NOT'],
    ['-attributes:domain', 'hyphen as NOT'],
    ['NOT NOT attributes:domain', 'double NOT'],
    ['attributes:a AND attributes:b AND attributes:c', 'AND chain'],
    ['attributes:a OR attributes:b OR attributes:c', 'OR chain'],
    ['attributes:a AND (attributes:b OR attributes:c)', 'mixed with parentheses'],
    ['(attributes:a AND attributes:b) OR attributes:c', 'mixed with parentheses, other side'],
    ['((attributes:a))', 'nested parentheses'],
    ['attributes.ce-type = "x"', 'hyphenated key'],
    ['attributes."iana.org/language_tag" = "en"', 'quoted key'],
    ['attributes:"iana.org/language_tag"', 'quoted key for has'],
    ['attributes.k = "a\\"b\\\\c\\n\\x41\\u00e9\\U0001F600\\101"', 'escapes'],
    ['NOT(attributes:a)', 'NOT before a parenthesis without a space'],
    ['attributes:AND', 'a key spelled like a keyword'],
  ];
  for (const [filter, why] of accepted) {
    test(`${why}: ${JSON.stringify(filter)}`, () => {
      assert.doesNotThrow(() => compileFilter(filter));
    });
  }
});

describe('Pub/Sub filter syntax: rejected filters name `filter` and the position', () => {
  const rejected: [string, RegExp][] = [
    ['attributes:a AND attributes:b OR attributes:c', /position 31: AND and OR cannot be mixed/],
    ['attributes:a OR attributes:b AND attributes:c', /AND and OR cannot be mixed/],
    ['attributes:a and attributes:b', /upper case/],
    ['attributes:a or attributes:b', /upper case/],
    ['not attributes:a', /position 1: expected attributes/],
    ['attributes', /expected ":" or "."/],
    ['attributes:', /expected an attribute key/],
    ['attributes.k', /expected "=" or "!="/],
    ['attributes.k = com', /position 16: expected a string literal/],
    ['attributes.k = "com', /position 16: unterminated string literal/],
    ['attributes.k == "com"', /expected a string literal/],
    ['attributes.k = "a" attributes:b', /expected AND, OR or the end/],
    ['(attributes:a', /expected "\)" to close "\("/],
    ['attributes:a)', /unbalanced "\)"/],
    ['()', /expected attributes/],
    ['hasPrefix(attributes.k)', /expected ","/],
    ['hasPrefix(attributes:k, "p")', /expected "\."/],
    ['hasprefix(attributes.k, "p")', /expected attributes/],
    ['hasPrefix(attributes.k, p)', /expected a string literal/],
    ['data = "x"', /position 1: expected attributes/],
    ['attributes.k = "\\q"', /invalid escape/],
    ['attributes.k = "\\x4"', /2 hex digits/],
    ['attributes.k = "\\uD800"', /not a Unicode code point/],
    ['attributes:""', /must not be empty/],
    ['attributes:a AND', /expected attributes.*end of the filter/],
    ['NOT', /end of the filter/],
    ['attributes:a ANDattributes:b', /expected AND, OR or the end/],
    ['attributes.a.b = "x"', /expected "=" or "!="/],
    [`attributes.k = "${'x'.repeat(240)}"`, /at most 256 bytes/],
  ];
  for (const [filter, message] of rejected) {
    test(JSON.stringify(filter.length > 60 ? `${filter.slice(0, 60)}…` : filter), () => {
      assert.throws(() => parseFilter(filter), invalidOn('filter', message));
    });
  }

  test('the field named is the one the caller passes', () => {
    assert.throws(() => parseFilter('x', 'subscription.filter'), invalidOn('subscription.filter', /position 1/));
  });

  test('256 bytes pass, 257 do not (bytes, not characters)', () => {
    const pad = (n: number): string => `attributes.k = "${'x'.repeat(n)}"`;
    const base = pad(0).length;
    assert.doesNotThrow(() => parseFilter(pad(256 - base)));
    assert.throws(() => parseFilter(pad(257 - base)), invalidOn('filter', /256 bytes/));
    // 'é' is two bytes in UTF-8.
    assert.throws(() => parseFilter(`attributes.k = "${'é'.repeat(Math.ceil((257 - base) / 2))}"`), invalidOn('filter', /256 bytes/));
  });
});

describe('Pub/Sub filter evaluation', () => {
  const cases: [string, Record<string, string>, boolean][] = [
    ['', {}, true],
    ['attributes:domain', attrs({ domain: '' }), true],
    ['attributes:domain', attrs({ other: 'x' }), false],
    ['attributes:domain', {}, false],
    ['NOT attributes:domain', {}, true],
    ['-attributes:domain', attrs({ domain: 'com' }), false],
    ['attributes.domain = "com"', attrs({ domain: 'com' }), true],
    ['attributes.domain = "com"', attrs({ domain: 'Com' }), false],
    ['attributes.domain = "com"', attrs({ Domain: 'com' }), false],
    ['attributes.domain = "com"', {}, false],
    ['attributes.domain = ""', attrs({ domain: '' }), true],
    ['attributes.domain != "com"', attrs({ domain: 'org' }), true],
    ['attributes.domain != "com"', attrs({ domain: 'com' }), false],
    ['attributes.domain != "com"', {}, true],
    ['hasPrefix(attributes.domain, "co")', attrs({ domain: 'com' }), true],
    ['hasPrefix(attributes.domain, "co")', attrs({ domain: 'org' }), false],
    ['hasPrefix(attributes.domain, "co")', {}, false],
    ['hasPrefix(attributes.domain, "")', attrs({ domain: 'x' }), true],
    ['NOT hasPrefix(attributes.domain, "co")', {}, true],
    ['attributes:a AND attributes:b', attrs({ a: '1', b: '2' }), true],
    ['attributes:a AND attributes:b', attrs({ a: '1' }), false],
    ['attributes:a OR attributes:b', attrs({ b: '2' }), true],
    ['attributes:a OR attributes:b', attrs({ c: '2' }), false],
    ['attributes:a AND (attributes:b OR attributes:c)', attrs({ a: '1', c: '3' }), true],
    ['attributes:a AND (attributes:b OR attributes:c)', attrs({ b: '1', c: '3' }), false],
    ['NOT (attributes:a OR attributes:b)', attrs({ c: '1' }), true],
    ['NOT (attributes:a OR attributes:b)', attrs({ a: '1' }), false],
    ['attributes."iana.org/language_tag" = "en"', attrs({ 'iana.org/language_tag': 'en' }), true],
    ['attributes.ce-type = "x"', attrs({ 'ce-type': 'x' }), true],
    ['attributes.k = "a\\"b"', attrs({ k: 'a"b' }), true],
    ['attributes.k = "\\u00e9\\x41\\101\\n"', attrs({ k: 'éAA\n' }), true],
    ['attributes.k = "\\U0001F600"', attrs({ k: '😀' }), true],
    // Own properties only: an attribute map never "has" what Object.prototype has.
    ['attributes:constructor', {}, false],
    ['attributes.toString = "x"', {}, false],
    // IoT Core's attributes, as a subscriber of device telemetry filters them.
    ['attributes.deviceRegistryId = "reg" AND attributes.subFolder = "alerts"', attrs({ deviceRegistryId: 'reg', subFolder: 'alerts' }), true],
    ['attributes.deviceRegistryId = "reg" AND attributes.subFolder = "alerts"', attrs({ deviceRegistryId: 'reg' }), false],
  ];
  for (const [filter, attributes, expected] of cases) {
    test(`${JSON.stringify(filter)} on ${JSON.stringify(attributes)} is ${expected}`, () => {
      assert.equal(compileFilter(filter)(attributes), expected);
    });
  }

  test('the parse tree keeps AND/OR chains flat and != as NOT equals', () => {
    assert.deepEqual(parseFilter('attributes:a AND attributes:b AND attributes.c != "x"'), {
      kind: 'and',
      exprs: [
        { kind: 'has', key: 'a' },
        { kind: 'has', key: 'b' },
        { kind: 'not', expr: { kind: 'equals', key: 'c', value: 'x' } },
      ],
    });
    assert.equal(parseFilter(''), undefined);
  });
});

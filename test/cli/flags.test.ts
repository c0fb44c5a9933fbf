import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidArgumentError } from 'commander';
import {
  AUTH_METHODS,
  buildUpdateMask,
  collect,
  enumParser,
  intParser,
  LOG_LEVELS,
  parseEventConfig,
  parseIndex,
  parseKeyType,
  parseKeyValues,
  parseList,
  parseMetadata,
  parsePublicKey,
  parseTimestamp,
  topicName,
} from '../../src/cli/flags.js';

const invalid = (pattern: RegExp) => (e: unknown) => e instanceof InvalidArgumentError && pattern.test(e.message);

describe('parsePublicKey', () => {
  test('maps every gcloud type to its PublicKeyFormat', () => {
    assert.deepEqual(parsePublicKey('path=a.pem,type=rs256'), { path: 'a.pem', format: 'RSA_PEM' });
    assert.deepEqual(parsePublicKey('path=a.pem,type=es256'), { path: 'a.pem', format: 'ES256_PEM' });
    assert.deepEqual(parsePublicKey('type=rsa-x509-pem,path=c.pem'), { path: 'c.pem', format: 'RSA_X509_PEM' });
    assert.deepEqual(parsePublicKey('path=c.pem,type=ES256-X509-PEM'), { path: 'c.pem', format: 'ES256_X509_PEM' });
  });

  test('keeps an RFC 3339 expiration time', () => {
    assert.deepEqual(parsePublicKey('path=k,type=es256,expiration-time=2030-01-02T03:04:05Z'), {
      path: 'k',
      format: 'ES256_PEM',
      expirationTime: '2030-01-02T03:04:05Z',
    });
    assert.equal(parsePublicKey('path=k,type=es256,expiration-time=2030-01-02T03:04:05.5+02:00').expirationTime, '2030-01-02T03:04:05.5+02:00');
  });

  test('a path may contain "="', () => {
    assert.equal(parsePublicKey('path=/keys/a=b.pem,type=rs256').path, '/keys/a=b.pem');
  });

  test('refuses missing, unknown and malformed parts', () => {
    assert.throws(() => parsePublicKey('type=rs256'), invalid(/path=FILE/));
    assert.throws(() => parsePublicKey('path=k'), invalid(/type=/));
    assert.throws(() => parsePublicKey('path=k,type=ed25519'), invalid(/unknown key type "ed25519"/));
    assert.throws(() => parsePublicKey('path=k,type=rs256,color=red'), invalid(/unknown key "color"/));
    assert.throws(() => parsePublicKey('path=k,type=rs256,expiration-time=tomorrow'), invalid(/RFC 3339/));
    assert.throws(() => parsePublicKey('k.pem'), invalid(/KEY=VALUE/));
    assert.throws(() => parsePublicKey('path=a,path=b,type=rs256'), invalid(/given twice/));
  });
});

describe('parseMetadata', () => {
  test('parses pairs, keeps "=" in values and allows empty values', () => {
    assert.deepEqual(parseMetadata('a=1,b=x=y,c='), { a: '1', b: 'x=y', c: '' });
  });

  test('accumulates over repeated flags and refuses duplicate keys', () => {
    assert.deepEqual(parseMetadata('b=2', { a: '1' }), { a: '1', b: '2' });
    assert.throws(() => parseMetadata('a=2', { a: '1' }), invalid(/"a" given twice/));
    assert.throws(() => parseMetadata('a=1,a=2'), invalid(/given twice/));
    assert.throws(() => parseMetadata('=1'), invalid(/KEY=VALUE/));
    assert.throws(() => parseMetadata('novalue'), invalid(/KEY=VALUE/));
  });

  test('ignores empty parts', () => {
    assert.deepEqual(parseMetadata('a=1,,'), { a: '1' });
    assert.deepEqual(parseKeyValues('', '--x'), []);
  });
});

describe('event notification configs and topics', () => {
  test('topic with and without subfolder', () => {
    assert.deepEqual(parseEventConfig('topic=projects/p/topics/t'), { pubsubTopicName: 'projects/p/topics/t' });
    assert.deepEqual(parseEventConfig('topic=t,subfolder=sf'), { pubsubTopicName: 't', subfolderMatches: 'sf' });
    assert.throws(() => parseEventConfig('subfolder=sf'), invalid(/needs topic=/));
  });

  test('bare topic IDs are completed with the project', () => {
    assert.equal(topicName('projects/p/topics/t', 'other', '--f'), 'projects/p/topics/t');
    assert.equal(topicName('t', 'p1', '--f'), 'projects/p1/topics/t');
    assert.throws(() => topicName('t', undefined, '--f'), invalid(/needs --project/));
    assert.throws(() => topicName('a/b', 'p', '--f'), invalid(/projects\/PROJECT\/topics\/TOPIC/));
  });
});

describe('small parsers', () => {
  test('lists split on commas and accumulate', () => {
    assert.deepEqual(parseList('a, b,,c'), ['a', 'b', 'c']);
    assert.deepEqual(parseList('d', ['a']), ['a', 'd']);
  });

  test('collect builds repeatable flags', () => {
    const c = collect((s: string) => s.toUpperCase());
    assert.deepEqual(c('b', c('a', undefined)), ['A', 'B']);
  });

  test('enum flags map to API names, case-insensitively', () => {
    assert.equal(enumParser(LOG_LEVELS, '--log-level')('DEBUG'), 'DEBUG');
    assert.equal(enumParser(AUTH_METHODS, '--auth-method')('association-only'), 'ASSOCIATION_ONLY');
    assert.throws(() => enumParser(LOG_LEVELS, '--log-level')('verbose'), invalid(/--log-level must be one of none, error, info, debug/));
  });

  test('integers', () => {
    assert.equal(intParser('--n', 1)('25'), 25);
    assert.equal(intParser('--n', 0)('0'), 0);
    assert.throws(() => intParser('--n', 1)('0'), invalid(/at least 1/));
    assert.throws(() => intParser('--n', 1)('-3'), invalid(/whole number/));
    assert.throws(() => intParser('--n', 1)('1.5'), invalid(/whole number/));
    assert.throws(() => intParser('--n', 1)('99999999999999999999'), invalid(/at least/));
  });

  test('timestamps', () => {
    assert.equal(parseTimestamp('2030-01-01T00:00:00Z', '--t'), '2030-01-01T00:00:00Z');
    assert.throws(() => parseTimestamp('2030-13-01T00:00:00Z', '--t'), invalid(/RFC 3339/));
    assert.throws(() => parseTimestamp('2030-01-01', '--t'), invalid(/RFC 3339/));
  });
});

describe('buildUpdateMask', () => {
  const paths = { blocked: 'blocked', metadata: 'metadata', authMethod: 'gatewayConfig.gatewayAuthMethod', a: 'x', b: 'x' };

  test('covers exactly the flags given, in table order, without duplicates', () => {
    assert.deepEqual(buildUpdateMask({ metadata: {}, blocked: false, api: 'http://x' }, paths), ['blocked', 'metadata']);
    assert.deepEqual(buildUpdateMask({ authMethod: 'ASSOCIATION_ONLY' }, paths), ['gatewayConfig.gatewayAuthMethod']);
    assert.deepEqual(buildUpdateMask({ a: 1, b: 2 }, paths), ['x']);
    assert.deepEqual(buildUpdateMask({ blocked: undefined }, paths), []);
  });
});

describe('flags with wrong shapes name the flag and show an example', () => {
  test('--public-key without KEY=VALUE shows a whole --public-key', () => {
    assert.throws(() => parsePublicKey('ec_public.pem'), invalid(/expected KEY=VALUE in --public-key, got "ec_public.pem"\. For example: --public-key path=ec_public\.pem,type=es256/));
    assert.throws(() => parsePublicKey('path=a.pem'), invalid(/needs type=.*For example: --public-key path=/));
    assert.throws(() => parseMetadata('location'), invalid(/For example: --metadata location=lab,owner=ops/));
  });

  test('--type of credentials create', () => {
    assert.equal(parseKeyType('ES256'), 'ES256_PEM');
    assert.equal(parseKeyType('rsa-x509-pem'), 'RSA_X509_PEM');
    assert.throws(() => parseKeyType('rsa'), invalid(/--type: unknown key type "rsa"; expected one of rs256, .* \(e\.g\. --type es256\)/));
    assert.throws(() => parsePublicKey('path=a.pem,type=rsa'), invalid(/--public-key type: unknown key type "rsa".*type=es256/));
  });

  test('credential INDEX', () => {
    assert.equal(parseIndex('0'), 0);
    assert.equal(parseIndex(' 2 '), 2);
    for (const bad of ['-1', 'first', '1.5', '']) assert.throws(() => parseIndex(bad), invalid(/INDEX must be .*credentials list/));
  });

  test('enum and number flags say what they got and show a use', () => {
    assert.throws(() => enumParser({ gateway: 'GATEWAY', 'non-gateway': 'NON_GATEWAY' }, '--device-type')('sensor'), invalid(/--device-type must be one of gateway, non-gateway, got "sensor" \(e\.g\. --device-type gateway\)/));
    assert.throws(() => intParser('--page-size', 1)('ten'), invalid(/--page-size must be a whole number, got "ten" \(e\.g\. --page-size 10\)/));
  });
});

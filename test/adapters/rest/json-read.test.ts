import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  queryList,
  queryString,
  readArray,
  readBool,
  readBytes,
  readEnum,
  readInt,
  readObject,
  readString,
  readStringMap,
  readTimestamp,
  readUint64String,
  type Json,
} from '../../../src/adapters/rest/json-read.js';
import { invalidOn } from '../../support/assertions.js';

const bytes = (v: Uint8Array | undefined): number[] | undefined => (v === undefined ? undefined : [...v]);

describe('readBytes (proto3 JSON bytes)', () => {
  // 0xfb 0xff 0xbf is "+/+/" in standard base64 and "-_-_" in URL-safe base64: both alphabets' extra characters.
  const data = [0xfb, 0xff, 0xbf];

  test('standard and URL-safe alphabets', () => {
    assert.deepEqual(bytes(readBytes('+/+/', 'binary_data')), data);
    assert.deepEqual(bytes(readBytes('-_-_', 'binary_data')), data);
  });

  test('padded and unpadded', () => {
    assert.deepEqual(bytes(readBytes('AAE=', 'f')), [0, 1]);
    assert.deepEqual(bytes(readBytes('AAE', 'f')), [0, 1]);
    assert.deepEqual(bytes(readBytes('AA==', 'f')), [0]);
    assert.deepEqual(bytes(readBytes('AA', 'f')), [0]);
    assert.deepEqual(bytes(readBytes('eyJmYW4iOiJvbiJ9', 'f')), [...Buffer.from('{"fan":"on"}')]);
  });

  test("bits past the last byte are refused, not dropped (spec §3.10: Google refused publishEvent's binary_data \"123\")", () => {
    for (const bad of ['123', 'AB', 'AAB', 'YR==', 'aGVsbG9=', '_x']) {
      assert.throws(() => readBytes(bad, 'binary_data'), invalidOn('binary_data', /Base64 decoding failed/), bad);
    }
    assert.deepEqual(bytes(readBytes('120', 'f')), [...Buffer.from('120=', 'base64')]);
    assert.deepEqual(bytes(readBytes('_w', 'f')), [0xff]);
  });

  test('empty string is zero bytes; absent and null are undefined', () => {
    assert.deepEqual(bytes(readBytes('', 'f')), []);
    assert.equal(readBytes(undefined, 'f'), undefined);
    assert.equal(readBytes(null, 'f'), undefined);
  });

  test('invalid base64 and non-strings fail with Google’s TYPE_BYTES message', () => {
    for (const bad of ['A', 'AAAAA', '***', 'AA=A', 'AA===', 'a b', 42, true, ['AA'], { a: 'AA' }]) {
      assert.throws(() => readBytes(bad, 'device.config.binary_data'), invalidOn('device.config.binary_data', /\(TYPE_BYTES\): Base64 decoding failed\./), JSON.stringify(bad));
    }
  });
});

describe('readInt (int32/int64 as string or number)', () => {
  test('numbers and decimal strings, negative too', () => {
    assert.equal(readInt(7, 'f'), 7);
    assert.equal(readInt('7', 'f'), 7);
    assert.equal(readInt('-12', 'f'), -12);
    assert.equal(readInt('0', 'f'), 0);
    assert.equal(readInt(String(Number.MAX_SAFE_INTEGER), 'f'), Number.MAX_SAFE_INTEGER);
  });

  test('absent, null and "" are undefined', () => {
    assert.equal(readInt(undefined, 'f'), undefined);
    assert.equal(readInt(null, 'f'), undefined);
    assert.equal(readInt('', 'f'), undefined);
  });

  test('unsafe, fractional and non-numeric values fail naming the field', () => {
    for (const bad of ['9007199254740993', 9007199254740992, 1.5, '1.5', '1e3', ' 1', '0x10', 'abc', true, [1], {}]) {
      assert.throws(() => readInt(bad, 'version_to_update'), invalidOn('version_to_update', /expected an integer/), JSON.stringify(bad));
    }
  });
});

describe('readUint64String', () => {
  test('keeps the decimal string, strips leading zeros, accepts safe numbers', () => {
    assert.equal(readUint64String('2000000000000001', 'f'), '2000000000000001');
    assert.equal(readUint64String('18446744073709551615', 'f'), '18446744073709551615');
    assert.equal(readUint64String('007', 'f'), '7');
    assert.equal(readUint64String('0', 'f'), '0');
    assert.equal(readUint64String(12, 'f'), '12');
  });

  test('refuses negatives, unsafe numbers, 21 digits and non-digits', () => {
    for (const bad of ['-1', -1, 2 ** 60, '1'.repeat(21), 'a1', '', undefined]) {
      assert.throws(() => readUint64String(bad, 'device_num_ids'), invalidOn('device_num_ids', /unsigned integer/), String(bad));
    }
  });
});

describe('readEnum (by name or number)', () => {
  test('LogLevel by name and by its non-sequential numbers 10/20/30/40', () => {
    assert.equal(readEnum('DEBUG', 'LogLevel', 'f'), 'DEBUG');
    assert.equal(readEnum(10, 'LogLevel', 'f'), 'NONE');
    assert.equal(readEnum(20, 'LogLevel', 'f'), 'ERROR');
    assert.equal(readEnum(30, 'LogLevel', 'f'), 'INFO');
    assert.equal(readEnum('40', 'LogLevel', 'f'), 'DEBUG');
    assert.equal(readEnum(0, 'LogLevel', 'f'), 'LOG_LEVEL_UNSPECIFIED');
  });

  test('LogLevel numbers between the defined ones are refused', () => {
    for (const bad of [1, 4, 15, 50, '25', 'debug', 'LOUD', -10]) {
      assert.throws(() => readEnum(bad, 'LogLevel', 'device.log_level'), invalidOn('device.log_level', /is not one of LOG_LEVEL_UNSPECIFIED, NONE, ERROR, INFO, DEBUG\./), String(bad));
    }
  });

  test('PublicKeyFormat 1..4 map to their names', () => {
    assert.equal(readEnum(1, 'PublicKeyFormat', 'f'), 'RSA_X509_PEM');
    assert.equal(readEnum(2, 'PublicKeyFormat', 'f'), 'ES256_PEM');
    assert.equal(readEnum(3, 'PublicKeyFormat', 'f'), 'RSA_PEM');
    assert.equal(readEnum(4, 'PublicKeyFormat', 'f'), 'ES256_X509_PEM');
    assert.equal(readEnum('ES256_X509_PEM', 'PublicKeyFormat', 'f'), 'ES256_X509_PEM');
    assert.throws(() => readEnum(5, 'PublicKeyFormat', 'format'), invalidOn('format'));
  });

  test('absent and null are undefined', () => {
    assert.equal(readEnum(undefined, 'GatewayType', 'f'), undefined);
    assert.equal(readEnum(null, 'GatewayType', 'f'), undefined);
  });

  test('non-string, non-number values are refused', () => {
    assert.throws(() => readEnum(true, 'GatewayType', 'f'), invalidOn('f'));
    assert.throws(() => readEnum({}, 'GatewayType', 'f'), invalidOn('f'));
  });
});

describe('readTimestamp (RFC 3339)', () => {
  test('Z, offsets and fractions to nanoseconds (truncated to ms)', () => {
    assert.equal(readTimestamp('2030-01-02T03:04:05Z', 'f'), Date.UTC(2030, 0, 2, 3, 4, 5));
    assert.equal(readTimestamp('2030-01-02T03:04:05.123456789Z', 'f'), Date.UTC(2030, 0, 2, 3, 4, 5, 123));
    assert.equal(readTimestamp('2030-01-02T05:04:05+02:00', 'f'), Date.UTC(2030, 0, 2, 3, 4, 5));
    assert.equal(readTimestamp('2030-01-01T23:34:05.5-03:30', 'f'), Date.UTC(2030, 0, 2, 3, 4, 5, 500));
    assert.equal(readTimestamp('1970-01-01T00:00:00Z', 'f'), 0);
    assert.equal(readTimestamp('2030-01-02t03:04:05z', 'f'), Date.UTC(2030, 0, 2, 3, 4, 5));
  });

  test('absent, null and "" are undefined', () => {
    assert.equal(readTimestamp(undefined, 'f'), undefined);
    assert.equal(readTimestamp(null, 'f'), undefined);
    assert.equal(readTimestamp('', 'f'), undefined);
  });

  test('no zone, date only, epoch numbers and impossible dates fail', () => {
    for (const bad of ['2030-01-02T03:04:05', '2030-01-02', '2030-01-02 03:04:05Z', '2030-13-02T03:04:05Z', '2030-01-02T03:04:05+0200', 1893553445000, 'yesterday']) {
      assert.throws(() => readTimestamp(bad, 'device.credentials[0].expiration_time'), invalidOn('device.credentials[0].expiration_time', /RFC 3339/), String(bad));
    }
  });
});

describe('readBool / readString / readObject / readArray / readStringMap', () => {
  test('readBool accepts booleans and their strings only', () => {
    assert.equal(readBool(true, 'f'), true);
    assert.equal(readBool('false', 'f'), false);
    assert.equal(readBool(null, 'f'), undefined);
    for (const bad of [1, 0, 'yes', 'TRUE']) assert.throws(() => readBool(bad, 'device.blocked'), invalidOn('device.blocked'), String(bad));
  });

  test('readString refuses numbers and objects', () => {
    assert.equal(readString('x', 'f'), 'x');
    assert.equal(readString('', 'f'), '');
    assert.throws(() => readString(5, 'device.id'), invalidOn('device.id', /expected a string/));
  });

  test('readObject refuses arrays and scalars; readArray refuses objects', () => {
    assert.deepEqual(readObject({ a: 1 }, 'f'), { a: 1 });
    assert.throws(() => readObject([], 'device.gateway_config'), invalidOn('device.gateway_config', /expected an object/));
    assert.throws(() => readObject('x', 'f'), invalidOn('f'));
    assert.deepEqual(readArray([1], 'f'), [1]);
    assert.throws(() => readArray({}, 'device.credentials'), invalidOn('device.credentials', /expected a list/));
  });

  test('readStringMap needs string values and names the offending key', () => {
    assert.deepEqual(readStringMap({ a: 'x', b: '' }, 'device.metadata'), { a: 'x', b: '' });
    assert.throws(() => readStringMap({ a: 'x', n: 1 }, 'device.metadata'), invalidOn('device.metadata.n'));
  });

  test('readStringMap keeps a "__proto__" key as a key instead of setting the prototype', () => {
    const map = readStringMap(JSON.parse('{"__proto__":"x","constructor":"y"}') as Json, 'device.metadata')!;
    assert.deepEqual(Object.keys(map), ['__proto__', 'constructor']);
    assert.equal(Object.getPrototypeOf(map), Object.prototype);
    assert.equal(Object.getOwnPropertyDescriptor(map, '__proto__')?.value, 'x');
  });
});

describe('query helpers', () => {
  test('queryList flattens repeated and comma-separated values and drops empties', () => {
    assert.deepEqual(queryList(undefined), []);
    assert.deepEqual(queryList('a,b'), ['a', 'b']);
    assert.deepEqual(queryList(['a', 'b,c', '']), ['a', 'b', 'c']);
  });

  test('queryString takes the first of repeated values', () => {
    assert.equal(queryString('x'), 'x');
    assert.equal(queryString(['x', 'y']), 'x');
    assert.equal(queryString(undefined), undefined);
    assert.equal(queryString(5), undefined);
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { suggestion } from '../../src/cli/commands/misspellings.js';
import { configValueBytes } from '../../src/cli/commands/device-data.js';

describe('suggestions for misspelt commands', () => {
  test('a `*` template keeps the words typed before the first flag', () => {
    assert.equal(suggestion('devices *', ['list']), 'bridgehead devices list');
    assert.equal(suggestion('devices *', ['list', '--registry', 'r1']), 'bridgehead devices list ...');
    assert.equal(suggestion('devices credentials *', []), 'bridgehead devices credentials');
    assert.equal(suggestion('*', ['devices', 'list']), 'bridgehead devices list');
  });

  test('a fixed template does not echo flag values (a typed --token stays off stderr)', () => {
    assert.equal(suggestion('devices gateways bind', ['--gateway', 'g', '--token', 'secret']), 'bridgehead devices gateways bind ...');
  });
});

describe('configs get-value bytes', () => {
  const b64 = (b: Buffer | string): string => Buffer.from(b).toString('base64');
  test('text gets a final newline unless it has one', () => {
    assert.equal(configValueBytes(b64('fan: on')).toString(), 'fan: on\n');
    assert.equal(configValueBytes(b64('a\nb\n')).toString(), 'a\nb\n');
  });
  test('binary and empty data are written as stored', () => {
    const bin = Buffer.from([0xff, 0x00, 0x01]);
    assert.deepEqual(configValueBytes(b64(bin)), bin);
    assert.equal(configValueBytes('').length, 0);
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseFilter } from '../../src/cli/filter.js';
import { columnHeader, formatValues, FormatSyntaxError, parseFormat, Printer, valueText, type JsonObject, type ListShaping } from '../../src/cli/output.js';
import { widenMask } from '../../src/cli/api-client.js';

function capture(format: string, shaping: ListShaping = {}): { printer: Printer; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const printer = new Printer(parseFormat(format), { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } }, shaping);
  return { printer, out: () => out, err: () => err };
}

const DEVICES: JsonObject[] = [
  { id: 'a', numId: '1', blocked: true, gatewayConfig: { gatewayType: 'GATEWAY' }, name: 'projects/p/locations/r/registries/g/devices/a' },
  { id: 'b', numId: '2', metadata: { k: 'v', z: '1' }, credentials: [{ publicKey: { format: 'ES256_PEM' } }], name: 'projects/p/locations/r/registries/g/devices/b' },
  { id: 'c', numId: '3', gatewayConfig: { gatewayType: 'NON_GATEWAY' } },
];
const DOC: JsonObject = { devices: DEVICES };
const COLUMNS = [{ header: 'ID', value: 'id' }];

describe('parseFormat', () => {
  test('names and projections', () => {
    assert.deepEqual(parseFormat('json'), { kind: 'json', fields: [] });
    assert.deepEqual(parseFormat(' yaml '), { kind: 'yaml', fields: [] });
    assert.deepEqual(parseFormat('value(name)'), { kind: 'value', fields: [{ path: 'name', basename: false }] });
    assert.deepEqual(parseFormat('value(id, gatewayConfig.gatewayType)').fields.map((f) => f.path), ['id', 'gatewayConfig.gatewayType']);
    assert.deepEqual(parseFormat('table(name.basename():label=DEVICE,numId)').fields, [
      { path: 'name', basename: true, label: 'DEVICE' },
      { path: 'numId', basename: false },
    ]);
    assert.deepEqual(parseFormat('yaml(id,metadata)').fields.length, 2);
  });

  test('bad formats say what to type', () => {
    for (const bad of ['xml', 'value', 'value()', 'value(a,,b)', 'table', 'text(id)', 'value(a b)', 'value(1x)', 'json(']) {
      assert.throws(
        () => parseFormat(bad),
        (e: unknown) => e instanceof FormatSyntaxError && /--format/.test(e.message) && /e\.g\. --format '/.test(e.message),
        bad,
      );
    }
  });
});

describe('value()', () => {
  test('tab-separated, one line per resource, nested paths, missing values empty', () => {
    const c = capture('value(id,gatewayConfig.gatewayType,numId)');
    c.printer.list(DOC, DEVICES, COLUMNS, 'devices');
    assert.equal(c.out(), 'a\tGATEWAY\t1\nb\t\t2\nc\tNON_GATEWAY\t3\n');
  });

  test('lists joined with ;, maps as k=v;..., booleans as True/False, basename()', () => {
    assert.equal(valueText(['x', 'y', 3]), 'x;y;3');
    assert.equal(valueText({ k: 'v', z: '1' }), 'k=v;z=1');
    assert.equal(valueText(true), 'True');
    assert.equal(valueText(false), 'False');
    assert.equal(valueText(null), '');
    assert.equal(formatValues(DEVICES, parseFormat('value(name.basename(),blocked,metadata)').fields), 'a\tTrue\t\nb\t\tk=v;z=1\n\t\t\n');
    assert.equal(formatValues(DEVICES.slice(1, 2), parseFormat('value(credentials.publicKey.format)').fields), '\n');
    assert.equal(formatValues(DEVICES.slice(1, 2), parseFormat('value(credentials)').fields), '{"publicKey":{"format":"ES256_PEM"}}\n');
  });

  test('a single resource is one line', () => {
    const c = capture('value(id,numId)');
    c.printer.resource(DEVICES[0]!);
    assert.equal(c.out(), 'a\t1\n');
  });
});

describe('yaml and json', () => {
  test('a list in yaml is one --- document per resource', () => {
    const c = capture('yaml');
    c.printer.list(DOC, DEVICES.slice(0, 2), COLUMNS, 'devices');
    assert.equal(
      c.out(),
      [
        '---',
        'id: a',
        "numId: '1'",
        'blocked: true',
        'gatewayConfig:',
        '  gatewayType: GATEWAY',
        'name: projects/p/locations/r/registries/g/devices/a',
        '---',
        'id: b',
        "numId: '2'",
        'metadata:',
        '  k: v',
        "  z: '1'",
        'credentials:',
        '  - publicKey:',
        '      format: ES256_PEM',
        'name: projects/p/locations/r/registries/g/devices/b',
        '',
      ].join('\n'),
    );
  });

  test('a single resource in yaml has no ---; yaml(...) projects', () => {
    const c = capture('yaml(id,gatewayConfig.gatewayType)');
    c.printer.resource(DEVICES[0]!);
    assert.equal(c.out(), 'id: a\ngatewayConfig:\n  gatewayType: GATEWAY\n');
  });

  test('json keeps the API document; with --filter its items are the ones kept', () => {
    const plain = capture('json');
    plain.printer.list(DOC, DEVICES, COLUMNS, 'devices');
    assert.deepEqual(JSON.parse(plain.out()), DOC);
    const filtered = capture('json', { filter: parseFilter('numId>1'), limit: 1 });
    filtered.printer.list({ ...DOC, extra: 'kept' }, DEVICES, COLUMNS, 'devices');
    assert.deepEqual(JSON.parse(filtered.out()), { devices: [DEVICES[1]], extra: 'kept' });
  });
});

describe('table() and list shaping', () => {
  test('table(...) heads columns as gcloud does', () => {
    const c = capture('table(id,gatewayConfig.gatewayType,name.basename():label=DEV)');
    c.printer.list(DOC, DEVICES, COLUMNS, 'devices');
    assert.equal(c.out(), 'ID  GATEWAY_TYPE  DEV\na   GATEWAY       a\nb                 b\nc   NON_GATEWAY\n');
    assert.equal(columnHeader({ path: 'lastHeartbeatTime', basename: false }), 'LAST_HEARTBEAT_TIME');
  });

  test('--filter then --limit; nothing left is a note on stderr', () => {
    const c = capture('text', { filter: parseFilter('NOT id=a'), limit: 1 });
    c.printer.list(DOC, DEVICES, COLUMNS, 'devices');
    assert.equal(c.out(), 'ID\nb\n');
    const none = capture('value(id)', { filter: parseFilter('id=zzz') });
    none.printer.list(DOC, DEVICES, COLUMNS, 'devices');
    assert.equal(none.out(), '');
    assert.equal(none.err(), 'Listed 0 devices.\n');
  });

  test('status lines go to stderr except in json', () => {
    const y = capture('yaml');
    y.printer.status('Created device [a].');
    assert.equal(y.err(), 'Created device [a].\n');
    const j = capture('json');
    j.printer.status('Created device [a].');
    assert.equal(j.err(), '');
  });

  test('widenMask adds the top-level fields a filter or format reads, once', () => {
    assert.equal(widenMask('blocked,gatewayConfig', ['metadata', 'blocked', 'gatewayConfig']), 'blocked,gatewayConfig,metadata');
    assert.equal(widenMask('config.version', ['config']), 'config.version');
  });
});

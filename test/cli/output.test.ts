import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatTable, formatYaml, pick, previewData, Printer, type JsonObject } from '../../src/cli/output.js';

function capture(format: 'json' | 'text'): { printer: Printer; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const printer = new Printer(format, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
  return { printer, out: () => out, err: () => err };
}

describe('formatTable', () => {
  test('aligns columns under upper-case headers; missing values are blank', () => {
    const rows: JsonObject[] = [
      { id: 'd1', numId: '123', gatewayConfig: { gatewayType: 'NON_GATEWAY' } },
      { id: 'gateway-long', numId: '7', blocked: true },
    ];
    const text = formatTable(rows, [
      { header: 'ID', value: 'id' },
      { header: 'NUM_ID', value: 'numId' },
      { header: 'BLOCKED', value: (r) => (r.blocked === true ? 'True' : '') },
      { header: 'TYPE', value: 'gatewayConfig.gatewayType' },
    ]);
    assert.equal(text, ['ID            NUM_ID  BLOCKED  TYPE', 'd1            123              NON_GATEWAY', 'gateway-long  7       True', ''].join('\n'));
  });
});

describe('formatYaml', () => {
  test('nested maps, lists of maps, scalars and multi-line strings', () => {
    const doc: JsonObject = {
      id: 'd1',
      numId: '42',
      blocked: true,
      credentials: [{ publicKey: { format: 'ES256_PEM', key: '-----BEGIN PUBLIC KEY-----\nAAA\n-----END PUBLIC KEY-----\n' }, expirationTime: '1970-01-01T00:00:00Z' }],
      config: { version: '1', cloudUpdateTime: '2024-01-01T00:00:00.000Z' },
      metadata: {},
      tags: ['a', 'true'],
    };
    assert.equal(
      formatYaml(doc),
      [
        'id: d1',
        "numId: '42'",
        'blocked: true',
        'credentials:',
        '  - publicKey:',
        '      format: ES256_PEM',
        '      key: |',
        '        -----BEGIN PUBLIC KEY-----',
        '        AAA',
        '        -----END PUBLIC KEY-----',
        "    expirationTime: '1970-01-01T00:00:00Z'",
        'config:',
        "  version: '1'",
        "  cloudUpdateTime: '2024-01-01T00:00:00.000Z'",
        'metadata: {}',
        'tags:',
        '  - a',
        "  - 'true'",
        '',
      ].join('\n'),
    );
  });

  test('quotes strings YAML would misread', () => {
    assert.equal(formatYaml({ a: '', b: 'x: y', c: "it's", d: 'null', e: 'projects/p/topics/t' }), "a: ''\nb: 'x: y'\nc: 'it''s'\nd: 'null'\ne: projects/p/topics/t\n");
  });

  test('an empty document', () => {
    assert.equal(formatYaml({}), '{}\n');
  });
});

describe('Printer', () => {
  test('json prints the document verbatim and no status', () => {
    const c = capture('json');
    c.printer.status('Created device [d1].');
    c.printer.resource({ id: 'd1', numId: '5' });
    assert.deepEqual(JSON.parse(c.out()), { id: 'd1', numId: '5' });
    assert.equal(c.err(), '');
  });

  test('text prints status on stderr and YAML on stdout', () => {
    const c = capture('text');
    c.printer.status('Created device [d1].');
    c.printer.resource({ id: 'd1' });
    assert.equal(c.out(), 'id: d1\n');
    assert.equal(c.err(), 'Created device [d1].\n');
  });

  test('lists: table in text, a note when empty, the document in json', () => {
    const text = capture('text');
    text.printer.list({ devices: [{ id: 'a' }] }, [{ id: 'a' }], [{ header: 'ID', value: 'id' }], 'devices');
    assert.equal(text.out(), 'ID\na\n');
    const empty = capture('text');
    empty.printer.list({}, [], [{ header: 'ID', value: 'id' }], 'devices');
    assert.equal(empty.out(), '');
    assert.equal(empty.err(), 'Listed 0 devices.\n');
    const json = capture('json');
    json.printer.list({}, [], [], 'devices');
    assert.deepEqual(JSON.parse(json.out()), {});
  });

  test('values: bare text or a JSON document', () => {
    const t = capture('text');
    t.printer.value('a.b.c', { jwt: 'a.b.c' });
    assert.equal(t.out(), 'a.b.c\n');
    const j = capture('json');
    j.printer.value('a.b.c', { jwt: 'a.b.c' });
    assert.deepEqual(JSON.parse(j.out()), { jwt: 'a.b.c' });
  });
});

describe('helpers', () => {
  test('pick follows dotted paths', () => {
    assert.equal(pick({ a: { b: 'c' } }, 'a.b'), 'c');
    assert.equal(pick({ a: 'x' }, 'a.b'), undefined);
    assert.equal(pick(null, 'a'), undefined);
  });

  test('previewData shows printable text, else base64, truncated', () => {
    assert.equal(previewData(Buffer.from('hello\nworld').toString('base64')), 'hello\\nworld');
    assert.equal(previewData(Buffer.from([0, 1, 2, 255]).toString('base64')), 'AAEC/w==');
    assert.equal(previewData(Buffer.from('x'.repeat(100)).toString('base64'), 10), 'xxxxxxx...');
    assert.equal(previewData(undefined), '');
  });
});

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
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

  test('quotes YAML indicators, .inf/.nan and a trailing colon; gives a block its indentation when its first line is indented', () => {
    assert.equal(
      formatYaml({ k: '-', l: '@at', u: '.inf', w: '-.Inf', nn: '.nan', v: 'x:', ok: '-x', p: 'a:b' }),
      "k: '-'\nl: '@at'\nu: '.inf'\nw: '-.Inf'\nnn: '.nan'\nv: 'x:'\nok: -x\np: a:b\n",
    );
    assert.equal(formatYaml({ m: '  indented\nsecond' }), 'm: |2-\n    indented\n  second\n');
    assert.equal(formatYaml({ yes: 'y', 1: 'n' }), "'1': 'n'\n'yes': 'y'\n");
  });

  // Python's yaml is what gcloud users parse --format yaml with; without it only the test above runs.
  const python = spawnSync('python3', ['-c', 'import yaml'], { encoding: 'utf8' });
  test('every string reads back as the same string in PyYAML (YAML 1.1)', { skip: python.status !== 0 && 'python3 with yaml is not installed' }, () => {
    const strings = [
      '', ' ', '-', '--', '---', '...', '- x', '-x', '?', '? x', ':', 'x:', ':x', 'a: b', 'a #b', '#c', '@at', '`t', '!tag', '&a', '*a', '%x', '|', '>',
      '[', ']', '{', '}', ',', "'", '"', '.inf', '-.inf', '+.INF', '.NaN', '.5', '+.5', '1e3', '0x1F', '0o17', '1:20', '1_000', '2024-01-01',
      'true', 'No', 'ON', 'y', 'N', '~', 'null', 'NULL', '<<', '=', 'trailing ', ' leading', 'tab\there', 'cr\rhere', 'nel\u0085x', 'ls\u2028x',
      'bell\u0007', 'del\u007f', 'bom\ufeff', 'é ü', 'emoji 😀', 'back\\slash', 'projects/p/topics/t',
      'two\nlines', 'ends\n', 'two ends\n\n', '\n', '\n\n', '\nleading', '  indented\nsecond', ' \nx', 'x\n  ', 'a\n\tb', '-----BEGIN\nAAA\n-----END\n',
    ];
    const doc: JsonObject = {
      values: Object.fromEntries(strings.map((s, i) => [`k${i}`, s])),
      keys: Object.fromEntries(strings.filter((s) => !s.includes('\n')).map((s, i) => [s, i])),
      list: strings,
      nested: [{ inner: strings }],
    };
    const yaml = formatYaml(doc);
    const r = spawnSync('python3', ['-c', 'import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))'], { input: yaml, encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stderr}\n${yaml}`);
    assert.deepEqual(JSON.parse(r.stdout), doc);
    // Each string as a whole document too, as a list prints them (`---` before each).
    const docs = strings.map((s) => `---\n${formatYaml(s)}`).join('');
    const all = spawnSync('python3', ['-c', 'import sys, json, yaml; print(json.dumps(list(yaml.safe_load_all(sys.stdin.read()))))'], { input: docs, encoding: 'utf8' });
    assert.equal(all.status, 0, `${all.stderr}\n${docs}`);
    assert.deepEqual(JSON.parse(all.stdout), strings);
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

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { evaluate, filterFields, FilterSyntaxError, parseFilter, valuesAt, type FilterJson } from '../../src/cli/filter.js';

const DEVICES: Record<string, FilterJson>[] = [
  {
    id: 'dev-0',
    numId: '9',
    blocked: true,
    gatewayConfig: { gatewayType: 'NON_GATEWAY' },
    metadata: { site: 'Berlin', fw: '1.2' },
    credentials: [{ publicKey: { format: 'ES256_PEM' } }, { publicKey: { format: 'RSA_X509_PEM' } }],
    lastEventTime: '2024-03-01T10:00:00Z',
  },
  { id: 'dev-1', numId: '10', gatewayConfig: { gatewayType: 'GATEWAY' }, metadata: { site: 'paris' }, lastEventTime: '2024-03-02T09:00:00.5Z' },
  { id: 'dev-12', numId: '100', blocked: false, credentials: [] },
  { id: 'gw-a', numId: '2', gatewayConfig: { gatewayType: 'GATEWAY' }, metadata: {} },
];

/** The IDs of the devices the filter keeps. */
function ids(filter: string): string[] {
  const node = parseFilter(filter);
  return DEVICES.filter((d) => evaluate(node, d)).map((d) => String(d.id));
}

function syntaxError(filter: string, position: number, detail: RegExp): void {
  assert.throws(
    () => parseFilter(filter),
    (e: unknown) => {
      assert.ok(e instanceof FilterSyntaxError, String(e));
      assert.equal(e.position, position, `position of the error in ${JSON.stringify(filter)}: ${e.message}`);
      assert.match(e.detail, detail);
      assert.match(e.message, new RegExp(`at position ${position}:`));
      return true;
    },
  );
}

describe('--filter evaluation', () => {
  test('= and != compare whole values', () => {
    assert.deepEqual(ids('id=dev-1'), ['dev-1']);
    assert.deepEqual(ids('id = dev-1'), ['dev-1']);
    assert.deepEqual(ids('id=dev'), []);
    assert.deepEqual(ids('id!=dev-1'), ['dev-0', 'dev-12', 'gw-a']);
    assert.deepEqual(ids('gatewayConfig.gatewayType=GATEWAY'), ['dev-1', 'gw-a']);
  });

  test('= with * is an anchored glob', () => {
    assert.deepEqual(ids('id=dev-*'), ['dev-0', 'dev-1', 'dev-12']);
    assert.deepEqual(ids('id=*-1*'), ['dev-1', 'dev-12']);
  });

  test('booleans and numbers (numId is a string in JSON)', () => {
    assert.deepEqual(ids('blocked=true'), ['dev-0']);
    assert.deepEqual(ids('blocked=True'), ['dev-0']);
    assert.deepEqual(ids('blocked=false'), ['dev-12']);
    assert.deepEqual(ids('NOT blocked=true'), ['dev-1', 'dev-12', 'gw-a']);
    assert.deepEqual(ids('numId=10'), ['dev-1']);
    assert.deepEqual(ids('numId=010'), ['dev-1']);
  });

  test(': is a case-insensitive has; :* means the field is set and not empty', () => {
    assert.deepEqual(ids('metadata.site:berlin'), ['dev-0']);
    assert.deepEqual(ids('metadata.site:AR'), ['dev-1']);
    assert.deepEqual(ids('metadata:*'), ['dev-0', 'dev-1']);
    assert.deepEqual(ids('credentials:*'), ['dev-0']);
    assert.deepEqual(ids('blocked:*'), ['dev-0', 'dev-12']);
    assert.deepEqual(ids('-metadata:*'), ['dev-12', 'gw-a']);
    assert.deepEqual(ids('id:gw*'), ['gw-a']);
  });

  test('lists are looked through: any element matches', () => {
    assert.deepEqual(ids('credentials.publicKey.format=RSA_X509_PEM'), ['dev-0']);
    assert.deepEqual(ids('credentials.publicKey.format:x509'), ['dev-0']);
    assert.deepEqual(ids('credentials.publicKey.format!=ES256_PEM'), ['dev-1', 'dev-12', 'gw-a']);
  });

  test('~ and !~ are unanchored regular expressions', () => {
    assert.deepEqual(ids('id~^dev-[0-2]$'), ['dev-0', 'dev-1']);
    assert.deepEqual(ids('id~1'), ['dev-1', 'dev-12']);
    assert.deepEqual(ids('id!~^dev'), ['gw-a']);
    assert.deepEqual(ids('id~^(dev-0|gw-a)$'), ['dev-0', 'gw-a']);
    assert.deepEqual(ids('id~"^dev-1 ?2$"'), ['dev-12']);
  });

  test('< <= > >= compare numbers as numbers and timestamps as instants', () => {
    assert.deepEqual(ids('numId>9'), ['dev-1', 'dev-12']);
    assert.deepEqual(ids('numId>=10'), ['dev-1', 'dev-12']);
    assert.deepEqual(ids('numId<10'), ['dev-0', 'gw-a']);
    assert.deepEqual(ids('numId<=2'), ['gw-a']);
    assert.deepEqual(ids('lastEventTime>2024-03-02'), ['dev-1']);
    assert.deepEqual(ids('lastEventTime<2024-03-01T10:00:00.001Z'), ['dev-0']);
    assert.deepEqual(ids('id>dev-1'), ['dev-12', 'gw-a']);
  });

  test('AND, OR, NOT, adjacency and parentheses', () => {
    assert.deepEqual(ids('id:dev AND gatewayConfig.gatewayType=GATEWAY'), ['dev-1']);
    assert.deepEqual(ids('id:dev gatewayConfig.gatewayType=GATEWAY'), ['dev-1']);
    assert.deepEqual(ids('id=dev-0 OR id=gw-a'), ['dev-0', 'gw-a']);
    // AND binds tighter than OR.
    assert.deepEqual(ids('id=gw-a OR id:dev AND blocked=true'), ['dev-0', 'gw-a']);
    assert.deepEqual(ids('(id=gw-a OR id:dev) AND blocked=true'), ['dev-0']);
    assert.deepEqual(ids('NOT (id:dev OR numId=2)'), []);
    assert.deepEqual(ids('NOT NOT id=gw-a'), ['gw-a']);
    assert.deepEqual(ids('-(id:dev)'), ['gw-a']);
  });

  test('value lists and quoted values', () => {
    assert.deepEqual(ids('id=(dev-0 gw-a)'), ['dev-0', 'gw-a']);
    assert.deepEqual(ids('id=(dev-0 OR dev-1)'), ['dev-0', 'dev-1']);
    assert.deepEqual(ids("metadata.site='Berlin'"), ['dev-0']);
    assert.deepEqual(ids('metadata.fw="1.2"'), ['dev-0']);
    assert.deepEqual(ids('id="a b"'), []);
  });

  test('a bare word matches any value anywhere', () => {
    assert.deepEqual(ids('paris'), ['dev-1']);
    assert.deepEqual(ids('x509'), ['dev-0']);
    assert.deepEqual(ids('"gw-"'), ['gw-a']);
  });

  test('missing fields match nothing, and their negation matches', () => {
    assert.deepEqual(ids('nope=1'), []);
    assert.deepEqual(ids('nope!=1'), ['dev-0', 'dev-1', 'dev-12', 'gw-a']);
    assert.deepEqual(ids('id.x=1'), []);
    // Own properties only: the prototype is not a field.
    assert.deepEqual(ids('id.length>0 OR constructor:*'), []);
  });

  test('filterFields names the paths read', () => {
    assert.deepEqual(filterFields(parseFilter('metadata.site:x (blocked=true OR NOT lastEventTime>1) word')), ['metadata.site', 'blocked', 'lastEventTime']);
  });

  test('valuesAt flattens lists', () => {
    assert.deepEqual(valuesAt({ a: [{ b: 1 }, { b: [2, 3] }, { c: 4 }] }, 'a.b'), [1, 2, 3]);
    assert.deepEqual(valuesAt({ a: 1 }, 'a.b'), []);
  });
});

describe('--filter syntax errors name the position (1-based)', () => {
  test('empty and unfinished expressions', () => {
    syntaxError('', 1, /empty/);
    syntaxError('   ', 4, /empty/);
    syntaxError('id=', 4, /expected a value after "="/);
    syntaxError('id= ', 5, /expected a value after "="/);
    syntaxError('id=a AND', 9, /after AND/);
    syntaxError('id=a OR ', 9, /after OR/);
    syntaxError('NOT', 4, /after NOT/);
  });

  test('parentheses', () => {
    syntaxError('(id=a', 6, /"\(" at position 1 is not closed/);
    syntaxError('id=a)', 5, /unmatched "\)"/);
    syntaxError('()', 2, /empty parentheses/);
    syntaxError('id=(a b', 8, /"\(" at position 4 is not closed/);
    syntaxError('id=()', 5, /expected a value/);
  });

  test('operators, fields, strings and regular expressions', () => {
    syntaxError('id@x', 3, /unknown operator "@"/);
    syntaxError('=x', 1, /expected a field name/);
    syntaxError('id=a AND =b', 10, /expected a field name/);
    syntaxError('a..b=1', 1, /not a field path/);
    syntaxError('id="abc', 4, /unterminated string/);
    syntaxError('id~[', 4, /bad regular expression/);
    syntaxError('id~(a', 4, /bad regular expression/);
  });
});
